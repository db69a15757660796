"""bench.send's workers run with the DKIM setting of their own run only."""

import pytest

from bench.send import with_dkim, worker_environment


def test_a_run_without_dkim_does_not_inherit_an_earlier_runs_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in with_dkim({}).items():
        monkeypatch.setenv(name, value)  # what use_environment left behind
    env = worker_environment("postgresql+psycopg://bench@127.0.0.1/bench_send_x")
    assert not [name for name in env if name.startswith("DKIM_")]
    assert env["DATABASE_URL"].endswith("/bench_send_x")
    assert with_dkim(env)["DKIM_SELECTOR"] == "bench"
