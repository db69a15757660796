"""Alerts already sent, made directly as rows: a campaign with its variants and one
delivery per recipient, as the send pipeline leaves them (the pipeline itself runs in
test_subscription.py, where an unsubscribe must reach a send in progress)."""

import secrets
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.accounts.principal import Role
from app.campaigns.models import ActionType, Campaign, CampaignStatus, CampaignVariant
from app.core.types import utcnow
from app.delivery.models import Delivery, DeliveryState
from app.members.models import Contact, Organization
from app.tracking.signing import Purpose, sign
from tests.factories import make_contact, make_organization, make_user
from tests.web.conftest import live_database_url, live_server, page
from tests.world import World, world

# The hand-counted registry, and the live server and browser of the web tests.
__all__ = ["World", "live_database_url", "live_server", "page", "world"]

# Three links staff wrote (two tracked: the mailto is not a visit, the token link
# differs per recipient), in English and French.
ENGLISH_BODY = (
    "Dear {{ contact.first_name }},\n\n"
    "Read [the statement](https://www.example.org/statement?lang=en&v=2) and the "
    "[Court's page](https://www.icc-cpi.int/asp).\n\n"
    "Questions: [write to us](mailto:secretariat@example.org). "
    "[Your country](https://www.example.org/countries/{{ country.iso3 }})\n"
)
FRENCH_BODY = (
    "Bonjour {{ contact.first_name }},\n\n"
    "Lisez [la déclaration](https://www.example.org/declaration) et la "
    "[page de la Cour](https://www.icc-cpi.int/fr/asp).\n"
)
ENGLISH_LINKS = ("https://www.example.org/statement?lang=en&v=2", "https://www.icc-cpi.int/asp")
FRENCH_LINKS = ("https://www.example.org/declaration", "https://www.icc-cpi.int/fr/asp")
# Long enough ago that a click now is a person's, not a gateway's.
SENT_A_WHILE_AGO = timedelta(hours=2)


@pytest.fixture(autouse=True)
def _quick(quick_password_hashing: None) -> None:
    """Campaigns need an author: a staff user."""


def make_campaign(session: Session, **fields: Any) -> Campaign:
    author = make_user(session, Role.secretariat)
    values: dict[str, Any] = {
        "title": "Ratify APIC before the Assembly",
        "action_type": ActionType.contact_officials,
        "status": CampaignStatus.sending,
        "default_language": "en",
        "author_id": author.id,
        "launched_at": utcnow() - timedelta(hours=3),
        "track_clicks": True,
        "track_opens": True,
    }
    values.update(fields)
    campaign = Campaign(**values)
    campaign.variants = [
        CampaignVariant(language="en", subject="Ratify APIC", body=ENGLISH_BODY),
        CampaignVariant(language="fr", subject="Ratifiez l'APIC", body=FRENCH_BODY),
        CampaignVariant(language="ar", subject="APIC", body="مرحبا {{ contact.name }}\n"),
    ]
    session.add(campaign)
    session.flush()
    return campaign


def make_delivery(
    session: Session,
    campaign: Campaign,
    contact: Contact,
    *,
    language: str = "en",
    sent_at: datetime | None = None,
    state: DeliveryState = DeliveryState.sent,
) -> Delivery:
    token = secrets.token_hex(16)
    delivery = Delivery(
        campaign_id=campaign.id or 0,
        contact_id=contact.id,
        email=contact.email,
        language=language,
        message_id=f"<alert.{campaign.id}.{token}@example.org>",
        token=token,
        state=state,
        attempts=1,
        sent_at=(utcnow() - SENT_A_WHILE_AGO) if sent_at is None else sent_at,
    )
    session.add(delivery)
    session.flush()
    return delivery


def link(delivery: Delivery, purpose: Purpose) -> str:
    """The path of a delivery's link for one purpose (as the alert writes it)."""
    prefix = {
        Purpose.click: "/r/",
        Purpose.open: "/o/",
        Purpose.act: "/act/",
        Purpose.unsubscribe: "/unsubscribe/",
        Purpose.preferences: "/preferences/",
    }[purpose]
    return prefix + sign(delivery.token, purpose)


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


@pytest.fixture
def organization(session: Session) -> Organization:
    return make_organization(session, name="Kenya Rights Network", country="KEN")


@pytest.fixture
def contact(session: Session, organization: Organization) -> Contact:
    return make_contact(session, organization, name="Amina Diallo", email="amina@example.org")


@pytest.fixture
def campaign(session: Session) -> Campaign:
    return make_campaign(session)


@pytest.fixture
def delivery(session: Session, campaign: Campaign, contact: Contact) -> Delivery:
    return make_delivery(session, campaign, contact)


@pytest.fixture
def public(anonymous_client: TestClient) -> TestClient:
    """A client as a mail provider or a recipient's browser: no session, no cookies,
    and redirects returned rather than followed."""
    anonymous_client.follow_redirects = False
    anonymous_client.cookies.clear()
    return anonymous_client
