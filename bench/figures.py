"""What every benchmark reports: figures against their goals, printed as one table.

Each benchmark module has `run(context) -> list[Figure]`; `python -m bench` runs them
all against one PostgreSQL server and one Redis and prints every figure in one table.
A goal is a bound (`at_most` or `at_least`) so that the table can say met or missed
without anyone reading the numbers; `reference` is the figure of the reference
measured in the same run, where the goal is a ratio to one.
"""

import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")

# Wide enough for the notes when the output goes to a file or a CI log.
console = Console(width=None if sys.stdout.isatty() else 220)


@dataclass
class Context:
    """What the benchmarks share in one run."""

    postgres: str  # the server: each benchmark makes scratch databases on it
    redis: str
    workdir: Path
    quick: bool
    # Databases kept for the benchmarks after the one that made them, by name
    # ("scale": the generated registry, deliveries and events).
    databases: dict[str, str] = field(default_factory=dict)
    facts: dict[str, object] = field(default_factory=dict)
    resources: ExitStack = field(default_factory=ExitStack)


@dataclass(frozen=True)
class Figure:
    """One measured figure. `unit` is printed after the value ("ms", "/s", "s", "MB",
    "" for a ratio); `note` says what limits it where it misses, or what it counts."""

    benchmark: str  # "registry", "send", ...: the row group
    name: str  # "organisation list, region filter, p95 at 250,000"
    value: float
    unit: str
    at_most: float | None = None
    at_least: float | None = None
    reference: str = ""
    note: str = ""

    @property
    def goal(self) -> str:
        if self.at_most is not None:
            return f"≤ {_number(self.at_most)} {self.unit}".rstrip()
        if self.at_least is not None:
            return f"≥ {_number(self.at_least)} {self.unit}".rstrip()
        return ""

    @property
    def met(self) -> bool | None:
        if self.at_most is not None:
            return self.value <= self.at_most
        if self.at_least is not None:
            return self.value >= self.at_least
        return None


@dataclass
class Latencies:
    """Request times in seconds, for p50/p95 in milliseconds."""

    seconds: list[float] = field(default_factory=list)

    @contextmanager
    def timing(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.seconds.append(time.perf_counter() - started)

    def percentile(self, p: float) -> float:
        """The p-th percentile in milliseconds (nearest rank)."""
        if not self.seconds:
            raise ValueError("no requests were timed")
        ordered = sorted(self.seconds)
        rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
        return ordered[rank] * 1000


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def print_table(figures: Sequence[Figure], title: str = "Benchmarks") -> None:
    table = Table(title=title, show_lines=False)
    for column, justify in (
        ("benchmark", "left"),
        ("figure", "left"),
        ("value", "right"),
        ("goal", "right"),
        ("met", "center"),
        ("reference (same run)", "right"),
        ("note", "left"),
    ):
        table.add_column(column, justify=justify, max_width=70 if column == "note" else None)  # type: ignore[arg-type]
    for figure in figures:
        met = figure.met
        table.add_row(
            figure.benchmark,
            figure.name,
            f"{_number(figure.value)} {figure.unit}".rstrip(),
            figure.goal,
            "" if met is None else ("yes" if met else "[bold red]NO[/]"),
            figure.reference,
            figure.note,
        )
    console.print(table)


def use_environment(env: Mapping[str, str]) -> None:
    """Runs the app code in this process with exactly `env` (a benchmark's database,
    Redis, keys): the settings and the engine are cached, so both are dropped."""
    from app.core.db import dispose_engine
    from app.core.settings import get_settings

    os.environ.clear()
    os.environ.update(env)
    get_settings.cache_clear()
    dispose_engine()
