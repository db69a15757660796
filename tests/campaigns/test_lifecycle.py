"""draft → approved → scheduled → sending ⇄ paused → sent, and cancelled: every legal
and illegal transition, approval by another person, and scheduling by the database."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.accounts.principal import Role
from app.campaigns import lifecycle
from app.campaigns.models import Campaign, CampaignStatus
from app.core.audit import AuditEntry
from app.core.settings import get_settings
from tests.campaigns.test_campaigns_api import create

# status → the actions it allows (and where each leads)
LEGAL: dict[str, dict[str, str]] = {
    "draft": {"edit": "draft", "delete": "deleted", "approve": "approved", "cancel": "cancelled"},
    "approved": {
        "edit": "draft",
        "delete": "deleted",
        "launch": "sending",
        "schedule": "scheduled",
        "cancel": "cancelled",
    },
    "scheduled": {
        "edit": "draft",
        "launch": "sending",
        "schedule": "scheduled",
        "cancel": "cancelled",
    },
    "sending": {"pause": "paused", "cancel": "cancelled"},
    "paused": {"resume": "sending", "cancel": "cancelled"},
    "sent": {},
    "cancelled": {"delete": "deleted"},  # never launched: nothing to keep
}
ACTIONS = ["edit", "delete", "approve", "launch", "schedule", "pause", "resume", "cancel"]
IN_A_WEEK = (datetime.now(UTC) + timedelta(days=7)).replace(microsecond=0)


def _act(actor: TestClient, campaign_id: int, action: str) -> Any:
    path = f"/api/campaigns/{campaign_id}"
    if action == "edit":
        return actor.patch(path, json={"title": "Edited title"})
    if action == "delete":
        return actor.delete(path)
    if action == "schedule":
        return actor.post(f"{path}/launch", json={"send_at": IN_A_WEEK.isoformat()})
    return actor.post(f"{path}/{action}")


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("status", list(LEGAL))
def test_every_transition_is_allowed_or_refused_with_a_reason(
    client: TestClient,
    client_as: Any,
    session: Session,
    status: str,
    action: str,
) -> None:
    campaign = create(client)
    row = session.get_one(Campaign, campaign["id"])
    row.status = CampaignStatus(status)
    if status == "scheduled":
        row.send_at = IN_A_WEEK
    session.flush()
    # The author may do everything but approve her own alert.
    actor = client_as(Role.secretariat) if action == "approve" else client
    response = _act(actor, campaign["id"], action)
    expected = LEGAL[status].get(action)
    if expected is None:
        assert response.status_code == 409, response.text
        message = response.json()["detail"][0]["msg"]
        assert f"it is {status}" in message
        assert "you can:" in message
        session.refresh(row)
        assert row.status == status
        return
    assert response.status_code in (200, 204), response.text
    if expected == "deleted":
        assert client.get(f"/api/campaigns/{campaign['id']}").status_code == 404
        return
    assert response.json()["status"] == expected
    if expected != status:
        actions = session.scalars(
            select(AuditEntry.action).where(
                col(AuditEntry.target_type) == "campaign",
                col(AuditEntry.target_id) == str(campaign["id"]),
            )
        ).all()
        assert any(name.startswith("campaign.") and name != "campaign.created" for name in actions)


def test_the_author_cannot_approve_her_own_alert(client: TestClient, client_as: Any) -> None:
    campaign = create(client)
    response = client.post(f"/api/campaigns/{campaign['id']}/approve")
    assert response.status_code == 403
    assert "another secretariat member" in response.json()["detail"][0]["msg"]
    assert client.get(f"/api/campaigns/{campaign['id']}").json()["status"] == "draft"
    colleague = client_as(Role.secretariat, full_name="Second Reader")
    approved = colleague.post(f"/api/campaigns/{campaign['id']}/approve").json()
    assert approved["status"] == "approved"
    assert approved["approved_by"]["name"] == "Second Reader"
    assert approved["approved_at"] is not None


def test_launching_a_draft_needs_approval_unless_switched_off(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = create(client)
    refused = client.post(f"/api/campaigns/{campaign['id']}/launch")
    assert refused.status_code == 409
    assert "approved first" in refused.json()["detail"][0]["msg"]
    monkeypatch.setattr(get_settings(), "campaign_approval_required", False)
    launched = client.post(f"/api/campaigns/{campaign['id']}/launch")
    assert launched.status_code == 200, launched.text
    assert launched.json()["status"] == "sending"
    assert launched.json()["launched_at"] is not None


def _approved(client: TestClient, client_as: Any) -> dict[str, Any]:
    campaign = create(client)
    colleague = client_as(Role.secretariat)
    assert colleague.post(f"/api/campaigns/{campaign['id']}/approve").status_code == 200
    return campaign


def test_scheduling_in_geneva_time_starts_at_that_instant(
    client: TestClient, client_as: Any, session: Session
) -> None:
    campaign = _approved(client, client_as)
    # Monday 09:00 in Geneva, a winter date: UTC+01:00, so 08:00 UTC.
    monday = datetime.now(UTC).date() + timedelta(days=7 - datetime.now(UTC).weekday() + 7)
    send_at = f"{monday.isoformat()}T09:00:00+01:00"
    response = client.post(
        f"/api/campaigns/{campaign['id']}/launch",
        json={"send_at": send_at, "timezone": "Europe/Zurich"},
    )
    assert response.status_code == 200, response.text
    scheduled = response.json()
    assert scheduled["status"] == "scheduled"
    assert scheduled["send_timezone"] == "Europe/Zurich"
    due = datetime.fromisoformat(scheduled["send_at"])
    assert due == datetime.fromisoformat(send_at)
    assert due.astimezone(UTC).hour == 8
    assert scheduled["launched_at"] is None

    assert lifecycle.launch_due_campaigns(session, now=due - timedelta(seconds=1)) == []
    assert session.get_one(Campaign, campaign["id"]).status == "scheduled"
    assert lifecycle.launch_due_campaigns(session, now=due) == [campaign["id"]]
    row = session.get_one(Campaign, campaign["id"])
    assert row.status == "sending"
    assert row.launched_at is not None
    # The scan is idempotent: a second pass finds nothing more to start.
    assert lifecycle.launch_due_campaigns(session, now=due + timedelta(minutes=1)) == []
    entry = session.scalars(
        select(AuditEntry).where(col(AuditEntry.action) == "campaign.launched")
    ).one()
    assert entry.actor == "scheduler"
    assert entry.before == {"status": "scheduled"}


def test_a_scheduled_campaign_can_be_rescheduled_or_launched_now(
    client: TestClient, client_as: Any
) -> None:
    campaign = _approved(client, client_as)
    first = client.post(
        f"/api/campaigns/{campaign['id']}/launch",
        json={"send_at": IN_A_WEEK.isoformat()},
    ).json()
    assert first["send_timezone"] == "UTC"
    later = (IN_A_WEEK + timedelta(days=1)).astimezone()
    moved = client.post(
        f"/api/campaigns/{campaign['id']}/launch", json={"send_at": later.isoformat()}
    ).json()
    assert moved["status"] == "scheduled"
    assert datetime.fromisoformat(moved["send_at"]) == later
    now = client.post(f"/api/campaigns/{campaign['id']}/launch").json()
    assert now["status"] == "sending"
    assert now["send_at"] is None


@pytest.mark.parametrize(
    ("offset", "name"),
    [("+05:30", "UTC+05:30"), ("-03:00", "UTC-03:00"), ("-00:30", "UTC-00:30")],
)
def test_a_time_given_with_an_offset_and_no_zone_keeps_the_offset(
    client: TestClient, client_as: Any, offset: str, name: str
) -> None:
    campaign = _approved(client, client_as)
    send_at = IN_A_WEEK.replace(tzinfo=None).isoformat(timespec="seconds") + offset
    scheduled = client.post(
        f"/api/campaigns/{campaign['id']}/launch", json={"send_at": send_at}
    ).json()
    assert scheduled["status"] == "scheduled"
    assert scheduled["send_timezone"] == name


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"send_at": "2026-12-07T09:00:00"}, "send_at"),  # no time zone
        ({"send_at": "2020-01-01T09:00:00+01:00"}, "send_at"),  # the past
        ({"send_at": "2099-01-01T09:00:00+01:00"}, "send_at"),  # too far
        ({"send_at": "next monday"}, "send_at"),
        ({"send_at": IN_A_WEEK.isoformat(), "timezone": "Mars/Olympus"}, "timezone"),
        ({"when": "now"}, "when"),
    ],
)
def test_bad_schedules_are_refused_and_change_nothing(
    client: TestClient, client_as: Any, body: dict[str, Any], field: str
) -> None:
    campaign = _approved(client, client_as)
    response = client.post(f"/api/campaigns/{campaign['id']}/launch", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][:2] == ["body", field]
    assert client.get(f"/api/campaigns/{campaign['id']}").json()["status"] == "approved"


def test_editing_a_scheduled_campaign_unschedules_it(
    client: TestClient, client_as: Any, session: Session
) -> None:
    campaign = _approved(client, client_as)
    client.post(f"/api/campaigns/{campaign['id']}/launch", json={"send_at": IN_A_WEEK.isoformat()})
    edited = client.patch(f"/api/campaigns/{campaign['id']}", json={"title": "Changed"}).json()
    assert edited["status"] == "draft"
    assert edited["send_at"] is None
    assert lifecycle.launch_due_campaigns(session, now=IN_A_WEEK + timedelta(hours=1)) == []


def test_pause_resume_and_cancel_are_audited(
    client: TestClient, client_as: Any, session: Session
) -> None:
    campaign = _approved(client, client_as)
    for action in ("launch", "pause", "resume", "pause", "cancel"):
        response = client.post(f"/api/campaigns/{campaign['id']}/{action}")
        assert response.status_code == 200, (action, response.text)
    final = client.get(f"/api/campaigns/{campaign['id']}").json()
    assert final["status"] == "cancelled"
    assert final["cancelled_at"] is not None
    assert final["allowed_actions"] == []  # it was launched: the record stays
    actions = session.scalars(
        select(AuditEntry.action)
        .where(col(AuditEntry.target_type) == "campaign")
        .order_by(col(AuditEntry.id))
    ).all()
    assert actions == [
        "campaign.created",
        "campaign.approved",
        "campaign.launched",
        "campaign.paused",
        "campaign.resumed",
        "campaign.paused",
        "campaign.cancelled",
    ]


def test_asking_colleagues_to_approve_emails_them_a_link(
    client: TestClient, client_as: Any, session: Session
) -> None:
    from app.delivery.models import OutboxMessage

    campaign = create(client)
    alone = client.post(f"/api/campaigns/{campaign['id']}/request-approval")
    assert alone.status_code == 409  # nobody else could approve it
    client_as(Role.secretariat, email="colleague@example.org")
    client_as(Role.regional_lead, email="lead@example.org")
    asked = client.post(
        f"/api/campaigns/{campaign['id']}/request-approval", json={"note": "Before Monday"}
    )
    assert asked.status_code == 200, asked.text
    assert asked.json() == {"asked": ["colleague@example.org"]}
    message = session.scalars(
        select(OutboxMessage).where(col(OutboxMessage.purpose) == "approval_request")
    ).one()
    assert message.to_address == "colleague@example.org"
    assert f"/campaigns/{campaign['id']}" in message.text_body
    assert "Before Monday" in message.text_body
    client.post(f"/api/campaigns/{campaign['id']}/cancel")
    late = client.post(f"/api/campaigns/{campaign['id']}/request-approval")
    assert late.status_code == 409
