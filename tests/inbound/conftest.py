"""An alert launched to the hand-counted world, and the mail that comes back from it."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from app.accounts import service as accounts
from app.accounts.principal import Role
from app.campaigns import lifecycle
from app.campaigns import service as campaigns
from app.campaigns.models import Campaign
from app.campaigns.schemas import CampaignCreate
from app.core.settings import get_settings
from app.delivery.models import Delivery
from app.delivery.store import mail_domain
from tests.factories import STAFF, make_user
from tests.world import World, world

__all__ = ["World", "world"]  # the hand-counted registry, as a fixture here

FIXTURES = Path(__file__).parent / "fixtures"
# What the mail server sends as its bearer token in these tests.
INBOUND_TOKEN = "inbound-test-token-" + "k" * 32


@pytest.fixture(autouse=True)
def _quick_password_hashing(quick_password_hashing: None) -> None:
    """Tests here make staff users (authors, leads)."""


@dataclass
class Alert:
    campaign: Campaign
    # Its deliveries by the world's contact letters (A, B, C, E, F, G, I, K, L, R).
    deliveries: dict[str, Delivery]


@pytest.fixture
def launch(session: Session, world: World) -> Callable[[], Alert]:
    """launch(): a new alert launched to every active member, one delivery per eligible
    contact. Whether it is sent does not matter to what comes back (test_round_trip.py
    sends one for real)."""
    author = make_user(session, Role.secretariat)
    letters = {contact.id: letter for letter, contact in world.contacts.items()}
    launched: list[Campaign] = []

    def launch_one() -> Alert:
        campaign = campaigns.create_campaign(
            session,
            accounts.principal_for(author),
            CampaignCreate.model_validate(
                {
                    "title": f"Ratify APIC ({len(launched) + 1})",
                    "action_type": "contact_officials",
                    "default_language": "en",
                    "variants": [
                        {
                            "language": "en",
                            "subject": "Ratify APIC",
                            "body": "Dear {{ contact.name }}",
                        }
                    ],
                }
            ),
        )
        lifecycle.approve(session, STAFF, campaign)
        lifecycle.launch(session, STAFF, campaign)
        launched.append(campaign)
        rows = session.scalars(select(Delivery).where(col(Delivery.campaign_id) == campaign.id))
        return Alert(campaign, {letters[row.contact_id]: row for row in rows if row.contact_id})

    return launch_one


@pytest.fixture
def alert(launch: Callable[[], Alert]) -> Alert:
    return launch()


def fixture_message(name: str, delivery: Delivery | None = None, **values: str) -> bytes:
    """A message from fixtures/, its {{PLACEHOLDERS}} filled from the delivery (TOKEN,
    EMAIL, MESSAGE_ID, DOMAIN) and from `values`, which win."""
    text = (FIXTURES / name).read_text()
    filled = {"DOMAIN": mail_domain()}
    if delivery is not None:
        filled |= {
            "TOKEN": delivery.token,
            "EMAIL": delivery.email,
            "MESSAGE_ID": delivery.message_id,
        }
    for key, value in (filled | values).items():
        text = text.replace("{{" + key + "}}", value)
    assert "{{" not in text, f"{name}: a placeholder was left unfilled"
    return text.encode()


@pytest.fixture
def setting(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, str | None], None]]:
    """setting(NAME, value): the environment variable set (None: unset) and the settings
    read again; the next test reads the environment as it was."""

    def change(name: str, value: str | None) -> None:
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    yield change
    get_settings.cache_clear()  # before monkeypatch puts the environment back


@pytest.fixture
def inbound_token(setting: Callable[[str, str | None], None]) -> str:
    setting("INBOUND_TOKEN", INBOUND_TOKEN)
    return INBOUND_TOKEN
