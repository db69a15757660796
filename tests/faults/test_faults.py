"""CI's short version of every fault scenario (tests/faults/harness.py): about 1,000
recipients, one fault each, against real `coalition` processes, PostgreSQL, a Redis
of the scenario's own and an SMTP sink. Every recipient gets the alert; the only
duplicates were in flight at the fault and carry their row's Message-ID; the alert
ends `sent`. `make reliability` runs the full-size version and prints the figures.
"""

import shutil
from pathlib import Path

import pytest

from tests.conftest import missing_service
from tests.faults.harness import SCENARIOS, Figures, ServiceMissing

# Its own databases and processes: CI runs it in one of its two passes only.
pytestmark = pytest.mark.standalone


def run(scenario: str, workdir: Path, postgres_url: str) -> Figures:
    if shutil.which("redis-server") is None:
        missing_service("redis-server is not installed (Debian package redis-server)")
    try:
        figures = SCENARIOS[scenario](workdir, postgres_url, "short")
    except ServiceMissing as error:
        missing_service(str(error))
        raise
    print(f"\n{figures}")
    assert figures.recipients > 900
    assert figures.missing == 0
    assert figures.duplicates <= figures.duplicate_bound
    assert figures.same_message_id
    assert figures.campaign_sent
    assert figures.problems() == []
    return figures


def test_a_sigkilled_worker_loses_nobody(tmp_path: Path, empty_postgres_database: str) -> None:
    run("sigkill", tmp_path, empty_postgres_database)


def test_a_broker_outage_loses_nobody(tmp_path: Path, empty_postgres_database: str) -> None:
    run("redis_stop", tmp_path, empty_postgres_database)


def test_a_flaky_then_absent_relay_pauses_the_alert_and_loses_nobody(
    tmp_path: Path, empty_postgres_database: str
) -> None:
    figures = run("relay", tmp_path, empty_postgres_database)
    assert "paused itself" in figures.notes
    assert " 0 421 hang-ups" not in figures.notes


def test_killed_database_connections_lose_nobody(
    tmp_path: Path, empty_postgres_database: str
) -> None:
    figures = run("pg_terminate", tmp_path, empty_postgres_database)
    assert not figures.notes.startswith("0 connections killed mid-transaction")


def test_a_scheduler_killed_as_the_alert_falls_due_launches_it_once(
    tmp_path: Path, empty_postgres_database: str
) -> None:
    figures = run("scheduler", tmp_path, empty_postgres_database)
    assert figures.duplicates == 0
    assert "launches: 1" in figures.notes
