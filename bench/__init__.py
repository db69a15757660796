"""Benchmarks and the reliability runs: figures printed, nothing asserted (see README)."""

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[str]:
    """A database of its own on the server at `server_url`, dropped afterwards (even
    with connections still open): the URL to use meanwhile."""
    name = f"{prefix}_{secrets.token_hex(3)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
