"""The scale-data generator (bench/scale.py), at a tiny size, on PostgreSQL: the counts
asked for, rows that keep the schema's constraints and the app's own invariants, and
the app's queries answering sensibly on them."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from app.accounts.principal import Principal, Role
from app.core.db import create_db_engine
from app.members import service as members
from app.members.models import Organization
from app.members.schemas import OrganizationFilter
from app.reports import service as reports
from app.reports.schemas import GroupBy, ParticipationQuery
from bench.scale import ScaleData, generate, prepare_database
from tests.conftest import postgres_url_or_skip, scratch_postgres_database

SECRETARIAT = Principal(actor="test:secretariat", role=Role.secretariat)
ORGANIZATIONS = 120
DELIVERIES = 400
EVENTS = 1_500

# Every index and constraint of the tables the generator loads, by name and definition.
SCHEMA = """
    SELECT 'index', indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
    UNION ALL
    SELECT 'constraint', conname, pg_get_constraintdef(oid) FROM pg_constraint
    WHERE connamespace = 'public'::regnamespace
"""


@pytest.fixture(scope="module")
def loaded() -> Iterator[tuple[ScaleData, Engine, set[tuple[str, str, str]]]]:
    with scratch_postgres_database(postgres_url_or_skip(), "test_scale") as url:
        prepare_database(url)
        engine = create_db_engine(url)
        with engine.connect() as connection:
            schema = {tuple(row) for row in connection.execute(text(SCHEMA))}
        data = generate(
            url,
            organizations=ORGANIZATIONS,
            deliveries=DELIVERIES,
            events=EVENTS,
            progress=False,
        )
        try:
            yield data, engine, schema
        finally:
            engine.dispose()


def scalar(engine: Engine, query: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(query)).scalar_one())


def test_counts_are_the_ones_asked_for(loaded: tuple[ScaleData, Engine, set]) -> None:
    data, engine, _ = loaded
    assert data.organizations == scalar(engine, "SELECT count(*) FROM organizations")
    assert data.organizations == ORGANIZATIONS
    assert data.contacts == scalar(engine, "SELECT count(*) FROM contacts") == ORGANIZATIONS * 4
    assert data.deliveries == scalar(engine, "SELECT count(*) FROM deliveries") == DELIVERIES
    assert data.events == scalar(engine, "SELECT count(*) FROM response_events") == EVENTS
    assert data.action_reports == scalar(engine, "SELECT count(*) FROM action_reports") > 0
    for table, rows in data.rows.items():
        assert rows == scalar(engine, f"SELECT count(*) FROM {table}"), table
    assert data.campaign_id is not None
    assert data.registry_seconds > 0
    assert data.responses_seconds > 0


def test_the_registry_spreads_over_regions_and_varies(
    loaded: tuple[ScaleData, Engine, set],
) -> None:
    _, engine, _ = loaded
    regions = scalar(
        engine,
        "SELECT count(DISTINCT region_slug) FROM organizations o "
        "JOIN countries c ON c.iso3 = o.country_iso3",
    )
    assert regions == 5
    assert scalar(engine, "SELECT count(DISTINCT country_iso3) FROM organizations") > 40
    assert scalar(engine, "SELECT count(DISTINCT type) FROM organizations") >= 4
    assert scalar(engine, "SELECT count(DISTINCT membership_status) FROM organizations") >= 3
    # Every organisation has focus areas, working languages and contacts.
    for table in ("organization_focus_areas", "organization_languages", "contacts"):
        assert scalar(engine, f"SELECT count(*) FROM organizations o WHERE NOT EXISTS "
                      f"(SELECT 1 FROM {table} t WHERE t.organization_id = o.id)") == 0  # fmt: skip
    subscribed = scalar(
        engine, "SELECT count(*) FROM contacts WHERE subscription_status = 'subscribed'"
    )
    assert subscribed > 0.9 * ORGANIZATIONS * 4
    assert scalar(engine, "SELECT count(DISTINCT language) FROM contacts") >= 4
    assert scalar(engine, "SELECT count(DISTINCT role) FROM contacts") >= 4


def test_unique_values_and_the_schema_come_back(loaded: tuple[ScaleData, Engine, set]) -> None:
    _, engine, schema = loaded
    assert scalar(engine, "SELECT count(DISTINCT lower(email)) FROM contacts") == scalar(
        engine, "SELECT count(*) FROM contacts"
    )
    assert scalar(
        engine, "SELECT count(DISTINCT (lower(name), country_iso3)) FROM organizations"
    ) == (ORGANIZATIONS)
    assert scalar(engine, "SELECT count(DISTINCT token) FROM deliveries") == DELIVERIES
    assert scalar(engine, "SELECT count(DISTINCT message_id) FROM deliveries") == DELIVERIES
    # Every index and constraint dropped for the load is back, the same.
    with engine.connect() as connection:
        after = {tuple(row) for row in connection.execute(text(SCHEMA))}
    assert after == schema


def test_the_responses_tell_the_registrys_story(loaded: tuple[ScaleData, Engine, set]) -> None:
    _, engine, _ = loaded
    # Each report has its `acted` event, on the same delivery.
    assert scalar(engine, """
        SELECT count(*) FROM action_reports r WHERE NOT EXISTS (
            SELECT 1 FROM response_events e
            WHERE e.delivery_id = r.delivery_id AND e.kind = 'acted')
    """) == 0  # fmt: skip
    # A report names the organisation of the contact the alert went to.
    assert scalar(engine, """
        SELECT count(*) FROM action_reports r JOIN contacts c ON c.id = r.contact_id
        WHERE c.organization_id <> r.organization_id
    """) == 0  # fmt: skip
    # Recipients now unsubscribed unsubscribed through the alert; no one else did.
    assert scalar(engine, """
        SELECT count(*) FROM deliveries d JOIN contacts c ON c.id = d.contact_id
        WHERE (c.subscription_status = 'unsubscribed') <> EXISTS (
            SELECT 1 FROM response_events e
            WHERE e.delivery_id = d.id AND e.kind = 'unsubscribed')
    """) == 0  # fmt: skip
    # Hard bounces: refused at send (failed), or bounced later (and suppressed).
    assert scalar(engine, """
        SELECT count(*) FROM deliveries d JOIN contacts c ON c.id = d.contact_id
        WHERE c.bounce_status = 'hard' AND d.state <> 'failed' AND NOT EXISTS (
            SELECT 1 FROM response_events e
            WHERE e.delivery_id = d.id AND e.kind = 'bounced_hard')
    """) == 0  # fmt: skip
    assert scalar(engine, "SELECT count(*) FROM suppressions") == scalar(
        engine, "SELECT count(*) FROM response_events WHERE kind = 'bounced_hard'"
    )
    # Clicks name one of the alert's links; events come after the message was sent.
    assert scalar(engine, "SELECT count(*) FROM response_events WHERE kind = 'clicked' "
                  "AND link_number NOT BETWEEN 1 AND 3") == 0  # fmt: skip
    assert scalar(engine, """
        SELECT count(*) FROM response_events e JOIN deliveries d ON d.id = e.delivery_id
        WHERE d.sent_at IS NULL OR e.occurred_at < d.sent_at OR e.occurred_at > now()
    """) == 0  # fmt: skip
    assert scalar(engine, "SELECT count(*) FROM response_events WHERE automated") > 0
    assert scalar(engine, "SELECT max(n) FROM (SELECT count(*) AS n FROM response_events "
                  "GROUP BY delivery_id) counts") > 1  # fmt: skip


def test_the_apps_queries_work_on_it(loaded: tuple[ScaleData, Engine, set]) -> None:
    data, engine, _ = loaded
    assert data.campaign_id is not None
    with Session(engine) as session:
        page = members.list_organizations(session, SECRETARIAT, OrganizationFilter(), limit=20)
        archived = scalar(
            engine, "SELECT count(*) FROM organizations WHERE membership_status = 'archived'"
        )
        assert page.total == ORGANIZATIONS - archived
        assert len(page.items) == 20
        assert page.next_cursor
        africa = members.list_organizations(
            session, SECRETARIAT, OrganizationFilter(region=["africa"]), limit=200
        )
        assert 0 < africa.total < page.total
        word = page.items[0].name.split()[0]
        found = members.list_organizations(
            session, SECRETARIAT, OrganizationFilter(q=word), limit=200
        )
        assert found.total >= 1

        by_region = reports.participation(
            session,
            SECRETARIAT,
            ParticipationQuery(campaign_id=data.campaign_id, group_by=GroupBy.region),
        )
        total = by_region.total
        assert total.recipients == DELIVERIES
        assert len(by_region.groups) == 5
        assert sum(group.recipients for group in by_region.groups) == DELIVERIES
        assert 0.9 * DELIVERIES < total.delivered < DELIVERIES
        assert 0 < total.clicked < total.delivered
        assert 0 < total.acted <= total.clicked + total.acted
        assert 0 < total.organizations_acted < total.organizations_reached
        by_organization = reports.participation(
            session,
            SECRETARIAT,
            ParticipationQuery(campaign_id=data.campaign_id, group_by=GroupBy.organization),
        )
        assert by_organization.total == total

        # The sequences go on after the generated ids.
        organization = Organization(name="Added after the load", country_iso3="KEN")
        session.add(organization)
        session.flush()
        assert organization.id == ORGANIZATIONS + 1
        session.rollback()


def test_it_refuses_a_registry_that_is_not_empty(loaded: tuple[ScaleData, Engine, set]) -> None:
    data, _, _ = loaded
    with pytest.raises(RuntimeError, match="already has"):
        generate(data.url, organizations=1, deliveries=0, events=0, progress=False)
