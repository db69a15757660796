"""A small, hand-counted registry for audience and campaign tests.

Countries (treaty status set here, whatever the shipped data says):

| iso3 | region       | rome          | apic      | kampala        | impl.    |
|------|--------------|---------------|-----------|----------------|----------|
| KEN  | africa       | party         | none      | not_ratified   | partial  |
| NGA  | africa       | party         | unknown   | unknown        | none     |
| ZAF  | africa       | party         | party     | ratified       | complete |
| BRA  | americas     | party         | signatory | ratified       | draft    |
| USA  | americas     | non_signatory | none      | not_applicable | none     |
| FRA  | europe       | party         | party     | ratified       | complete |
| JOR  | mena         | party         | unknown   | not_ratified   | unknown  |
| PHL  | asia-pacific | withdrawn     | none      | not_applicable | partial  |

Organisations and contacts (letters name contacts; * = excluded, with the reason):

1 kenya_rights    KEN ngo        active    focus victims-rights   langs en, sw
    A focal_point en          B director fr
2 lagos_bar       NGA bar_assoc. active    focus legislation      langs en
    C focal_point en          D* legal en (unsubscribed)
3 cape_academics  ZAF academic   active    focus legislation      langs en
    E focal_point en          Q* communications en (address suppressed)
4 sao_paulo_media BRA media      active    focus press-freedom    langs pt, es
    F focal_point pt          G communications es
5 us_faith        USA faith_b.   active                           langs en
    H* focal_point en (hard bounce)
6 paris_network   FRA network    active    focus victims-rights   langs fr
    I focal_point fr          J* director fr (paused until next year)
7 amman_ngo       JOR ngo        active    focus victims-rights   langs ar, en
    K focal_point ar          L focal_point en (opted out of topic apic)
8 manila_ngo      PHL ngo        active                           langs en
    R focal_point en (paused until yesterday: mailed again)
9 kenya_coalition KEN network    active                           langs en
    P focal_point en, the same address as A (one recipient, carried by A)
10 lapsed_org     KEN ngo        lapsed                           S focal_point en
11 applicant_org  BRA ngo        applicant                        T focal_point en
12 archived_org   KEN ngo        archived                         U focal_point en

With the default filter (active members) and no topics: the eligible addresses are
A B C E F G I K L R = 10, excluded: unsubscribed 1 (D), paused 1 (J), bounced 1 (H),
suppressed 1 (Q), topic_opt_out 0.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from sqlmodel import Session

from app.countries.models import Country
from app.delivery.models import SuppressionReason
from app.delivery.suppressions import suppress
from app.members.models import BounceStatus, Contact, MembershipStatus, Organization
from tests.factories import make_contact, make_organization

COUNTRY_STATUS: dict[str, tuple[str, str, str, str]] = {
    "KEN": ("party", "none", "not_ratified", "partial"),
    "NGA": ("party", "unknown", "unknown", "none"),
    "ZAF": ("party", "party", "ratified", "complete"),
    "BRA": ("party", "signatory", "ratified", "draft"),
    "USA": ("non_signatory", "none", "not_applicable", "none"),
    "FRA": ("party", "party", "ratified", "complete"),
    "JOR": ("party", "unknown", "not_ratified", "unknown"),
    "PHL": ("withdrawn", "none", "not_applicable", "partial"),
}


@dataclass
class World:
    organizations: dict[str, Organization] = field(default_factory=dict)
    contacts: dict[str, Contact] = field(default_factory=dict)

    def ids(self, letters: str) -> set[int]:
        return {self.contacts[letter].id or 0 for letter in letters}


def _set_statuses(session: Session) -> None:
    for iso3, (rome, apic, kampala, legislation) in COUNTRY_STATUS.items():
        country = session.get_one(Country, iso3)
        country.rome_statute_status = rome  # type: ignore[assignment]
        country.apic_status = apic  # type: ignore[assignment]
        country.kampala_status = kampala  # type: ignore[assignment]
        country.implementing_legislation = legislation  # type: ignore[assignment]
    session.flush()


@pytest.fixture
def world(session: Session) -> World:
    _set_statuses(session)
    built = World()
    today = date.today()

    def org(key: str, country: str, type_: str, status: str = "active", **extra: Any) -> None:
        built.organizations[key] = make_organization(
            session,
            name=key.replace("_", " ").title(),
            country=country,
            type=type_,
            membership_status=status,
            **extra,
        )

    def person(letter: str, key: str, role: str, language: str = "en", **extra: Any) -> None:
        values = {"email": f"{letter.lower()}@example.org", "role": role, "language": language}
        built.contacts[letter] = make_contact(
            session, built.organizations[key], name=f"Person {letter}", **(values | extra)
        )

    org("kenya_rights", "KEN", "ngo", focus_areas=["victims-rights"], languages=["en", "sw"])
    person("A", "kenya_rights", "focal_point")
    person("B", "kenya_rights", "director", "fr")
    org("lagos_bar", "NGA", "bar_association", focus_areas=["legislation"], languages=["en"])
    person("C", "lagos_bar", "focal_point")
    person("D", "lagos_bar", "legal", subscription_status="unsubscribed")
    org("cape_academics", "ZAF", "academic", focus_areas=["legislation"], languages=["en"])
    person("E", "cape_academics", "focal_point")
    person("Q", "cape_academics", "communications")
    suppress(session, "q@example.org", SuppressionReason.complaint)
    org("sao_paulo_media", "BRA", "media", focus_areas=["press-freedom"], languages=["pt", "es"])
    person("F", "sao_paulo_media", "focal_point", "pt")
    person("G", "sao_paulo_media", "communications", "es")
    org("us_faith", "USA", "faith_based", languages=["en"])
    person("H", "us_faith", "focal_point")
    org("paris_network", "FRA", "network", focus_areas=["victims-rights"], languages=["fr"])
    person("I", "paris_network", "focal_point", "fr")
    person(
        "J",
        "paris_network",
        "director",
        "fr",
        subscription_status="paused",
        paused_until=(today + timedelta(days=300)).isoformat(),
    )
    org("amman_ngo", "JOR", "ngo", focus_areas=["victims-rights"], languages=["ar", "en"])
    person("K", "amman_ngo", "focal_point", "ar")
    person("L", "amman_ngo", "focal_point", topics_opted_out=["apic"])
    org("manila_ngo", "PHL", "ngo", languages=["en"])
    person(
        "R",
        "manila_ngo",
        "focal_point",
        subscription_status="paused",
        paused_until=(today - timedelta(days=1)).isoformat(),
    )
    org("kenya_coalition", "KEN", "network", languages=["en"])
    person("P", "kenya_coalition", "focal_point", email="a@example.org")
    org("lapsed_org", "KEN", "ngo", status="lapsed")
    person("S", "lapsed_org", "focal_point")
    org("applicant_org", "BRA", "ngo", status="applicant")
    person("T", "applicant_org", "focal_point")
    org("archived_org", "KEN", "ngo", status="active")
    person("U", "archived_org", "focal_point")
    built.organizations["archived_org"].membership_status = MembershipStatus.archived

    built.contacts["H"].bounce_status = BounceStatus.hard
    built.contacts["H"].hard_bounce_count = 1
    session.flush()
    return built
