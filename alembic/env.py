"""Alembic environment: the URL comes from settings unless a connection is handed in."""

from logging.config import fileConfig

from sqlalchemy import Connection

from alembic import context
from app.core.db import create_db_engine
from app.core.settings import get_settings
from app.models import metadata

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    url = config.attributes.get("url") or get_settings().database_url
    context.configure(
        url=url,
        target_metadata=metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.attributes.get("url") or get_settings().database_url
    # SQLite alters a table by copying it and dropping the original, and with foreign
    # keys enforced that drop fails (or cascades) as soon as other rows point at it. So,
    # as SQLite's documentation prescribes, keys are off while migrating and checked
    # before the migration's transaction commits.
    engine = create_db_engine(url, sqlite_foreign_keys=False)
    try:
        with engine.connect() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
                _check_foreign_keys(connection)
    finally:
        engine.dispose()


def _check_foreign_keys(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        return  # PostgreSQL checks every key as it goes
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise RuntimeError(
            f"the migration left rows whose foreign keys point nowhere: {broken[:5]}"
        )


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
