"""Faults during a campaign, and tracking under load (issue 9, items 4 and 5).

    python -m bench.reliability [--scale full|short] [--only NAME]

Runs every scenario of tests/faults/harness.py (sigkill, redis_stop, relay,
pg_terminate, scheduler) and the tracking load of tests/faults/tracking_load.py, each
in a scratch database on BENCH_POSTGRES_URL (default the development server) with real
`coalition` processes, a Redis of its own and an SMTP sink, then prints one table.
"full" (the default) is the issue's size: over 5,000 recipients, three SIGKILLs, Redis
down 20 s, the relay down 30 s; "short" is what CI runs. Needs PostgreSQL and
`redis-server` (and `wrk` for the tracking load). Prints figures; exits 1 if a
scenario breaks a promise (a recipient missing, too many duplicates, ...).
"""

import argparse
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tests.conftest import scratch_postgres_database

os.environ.setdefault("SECRET_KEY", "bench-reliability-" + "x" * 32)

POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TRACKING = "tracking_load"

# Wide enough for the notes when the output goes to a file or a CI log.
console = Console(width=None if sys.stdout.isatty() else 200)


def scenarios() -> dict[str, Callable[[Path, str, str], Any]]:
    """The fault scenarios, then the tracking load."""
    from tests.faults.harness import SCENARIOS
    from tests.faults.tracking_load import run_tracking_load

    return {**dict(SCENARIOS), TRACKING: run_tracking_load}


def row(name: str, figures: Any) -> list[str]:
    """One table row from a scenario's figures (the tracking load has its own kind)."""
    if isinstance(figures, str):
        return [name, "", "", "", "", "", "", "", figures]
    problems = figures.problems()
    notes = figures.notes
    if hasattr(figures, "missing"):
        cells = [
            f"{figures.recipients:,}",
            f"{figures.received:,}",
            str(figures.missing),
            f"{figures.duplicates} ({figures.duplicate_bound})",
            "yes" if figures.same_message_id else "NO",
            f"{figures.recovery_seconds:.1f}",
        ]
    else:  # tracking under load: events instead of messages
        lost = getattr(figures, "events_lost", "?")
        cells = [f"{figures.recipients:,}", "", f"{lost} events", "", "", ""]
        notes = (
            f"{getattr(figures, 'requests', 0):,} requests "
            f"({getattr(figures, 'requests_per_second', 0):,.0f}/s), "
            f"{getattr(figures, 'answers_2xx', 0):,} 2xx, "
            f"{getattr(figures, 'answers_5xx', '?')} 5xx, {lost} events lost; {notes}"
        )
    if problems:
        notes = f"FAILED: {'; '.join(problems)}. {notes}"
    return [name, *cells, f"{figures.total_seconds:.0f}", notes]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=("full", "short"), default="full")
    parser.add_argument("--only", help="run one scenario (its name in the table)")
    arguments = parser.parse_args()
    found = scenarios()
    if arguments.only and arguments.only not in found:
        parser.error(f"--only: one of {', '.join(found)}")
    names = [arguments.only] if arguments.only else list(found)
    rows, failed = [], False
    for name in names:
        run = found[name]
        console.print(f"[bold]{name}[/bold] ({arguments.scale}) ...")
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"faults-{name}-") as workdir:
            try:
                with scratch_postgres_database(POSTGRES, f"bench_faults_{name}") as url:
                    figures = run(Path(workdir), url, arguments.scale)
            except Exception as error:  # one scenario's failure must not hide the others
                traceback.print_exc()
                failed = True
                rows.append(row(name, f"ERROR after {time.monotonic() - started:.0f} s: {error}"))
                continue
        failed = failed or bool(figures.problems())
        rows.append(row(name, figures))
        console.print(f"  {rows[-1]}")
    table = Table(title=f"Faults during a campaign ({arguments.scale})")
    for column in ("scenario", "recipients", "received", "missing"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    table.add_column("duplicates (bound)", justify="right")
    table.add_column("same Message-ID")
    table.add_column("recovery s", justify="right")
    table.add_column("total s", justify="right")
    table.add_column("notes", overflow="fold")
    for cells in rows:
        table.add_row(*(cell.split("\n", 1)[0] for cell in cells))
    console.print(table)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
