"""Every benchmark, against PostgreSQL and Redis with production settings, in one table.

    python -m bench [--only NAME ...] [--quick]   (make bench)

Needs PostgreSQL (BENCH_POSTGRES_URL, default the development server at
127.0.0.1:5432/test, whose role may create databases), Redis (BENCH_REDIS_URL),
Postfix's `smtp-sink` and `smtp-source`, and `wrk`. Each benchmark works in scratch
databases of its own, dropped afterwards. `--quick` runs every benchmark at a small
size, to check that they all work (its figures mean nothing against the goals).
"""

import argparse
import importlib
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench.figures import POSTGRES, REDIS, Context, Figure, console, print_table

os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 40)

# In the order they run: the scale data is loaded once and shared by the ones after it.
BENCHMARKS = (
    "send",
    "scaling",
    "scale",
    "registry",
    "preview",
    "snapshot",
    "report",
    "tracking",
    "imports",
)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kilobytes = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kilobytes / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores, {cpu}{memory}, {platform.system()} {platform.release()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS, help="run only these")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    args = parser.parse_args()
    chosen = args.only or list(BENCHMARKS)
    figures: list[Figure] = []
    failed: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="coalition-bench-") as workdir:
        context = Context(POSTGRES, REDIS, Path(workdir), args.quick)
        with context.resources:
            for name in BENCHMARKS:
                if name not in chosen and not _needed_by(name, chosen):
                    continue
                console.rule(f"[bold]{name}")
                run: Callable[[Context], list[Figure]] = importlib.import_module(
                    f"bench.{name}"
                ).run
                begun = time.perf_counter()
                try:
                    produced = run(context)
                except Exception:  # one broken benchmark must not hide the others
                    traceback.print_exc()
                    failed.append(name)
                    continue
                console.print(f"{name}: {time.perf_counter() - begun:.0f} s")
                if name in chosen:
                    figures.extend(produced)
    print_table(
        figures,
        title=(
            f"Benchmarks ({'quick' if args.quick else 'full'} run, "
            f"{time.perf_counter() - started:.0f} s) on {machine()}"
        ),
    )
    if failed:
        console.print(f"[bold red]failed:[/] {', '.join(failed)}")
        return 1
    return 0


def _needed_by(name: str, chosen: list[str]) -> bool:
    """The scale data is loaded for the benchmarks that read it."""
    readers = ("registry", "preview", "snapshot", "report")
    return name == "scale" and any(reader in chosen for reader in readers)


if __name__ == "__main__":
    sys.exit(main())
