"""Migrations keep the data: a database full of demo data, taken down to each earlier
revision and upgraded to the newest again, keeps every row of every table that existed
at that revision, value for value; and the downgrade itself keeps every row of the
tables it does not remove.

A database "at an earlier revision, full of data" is made by filling the newest schema
and downgrading, so the data is what the product writes today (registry, accounts,
applications, outbox, alerts, deliveries, responses, replies) rather than hand-written
rows for an old schema. Tables a downgrade removes lose their rows by design; which
ones they are is asserted too, so a downgrade that drops more than its own tables fails.
"""

from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlmodel import Session

from app.core import migrations
from app.core.db import create_db_engine
from app.countries.treaty_data import load_countries, read_treaty_data
from app.delivery.models import OutboxMessage
from app.demo.seed import seed_demo_registry
from app.members.applications import submit_application
from app.members.schemas import ApplicationCreate
from tests.reports.world import build_report_world

Rows = dict[str, list[tuple[Any, ...]]]  # table → its rows, ordered by primary key
Columns = dict[str, list[str]]

_REVISIONS = [
    revision.revision
    for revision in reversed(
        list(ScriptDirectory.from_config(migrations.alembic_config()).walk_revisions())
    )
]
_EARLIER = _REVISIONS[:-1]


def _fill(engine: Engine) -> None:
    """Demo data in every table the product writes."""
    with Session(engine) as session:
        load_countries(session, list(read_treaty_data()))
        seed_demo_registry(session, organizations=120, seed=7)
        build_report_world(session)  # users, alerts, deliveries, events, reports, replies
        submit_application(
            session,
            ApplicationCreate(
                organization_name="Ligue des droits de Kinshasa",
                country="COD",
                languages=["fr"],
                contact_name="Mireille Kabila",
                contact_email="mireille@kinshasa.example.org",
            ),
        )
        session.add(
            OutboxMessage(
                to_address="staff@example.org", subject="Welcome", text_body="…", purpose="welcome"
            )
        )
        session.commit()


def _columns(engine: Engine) -> Columns:
    with engine.connect() as connection:
        inspector = inspect(connection)
        return {
            table: [column["name"] for column in inspector.get_columns(table)]
            for table in inspector.get_table_names()
            if table != "alembic_version"
        }


def _rows(engine: Engine, columns: Columns) -> Rows:
    """Every row of each table, in the given columns, in primary-key order."""
    dump: Rows = {}
    with engine.connect() as connection:
        inspector = inspect(connection)
        for table, names in columns.items():
            key = inspector.get_pk_constraint(table)["constrained_columns"] or names
            quoted = ", ".join(f'"{name}"' for name in names)
            order = ", ".join(f'"{name}"' for name in key)
            result = connection.execute(text(f'SELECT {quoted} FROM "{table}" ORDER BY {order}'))
            dump[table] = [tuple(row) for row in result]
    return dump


def _only(columns: Columns, rows: Rows) -> Rows:
    """`rows` (read with more columns) cut down to `columns`, for comparing."""
    return {table: rows[table] for table in columns}


def _assert_same(expected: Rows, actual: Rows, when: str) -> None:
    for table, rows in expected.items():
        assert len(actual[table]) == len(rows), f"{when}: {table} had {len(rows)} rows"
        assert actual[table] == rows, f"{when}: values in {table} changed"


def _assert_data_survives(url: str, revision: str) -> None:
    migrations.upgrade(url)
    engine = create_db_engine(url)
    try:
        _fill(engine)
        newest_columns = _columns(engine)
        full = _rows(engine, newest_columns)
        assert sum(len(rows) for rows in full.values()) > 1_000

        migrations.downgrade(url, revision)
        old_columns = _columns(engine)
        old = _rows(engine, old_columns)
        # The downgrade removed only tables and columns of later revisions, and kept
        # every row of what remains, value for value.
        _assert_same(
            {
                table: _project(full[table], newest_columns[table], names)
                for table, names in old_columns.items()
            },
            old,
            f"downgrade to {revision}",
        )
        assert not set(old_columns) - set(newest_columns)
        kept = sum(len(rows) for rows in old.values())

        migrations.upgrade(url)
        _assert_same(old, _rows(engine, old_columns), f"upgrade from {revision}")
        assert kept > 0
    finally:
        engine.dispose()


def _project(
    rows: list[tuple[Any, ...]], columns: list[str], wanted: list[str]
) -> list[tuple[Any, ...]]:
    positions = [columns.index(name) for name in wanted]
    return [tuple(row[position] for position in positions) for row in rows]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'full.db'}"


@pytest.mark.parametrize("revision", _EARLIER)
def test_data_survives_downgrade_and_upgrade_on_sqlite(
    sqlite_url: str, revision: str, quick_password_hashing: None
) -> None:
    _assert_data_survives(sqlite_url, revision)


@pytest.mark.postgres
@pytest.mark.parametrize("revision", _EARLIER)
def test_data_survives_downgrade_and_upgrade_on_postgres(
    empty_postgres_database: str, revision: str, quick_password_hashing: None
) -> None:
    _assert_data_survives(empty_postgres_database, revision)


def test_every_revision_but_the_newest_is_tried() -> None:
    assert _REVISIONS[0] == "0001_registry"
    assert len(_EARLIER) == len(_REVISIONS) - 1 >= 5
