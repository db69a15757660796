"""bench.send: workers run with the DKIM setting of their own run only, and the
signing ceiling is measured with that key."""

import pytest

from bench.send import signing_ceiling, signing_rate, with_dkim, worker_environment


def test_a_run_without_dkim_does_not_inherit_an_earlier_runs_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in with_dkim({}).items():
        monkeypatch.setenv(name, value)  # what use_environment left behind
    env = worker_environment("postgresql+psycopg://bench@127.0.0.1/bench_send_x")
    assert not [name for name in env if name.startswith("DKIM_")]
    assert env["DATABASE_URL"].endswith("/bench_send_x")
    assert with_dkim(env)["DKIM_SELECTOR"] == "bench"


def test_the_signing_ceiling_is_measured_with_the_runs_own_key() -> None:
    env = with_dkim({})
    rate = signing_rate(env, seconds=0.05)
    assert rate > 0
    # Two cores each signing `rate` messages a second against a reference of the same
    # rate: twice the reference, whatever the machine.
    assert signing_ceiling(rate, 2, rate).endswith("a ratio of 2.000")
    assert signing_ceiling(None, 2, rate) == ""
