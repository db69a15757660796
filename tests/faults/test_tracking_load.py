"""CI's short run of tests/faults/tracking_load.py: the click, open and one-click
unsubscribe endpoints under wrk load while the worker sends lose no event, record no
unsubscribe twice, and never answer 5xx."""

import shutil
from pathlib import Path

import pytest

from tests.conftest import missing_service
from tests.faults.harness import ServiceMissing
from tests.faults.tracking_load import run_tracking_load

# Its own databases and processes: CI runs it in one of its two passes only.
pytestmark = pytest.mark.standalone


def test_tracking_under_load_loses_no_event(tmp_path: Path, empty_postgres_database: str) -> None:
    if shutil.which("wrk") is None:
        missing_service("wrk is not installed (Debian package wrk)")
    try:
        figures = run_tracking_load(tmp_path, empty_postgres_database, "short")
    except ServiceMissing as error:  # redis-server
        missing_service(str(error))
        raise
    print(f"\n{figures}")
    assert figures.recipients >= 500
    # Every kind of link was answered, and the answers were all successes.
    assert figures.clicks_answered > 0
    assert figures.opens_answered > 0
    assert figures.addresses_unsubscribed > 0
    assert figures.answers_2xx == figures.requests
    assert figures.answers_5xx == 0
    assert figures.events_lost == 0
    # Each unsubscribe link was POSTed twice at once: one event per address all the same.
    assert figures.events_duplicated == 0
    # Requests cut off when wrk stopped may have been served without their answer.
    assert figures.events_extra <= figures.unanswered
    # The load ran while the worker sent; every recipient was then sent the alert or,
    # unsubscribed during the load, left out.
    assert figures.sent_during_load > 0
    assert figures.sent + figures.suppressed == figures.recipients
    assert figures.problems() == []
    assert "traceback" not in figures.notes, figures.notes
