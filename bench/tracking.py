"""Tracking endpoints under `wrk` on loopback (issue 8, item 7).

    python -m bench.tracking [--quick]    (or python -m bench --only tracking)

A sent alert in a scratch PostgreSQL database (the demo registry, one delivery per
recipient with its REAL signed links, as tests/faults/tracking_load.py prepares it),
served as production runs it: `coalition serve` with its production settings (a process
per core, uvloop, httptools, proxy headers, the redacted access log), clicks and opens
through the Redis stream (TRACKING_EVENTS=stream) stored in bulk by `coalition worker`
(beat's `tracking.store_events` every second), and a Redis of the benchmark's own.

1. wrk for 25 s (quick: 5 s) on the click and open links, rotating over the alert's
   deliveries (each message's two links and its pixel);
2. wrk again on one-click unsubscribes (`POST /unsubscribe/{signed}` with
   `List-Unsubscribe=One-Click`), each link POSTed twice at once, as a mail provider's
   retry would;
3. once the worker has stored the stream, the stored events against the 2xx answers
   (wrk's Lua script counts every answer by kind; tests/faults/tracking_load.py).

wrk, the server, the worker, Redis and PostgreSQL share the machine's cores; the note
says how much CPU each took.
"""

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from bench.figures import Figure, print_table

os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 40)

from app.campaigns.models import Campaign
from app.campaigns.rendering import tracked_links
from app.delivery.models import Delivery
from tests.conftest import scratch_postgres_database
from tests.delivery.smtp_sink import free_port
from tests.faults.harness import prepare, private_redis, process, wait_for
from tests.faults.tracking_load import (
    THREADS,
    Figures,
    _count_answers,
    _count_events,
    _environment,
    _healthy,
    _write_script,
    _write_targets,
    stream_length,
)

BENCHMARK = "tracking"
# Two tracked links (a click on both within 2 s is a scanner's burst: the consumer marks
# it) and the open pixel.
ALERT = {
    "title": "Tracking benchmark",
    "action_type": "contact_officials",
    "default_language": "en",
    "variants": [
        {
            "language": language,
            "subject": "Act, {{ contact.first_name }}",
            "body": "Read the [briefing](https://example.org/briefing) and the "
            "[model letter](https://example.org/letter).",
        }
        for language in ("en", "fr")
    ],
    "tracking": {"clicks": True, "opens": True},
}
CLICK_GOAL = 2000.0
# What py-spy showed of a server process answering clicks (TRACKING_EVENTS=stream), by
# share of the time it held the GIL: see the note of the clicks figure.
WHY_SHORT = (
    "Where a server process's time goes (py-spy, GIL held): the HTTP stack ~45% (uvicorn "
    "and httptools, Starlette's middleware, sending the answer), the access log with its "
    "redaction ~15%, Redis XADD ~15% (redis-py's parser, no hiredis), the delivery read "
    "~12%, the hop to a thread ~13%; from ten statements and 60 ms a click (ORM) to one "
    "indexed read and one XADD, what is left is per-request Python that a faster event "
    "path cannot remove: more cores (WEB_WORKERS) is the way past it"
)


@dataclass(frozen=True)
class Size:
    organizations: int  # about 3.4 recipients each
    seconds: int
    connections: int


SIZES = {
    "quick": Size(organizations=160, seconds=5, connections=32),
    "full": Size(organizations=1650, seconds=25, connections=64),
}


def run(context: object) -> list[Figure]:
    postgres = getattr(context, "postgres")  # noqa: B009  (bench.__main__.Context)
    quick = bool(getattr(context, "quick"))  # noqa: B009
    workdir = Path(getattr(context, "workdir")) / "tracking"  # noqa: B009
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (Debian package wrk)")
    size = SIZES["quick" if quick else "full"]
    with scratch_postgres_database(postgres, "bench_tracking") as url:
        return _measure(url, size, workdir, wrk)


def _measure(url: str, size: Size, workdir: Path, wrk: str) -> list[Figure]:
    installation = prepare(url, size.organizations, alert=ALERT)
    engine, campaign_id = installation.engine, installation.campaign_id
    tokens, link_count = _as_sent(engine, campaign_id)
    clicks_dir, unsubscribes_dir = workdir / "clicks", workdir / "unsubscribes"
    for directory in (clicks_dir, unsubscribes_dir):
        directory.mkdir(parents=True, exist_ok=True)
    _write_targets(clicks_dir, tokens, link_count, unsubscribe_share=0)
    pool = _write_targets(unsubscribes_dir, tokens, link_count, unsubscribe_share=1, rotate=False)
    log = workdir / "processes.log"
    redis_port, http_port = free_port(), free_port()
    base = f"http://127.0.0.1:{http_port}"
    with private_redis(redis_port) as redis_server:
        env = _environment(url, redis_port, "smtp://127.0.0.1:9", http_port, 0)
        with (
            process(
                "serve", "--host", "127.0.0.1", "--port", str(http_port), env=env, log=log
            ) as server,
            process("worker", "--concurrency", "1", env=env, log=log) as worker,
            process("scheduler", "--state-file", str(workdir / "beat"), env=env, log=log),
        ):
            wait_for(lambda: _healthy(base), timeout=120, what="the server", log=log)
            _warm_up(wrk, base)
            groups = {"server": server.pid, "worker": worker.pid}
            if redis_server.child is not None:
                groups["Redis"] = -redis_server.child.pid  # a process, not a group
            clicks, clicks_cpu = _load(wrk, base, clicks_dir, size, engine, redis_port, groups)
            clicks_run = _counted(clicks_dir, clicks, engine, campaign_id, [])
            unsubscribes, unsubscribes_cpu = _load(
                wrk, base, unsubscribes_dir, size, engine, redis_port, groups
            )
            unsubscribes_run = _counted(unsubscribes_dir, unsubscribes, engine, campaign_id, pool)
    engine.dispose()
    machine = (
        f"{os.cpu_count()} cores shared by wrk ({THREADS} threads), the server, the worker, "
        "Redis and PostgreSQL"
    )
    return [
        Figure(
            BENCHMARK,
            f"clicks and opens answered/s ({len(tokens):,} recipients, 2 clicks : 1 open)",
            (clicks_run.clicks_answered + clicks_run.opens_answered) / size.seconds,
            "/s",
            at_least=CLICK_GOAL,
            note=f"{machine}; {clicks_cpu}. {WHY_SHORT}",
        ),
        Figure(
            BENCHMARK,
            "clicks and opens: events lost (2xx answers without a stored event)",
            clicks_run.events_lost,
            "",
            at_most=0,
            note=_counts(clicks_run),
        ),
        Figure(
            BENCHMARK,
            "one-click unsubscribes answered/s (each link twice at once)",
            unsubscribes_run.unsubscribes_answered / size.seconds,
            "/s",
            note=f"{machine}; {unsubscribes_cpu}",
        ),
        Figure(
            BENCHMARK,
            "one-click unsubscribes: events lost",
            unsubscribes_run.events_lost,
            "",
            at_most=0,
            note=_counts(unsubscribes_run),
        ),
    ]


def _as_sent(engine: Engine, campaign_id: int) -> tuple[list[str], int]:
    """The alert as after its send (every delivery sent two hours ago, so that timing
    does not mark the clicks as a gateway's); its tokens and tracked link count."""
    with Session(engine) as session:
        session.execute(
            text(
                "UPDATE deliveries SET state = 'sent', attempts = 1, "
                "sent_at = now() - interval '2 hours' WHERE campaign_id = :id"
            ),
            {"id": campaign_id},
        )
        session.execute(
            text("UPDATE campaigns SET status = 'sent', finished_at = now() WHERE id = :id"),
            {"id": campaign_id},
        )
        session.commit()
        tokens = list(
            session.scalars(
                select(Delivery.token)
                .where(col(Delivery.campaign_id) == campaign_id)
                .order_by(col(Delivery.id))
            )
        )
        body = session.get_one(Campaign, campaign_id).variants[0].body
    return tokens, len(tracked_links(body))


def _warm_up(wrk: str, base: str) -> None:
    """Every server process answers once and opens its database connections before the
    clock runs."""
    subprocess.run(
        [wrk, "--threads=1", "--connections=8", "--duration=2s", base + "/healthz"],
        capture_output=True,
        check=False,
    )


def _load(
    wrk: str,
    base: str,
    directory: Path,
    size: Size,
    engine: Engine,
    redis_port: int,
    groups: dict[str, int],
) -> tuple[subprocess.CompletedProcess[str], str]:
    script = _write_script(directory)
    before = _cpu(groups, engine)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    child = subprocess.Popen(
        [
            wrk,
            f"--threads={THREADS}",
            f"--connections={size.connections}",
            f"--duration={size.seconds}s",
            "--timeout=30s",
            f"--script={script}",
            base,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = child.communicate(timeout=size.seconds + 120)
    waited = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, now reaped
    elapsed = time.monotonic() - started
    after = _cpu(groups, engine)
    # The worker goes on storing what the stream holds: the count waits for it.
    wait_for(
        lambda: stream_length(redis_port) == 0,
        timeout=300,
        what="the worker to store the streamed events",
        log=directory.parent / "processes.log",
    )
    (directory / "wrk.out").write_text(stdout + stderr)
    if child.returncode != 0:
        raise RuntimeError(f"wrk failed ({child.returncode}): {stderr[-2000:]}")
    spent = {kind: after.get(kind, 0.0) - before.get(kind, 0.0) for kind in after}
    spent["wrk"] = (waited.ru_utime + waited.ru_stime) - (children.ru_utime + children.ru_stime)
    load = os.getloadavg()[0]
    cpu = ", ".join(f"{kind} {seconds:.1f} s" for kind, seconds in spent.items())
    note = (
        f"CPU over {elapsed:.0f} s: {cpu} (load average {load:.1f}: other work shares the machine)"
    )
    if match := re.search(r"(\d+) requests in", stdout):
        answers = int(match.group(1))
        per_answer = sum(spent.values()) / max(answers, 1)
        note += (
            f"; {per_answer * 1000:.2f} ms of CPU an answer in all ("
            + ", ".join(
                f"{kind} {seconds / max(answers, 1) * 1000:.2f}" for kind, seconds in spent.items()
            )
            + f"): {os.cpu_count()} free cores would answer at most "
            f"{(os.cpu_count() or 1) / per_answer:,.0f}/s"
        )
    return subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr), note


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu(groups: dict[str, int], engine: Engine) -> dict[str, float]:
    """CPU seconds so far of each process group (the server's processes, the worker's;
    a negative number names one process: Redis) and of this database's PostgreSQL
    backends."""
    totals = dict.fromkeys([*groups, "PostgreSQL"], 0.0)
    with engine.connect() as connection:
        backends = set(
            connection.scalars(
                text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            )
        )
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / _TICKS
        group = int(fields[2])
        for kind, leader in groups.items():
            if group == leader or -int(entry.name) == leader:
                totals[kind] += seconds
        if int(entry.name) in backends:
            totals["PostgreSQL"] += seconds
    return totals


def _counted(
    directory: Path,
    result: subprocess.CompletedProcess[str],
    engine: Engine,
    campaign_id: int,
    pool: list[str],
) -> Figures:
    figures = Figures(scenario=directory.name)
    unanswered = _count_answers(figures, directory, result.stdout, len(pool))
    _count_events(figures, engine, campaign_id, pool, unanswered)
    return figures


def _counts(figures: Figures) -> str:
    return (
        f"answers {figures.requests:,} ({figures.answers_2xx:,} 2xx, "
        f"{figures.answers_non_2xx:,} other); clicks {figures.clicks_answered:,} answered, "
        f"{figures.clicks_stored:,} stored; opens {figures.opens_answered:,} answered, "
        f"{figures.opens_stored:,} stored; unsubscribe links {figures.unsubscribe_links:,}, "
        f"addresses unsubscribed {figures.addresses_unsubscribed:,}, events "
        f"{figures.unsubscribes_stored:,}" + (f"; {figures.notes}" if figures.notes else "")
    )


def main() -> int:
    from bench.__main__ import Context
    from bench.figures import POSTGRES, REDIS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 s runs on a small alert")
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory(prefix="coalition-bench-") as workdir:
        context = Context(POSTGRES, REDIS, Path(workdir), args.quick)
        print_table(run(context), title="Tracking endpoints")
    return 0


if __name__ == "__main__":
    sys.exit(main())
