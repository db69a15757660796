"""The demo registry: deterministic, plausible, on reserved domains only, and fast."""

import csv
from collections import Counter, defaultdict
from typing import Any

import pycountry
import pytest
from sqlalchemy import delete, func, select, text
from sqlmodel import Session
from typer.testing import CliRunner

from app.cli import cli
from app.core.audit import AuditEntry
from app.core.errors import ValidationFailed
from app.countries.models import Country, CountryStatusChange
from app.countries.treaty_data import TREATY_DATA_FILE
from app.demo import vocabulary
from app.demo.seed import CountriesNotLoaded, RegistryNotEmpty, seed_demo_registry
from app.members.models import (
    BounceStatus,
    Contact,
    ContactRole,
    MembershipStatus,
    Organization,
    OrganizationFocusArea,
    OrganizationLanguage,
    SubscriptionStatus,
)
from app.members.schemas import ContactCreate, OrganizationCreate

RESERVED = ("example.org", "example.net", "example.com")

FRANCOPHONE_AFRICA = {
    "BEN", "BFA", "BDI", "CAF", "CIV", "COD", "COG", "GAB", "GIN", "MLI", "NER", "SEN",
    "TGO", "MDG", "CMR", "TCD", "DJI", "COM", "MRT", "RWA", "MUS", "SYC",
}  # fmt: skip
LUSOPHONE = {"BRA", "PRT", "AGO", "MOZ", "CPV", "GNB", "STP", "TLS"}
SPANISH_SPEAKING = {
    "ARG", "BOL", "CHL", "COL", "CRI", "CUB", "DOM", "ECU", "GTM", "HND", "MEX", "NIC",
    "PAN", "PER", "PRY", "SLV", "URY", "VEN", "ESP", "GNQ",
}  # fmt: skip
ARABIC_SPEAKING_MENA = {
    "DZA", "BHR", "EGY", "IRQ", "JOR", "KWT", "LBN", "LBY", "MAR", "OMN", "PSE", "QAT",
    "SAU", "SYR", "TUN", "ARE", "YEM",
}  # fmt: skip


def registry(session: Session) -> dict[str, Any]:
    """Everything the seed wrote, without database ids, in creation order."""
    organizations = session.scalars(select(Organization).order_by(Organization.id)).all()
    contacts = session.scalars(select(Contact).order_by(Contact.id)).all()
    names = {o.id: o.name for o in organizations}
    return {
        "organizations": [
            (o.name, o.acronym, o.country_iso3, o.type, o.membership_status, o.joined_on,
             o.website, o.notes, o.languages, o.focus_areas)
            for o in organizations
        ],
        "contacts": [
            (names[c.organization_id], c.name, c.email, c.role, c.language,
             c.subscription_status, c.paused_until, c.consent_at, c.consent_method,
             c.bounce_status, c.hard_bounce_count, c.soft_bounce_count, c.last_bounced_at)
            for c in contacts
        ],
    }  # fmt: skip


def seeded_then_rolled_back(session: Session, **options: Any) -> dict[str, Any]:
    savepoint = session.begin_nested()
    seed_demo_registry(session, **options)
    snapshot = registry(session)
    savepoint.rollback()
    session.expunge_all()
    return snapshot


def languages_by_organization(session: Session) -> dict[int, list[str]]:
    rows = session.execute(
        select(OrganizationLanguage.organization_id, OrganizationLanguage.language).order_by(
            OrganizationLanguage.organization_id, OrganizationLanguage.position
        )
    ).all()
    languages: dict[int, list[str]] = defaultdict(list)
    for organization_id, language in rows:
        languages[organization_id].append(language)
    return languages


def is_reserved(domain: str) -> bool:
    return any(domain == d or domain.endswith(f".{d}") for d in RESERVED)


# --- determinism --------------------------------------------------------------------------


def test_same_seed_gives_the_same_registry(session: Session) -> None:
    first = seeded_then_rolled_back(session, organizations=120, seed=11)
    second = seeded_then_rolled_back(session, organizations=120, seed=11)
    assert len(first["organizations"]) == 120
    assert first == second


def test_different_seeds_give_different_registries(session: Session) -> None:
    one = seeded_then_rolled_back(session, organizations=120, seed=11)
    other = seeded_then_rolled_back(session, organizations=120, seed=12)
    names = {o[0] for o in one["organizations"]}, {o[0] for o in other["organizations"]}
    emails = {c[2] for c in one["contacts"]}, {c[2] for c in other["contacts"]}
    assert names[0] != names[1]
    assert len(emails[0] & emails[1]) < len(emails[0]) / 2


# --- shape of the registry ------------------------------------------------------------------


def test_counts_regions_and_countries(session: Session) -> None:
    report = seed_demo_registry(session, organizations=300, seed=3)

    assert session.scalar(select(func.count()).select_from(Organization)) == 300
    contact_count = session.scalar(select(func.count()).select_from(Contact)) or 0
    assert 300 <= contact_count <= 6 * 300
    assert 3.5 <= contact_count / 300 <= 4.5
    assert report.organizations == 300
    assert report.contacts == contact_count

    # 1 to 6 contacts each: no organisation is left without one.
    per_organization = Counter(session.scalars(select(Contact.organization_id)).all())
    assert len(per_organization) == 300
    assert set(per_organization.values()) == {1, 2, 3, 4, 5, 6}

    by_region = dict(
        session.execute(
            select(Country.region_slug, func.count())
            .select_from(Organization)
            .join(Country, Country.iso3 == Organization.country_iso3)
            .group_by(Country.region_slug)
        ).all()
    )
    assert set(by_region) == {"africa", "americas", "asia-pacific", "europe", "mena"}
    assert by_region == report.organizations_by_region
    # More in Africa, the Americas and Europe than in MENA.
    assert min(by_region["africa"], by_region["americas"], by_region["europe"]) > by_region["mena"]
    countries = session.scalar(select(func.count(func.distinct(Organization.country_iso3))))
    assert countries is not None
    assert countries >= 60
    assert report.countries == countries


def test_every_region_is_present_even_in_a_tiny_registry(session: Session) -> None:
    report = seed_demo_registry(session, organizations=5, seed=99)
    assert all(count == 1 for count in report.organizations_by_region.values())


def test_types_statuses_dates_and_focus_areas_are_plausible(session: Session) -> None:
    seed_demo_registry(session, organizations=300, seed=4)
    organizations = session.scalars(select(Organization)).all()

    types = Counter(o.type for o in organizations)
    assert types.most_common(1)[0][0] == "ngo"
    assert types["ngo"] > 150
    statuses = Counter(o.membership_status for o in organizations)
    assert statuses[MembershipStatus.active] > 0.75 * 300
    assert statuses[MembershipStatus.applicant]
    assert statuses[MembershipStatus.lapsed]
    for organization in organizations:
        if organization.membership_status is MembershipStatus.applicant:
            assert organization.joined_on is None
        else:
            assert organization.joined_on is not None
            assert 1995 <= organization.joined_on.year <= 2026

    tags = session.scalars(select(OrganizationFocusArea.focus_area)).all()
    assert set(tags) <= set(vocabulary.FOCUS_AREAS)
    assert Counter(tags).most_common(1)[0][0] == "international-justice"
    assert all(o.focus_areas for o in organizations)

    # Names are unique per country (imports match on name and country).
    assert len({(o.name.casefold(), o.country_iso3) for o in organizations}) == 300
    assert sum(o.acronym is not None for o in organizations) > 0.6 * 300


def test_seeded_rows_pass_the_api_validation(session: Session) -> None:
    """So that exporting the demo registry and importing it again works."""
    seed_demo_registry(session, organizations=150, seed=5)
    for organization in session.scalars(select(Organization)).all():
        OrganizationCreate(
            name=organization.name,
            acronym=organization.acronym,
            country=organization.country_iso3,
            type=organization.type,
            membership_status=organization.membership_status,
            joined_on=organization.joined_on,
            website=organization.website,
            notes=organization.notes,
            focus_areas=organization.focus_areas,
            languages=organization.languages,
        )
    for contact in session.scalars(select(Contact)).all():
        ContactCreate(
            name=contact.name,
            email=contact.email,
            role=contact.role,
            language=contact.language,
            subscription_status=contact.subscription_status,
            paused_until=contact.paused_until,
            consent_at=contact.consent_at,
            consent_method=contact.consent_method,
        )


# --- languages -------------------------------------------------------------------------------


def test_working_languages_fit_the_country(session: Session) -> None:
    seed_demo_registry(session, organizations=600, seed=6)
    languages = languages_by_organization(session)
    countries = dict(session.execute(select(Organization.id, Organization.country_iso3)).all())

    seen: Counter[str] = Counter()
    for organization_id, iso3 in countries.items():
        spoken = languages[organization_id]
        assert spoken
        assert len(set(spoken)) == len(spoken)
        expected = vocabulary.working_languages(iso3)
        # The country's languages, perhaps the second first, perhaps English added.
        assert set(expected) <= set(spoken) <= {*expected, "en"}
        if iso3 in FRANCOPHONE_AFRICA | {"FRA", "BEL", "LUX", "CHE", "HTI", "CAN", "LBN"}:
            assert "fr" in spoken, iso3
            seen["fr"] += 1
        if iso3 in LUSOPHONE:
            assert "pt" in spoken, iso3
            seen["pt"] += 1
        if iso3 in SPANISH_SPEAKING:
            assert "es" in spoken, iso3
            seen["es"] += 1
        if iso3 in ARABIC_SPEAKING_MENA:
            assert "ar" in spoken, iso3
            seen["ar"] += 1
        if iso3 == "IRN":
            assert spoken[0] in {"fa", "en"}
        if iso3 in {"GBR", "USA", "IND", "AUS", "NGA", "DEU", "JPN"}:
            assert spoken[0] == "en", iso3
    assert all(seen[language] >= 5 for language in ("fr", "pt", "es", "ar")), seen

    contact_languages = session.execute(select(Contact.organization_id, Contact.language)).all()
    for organization_id, language in contact_languages:
        assert language in languages[organization_id]


def test_language_table_covers_real_countries_and_codes() -> None:
    with TREATY_DATA_FILE.open(encoding="utf-8") as stream:
        known = {row["iso3"] for row in csv.DictReader(stream)}
    for table in (
        vocabulary.WORKING_LANGUAGES,
        vocabulary.PERSON_NAME_STYLES,
        vocabulary.COUNTRY_WEIGHTS,
    ):
        assert set(table) <= known, set(table) - known
    for languages in vocabulary.WORKING_LANGUAGES.values():
        for code in languages:
            assert pycountry.languages.get(alpha_2=code) is not None, code
    assert known >= FRANCOPHONE_AFRICA | LUSOPHONE | SPANISH_SPEAKING | ARABIC_SPEAKING_MENA
    assert vocabulary.working_languages("SEN") == ("fr",)
    assert vocabulary.working_languages("BRA") == ("pt",)
    assert vocabulary.working_languages("CAN") == ("en", "fr")
    assert vocabulary.working_languages("KEN")[0] == "en"
    assert vocabulary.working_languages("FJI") == ("en",)  # the default


# --- contacts --------------------------------------------------------------------------------


def test_emails_are_unique_and_on_reserved_domains(session: Session) -> None:
    seed_demo_registry(session, organizations=300, seed=7)
    emails = session.scalars(select(Contact.email)).all()
    assert len(emails) == len(set(emails))
    for email in emails:
        local, _, domain = email.partition("@")
        assert local
        assert email == email.lower()
        assert is_reserved(domain), email
    websites = session.scalars(select(Organization.website)).all()
    assert any(websites)
    for website in filter(None, websites):
        assert website.startswith("https://www.")
        assert is_reserved(website.removeprefix("https://www.")), website


def test_roles_and_realistic_imperfections(session: Session) -> None:
    report = seed_demo_registry(session, organizations=400, seed=8)
    contacts = session.scalars(select(Contact)).all()

    focal_points = Counter(c.organization_id for c in contacts if c.role is ContactRole.focal_point)
    with_contacts = {c.organization_id for c in contacts}
    exactly_one = sum(focal_points[o] == 1 for o in with_contacts)
    assert exactly_one >= 0.85 * len(with_contacts)

    statuses = Counter(c.subscription_status for c in contacts)
    assert 0 < statuses[SubscriptionStatus.unsubscribed] <= 0.05 * len(contacts)
    assert 0 < statuses[SubscriptionStatus.paused] <= 0.03 * len(contacts)
    assert statuses[SubscriptionStatus.subscribed] > 0.9 * len(contacts)

    hard = [c for c in contacts if c.bounce_status is BounceStatus.hard]
    soft = [c for c in contacts if c.bounce_status is BounceStatus.soft]
    assert 0 < len(hard) <= 0.04 * len(contacts)
    assert 0 < len(soft) <= 0.06 * len(contacts)
    assert all(c.hard_bounce_count >= 1 and c.last_bounced_at is not None for c in hard)
    assert all(c.soft_bounce_count >= 1 and c.last_bounced_at is not None for c in soft)
    ok = [c for c in contacts if c.bounce_status is BounceStatus.ok]
    assert all(c.hard_bounce_count == 0 and c.last_bounced_at is None for c in ok)

    consented = [c for c in contacts if c.consent_at is not None]
    assert len(consented) > 0.85 * len(contacts)
    assert all(c.consent_method for c in consented)
    assert (report.unsubscribed, report.hard_bounced) == (
        statuses[SubscriptionStatus.unsubscribed],
        len(hard),
    )


# --- guards and audit ---------------------------------------------------------------------------


def test_one_audit_entry_for_the_whole_seed(session: Session) -> None:
    seed_demo_registry(session, organizations=50, seed=9, actor="test:operator")
    entries = session.scalars(select(AuditEntry)).all()
    assert [(e.action, e.actor) for e in entries] == [("demo.seed", "test:operator")]
    assert entries[0].after is not None
    assert entries[0].after["organizations"] == 50
    assert entries[0].after["seed"] == 9


def test_refuses_a_second_seed_unless_forced(session: Session) -> None:
    seed_demo_registry(session, organizations=60, seed=1)
    with pytest.raises(RegistryNotEmpty, match="already has 60"):
        seed_demo_registry(session, organizations=60, seed=1)
    assert session.scalar(select(func.count()).select_from(Organization)) == 60

    # Forced, even with the same seed: more organisations, still unique names and emails.
    seed_demo_registry(session, organizations=60, seed=1, force=True)
    organizations = session.execute(select(Organization.name, Organization.country_iso3)).all()
    assert len(organizations) == 120
    assert len({(name.casefold(), iso3) for name, iso3 in organizations}) == 120
    emails = session.scalars(select(Contact.email)).all()
    assert len(emails) == len(set(emails))


def test_refuses_without_countries(session: Session) -> None:
    # Inside the test's transaction, rolled back afterwards: a real empty table.
    session.execute(delete(CountryStatusChange))
    session.execute(delete(Country))
    with pytest.raises(CountriesNotLoaded, match="coalition countries load"):
        seed_demo_registry(session, organizations=10)
    assert isinstance(CountriesNotLoaded(), ValidationFailed)


def test_rejects_a_silly_size(session: Session) -> None:
    with pytest.raises(ValidationFailed, match="between 1 and"):
        seed_demo_registry(session, organizations=0)


# --- command line ----------------------------------------------------------------------------


def test_cli_seeds_and_summarises(session: Session) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["demo", "seed", "--organizations", "40", "--seed", "5"])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "40 organisations" in output
    for region in ("africa", "americas", "asia-pacific", "europe", "mena"):
        assert region in output
    assert session.scalar(select(func.count()).select_from(Organization)) == 40
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "demo.seed")).one()
    assert audit.actor.startswith("cli:")

    again = runner.invoke(cli, ["demo", "seed", "--organizations", "40"])
    assert again.exit_code == 1
    assert "--force" in " ".join(again.output.split())

    quiet = runner.invoke(cli, ["demo", "seed", "--organizations", "40", "--if-empty"])
    assert quiet.exit_code == 0, quiet.output
    assert session.scalar(select(func.count()).select_from(Organization)) == 40

    forced = runner.invoke(cli, ["demo", "seed", "--organizations", "10", "--force"])
    assert forced.exit_code == 0, forced.output
    assert session.scalar(select(func.count()).select_from(Organization)) == 50


def test_seed_refreshes_planner_statistics(session: Session) -> None:
    """Bulk-loaded tables must not be planned as empty (see refresh_planner_statistics)."""
    seed_demo_registry(session, organizations=50, seed=11)
    if session.get_bind().dialect.name == "postgresql":
        estimate = session.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'contacts'"))
        assert estimate is not None
        assert estimate > 0
    else:
        analysed = session.scalars(text("SELECT tbl FROM sqlite_stat1")).all()
        assert {"organizations", "contacts"} <= set(analysed)
