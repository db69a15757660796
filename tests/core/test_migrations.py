"""The schema exists only through Alembic: upgrade, downgrade, and no drift."""

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from app.core import migrations
from app.core.db import create_db_engine
from app.models import metadata


def _made_on(dialect: str) -> Any:
    """Alembic's include_object: leave out what the models create on another database
    only (`Index(...).ddl_if(dialect="postgresql")`, e.g. the trigram indexes)."""

    def include(obj: Any, name: Any, type_: str, reflected: bool, compare_to: Any) -> bool:
        condition = getattr(obj, "_ddl_if", None)
        return condition is None or condition.dialect in (None, dialect)

    return include


def _assert_round_trip(url: str) -> None:
    migrations.upgrade(url)
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            assert set(metadata.tables) <= tables
            regions = connection.execute(text("SELECT slug FROM regions ORDER BY position"))
            assert [r[0] for r in regions] == [
                "africa",
                "americas",
                "asia-pacific",
                "europe",
                "mena",
            ]
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    "render_as_batch": connection.dialect.name == "sqlite",
                    "include_object": _made_on(connection.dialect.name),
                },
            )
            differences = compare_metadata(context, metadata)
            assert differences == [], f"models and migrations differ: {differences}"
        migrations.downgrade(url, "base")
        with engine.connect() as connection:
            remaining = set(inspect(connection).get_table_names()) - {"alembic_version"}
            assert remaining == set()
        migrations.upgrade(url)  # and back up again on the emptied database
    finally:
        engine.dispose()


def test_migrations_on_empty_sqlite(tmp_path: Path) -> None:
    _assert_round_trip(f"sqlite:///{tmp_path / 'empty.db'}")


@pytest.mark.postgres
def test_migrations_on_empty_postgres(empty_postgres_database: str) -> None:
    _assert_round_trip(empty_postgres_database)
