"""A small, hand-counted world of responses for the report tests.

Deliveries, events, action reports and replies are written directly (the code that
writes them in production lives in app/tracking and app/inbound).

Organisations and contacts:

| organisation        | country (region)  | contacts |
|---------------------|-------------------|----------|
| Haki Kenya          | KEN (africa)      | a1, a2   |
| Nairobi Legal Aid   | KEN (africa)      | b1       |
| Lagos Justice Forum | NGA (africa)      | n1, n2   |
| Ligue de Paris      | FRA (europe)      | f1, f2   |
| Direitos Brasil     | BRA (americas)    | r1       |

The alert (`world.campaign`, sent to Africa, the Americas and Europe), per delivery:

| contact | state  | responses                                                          |
|---------|--------|--------------------------------------------------------------------|
| a1      | sent   | click; two action reports (each with its acted event)              |
| a2      | sent   | a scanner's click and a scanner's acted event (neither counts)     |
| b1      | sent   | hard bounce                                                        |
| n1      | failed |                                                                    |
| n2      | sent   | soft bounce, two clicks, unsubscribed; a reply                      |
| f1      | sent   | a click and a scanner's click; an acted event (no report); a reply  |
| f2      | queued |                                                                    |
| r1      | sent   | opened; a scanner's acted event                                    |

Also a reply tied to no delivery (secretariat only), an out-of-office reply from a1 (kept,
not listed), and a bounce report (not a reply).

Hand counts (delivered = sent and no hard bounce; bounced = any bounce, or failed):

| group     | recip. | deliv. | bounced | clicked | acted | unsub. | orgs reached | orgs acted |
|-----------|--------|--------|---------|---------|-------|--------|--------------|------------|
| africa    | 5      | 3      | 3       | 2       | 1     | 1      | 2            | 1          |
| americas  | 1      | 1      | 0       | 0       | 0     | 0      | 1            | 0          |
| europe    | 2      | 1      | 0       | 1       | 1     | 0      | 1            | 1          |
| total     | 8      | 5      | 3       | 3       | 2     | 1      | 4            | 2          |

Not acted, by country: Direitos Brasil (r1), Lagos Justice Forum (n2; n1 failed).

The other alert (`world.other_campaign`, same regions) is noise that must not leak in:
a1 clicks and reports an action, r1 acts, f1 acted long ago.

Human acted events by date (for the activity report, with "now" 2026-03-12):
2025-12-21 23:59:59 f1 (other; before the 12 weeks), 2025-12-22 00:00 a1 (other),
2026-03-01 23:59:59 r1 (other), 2026-03-02 00:00 f1, 2026-03-10 and 2026-03-11 a1.
"""

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.principal import Principal, Role
from app.campaigns import service as campaigns
from app.campaigns.models import Campaign, CampaignStatus
from app.campaigns.schemas import CampaignCreate
from app.core.types import utcnow
from app.delivery.models import Delivery, DeliveryState
from app.inbound.models import InboundKind, InboundMessage, InboundSource
from app.members.models import Contact, Organization
from app.tracking.models import ActionReport, ReportedActionType, ResponseEvent, ResponseKind
from tests.factories import make_contact, make_organization, make_user

AFRICA_LEAD = Principal(actor="test:lead", role=Role.regional_lead, regions=frozenset({"africa"}))
SECRETARIAT = Principal(actor="test:secretariat", role=Role.secretariat)
NOW = datetime(2026, 3, 12, 12, 0, tzinfo=UTC)
_sequence = itertools.count(1)


def make_sent_campaign(
    session: Session, author: Principal, *, regions: list[str], title: str = "Ratify APIC"
) -> Campaign:
    """An alert to `regions`, as it stands once it has gone out."""
    campaign = campaigns.create_campaign(
        session,
        author,
        CampaignCreate.model_validate(
            {
                "title": title,
                "action_type": "contact_officials",
                "default_language": "en",
                "audience": {"regions": regions},
                "variants": [{"language": "en", "subject": "Act now", "body": "Please act."}],
            }
        ),
    )
    campaign.status = CampaignStatus.sent
    campaign.launched_at = campaign.finished_at = utcnow()
    session.flush()
    return campaign


def make_delivery(
    session: Session,
    campaign: Campaign,
    contact: Contact,
    state: DeliveryState = DeliveryState.sent,
) -> Delivery:
    number = next(_sequence)
    delivery = Delivery(
        campaign_id=campaign.id or 0,
        contact_id=contact.id,
        email=contact.email,
        language=contact.language,
        message_id=f"<report-test.{campaign.id}.{contact.id}.{number}@example.org>",
        token=f"report-test-token-{number}",
        state=state,
        sent_at=utcnow() if state is DeliveryState.sent else None,
    )
    session.add(delivery)
    session.flush()
    return delivery


def make_event(
    session: Session,
    delivery: Delivery,
    kind: ResponseKind,
    *,
    automated: bool = False,
    occurred_at: datetime | None = None,
) -> ResponseEvent:
    event = ResponseEvent(
        delivery_id=delivery.id or 0,
        campaign_id=delivery.campaign_id,
        contact_id=delivery.contact_id,
        kind=kind,
        automated=automated,
        automated_reason="link scanner" if automated else None,
        occurred_at=occurred_at or utcnow(),
        link_number=1 if kind is ResponseKind.clicked else None,
    )
    session.add(event)
    session.flush()
    return event


def make_erased_delivery(session: Session, campaign: Campaign) -> Delivery:
    """A message delivered and clicked whose contact was erased since (what erasure
    leaves): it still counts, for the secretariat only, in a row with no place."""
    organization = make_organization(session, name="Gone Soon", country="KEN")
    delivery = make_delivery(
        session, campaign, make_contact(session, organization), DeliveryState.sent
    )
    make_event(session, delivery, ResponseKind.clicked)
    delivery.contact_id = None
    session.flush()
    return delivery


def make_action_report(
    session: Session,
    delivery: Delivery,
    organization: Organization,
    *,
    action_type: ReportedActionType = ReportedActionType.wrote_to_officials,
    engaged_with: str = "Ministry of Foreign Affairs",
    note: str = "",
    reported_at: datetime | None = None,
) -> ActionReport:
    """A member's report, with the acted event that goes with each report."""
    reported_at = reported_at or utcnow()
    report = ActionReport(
        delivery_id=delivery.id or 0,
        campaign_id=delivery.campaign_id,
        organization_id=organization.id or 0,
        contact_id=delivery.contact_id,
        action_type=action_type,
        action_date=reported_at.date() - timedelta(days=1),
        engaged_with=engaged_with,
        note=note,
        created_at=reported_at,
    )
    session.add(report)
    make_event(session, delivery, ResponseKind.acted, occurred_at=reported_at)
    return report


def make_inbound(
    session: Session,
    campaign: Campaign,
    delivery: Delivery | None,
    *,
    kind: InboundKind = InboundKind.reply,
    body: str = "",
    subject: str = "Re: Act now",
    automatic: bool = False,
) -> InboundMessage:
    number = next(_sequence)
    message = InboundMessage(
        kind=kind,
        source=InboundSource.api,
        message_id=f"<inbound.{number}@example.net>",
        delivery_id=delivery.id if delivery else None,
        campaign_id=campaign.id,
        contact_id=delivery.contact_id if delivery else None,
        from_address=delivery.email if delivery else "stranger@example.net",
        subject=subject,
        body_text=body if kind is InboundKind.reply else None,
        diagnostic="550 5.1.1 user unknown" if kind is not InboundKind.reply else None,
        automatic=automatic,
    )
    session.add(message)
    session.flush()
    return message


@dataclass
class ReportWorld:
    campaign: Campaign
    other_campaign: Campaign
    organizations: dict[str, Organization]
    contacts: dict[str, Contact]
    deliveries: dict[str, Delivery]


def at(day: date, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


def build_report_world(session: Session) -> ReportWorld:
    author = accounts.principal_for(make_user(session, Role.secretariat))
    organizations = {
        "kenya_a": make_organization(session, name="Haki Kenya", country="KEN"),
        "kenya_b": make_organization(session, name="Nairobi Legal Aid", country="KEN"),
        "nigeria": make_organization(session, name="Lagos Justice Forum", country="NGA"),
        "france": make_organization(session, name="Ligue de Paris", country="FRA"),
        "brazil": make_organization(session, name="Direitos Brasil", country="BRA"),
    }
    people = {
        "a1": ("kenya_a", "Amina Odhiambo"),
        "a2": ("kenya_a", "Brian Mwangi"),
        "b1": ("kenya_b", "Beatrice Njeri"),
        "n1": ("nigeria", "Ngozi Adeyemi"),
        "n2": ("nigeria", "Nnamdi Okafor"),
        "f1": ("france", "Fanny Lefèvre"),
        "f2": ("france", "François Martin"),
        "r1": ("brazil", "Rafael Souza"),
    }
    contacts = {
        key: make_contact(
            session,
            organizations[org],
            name=name,
            email=f"{key}@{org.replace('_', '-')}.example.org",
        )
        for key, (org, name) in people.items()
    }
    regions = ["africa", "americas", "europe"]
    campaign = make_sent_campaign(session, author, regions=regions)
    other = make_sent_campaign(
        session, author, regions=regions, title="Adopt the Kampala amendments"
    )

    states = {"n1": DeliveryState.failed, "f2": DeliveryState.queued}
    deliveries = {
        key: make_delivery(session, campaign, contact, states.get(key, DeliveryState.sent))
        for key, contact in contacts.items()
    }
    d = deliveries
    march_10, march_11 = date(2026, 3, 10), date(2026, 3, 11)
    make_event(session, d["a1"], ResponseKind.clicked)
    make_action_report(
        session,
        d["a1"],
        organizations["kenya_a"],
        action_type=ReportedActionType.met_officials,
        engaged_with="Ministry of Justice, legal adviser",
        note="They asked for our briefing paper.",
        reported_at=at(march_10, 9),
    )
    make_action_report(
        session,
        d["a1"],
        organizations["kenya_a"],
        action_type=ReportedActionType.media,
        engaged_with="Daily Nation",
        note="Op-ed published.",
        reported_at=at(march_11, 15),
    )
    make_event(session, d["a2"], ResponseKind.clicked, automated=True)
    make_event(session, d["a2"], ResponseKind.acted, automated=True, occurred_at=at(march_10))
    make_event(session, d["b1"], ResponseKind.bounced_hard)
    make_event(session, d["n2"], ResponseKind.bounced_soft)
    make_event(session, d["n2"], ResponseKind.clicked)
    make_event(session, d["n2"], ResponseKind.clicked)
    make_event(session, d["n2"], ResponseKind.unsubscribed)
    make_event(session, d["f1"], ResponseKind.clicked)
    make_event(session, d["f1"], ResponseKind.clicked, automated=True)
    make_event(session, d["f1"], ResponseKind.acted, occurred_at=at(date(2026, 3, 2)))
    make_event(session, d["r1"], ResponseKind.opened)
    make_event(session, d["r1"], ResponseKind.acted, automated=True, occurred_at=at(march_10))
    make_inbound(session, campaign, d["n2"], body="We will write to the ministry next week.")
    make_inbound(session, campaign, d["f1"], body="Nous avons écrit au ministère.")
    make_inbound(session, campaign, None, body="Who are you? Please remove me.")
    make_inbound(session, campaign, d["b1"], kind=InboundKind.hard_bounce)
    make_inbound(
        session, campaign, d["a1"], body="I am out of the office until Monday.", automatic=True
    )

    other_a1 = make_delivery(session, other, contacts["a1"])
    make_event(session, other_a1, ResponseKind.clicked)
    make_action_report(
        session, other_a1, organizations["kenya_a"], reported_at=at(date(2025, 12, 22))
    )
    other_r1 = make_delivery(session, other, contacts["r1"])
    make_event(session, other_r1, ResponseKind.acted, occurred_at=at(date(2026, 3, 1), 23, 59, 59))
    other_f1 = make_delivery(session, other, contacts["f1"])
    make_event(
        session, other_f1, ResponseKind.acted, occurred_at=at(date(2025, 12, 21), 23, 59, 59)
    )
    session.flush()
    return ReportWorld(
        campaign=campaign,
        other_campaign=other,
        organizations=organizations,
        contacts=contacts,
        deliveries=deliveries,
    )


@pytest.fixture
def report_world(session: Session) -> ReportWorld:
    return build_report_world(session)
