"""Units of work: commit before the response, and SQLite writers that wait their turn."""

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session as OrmSession

from app.accounts.principal import Principal, Role
from app.core import migrations
from app.core.db import SessionFactory, create_db_engine, session_scope
from app.countries.models import Country
from app.countries.treaty_data import load_countries, read_treaty_data
from app.main import create_app
from app.members.models import Organization
from app.members.schemas import OrganizationCreate
from app.members.service import create_organization
from tests.conftest import postgres_url_or_skip
from tests.factories import bearer_headers, make_user

STAFF = Principal(actor="test:staff", role=Role.secretariat)


def test_a_failed_commit_is_never_reported_as_success(session: OrmSession) -> None:
    """The transaction commits before the response is sent, so its failure is the
    response (it used to be committed after a 201 had gone out)."""
    headers = bearer_headers(session, make_user(session))  # type: ignore[arg-type]
    session.flush()

    def refuse(_session: OrmSession) -> None:
        raise RuntimeError("commit refused")

    event.listen(SessionFactory, "before_commit", refuse)
    try:
        with TestClient(create_app(), raise_server_exceptions=False) as client:
            response = client.post(
                "/api/organizations", json={"name": "Lost", "country": "KEN"}, headers=headers
            )
    finally:
        event.remove(SessionFactory, "before_commit", refuse)
    assert response.status_code == 500
    assert session.scalar(select(Organization).where(Organization.name == "Lost")) is None


@pytest.fixture
def sqlite_file_factory(tmp_path: Path) -> Iterator[None]:
    """The app's sessions on a real SQLite file, as in the embedded default."""
    url = f"sqlite:///{tmp_path / 'concurrent.db'}"
    migrations.upgrade(url)
    engine = create_db_engine(url, busy_timeout_ms=20_000)
    with OrmSession(engine) as session:
        load_countries(session, list(read_treaty_data()))  # type: ignore[arg-type]
        session.commit()
    previous = SessionFactory.kw.get("bind")
    SessionFactory.configure(bind=engine)
    try:
        yield
    finally:
        SessionFactory.configure(bind=previous)
        engine.dispose()


def test_concurrent_sqlite_writers_wait_instead_of_failing(sqlite_file_factory: None) -> None:
    """Each writer reads, pauses, then writes: with a deferred BEGIN two of them hold read
    locks and one fails at once with 'database is locked'."""
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            for round_ in range(5):
                with session_scope() as session:
                    session.get(Country, "KEN")
                    time.sleep(0.005)
                    create_organization(
                        session,
                        STAFF,
                        OrganizationCreate(name=f"W{number}-{round_}", country="KEN"),
                    )
        except BaseException as error:  # collected and reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with session_scope(writes=False) as session:
        assert session.scalar(select(func.count()).select_from(Organization)) == 30


def test_postgresql_connections_run_without_jit() -> None:
    """PostgreSQL's JIT compiled the launch snapshot's audience query for 0.94 s of its
    1.04 s (10,000 recipients); our queries are short, so the engine turns it off."""
    engine = create_db_engine(postgres_url_or_skip())
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SHOW jit").scalar() == "off"
    finally:
        engine.dispose()


def test_after_the_settings_change_sessions_use_the_new_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dispose_engine() after a change of DATABASE_URL: the next session opens the new
    database, not the one the first engine was bound to (the benchmarks switch)."""
    from app.core.db import dispose_engine, session_scope
    from app.core.settings import get_settings

    previous = SessionFactory.kw.get("bind")
    SessionFactory.configure(bind=None)
    try:
        urls = []
        for name in ("first.db", "second.db"):
            monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / name}")
            get_settings.cache_clear()
            dispose_engine()
            with session_scope() as session:
                urls.append(str(session.get_bind().url))
        assert urls == [f"sqlite:///{tmp_path / 'first.db'}", f"sqlite:///{tmp_path / 'second.db'}"]
    finally:
        dispose_engine()
        get_settings.cache_clear()
        SessionFactory.configure(bind=previous)
