"""GET /healthz: what monitors and the compose healthcheck poll."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from app.core.db import SessionFactory
from app.main import create_app


def test_healthz_reports_the_database(client: TestClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


@pytest.fixture
def unreachable_database(tmp_path: Path) -> Iterator[None]:
    """Sessions bound to a SQLite file in a folder that does not exist: every
    connection attempt fails. The session factory is restored afterwards."""
    saved = dict(SessionFactory.kw)
    engine = create_engine(f"sqlite:///{tmp_path / 'missing-folder' / 'coalition.db'}")
    SessionFactory.configure(bind=engine)
    try:
        yield
    finally:
        SessionFactory.kw.clear()
        SessionFactory.kw.update(saved)
        engine.dispose()


@pytest.mark.usefixtures("unreachable_database")
def test_healthz_reports_an_unreachable_database_as_503() -> None:
    with TestClient(create_app(), raise_server_exceptions=True) as client:
        response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    # The kind of failure, never the URL or the driver's message (they can hold secrets).
    assert body["database"] == "error: OperationalError"
    assert "missing-folder" not in response.text
