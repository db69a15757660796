"""Test harness.

The suite runs against `TEST_DATABASE_URL` (PostgreSQL in CI) or, by default, a fresh
SQLite file, the embedded default. The schema is built once per run through the
migrations; each test runs inside a transaction that is rolled back afterwards, and
the application's own commits become savepoints inside it.

Services the machine may lack (PostgreSQL, Redis, chromium) are fixtures that skip
with a stated reason, or fail when REQUIRE_SERVICES=1.
"""

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

os.environ.setdefault("SECRET_KEY", "test-secret-key-" + "x" * 32)

from app.accounts import service as accounts_service
from app.accounts.models import User
from app.accounts.principal import Role
from app.core import jobs, migrations, throttle
from app.core.db import SessionFactory, create_db_engine
from app.countries.treaty_data import load_countries, read_treaty_data
from app.main import create_app
from tests.factories import bearer_headers, make_user

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def missing_service(reason: str) -> None:
    """Skip, or fail where the run promised every service (REQUIRE_SERVICES=1)."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1, so this is a failure)")
    pytest.skip(reason)


def postgres_url_or_skip() -> str:
    url = os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as error:
        missing_service(f"PostgreSQL not reachable at {make_url(url).host}: {type(error).__name__}")
    return url


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SQLite in a temporary folder, or a scratch database on TEST_DATABASE_URL's server
    (so that two test runs on one server never share tables)."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    os.environ.setdefault("TEST_POSTGRES_URL", url)
    with scratch_postgres_database(postgres_url_or_skip()) as scratch_url:
        yield scratch_url


def reset_database(url: str) -> None:
    """Start from an empty database (a scratch PostgreSQL database is empty already)."""
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    reset_database(database_url)
    migrations.upgrade(database_url)
    engine = create_db_engine(database_url)
    with Session(engine) as session:
        load_countries(session, list(read_treaty_data()))
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        transaction = connection.begin()
        SessionFactory.configure(bind=connection, join_transaction_mode="create_savepoint")
        try:
            yield connection
        finally:
            SessionFactory.configure(bind=None)
            transaction.rollback()


@pytest.fixture
def session(connection: Connection) -> Iterator[Session]:
    session = SessionFactory()
    try:
        yield session
    finally:
        session.close()


@pytest.fixture(autouse=True)
def _fresh_throttle() -> Iterator[None]:
    """Every test starts with nothing counted (all TestClients share one address)."""
    throttle.use_backend(throttle.MemoryBackend())
    yield
    throttle.use_backend(None)


@pytest.fixture(autouse=True)
def enqueued_jobs() -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
    """The background jobs committed requests asked for, kept here instead of reaching
    a broker (tests that need a real worker say so)."""
    recorded: list[tuple[str, tuple[Any, ...]]] = []
    jobs.use_dispatcher(lambda name, args: recorded.append((name, args)))
    yield recorded
    jobs.use_dispatcher(None)


@pytest.fixture
def jobs_run_inline(enqueued_jobs: list[Any]) -> Iterator[None]:
    """Committed jobs run at once, in this process, through the real Celery tasks."""
    import workers.tasks  # noqa: F401  (registers the tasks)
    from workers.celery_app import celery_app

    def run(name: str, args: tuple[Any, ...]) -> None:
        enqueued_jobs.append((name, args))
        celery_app.tasks[name](*args)

    jobs.use_dispatcher(run)
    yield
    jobs.use_dispatcher(None)


@pytest.fixture
def quick_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """For tests that make many staff users: hash their passwords with Argon2id at its
    lowest cost (verification reads the cost from the hash, so it works unchanged)."""
    quick = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(accounts_service, "hash_password", quick.hash)


@cache
def shared_app() -> FastAPI:
    """One app per test process for the tests' clients. The app keeps no state between
    requests, and FastAPI builds an app's routes on its first request: 120 ms, more
    than most API tests take, when each client had an app of its own."""
    return create_app()


@pytest.fixture
def anonymous_client(connection: Connection) -> Iterator[TestClient]:
    with TestClient(shared_app()) as test_client:
        yield test_client


@pytest.fixture
def admin_user(session: Session) -> User:
    return make_user(session, Role.secretariat, is_admin=True, full_name="Test Admin")


@pytest.fixture
def client(anonymous_client: TestClient, session: Session, admin_user: User) -> TestClient:
    """Signed in (bearer token) as a secretariat admin, who sees everything."""
    anonymous_client.headers.update(bearer_headers(session, admin_user))
    session.flush()
    return anonymous_client


@pytest.fixture
def client_as(connection: Connection, session: Session) -> Iterator[Callable[..., TestClient]]:
    """client_as(role, **user_fields): a new client signed in as a new user of that role."""
    clients: list[TestClient] = []

    def sign_in(role: Role, **fields: Any) -> TestClient:
        user = make_user(session, role, **fields)
        test_client = TestClient(shared_app())
        test_client.headers.update(bearer_headers(session, user))
        session.flush()
        clients.append(test_client)
        return test_client

    yield sign_in
    for test_client in clients:
        test_client.close()


@pytest.fixture
def postgres_url() -> str:
    return postgres_url_or_skip()


@contextmanager
def scratch_postgres_database(server_url: str, prefix: str = "coalition_test") -> Iterator[str]:
    """A brand-new PostgreSQL database on the server of `server_url`, dropped afterwards
    (even with connections still open). The benchmarks use it too."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def empty_postgres_database(postgres_url: str) -> Iterator[str]:
    with scratch_postgres_database(postgres_url) as url:
        yield url


@pytest.fixture
def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not Path(path).exists():
        missing_service(f"chromium not installed at {path} (Debian package 'chromium')")
    return path
