"""The `coalition users` and `coalition demo users` commands."""

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from app.accounts import service
from app.accounts.security import verify_password
from app.cli import cli
from app.core.settings import get_settings
from app.demo.users import DEMO_PASSWORD, STAFF
from tests.factories import make_contact, make_organization

runner = CliRunner()


def test_create_staff_user_with_password_from_stdin(session: Session) -> None:
    result = runner.invoke(
        cli,
        ["users", "create", "--email", "Ops@Example.org", "--role", "secretariat", "--admin"],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    user = service.find_user_by_email(session, "ops@example.org")
    assert user is not None
    assert user.is_admin
    assert verify_password(user.password_hash, "a long enough password")


def test_create_regional_lead_and_member(session: Session) -> None:
    result = runner.invoke(
        cli,
        [
            "users",
            "create",
            "--email",
            "lead@example.org",
            "--role",
            "regional_lead",
            "--region",
            "mena",
            "--region",
            "europe",
            "--password",
            "another long password",
        ],
    )
    assert result.exit_code == 0, result.output
    lead = service.find_user_by_email(session, "lead@example.org")
    assert lead is not None
    assert lead.regions == ["europe", "mena"]

    org = make_organization(session, name="Member CLI Org", country="KEN")
    make_contact(session, org, email="member@example.org")
    session.flush()
    result = runner.invoke(
        cli,
        [
            "users",
            "create",
            "--email",
            "member@example.org",
            "--role",
            "member",
            "--organization",
            str(org.id),
        ],
    )
    assert result.exit_code == 0, result.output
    member = service.find_user_by_email(session, "member@example.org")
    assert member is not None
    assert member.organization_id == org.id
    assert member.password_hash is None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--role", "secretariat", "--password", "short"], "password"),
        (["--role", "regional_lead", "--password", "long enough password"], "region"),
        (["--role", "member"], "contact_id"),
        (
            ["--role", "secretariat", "--region", "africa", "--password", "long enough pw!"],
            "region",
        ),
    ],
)
def test_bad_users_are_refused_with_the_field(
    session: Session, arguments: list[str], message: str
) -> None:
    result = runner.invoke(cli, ["users", "create", "--email", "x@example.org", *arguments])
    assert result.exit_code == 2
    assert message in result.output
    assert service.find_user_by_email(session, "x@example.org") is None


def test_list_shows_users(session: Session) -> None:
    runner.invoke(
        cli,
        [
            "users",
            "create",
            "--email",
            "listed@example.org",
            "--role",
            "secretariat",
            "--password",
            "long enough password",
        ],
    )
    result = runner.invoke(cli, ["users", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "listed@example.org" in result.output


@pytest.fixture
def demo_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_MODE", "1")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("DEMO_MODE")
    get_settings.cache_clear()


def test_demo_users_one_per_role_idempotent(session: Session, demo_mode: None) -> None:
    org = make_organization(session, name="Demo Member Org", country="KEN")
    make_contact(session, org, email="focal@demo.example.org")
    session.flush()
    first = runner.invoke(cli, ["demo", "users"], env={"COLUMNS": "200"})
    assert first.exit_code == 0, first.output
    for demo in STAFF:
        user = service.find_user_by_email(session, demo.email)
        assert user is not None
        assert user.role is demo.role
        assert verify_password(user.password_hash, DEMO_PASSWORD)
    assert "focal@demo.example.org" in first.output
    assert DEMO_PASSWORD in first.output
    second = runner.invoke(cli, ["demo", "users"], env={"COLUMNS": "200"})
    assert second.exit_code == 0
    assert len(service.list_users(session)) == len(STAFF)


def test_demo_users_refused_outside_demo_mode(session: Session) -> None:
    result = runner.invoke(cli, ["demo", "users"])
    assert result.exit_code == 2
    assert "demo mode" in result.output
    assert service.list_users(session) == []


def test_demo_alerts_a_draft_and_an_approved_alert_once(
    session: Session, demo_mode: None, quick_password_hashing: None
) -> None:
    from sqlmodel import select

    from app.campaigns.models import Campaign

    refused = runner.invoke(cli, ["demo", "alerts"])
    assert refused.exit_code == 2
    assert "demo users" in refused.output
    assert runner.invoke(cli, ["demo", "users"]).exit_code == 0
    first = runner.invoke(cli, ["demo", "alerts"], env={"COLUMNS": "200"})
    assert first.exit_code == 0, first.output
    campaigns = session.scalars(select(Campaign).order_by(Campaign.id)).all()  # type: ignore[arg-type]
    assert [c.status for c in campaigns] == ["draft", "approved"]
    assert [v.language for v in campaigns[0].variants] == ["en", "fr", "es", "ar"]
    assert campaigns[1].approved_by_id != campaigns[1].author_id
    second = runner.invoke(cli, ["demo", "alerts"])
    assert second.exit_code == 0
    assert "nothing added" in second.output
    assert len(session.scalars(select(Campaign)).all()) == 2
