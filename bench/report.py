"""Participation report: GET /api/reports/participation for the scale data's alert
(1,000,000 deliveries, 3,000,000 events), by region, by country and by organisation
(pages of 500 following next_cursor, and the whole list of 250,000 without a goal: it
is a download), through the HTTP API.

    python -m bench.report [--quick] [--database URL --campaign ID] [--requests 200]

It first counts the alert's figures per organisation as the workers do for any alert
over REPORT_LIVE_LIMIT recipients (app/reports/tallies.py), and prints how long that
took. Then it starts `coalition serve` against the scale database with the production settings
(bench/api_server.py: no demo mode, Redis for throttling; REDIS_URL is this
benchmark's own Redis database), signs in a secretariat admin and an Africa regional
lead with bearer tokens (the lead's report holds her region's members only: the
scoping is part of the query), and times, over one keep-alive client per user, at
least 200 requests per grouping and role after a warm-up. Every answer is checked (200,
the alert's id, read from the count, totals that add up). Figures: p95 per grouping and role against
200 ms; the p50 and the size of the answer are in the note.
"""

import argparse
import os
import re
import tempfile
import time
from dataclasses import dataclass
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
# The page size timed by organisation: a screenful, or a CSV written in pieces.
PAGE = 500
# This benchmark's own Redis database (throttling), whatever BENCH_REDIS_URL says.
REDIS_DATABASE = 14


def own_redis(url: str) -> str:
    return re.sub(r"/\d*$", "", url) + f"/{REDIS_DATABASE}"


@dataclass(frozen=True)
class Series:
    """One kind of request: a grouping, whole or a page at a time."""

    group_by: str
    page: int | None = None  # organisations a page, following next_cursor
    goal: bool = True

    @property
    def label(self) -> str:
        if self.page:
            return f"by {self.group_by}, pages of {self.page:,}"
        return f"by {self.group_by}" + ("" if self.goal else ", the whole list")


SERIES = (
    Series("region"),
    Series("country"),
    Series("organization", page=PAGE),
    # What the CSV export and an API client asking for every organisation get: no goal,
    # it is a download of 250,000 rows.
    Series("organization", goal=False),
)


def check(answer: dict[str, Any], campaign_id: int, series: Series) -> None:
    """The answer is the alert's report, grouped as asked, read from the count; the
    groups add up to the total (a page holds at most its size, and the whole total)."""
    if answer["campaign_id"] != campaign_id or answer["group_by"] != series.group_by:
        raise AssertionError(f"unexpected answer for campaign {campaign_id} {series.label}")
    if answer["live"]:
        raise AssertionError("the report was counted live: the tallies were not read")
    recipients = sum(group["recipients"] for group in answer["groups"])
    if series.page:
        if len(answer["groups"]) > series.page + 1 or recipients > answer["total"]["recipients"]:
            raise AssertionError(f"{series.label}: a page larger than asked for")
    elif recipients != answer["total"]["recipients"]:
        raise AssertionError(
            f"{series.label}: the groups hold {recipients:,} recipients, "
            f"the total {answer['total']['recipients']:,}"
        )


def time_requests(
    client: httpx.Client, campaign_id: int, series: Series, requests: int
) -> tuple[Latencies, dict[str, Any], int]:
    """Times the series; pages follow each other's next_cursor (back to the first page
    after the last). Returns the latencies, the first answer and its size."""
    params: dict[str, str | int] = {"campaign_id": campaign_id, "group_by": series.group_by}
    if series.page:
        params["limit"] = series.page
    cursor: str | None = None

    def ask() -> httpx.Response:
        nonlocal cursor
        response = client.get(
            "/api/reports/participation",
            params={**params, **({"cursor": cursor} if cursor else {})},
            timeout=REQUEST_TIMEOUT,
        )
        response.raise_for_status()
        check(response.json(), campaign_id, series)
        cursor = response.json()["next_cursor"]
        return response

    first: httpx.Response | None = None
    for _ in range(WARM_UP):
        first = ask()
    assert first is not None
    cursor = None
    latencies = Latencies()
    started = time.perf_counter()
    for done in range(requests):
        if done >= MIN_REQUESTS and time.perf_counter() - started > SERIES_BUDGET_SECONDS:
            break
        with latencies.timing():
            ask()
    return latencies, first.json(), len(first.content)


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


def explain(url: str, campaign_id: int, series: Series) -> str:
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
                ParticipationQuery(
                    campaign_id=campaign_id, group_by=GroupBy(series.group_by), limit=series.page
                ),
            )
    finally:
        engine.dispose()
    if not plans:
        return ""
    plan = plans[0]
    tallied = sum(
        n.get("Actual Rows", 0) * n.get("Actual Loops", 1)
        for n in _nodes(plan["Plan"])
        if n.get("Relation Name") == "participation_tallies"
    )
    return (
        f"EXPLAIN ANALYZE: the statement takes {plan['Execution Time']:,.0f} ms in PostgreSQL, "
        f"reading {tallied:,} rows of tallies; the rest of the request builds and encodes "
        "the answer"
    )


def count_tallies(url: str, campaign_id: int) -> tuple[float, int]:
    """What the workers do every minute or so for a large alert: count its figures per
    organisation (app/reports/tallies.py). Returns the seconds it took and the
    recipients counted."""
    from app.campaigns.models import Campaign
    from app.core.db import SessionFactory, create_db_engine
    from app.reports import tallies

    engine = create_db_engine(url)
    try:
        with SessionFactory(bind=engine) as session:
            started = time.perf_counter()
            recipients = tallies.count_campaign(session, session.get_one(Campaign, campaign_id))
            session.commit()
            return time.perf_counter() - started, recipients
    finally:
        engine.dispose()


def measure(url: str, campaign_id: int, redis_url: str, requests: int) -> list[Figure]:
    reasons: dict[str, str] = {}
    seconds, recipients = count_tallies(url, campaign_id)
    print(f"counted {recipients:,} recipients' figures per organisation in {seconds:.1f} s")
    figures = [
        Figure(
            "report",
            f"count of a large alert's figures per organisation, {recipients:,} deliveries",
            seconds,
            "s",
            note=(
                "the workers' background count (REPORT_LIVE_LIMIT 20,000 recipients); "
                "the next count waits max(REPORT_REFRESH_SECONDS, 10 x this); before it, "
                "a live report cost about this much a request"
            ),
        )
    ]
    with api_server(url, own_redis(redis_url)) as server, staff_clients(server) as clients:
        for role, client in zip(("admin", "regional lead (Africa)"), clients, strict=True):
            for series in SERIES:
                latencies, answer, size = time_requests(client, campaign_id, series, requests)
                total = answer["total"]
                p50, p95 = latencies.percentile(50), latencies.percentile(95)
                if series.goal and p95 > GOAL_MS and series.label not in reasons:
                    reasons[series.label] = explain(url, campaign_id, series)
                cut = (
                    f" (cut short after {SERIES_BUDGET_SECONDS:.0f} s)"
                    if len(latencies.seconds) < requests
                    else ""
                )
                shown = "a page" if series.page else "the answer"
                print(
                    f"{role}, {series.label}: p50 {p50:.0f} ms, p95 {p95:.0f} ms "
                    f"({len(answer['groups']):,} groups, {size / 1024:,.0f} KiB {shown}, "
                    f"{total['recipients']:,} recipients)"
                )
                figures.append(
                    Figure(
                        "report",
                        f"participation {series.label}, {role}, p95 at "
                        f"{total['recipients']:,} deliveries",
                        p95,
                        "ms",
                        at_most=GOAL_MS if series.goal else None,
                        note=(
                            f"p50 {p50:.0f} ms over {len(latencies.seconds)} requests{cut}; "
                            f"{len(answer['groups']):,} groups, {size / 1024:,.0f} KiB of JSON"
                            f"{' a page' if series.page else ''}; "
                            f"{server.workers} server process(es)"
                            + (f"; {reasons[series.label]}" if reasons.get(series.label) else "")
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
