"""Participation report: GET /api/reports/participation for the scale data's alert
(1,000,000 deliveries, 3,000,000 events), by region, by country and by organisation,
through the HTTP API.

    python -m bench.report [--quick] [--database URL --campaign ID] [--requests 200]

It starts `coalition serve` against the scale database with the production settings
(bench/api_server.py: no demo mode, Redis for throttling; REDIS_URL is this
benchmark's own Redis database), signs in a secretariat admin and an Africa regional
lead with bearer tokens (the lead's report holds her region's members only: the
scoping is part of the query), and times, over one keep-alive client per user, at
least 200 requests per grouping and role after a warm-up. Every answer is checked (200,
the alert's id, totals that add up). Figures: p95 per grouping and role against
200 ms; the p50 and the size of the answer are in the note.
"""

import argparse
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.api_server import api_server, staff_clients
from bench.figures import POSTGRES, Figure, Latencies, print_table

GOAL_MS = 200.0
REQUESTS = 200
QUICK_REQUESTS = 20
WARM_UP = 1
# A series stops after this long once it has MIN_REQUESTS: 200 requests of several
# seconds each would take hours, and the figure would not change its verdict.
SERIES_BUDGET_SECONDS = 30.0
MIN_REQUESTS = 2
# By organisation the answer holds a row per organisation reached: at 250,000 it took
# longer than the API client's default minute in this sitting.
REQUEST_TIMEOUT = 600.0
GROUPINGS = ("region", "country", "organization")
# This benchmark's own Redis database (throttling), whatever BENCH_REDIS_URL says.
REDIS_DATABASE = 14


def own_redis(url: str) -> str:
    return re.sub(r"/\d*$", "", url) + f"/{REDIS_DATABASE}"


def check(answer: dict[str, Any], campaign_id: int, group_by: str) -> None:
    """The answer is the alert's report, grouped as asked, and the groups add up."""
    if answer["campaign_id"] != campaign_id or answer["group_by"] != group_by:
        raise AssertionError(f"unexpected answer for campaign {campaign_id} by {group_by}")
    recipients = sum(group["recipients"] for group in answer["groups"])
    if recipients != answer["total"]["recipients"]:
        raise AssertionError(
            f"by {group_by}: the groups hold {recipients:,} recipients, "
            f"the total {answer['total']['recipients']:,}"
        )


def time_requests(
    client: httpx.Client, campaign_id: int, group_by: str, requests: int
) -> tuple[Latencies, dict[str, Any], int]:
    params: dict[str, str | int] = {"campaign_id": campaign_id, "group_by": group_by}
    answer: dict[str, Any] = {}
    size = 0
    for _ in range(WARM_UP):
        response = client.get("/api/reports/participation", params=params, timeout=REQUEST_TIMEOUT)
        response.raise_for_status()
        answer = response.json()
        size = len(response.content)
        check(answer, campaign_id, group_by)
    latencies = Latencies()
    started = time.perf_counter()
    for done in range(requests):
        if done >= MIN_REQUESTS and time.perf_counter() - started > SERIES_BUDGET_SECONDS:
            break
        with latencies.timing():
            response = client.get(
                "/api/reports/participation", params=params, timeout=REQUEST_TIMEOUT
            )
            response.raise_for_status()
            # Read as a client does: the whole body.
            body = response.content
        if len(body) != size:
            raise AssertionError(f"by {group_by}: the answer changed size between requests")
    return latencies, answer, size


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


def explain(url: str, campaign_id: int, group_by: str) -> str:
    """Where a request's time goes: EXPLAIN ANALYZE of the report's statement (as the
    service builds it for the secretariat), in this process."""
    os.environ["DATABASE_URL"] = url
    from sqlalchemy import create_engine, event

    from app.accounts.principal import Principal, Role
    from app.core.db import SessionFactory
    from app.reports import service
    from app.reports.schemas import GroupBy, ParticipationQuery

    engine = create_engine(url, connect_args={"options": "-c jit=off"})
    plans: list[dict[str, Any]] = []

    def analyse(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if "by_organization" in statement and not plans:
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
            plans.append(cursor.fetchone()[0][0])

    event.listen(engine, "before_cursor_execute", analyse)
    try:
        with SessionFactory(bind=engine) as session:
            service.participation(
                session,
                Principal(actor="bench", role=Role.secretariat),
                ParticipationQuery(campaign_id=campaign_id, group_by=GroupBy(group_by)),
            )
    finally:
        engine.dispose()
    if not plans:
        return ""
    plan = plans[0]
    flags = max(
        (n["Actual Total Time"] for n in _nodes(plan["Plan"]) if n.get("Alias") == "responses"),
        default=0.0,
    )
    return (
        f"EXPLAIN ANALYZE: the statement takes {plan['Execution Time']:,.0f} ms in PostgreSQL, "
        f"of which {flags:,.0f} ms fold the campaign's events into flags per delivery "
        "(every event and delivery read per request: no pre-aggregation)"
    )


def measure(url: str, campaign_id: int, redis_url: str, requests: int) -> list[Figure]:
    figures: list[Figure] = []
    reasons: dict[str, str] = {}
    with api_server(url, own_redis(redis_url)) as server, staff_clients(server) as clients:
        for role, client in zip(("admin", "regional lead (Africa)"), clients, strict=True):
            for group_by in GROUPINGS:
                latencies, answer, size = time_requests(client, campaign_id, group_by, requests)
                total = answer["total"]
                p50, p95 = latencies.percentile(50), latencies.percentile(95)
                if p95 > GOAL_MS and group_by not in reasons:
                    reasons[group_by] = explain(url, campaign_id, group_by)
                cut = (
                    f" (cut short after {SERIES_BUDGET_SECONDS:.0f} s)"
                    if len(latencies.seconds) < requests
                    else ""
                )
                print(
                    f"{role}, by {group_by}: p50 {p50:.0f} ms, p95 {p95:.0f} ms "
                    f"({len(answer['groups']):,} groups, {size / 1024:,.0f} KiB, "
                    f"{total['recipients']:,} recipients)"
                )
                figures.append(
                    Figure(
                        "report",
                        f"participation by {group_by}, {role}, p95 at "
                        f"{total['recipients']:,} deliveries",
                        p95,
                        "ms",
                        at_most=GOAL_MS,
                        note=(
                            f"p50 {p50:.0f} ms over {len(latencies.seconds)} requests{cut}; "
                            f"{len(answer['groups']):,} groups, {size / 1024:,.0f} KiB of JSON; "
                            f"{server.workers} server process(es)"
                            f"{'; ' + reasons[group_by] if reasons.get(group_by) else ''}"
                        ),
                    )
                )
    return figures


def run(context: Any) -> list[Figure]:
    scale = context.facts["scale"]
    return measure(
        context.databases["scale"],
        scale.campaign_id,
        context.redis,
        QUICK_REQUESTS if context.quick else REQUESTS,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", help="an existing scale database (else generate one)")
    parser.add_argument("--campaign", type=int, help="with --database: the alert to report on")
    parser.add_argument("--requests", type=int)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    from bench.figures import REDIS

    requests = args.requests or (QUICK_REQUESTS if args.quick else REQUESTS)
    if args.database:
        if args.campaign is None:
            parser.error("--database needs --campaign")
        figures = measure(args.database, args.campaign, REDIS, requests)
    else:
        from bench.__main__ import Context
        from bench.scale import run as load_scale

        with tempfile.TemporaryDirectory() as workdir:
            context = Context(POSTGRES, REDIS, Path(workdir), args.quick)
            with context.resources:
                load_scale(context)
                started = time.perf_counter()
                scale: Any = context.facts["scale"]
                figures = measure(context.databases["scale"], scale.campaign_id, REDIS, requests)
                print(f"report: {time.perf_counter() - started:.0f} s")
    print_table(figures, title="Participation report")


if __name__ == "__main__":
    os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 40)
    main()
