"""Jobs leave after the commit; a web process is ready to send them from its start."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core import jobs
from app.main import create_app


def test_the_web_process_gets_the_broker_ready_at_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Importing Celery and connecting took up to 0.7 s in the first launch, before its
    first message could leave."""
    calls: list[str] = []
    monkeypatch.setattr(jobs, "warm_up", lambda: calls.append("warm_up"))
    with TestClient(create_app()):
        assert calls == ["warm_up"]


def test_a_broker_that_is_down_does_not_stop_the_start(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from workers.celery_app import celery_app

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(celery_app, "producer_or_acquire", refuse)
    monkeypatch.setattr(jobs, "_dispatcher", None)  # the broker, as in production
    jobs.warm_up()
    assert "broker is not reachable" in caplog.text
