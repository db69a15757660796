"""Launch snapshot: an alert to everyone in the scale registry, launched as a user's
launch runs, timed until its delivery rows are committed.

    python -m bench.snapshot [--quick] [--database URL]

In the scale database (bench/scale.py: 250,000 organisations, 1,000,000 contacts) it
writes a four-language alert addressed to every member, approved by a second
secretariat user, through the app's own services (app/campaigns/service.py and
lifecycle.py, as bench/send.py's write_alert does), then calls
`lifecycle.launch` (the code behind the Launch button: the snapshot in
app/delivery/store.py turns the audience into delivery rows in one INSERT … SELECT)
in one unit of work, and times it from the call to the COMMIT. No Celery worker runs:
the wake-up hint that the launch enqueues after its commit is recorded, not sent.

Afterwards the alert's deliveries are deleted and the alert cancelled, so that the
benchmarks after this one see the generated data only. Figure: seconds against 30 s;
the note has the rows written and where the time went (the INSERT alone, the COMMIT).
"""

import argparse
import json
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, delete, event, func, select, text
from sqlmodel import Session, col

from bench.figures import POSTGRES, REDIS, Figure, print_table

GOAL_SECONDS = 30.0
WRITER_EMAIL = f"bench-writer-{secrets.token_hex(4)}@example.org"
APPROVER_EMAIL = f"bench-approver-{secrets.token_hex(4)}@example.org"

BODY = """Dear {{ contact.first_name }},

{{ country.name }} has not ratified the Agreement on Privileges and Immunities.
Write to the ministry of foreign affairs before the Assembly of States Parties.

Thank you, and greetings to everyone at {{ organization.name }}.
"""


def _use_database(url: str) -> Engine:
    """Point the app's settings and engine at `url` (this process only)."""
    os.environ["DATABASE_URL"] = url
    os.environ.pop("DEMO_MODE", None)
    os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 40)
    from app.core.db import dispose_engine, get_engine
    from app.core.settings import get_settings

    get_settings.cache_clear()
    dispose_engine()
    return get_engine()


@contextmanager
def unit_of_work() -> Iterator[Session]:
    from app.core.db import session_scope

    with session_scope() as session:
        yield session


def _staff_user(session: Session, email: str, *, admin: bool) -> Any:
    from app.accounts import service as accounts
    from app.accounts.principal import Role, cli_principal
    from app.accounts.schemas import UserCreate

    user = accounts.find_user_by_email(session, email)
    if user is None:
        user = accounts.create_user(
            session,
            cli_principal(),
            UserCreate(
                email=email,
                role=Role.secretariat,
                is_admin=admin,
                full_name="Benchmark",
                password=secrets.token_urlsafe(18),
            ),
        )
    return accounts.principal_for(user)


def write_approved_alert() -> int:
    """A four-language alert to every active member (an empty audience filter), written
    by one secretariat user and approved by another, as the app's pages do it."""
    from app.campaigns import lifecycle
    from app.campaigns import service as campaigns
    from app.campaigns.schemas import CampaignCreate

    with unit_of_work() as session:
        writer = _staff_user(session, WRITER_EMAIL, admin=False)
        approver = _staff_user(session, APPROVER_EMAIL, admin=True)
        campaign = campaigns.create_campaign(
            session,
            writer,
            CampaignCreate.model_validate(
                {
                    "title": "Benchmark: launch snapshot",
                    "action_type": "contact_officials",
                    "default_language": "en",
                    "variants": [
                        {"language": language, "subject": "APIC ({{ country.name }})", "body": BODY}
                        for language in ("en", "fr", "es", "ar")
                    ],
                    "audience": {},
                }
            ),
        )
        lifecycle.approve(session, approver, campaign)
        return campaign.id or 0


def expected_recipients(campaign_id: int) -> int:
    """The audience preview's total for the alert: what the launch must write."""
    from app.accounts.principal import Principal, Role
    from app.campaigns.audience import AudienceFilter, LanguageChoice, audience_preview
    from app.campaigns.models import Campaign

    with unit_of_work() as session:
        campaign = session.get_one(Campaign, campaign_id)
        return audience_preview(
            session,
            Principal(actor="bench", role=Role.secretariat),
            AudienceFilter.model_validate(campaign.audience),
            topics=campaign.topics,
            languages=LanguageChoice(
                languages=tuple(variant.language for variant in campaign.variants),
                default=campaign.default_language,
            ),
        ).total


class _StatementTimer:
    """Seconds spent in the INSERT into deliveries."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.insert = 0.0
        self.statement: tuple[str, Any] | None = None  # the INSERT, for EXPLAIN
        self._started = 0.0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)

    def _before(self, *args: Any) -> None:
        self._started = time.perf_counter()

    def _after(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO DELIVERIES"):
            self.insert += time.perf_counter() - self._started
            self.statement = (statement, parameters)


def launch(campaign_id: int, engine: Engine) -> tuple[float, float, tuple[str, Any] | None]:
    """Launch now, as POST /api/campaigns/{id}/launch does; (seconds to the committed
    rows, seconds in the INSERT statement, the INSERT statement)."""
    from app.accounts.principal import Principal, Role
    from app.campaigns import lifecycle
    from app.campaigns.models import Campaign
    from app.core import jobs

    woken: list[tuple[str, tuple[Any, ...]]] = []
    jobs.use_dispatcher(lambda name, args: woken.append((name, args)))
    timer = _StatementTimer(engine)
    try:
        with unit_of_work() as session:
            launcher = Principal(actor="bench:launch", role=Role.secretariat)
            campaign = session.get_one(Campaign, campaign_id)
            started = time.perf_counter()
            lifecycle.launch(session, launcher, campaign)
        seconds = time.perf_counter() - started
    finally:
        jobs.use_dispatcher(None)
        timer.close()
    assert woken, "the launch enqueued no send_batch after its commit"
    return seconds, timer.insert, timer.statement


def delivery_count(campaign_id: int) -> int:
    from app.delivery.models import Delivery

    with unit_of_work() as session:
        return int(
            session.scalar(select(func.count()).where(col(Delivery.campaign_id) == campaign_id))
            or 0
        )


def remove(campaign_id: int) -> None:
    """Cancel the alert and delete its delivery rows: the data the later benchmarks
    read stays as bench/scale.py generated it."""
    from app.accounts.principal import Principal, Role
    from app.campaigns import lifecycle
    from app.campaigns.models import Campaign
    from app.delivery.models import Delivery

    with unit_of_work() as session:
        # Deleted first: cancelling would otherwise mark each queued row on its way out.
        session.execute(delete(Delivery).where(col(Delivery.campaign_id) == campaign_id))
        campaign = session.get_one(Campaign, campaign_id)
        lifecycle.cancel(session, Principal(actor="bench:launch", role=Role.secretariat), campaign)
    with unit_of_work() as session:
        session.execute(text("ANALYZE deliveries"))


def explain(engine: Engine, insert: tuple[str, Any]) -> str:
    """Where the INSERT's time goes, from EXPLAIN ANALYZE of the same statement run
    again (after the launch's rows were deleted) in a transaction rolled back: the
    SELECT of the audience, and each foreign-key check, which PostgreSQL runs row by
    row; the rest is writing the table, its five indexes and the WAL."""
    statement, parameters = insert
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute("EXPLAIN (ANALYZE, WAL, FORMAT JSON) " + statement, parameters)
        row = cursor.fetchone()
        connection.rollback()
        assert row is not None
    finally:
        connection.close()
    plan = (row[0] if isinstance(row[0], list) else json.loads(row[0]))[0]
    total = plan["Execution Time"] / 1000
    select_seconds = plan["Plan"]["Plans"][0]["Actual Total Time"] / 1000
    triggers = sum(trigger["Time"] for trigger in plan.get("Triggers", [])) / 1000
    wal = plan["Plan"].get("WAL Bytes", 0) / 2**20
    return (
        f"EXPLAIN ANALYZE of the INSERT again: {total:.0f} s, of which the audience SELECT "
        f"{select_seconds:.0f} s, the per-row foreign-key checks {triggers:.0f} s, "
        f"writing rows and 5 indexes {total - select_seconds - triggers:.0f} s "
        f"({wal:,.0f} MiB of WAL)"
    )


def measure(url: str) -> list[Figure]:
    engine = _use_database(url)
    campaign_id = write_approved_alert()
    expected = expected_recipients(campaign_id)
    insert = None
    try:
        seconds, insert_seconds, insert = launch(campaign_id, engine)
        written = delivery_count(campaign_id)
    finally:
        remove(campaign_id)
    breakdown = explain(engine, insert) if insert and seconds > GOAL_SECONDS else ""
    print(
        f"snapshot: {written:,} delivery rows in {seconds:.2f} s "
        f"(INSERT … SELECT {insert_seconds:.2f} s); preview said {expected:,}"
    )
    note = (
        f"{written:,} rows (preview {expected:,}"
        f"{'' if written == expected else ': MISMATCH'}); "
        f"INSERT … SELECT {insert_seconds:.1f} s, the rest (audit, COMMIT) "
        f"{seconds - insert_seconds:.1f} s"
        f"{'; ' + breakdown if breakdown else ''}"
    )
    return [
        Figure(
            "snapshot",
            f"launch snapshot, {written:,} recipients",
            seconds,
            "s",
            at_most=GOAL_SECONDS,
            note=note,
        )
    ]


def run(context: Any) -> list[Figure]:
    return measure(context.databases["scale"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", help="an existing scale database (else generate one)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.database:
        figures = measure(args.database)
    else:
        import tempfile
        from pathlib import Path

        from bench.__main__ import Context
        from bench.scale import run as load_scale

        with tempfile.TemporaryDirectory() as workdir:
            context = Context(POSTGRES, REDIS, Path(workdir), args.quick)
            with context.resources:
                load_scale(context)
                figures = run(context)
    print_table(figures, title="Launch snapshot")


if __name__ == "__main__":
    main()
