"""`coalition worker -n NAME`: several workers on one machine need distinct node names."""

import pytest
from typer.testing import CliRunner

import app.cli
from app.cli import cli


@pytest.mark.parametrize(
    ("options", "expected"),
    [([], None), (["-n", "w2@%h"], "--hostname=w2@%h"), (["--hostname", "a@b"], "--hostname=a@b")],
)
def test_worker_passes_its_node_name_to_celery(
    monkeypatch: pytest.MonkeyPatch, options: list[str], expected: str | None
) -> None:
    started: list[list[str]] = []
    monkeypatch.setattr(app.cli, "_supervise", lambda argv, *, name: started.append(argv))
    result = CliRunner().invoke(cli, ["worker", *options])
    assert result.exit_code == 0, result.output
    [argv] = started
    hostnames = [part for part in argv if part.startswith("--hostname")]
    assert hostnames == ([expected] if expected else [])
