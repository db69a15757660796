"""Scaling out: the same alert sent by 1, 2 and 4 separate workers, then 4 under the
global send-rate limit.

    BENCH_REDIS_URL=redis://127.0.0.1:6379/11 python -m bench.scaling [--quick]

Reuses bench/send.py's pieces (the registry, the alert, smtp-sink, the wait for the
workers). One registry of 3,250 organisations (about 10,000 recipients; `--quick`: 325,
about 1,000); for each count N a fresh alert to all of it, sent by N separate
`coalition worker --concurrency 1 -n scaleK@%h` processes, each started as it would be on
a machine of its own (its own process tree, node name and connections) against one
PostgreSQL and one Redis. The rate is recipients / (launch to last 250 reply), from the
deliveries' `sent_at`, as in the send benchmark.

Then 4 workers with SEND_RATE_LIMIT set to half the 1-worker rate: the rate over the
whole run must stay at or under the limit. The limiter lets a burst of 5 go at once
after an idle spell, so the rate is (sent - 1 - 5) / (first to last 250 reply); the
busiest calendar second is shown too.

The machine has 2 cores shared by the workers, PostgreSQL, Redis and smtp-sink: past 2
workers, more processes cannot send faster here; on separate machines each brings its
own cores.
"""

import argparse
import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import redis
from sqlalchemy import create_engine, text
from sqlmodel import Session

from app.delivery.rate_limit import BURST
from bench import send
from bench.figures import POSTGRES, Figure, print_table
from tests.conftest import scratch_postgres_database

if TYPE_CHECKING:
    from bench.__main__ import Context

WORKER_COUNTS = (1, 2, 4)


@dataclass
class Run:
    workers: int
    recipients: int
    seconds: float  # launch to last 250
    spread: float  # first to last 250
    busiest_second: int  # most 250 replies in one calendar second
    load: float  # the machine's 1-minute load average at the end

    @property
    def rate(self) -> float:
        return self.recipients / self.seconds if self.seconds else 0.0

    @property
    def limited_rate(self) -> float:
        """The rate the limiter holds to: it lets the first 1 + BURST messages go at
        once, then one per 1/limit seconds, so (sent - 1 - BURST) / (first to last)."""
        return (self.recipients - 1 - BURST) / self.spread if self.spread else 0.0


def start_workers(env: dict[str, str], count: int) -> list[subprocess.Popen[bytes]]:
    """`count` workers, each as on a machine of its own: its own session (process
    group), one pool process, and a node name of its own."""
    return [
        subprocess.Popen(
            [send.COALITION, "worker", "--concurrency", "1", "-n", f"scale{number}@%h"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for number in range(1, count + 1)
    ]


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        try:
            os.killpg(worker.pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    for worker in workers:
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)


def send_with(env: dict[str, str], count: int, redis_url: str) -> Run:
    """A fresh alert to the whole registry, sent by `count` workers."""

    campaign_id = send.write_alert(env)
    # Nothing left from the run before: queued hints, the rate limiter's state.
    redis.Redis.from_url(redis_url).flushdb()
    workers = start_workers(env, count)
    engine = create_engine(env["DATABASE_URL"])
    try:
        send.wait_for_workers(env, count)
        send.launch(campaign_id)
        with Session(engine) as session:
            launched, first, last, sent = send.wait_until_sent(session, campaign_id)
            busiest = session.scalar(
                text(
                    "SELECT max(n) FROM (SELECT count(*) AS n FROM deliveries "
                    "WHERE campaign_id = :campaign AND state = 'sent' "
                    "GROUP BY date_trunc('second', sent_at)) AS per_second"
                ),
                {"campaign": campaign_id},
            )
    finally:
        stop_workers(workers)
        engine.dispose()
    if launched is None or first is None or last is None:
        raise RuntimeError(f"nothing was sent by {count} worker(s): run `coalition worker`")
    return Run(
        workers=count,
        recipients=sent,
        seconds=(last - launched).total_seconds(),
        spread=(last - first).total_seconds(),
        busiest_second=busiest or 0,
        load=os.getloadavg()[0],
    )


def run(context: "Context") -> list[Figure]:
    # The demo registry has about 3 recipients (active, subscribed) per organisation.
    organizations = 325 if context.quick else 3_250
    figures: list[Figure] = []
    cores = os.cpu_count() or 1
    with (
        scratch_postgres_database(context.postgres, "bench_scaling") as url,
        send.smtp_sink(),
    ):
        env = send.prepare(url, organizations, dkim=False)
        runs = [send_with(env, count, send.REDIS) for count in WORKER_COUNTS]
        single = runs[0]
        for result in runs:
            note = (
                f"{result.recipients:,} recipients, {result.workers}x `coalition worker "
                f"--concurrency 1 -n scaleN@%h`; {result.rate / single.rate:.2f}x 1 worker; "
                f"load average {result.load:.1f} (the machine is shared: runs at different "
                "loads do not compare exactly)"
            )
            if result.workers > cores:
                note += (
                    f"; {cores} cores carry the workers, PostgreSQL, Redis and smtp-sink: past "
                    f"{cores} workers no CPU is added, only waits on PostgreSQL and SMTP "
                    "overlap; on separate machines each worker brings its own cores"
                )
            figures.append(
                Figure(
                    "scaling",
                    f"send rate, {result.workers} worker{'s' if result.workers > 1 else ''}",
                    result.rate,
                    "/s",
                    note=note,
                )
            )
        limit = max(1.0, round(single.rate / 2))
        limited = send_with({**env, "SEND_RATE_LIMIT": str(limit)}, 4, send.REDIS)
    figures.append(
        Figure(
            "scaling",
            f"send rate, 4 workers, SEND_RATE_LIMIT={limit:.0f}/s (half of 1 worker)",
            limited.limited_rate,
            "/s",
            at_most=limit,
            note=(
                f"{limited.recipients:,} recipients; (sent - 1 - burst of {BURST}) / first to "
                f"last 250 reply ({limited.spread:.1f} s); launch to last "
                f"{limited.rate:.1f}/s; busiest calendar second {limited.busiest_second} "
                "(at most limit + burst); one budget in Redis for every worker; sent_at "
                "is the 250 reply, one SMTP round trip after the limiter's slot, so a short "
                "run can read a fraction of a percent over"
            ),
        )
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="about 1,000 recipients")
    args = parser.parse_args()
    from bench.__main__ import Context

    os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 40)
    with tempfile.TemporaryDirectory(prefix="coalition-bench-") as workdir:
        context = Context(POSTGRES, send.REDIS, Path(workdir), args.quick)
        print_table(run(context), title="Scaling out")


if __name__ == "__main__":
    main()
