"""Database engine and sessions.

One transaction per unit of work: `session_scope()` commits on success and rolls back
on error; services only `flush()`. On SQLite the driver's own transaction handling is
switched off so that SQLAlchemy emits BEGIN itself: that makes SAVEPOINTs work (tests
rely on them) and lets a unit of work that writes take the write lock up front
(`BEGIN IMMEDIATE`), so that a second writer waits on the busy timeout instead of
failing with "database is locked" when it upgrades a read lock.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    Engine,
    Integer,
    any_,
    bindparam,
    cast,
    create_engine,
    event,
    text,
)
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session
from starlette.requests import Request

from app.core.settings import get_settings

SessionFactory = sessionmaker(class_=Session, expire_on_commit=False)
# Execution option naming how a SQLite transaction begins: IMMEDIATE (the default,
# for anything that may write) or DEFERRED (read-only units of work).
SQLITE_BEGIN = "sqlite_begin"
_engine: Engine | None = None


def create_db_engine(
    url: str, *, busy_timeout_ms: int = 10_000, sqlite_foreign_keys: bool = True, **kwargs: Any
) -> Engine:
    """`sqlite_foreign_keys=False` is for migrations only (see alembic/env.py)."""
    if url.startswith("sqlite"):
        return _create_sqlite_engine(url, busy_timeout_ms, sqlite_foreign_keys, **kwargs)
    # No JIT: it pays off on long analytical queries, not ours. The audience query's
    # estimated cost crosses jit_above_cost, and compiling it took 0.94 s of the 1.04 s
    # a 10,000-recipient launch snapshot spent in PostgreSQL.
    connect_args = {"options": "-c jit=off", **kwargs.pop("connect_args", {})}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def _create_sqlite_engine(
    url: str, busy_timeout_ms: int, foreign_keys: bool, **kwargs: Any
) -> Engine:
    database = url.split("///", 1)[-1]
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False}, **kwargs
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN, see below
        # SQLite's own lower() folds ASCII only; searches must match "É" with "é" too.
        dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)
        # The suppression list's hash, for queries (app/delivery/suppressions.py).
        dbapi_connection.create_function(
            "coalition_sha256", 1, _suppression_hash(), deterministic=True
        )
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN, "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _unicode_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _suppression_hash() -> Any:
    # Imported late: the delivery package imports the models, which import this module.
    from app.delivery.suppressions import suppression_hash

    return lambda value: suppression_hash(value) if isinstance(value, str) else None


def get_engine() -> Engine:
    global _engine
    if _engine is None:
        settings = get_settings()
        _engine = create_db_engine(
            settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms
        )
        SessionFactory.configure(bind=_engine)
    return _engine


def dispose_engine() -> None:
    """Drop pooled connections, e.g. after a fork or when settings change."""
    global _engine
    if _engine is not None:
        _engine.dispose()
        # Sessions are made on the engine bound here: the next one must be new too.
        if SessionFactory.kw.get("bind") is _engine:
            SessionFactory.configure(bind=None)
    _engine = None


@contextmanager
def session_scope(*, writes: bool = True) -> Iterator[Session]:
    """A unit of work. `writes=False` lets SQLite readers run beside a writer."""
    bind = SessionFactory.kw.get("bind") or get_engine()
    if not writes and isinstance(bind, Engine):
        bind = bind.execution_options(**{SQLITE_BEGIN: "DEFERRED"})
    session = SessionFactory(bind=bind)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def connection_scope() -> Iterator[Connection]:
    """A unit of work in Core, without an ORM session: for the send path's hot
    statements, where a Session's set-up and bookkeeping cost more than the statement
    (a third of a checkpoint's CPU). Commits on success, rolls back on error; under the
    tests' bound connection it is a savepoint, like `session_scope`."""
    bind = SessionFactory.kw.get("bind") or get_engine()
    if isinstance(bind, Engine):
        with bind.begin() as connection:
            yield connection
    else:
        with bind.begin_nested():
            yield bind


def refresh_planner_statistics(session: Session, tables: list[str]) -> None:
    """After a bulk load, tell the query planner how big the tables now are.

    Without it PostgreSQL plans the next queries for empty tables until autovacuum
    catches up (seen here: a combined member filter at 80 ms instead of 15 ms).
    """
    for table in tables:
        session.execute(text(f'ANALYZE "{table}"'))


READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session(request: Request) -> Iterator[Session]:
    """FastAPI dependency: the request's one transaction (used with scope="function",
    so that it commits before the response is sent, see app/core/http.py)."""
    with session_scope(writes=request.method not in READ_ONLY_METHODS) as session:
        yield session


def among_ids_parameter(dialect: str, column: Any, name: str) -> ColumnElement[bool]:
    """`column IN (ids)` with the ids left to a named parameter, for a statement built
    once and run many times (execute it with `{name: [ids]}`). On PostgreSQL it is
    `column = ANY(:name)`, one array parameter: a list of hundreds of ids otherwise
    makes a statement of hundreds of parameters that the driver parses anew every time
    (too long for its cache)."""
    if dialect == "postgresql":
        return column == any_(cast(bindparam(name), ARRAY(Integer)))
    return column.in_(bindparam(name, expanding=True))
