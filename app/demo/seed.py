"""A deterministic demonstration registry: `coalition demo seed --organizations 2500`.

The same seed gives the same organisations, contacts, names and addresses on every
run and every database: all randomness comes from one `random.Random(seed)` and from
Faker instances seeded from it, never from the global generator, and nothing depends
on the ids the database hands out. (`created_at` is the time of the run.)

Rows are built in Python and inserted in bulk, a chunk of organisations at a time, so
2,500 organisations with about 10,000 contacts take seconds, not minutes. One audit
entry records the whole seed.

Every address is on a reserved domain (RFC 2606: example.org, example.net,
example.com and their subdomains), so nothing here can ever reach a real person.
"""

import random
import re
import threading
from bisect import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from itertools import accumulate
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pycountry
from babel import Locale
from faker import Faker
from faker.decode import unidecode
from sqlalchemy import Table, func, insert
from sqlmodel import Session, SQLModel, select

from app.core.audit import record_audit
from app.core.db import refresh_planner_statistics
from app.core.errors import Conflict, ValidationFailed
from app.core.types import utcnow
from app.countries.models import Country
from app.demo import vocabulary as vocab
from app.members.models import (
    REGISTRY_TABLES,
    BounceStatus,
    Contact,
    ContactRole,
    MembershipStatus,
    Organization,
    OrganizationFocusArea,
    OrganizationLanguage,
    OrganizationType,
    SubscriptionStatus,
)

T = TypeVar("T")

# (organisations done, organisations in all)
ProgressCallback = Callable[[int, int], None]

DEFAULT_SEED = 2026
MAX_ORGANIZATIONS = 100_000
CHUNK_SIZE = 500  # organisations generated and inserted per round trip
RESERVED_DOMAINS: tuple[str, ...] = ("example.org", "example.net", "example.com")
EN_DASH = " \u2013 "  # "Coalition nationale pour la CPI \u2013 Sénégal"
APOSTROPHE = "\u2019"  # typographic, as in CLDR's "Côte d\u2019Ivoire"

# The coalition was founded in February 1995; no member joined before, and the demo
# registry ends at a fixed date so that the same seed gives the same dates every year.
FIRST_JOINED = date(1995, 2, 25)
LAST_DAY = date(2026, 10, 31)

MEMBERSHIP_STATUS_WEIGHTS: dict[MembershipStatus, float] = {
    MembershipStatus.active: 0.845,
    MembershipStatus.applicant: 0.06,
    MembershipStatus.lapsed: 0.06,
    MembershipStatus.suspended: 0.02,
    MembershipStatus.archived: 0.015,
}
# How many contacts an organisation has: 1 to 6, every organisation at least one
# (mean about 3.9).
CONTACT_COUNT_WEIGHTS: dict[int, float] = {1: 0.06, 2: 0.12, 3: 0.2, 4: 0.25, 5: 0.2, 6: 0.17}
NO_FOCAL_POINT_RATE = 0.06  # organisations whose focal point has left and not been replaced
TWO_FOCAL_POINTS_RATE = 0.01  # ... and a few that name two
UNSUBSCRIBED_RATE = 0.02
PAUSED_RATE = 0.01
HARD_BOUNCE_RATE = 0.015
SOFT_BOUNCE_RATE = 0.03
CONSENT_RATE = 0.92
WEBSITE_RATE = 0.85
ACRONYM_RATE = 0.8
EXTRA_ENGLISH_RATE = 0.3  # organisations that also work in English
SECOND_LANGUAGE_FIRST_RATE = 0.25  # e.g. Flemish Belgian, Québécois, anglophone Cameroonian
PERSONAL_EMAIL_RATE = 0.18  # addresses on a shared mail domain, not the organisation's
NOTE_RATE = 0.05

# Holding this while generating keeps the cached, re-seeded Faker instances to one run.
_generation_lock = threading.Lock()


class CountriesNotLoaded(ValidationFailed):
    def __init__(self) -> None:
        super().__init__(
            "No countries are loaded, and every organisation needs one: "
            "run `coalition countries load` first"
        )


class RegistryNotEmpty(Conflict):
    def __init__(self, existing: int) -> None:
        super().__init__(
            f"The registry already has {existing} organisation(s); demo data goes into an "
            "empty registry. Use --force (force=True) to add demo organisations anyway."
        )
        self.existing = existing


@dataclass
class SeedReport:
    seed: int
    organizations: int = 0
    contacts: int = 0
    organizations_by_region: dict[str, int] = field(default_factory=dict)
    contacts_by_region: dict[str, int] = field(default_factory=dict)
    countries: int = 0
    unsubscribed: int = 0
    paused: int = 0
    hard_bounced: int = 0
    soft_bounced: int = 0
    first_organization_id: int | None = None
    last_organization_id: int | None = None
    _countries: set[str] = field(default_factory=set, repr=False)

    def count(self, draft: "_Draft") -> None:
        region = draft.country.region
        self.organizations += 1
        self.organizations_by_region[region] = self.organizations_by_region.get(region, 0) + 1
        self.contacts += len(draft.contacts)
        self.contacts_by_region[region] = self.contacts_by_region.get(region, 0) + len(
            draft.contacts
        )
        self._countries.add(draft.country.iso3)
        self.countries = len(self._countries)
        for contact in draft.contacts:
            self.unsubscribed += contact["subscription_status"] is SubscriptionStatus.unsubscribed
            self.paused += contact["subscription_status"] is SubscriptionStatus.paused
            self.hard_bounced += contact["bounce_status"] is BounceStatus.hard
            self.soft_bounced += contact["bounce_status"] is BounceStatus.soft

    def as_audit_record(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "organizations": self.organizations,
            "contacts": self.contacts,
            "organizations_by_region": self.organizations_by_region,
            "countries": self.countries,
            "organization_ids": [self.first_organization_id, self.last_organization_id],
        }


def seed_demo_registry(
    session: Session,
    *,
    organizations: int,
    seed: int = DEFAULT_SEED,
    progress: ProgressCallback | None = None,
    force: bool = False,
    actor: str = "system:demo-seed",
) -> SeedReport:
    """Add `organizations` generated member organisations with their contacts.

    Refuses when the registry already has organisations, unless `force`; then it adds
    to them, keeping organisation names (per country) and email addresses unique
    across the whole registry. Flushes; the caller commits.
    """
    if not 1 <= organizations <= MAX_ORGANIZATIONS:
        raise ValidationFailed(
            f"organizations must be between 1 and {MAX_ORGANIZATIONS}", field="organizations"
        )
    countries = _load_countries(session)
    if not countries:
        raise CountriesNotLoaded()
    existing = session.scalar(select(func.count()).select_from(Organization)) or 0
    if existing and not force:
        raise RegistryNotEmpty(existing)

    with _generation_lock:
        builder = _RegistryBuilder(seed, countries)
        if existing:
            builder.reserve_existing(session)
        report = SeedReport(seed=seed)
        report.organizations_by_region = dict.fromkeys(vocab.REGION_WEIGHTS, 0)
        report.contacts_by_region = dict.fromkeys(vocab.REGION_WEIGHTS, 0)
        now = utcnow()
        plan = builder.plan(organizations)
        if progress:
            progress(0, organizations)
        for start in range(0, organizations, CHUNK_SIZE):
            drafts = [builder.organization(country) for country in plan[start : start + CHUNK_SIZE]]
            ids = _insert_chunk(session, drafts, now)
            for draft in drafts:
                report.count(draft)
            report.first_organization_id = report.first_organization_id or ids[0]
            report.last_organization_id = ids[-1]
            if progress:
                progress(report.organizations, organizations)
    record_audit(
        session,
        actor=actor,
        action="demo.seed",
        target_type="registry",
        target_id=f"seed:{seed}",
        after=report.as_audit_record(),
        note="appended to an existing registry (--force)" if existing else None,
    )
    session.flush()
    refresh_planner_statistics(session, REGISTRY_TABLES)
    return report


# --- countries -------------------------------------------------------------------------


@dataclass(frozen=True)
class _CountryInfo:
    iso3: str
    iso2: str | None
    name: str
    region: str
    weight: float

    def short_name(self, language: str) -> str:
        return _short_country_name(self.iso3, self.iso2, self.name, language)

    def name_after_in(self) -> str:
        """'Kenya', 'the Philippines': the English name after 'in'."""
        name = self.short_name("en")
        return f"the {name}" if self.iso3 in vocab.ENGLISH_THE else name


def _load_countries(session: Session) -> list[_CountryInfo]:
    rows = session.execute(
        select(Country.iso3, Country.name, Country.region_slug).order_by(Country.iso3)
    ).all()
    countries = []
    for iso3, name, region in rows:
        record = pycountry.countries.get(alpha_3=iso3)
        countries.append(
            _CountryInfo(
                iso3=iso3,
                iso2=record.alpha_2 if record else None,
                name=name,
                region=region,
                weight=float(vocab.COUNTRY_WEIGHTS.get(iso3, 1)),
            )
        )
    return countries


@cache
def _short_country_name(iso3: str, iso2: str | None, official: str, language: str) -> str:
    """The everyday name ('Tanzania', 'Sénégal') from CLDR, in the given language."""
    if iso2 is None:
        return official
    override = vocab.COUNTRY_NAME_OVERRIDES.get(language, {}).get(iso2)
    if override:
        return override
    name = Locale(language).territories.get(iso2) or official
    return name.replace(" & ", " and ") if language == "en" else name


# --- generation --------------------------------------------------------------------------


@dataclass
class _Draft:
    country: _CountryInfo
    row: dict[str, Any]
    focus_areas: list[str]
    languages: list[str]
    contacts: list[dict[str, Any]]


class _RegistryBuilder:
    """Draws organisations and contacts from one seeded random stream."""

    def __init__(self, seed: int, countries: Sequence[_CountryInfo]) -> None:
        self.seed = seed
        self.rng = random.Random(seed)  # noqa: S311  (demo data, not secrets)
        self.by_region: dict[str, list[_CountryInfo]] = {}
        for country in countries:
            if country.weight > 0:
                self.by_region.setdefault(country.region, []).append(country)
        self.cumulative_weights = {
            region: list(accumulate(c.weight for c in members))
            for region, members in self.by_region.items()
        }
        self.taken_names: set[tuple[str, str]] = set()
        self.taken_emails: set[str] = set()
        self.taken_domains: set[str] = set()
        self.seeded_fakers: set[str] = set()

    def reserve_existing(self, session: Session) -> None:
        """Names, domains and addresses already in the registry are not handed out again."""
        for name, iso3, website in session.execute(
            select(Organization.name, Organization.country_iso3, Organization.website)
        ):
            self.taken_names.add((name.casefold(), iso3))
            host = urlsplit(website).hostname if website else None
            if host:
                self.taken_domains.add(host.removeprefix("www."))
        for (email,) in session.execute(select(Contact.email)):
            self.taken_emails.add(email.lower())
            self.taken_domains.add(email.rpartition("@")[2].lower())

    # -- where ---------------------------------------------------------------------------

    def plan(self, count: int) -> list[_CountryInfo]:
        """The country of each organisation to make, regions in fixed proportions.

        Every region gets at least one organisation once there are enough to go round;
        the order is shuffled so that ids do not run region by region.
        """
        regions = [r for r in vocab.REGION_WEIGHTS if r in self.by_region]
        regions += sorted(r for r in self.by_region if r not in vocab.REGION_WEIGHTS)
        weights = [vocab.REGION_WEIGHTS.get(r, 0.05) for r in regions]
        quotas = [count * w / sum(weights) for w in weights]
        counts = [int(q) for q in quotas]
        by_remainder = sorted(
            range(len(regions)), key=lambda i: quotas[i] - counts[i], reverse=True
        )
        for i in by_remainder[: count - sum(counts)]:
            counts[i] += 1
        if count >= len(regions):
            for i, n in enumerate(counts):
                if n == 0:
                    counts[counts.index(max(counts))] -= 1
                    counts[i] = 1
        labels = [region for region, n in zip(regions, counts, strict=True) for _ in range(n)]
        self.rng.shuffle(labels)
        return [self._country_in(region) for region in labels]

    def _country_in(self, region: str) -> _CountryInfo:
        members, cumulative = self.by_region[region], self.cumulative_weights[region]
        return members[bisect(cumulative, self.rng.random() * cumulative[-1])]

    # -- organisations ---------------------------------------------------------------------

    def organization(self, country: _CountryInfo) -> _Draft:
        rng = self.rng
        org_type = _weighted(rng, vocab.ORGANIZATION_TYPE_WEIGHTS)
        languages = self._languages(country.iso3)
        name_language = next((lang for lang in languages if lang in vocab.NAME_LANGUAGES), "en")
        focus_areas = self._focus_areas()
        name = self._unique_name(org_type, name_language, country, focus_areas)
        acronym = _acronym(name) if rng.random() < ACRONYM_RATE else None
        domain = self._domain(name, acronym, country)
        status = _weighted(rng, MEMBERSHIP_STATUS_WEIGHTS)
        joined_on = None if status is MembershipStatus.applicant else self._joined_on()
        row: dict[str, Any] = {
            "name": name,
            "acronym": acronym,
            "country_iso3": country.iso3,
            "type": org_type,
            "membership_status": status,
            "joined_on": joined_on,
            "website": f"https://www.{domain}" if rng.random() < WEBSITE_RATE else None,
            "address": None,
            "notes": rng.choice(vocab.NOTES) if rng.random() < NOTE_RATE else None,
            "custom_fields": {},
            "merged_into_id": None,
        }
        contacts = self._contacts(country, languages, domain, joined_on)
        return _Draft(country, row, focus_areas, languages, contacts)

    def _languages(self, iso3: str) -> list[str]:
        languages = list(vocab.working_languages(iso3))
        if len(languages) > 1 and self.rng.random() < SECOND_LANGUAGE_FIRST_RATE:
            languages[0], languages[1] = languages[1], languages[0]
        if "en" not in languages and self.rng.random() < EXTRA_ENGLISH_RATE:
            languages.append("en")
        return languages

    def _focus_areas(self) -> list[str]:
        tags = [tag for tag, (rate, _) in vocab.FOCUS_AREAS.items() if self.rng.random() < rate]
        if not tags:
            tags = [self.rng.choice(list(vocab.FOCUS_AREAS))]
        return tags[:5]

    def _unique_name(
        self, org_type: OrganizationType, language: str, country: _CountryInfo, focus: list[str]
    ) -> str:
        name = ""
        for attempt in range(40):
            # Fixed names of a type run out within a country; then fall back to the
            # general patterns, which have hundreds of combinations per language.
            name = self._name(
                org_type if attempt < 10 else OrganizationType.ngo, language, country, focus
            )
            if (name.casefold(), country.iso3) not in self.taken_names:
                break
        else:
            number = 2
            while (f"{name} ({number})".casefold(), country.iso3) in self.taken_names:
                number += 1
            name = f"{name} ({number})"
        self.taken_names.add((name.casefold(), country.iso3))
        return name

    def _name(
        self, org_type: OrganizationType, language: str, country: _CountryInfo, focus: list[str]
    ) -> str:
        rng = self.rng
        fixed = vocab.TYPE_NAMES.get(org_type, {}).get(language)
        if org_type is OrganizationType.network and rng.random() < 0.35:
            fixed = vocab.NATIONAL_COALITION_NAMES[language]
        elif fixed is not None and rng.random() >= 0.8:
            fixed = None
        if fixed:
            template = rng.choice(fixed)
            name = template.format(country=country.short_name(language))
            if "{country}" in template or language == "en":
                return name
            return self._with_country(name, language, country, rate=0.4)

        kinds = vocab.NETWORK_KINDS if org_type is OrganizationType.network else vocab.NGO_KINDS
        kind, gender = rng.choice(kinds[language])
        if rng.random() < 0.3:
            masculine, feminine = rng.choice(vocab.QUALIFIERS[language])
            qualifier = feminine if gender == "f" else masculine
            kind = f"{qualifier} {kind}" if language == "en" else f"{kind} {qualifier}"
        if rng.random() < 0.7:
            purpose = vocab.FOCUS_AREAS[rng.choice(focus)][1][language]
        else:
            purpose = rng.choice(vocab.GENERAL_PURPOSES)[language]
        name = f"{kind} {rng.choice(vocab.PURPOSE_LINKS[language])} {purpose}"
        return self._with_country(name, language, country, rate=0.5 if language == "en" else 0.25)

    def _with_country(self, name: str, language: str, country: _CountryInfo, *, rate: float) -> str:
        """Sometimes say where: 'Kenya Centre for ...', '... in Kenya', '... - Sénégal'."""
        draw = self.rng.random()
        if draw >= rate:
            return name
        if language == "en":
            if draw < rate / 2:
                return f"{country.short_name('en')} {name}"
            return f"{name} in {country.name_after_in()}"
        if language == "es" and draw < rate / 2:
            return f"{name} en {country.short_name('es')}"
        return f"{name}{EN_DASH}{country.short_name(language)}"

    def _domain(self, name: str, acronym: str | None, country: _CountryInfo) -> str:
        """The organisation's own mail and web domain: a subdomain of a reserved one."""
        words = [w for w in _ascii_words(name) if w not in vocab.ACRONYM_STOPWORDS][:4]
        slugs = []
        if acronym:
            slugs.append(_ascii_word(acronym))
            if country.iso2:
                slugs.append(f"{_ascii_word(acronym)}-{country.iso2.lower()}")
        slugs.append("-".join(words)[:50].strip("-") or "member")
        base = self.rng.choices(RESERVED_DOMAINS, weights=(0.7, 0.15, 0.15))[0]
        for slug in slugs:
            if slug and f"{slug}.{base}" not in self.taken_domains:
                break
        number = 2
        domain = f"{slug}.{base}"
        while domain in self.taken_domains:
            domain = f"{slug}{number}.{base}"
            number += 1
        self.taken_domains.add(domain)
        return domain

    def _joined_on(self) -> date:
        year = _weighted(self.rng, _JOIN_YEAR_WEIGHTS)
        first = max(date(year, 1, 1), FIRST_JOINED)
        last = min(date(year, 12, 31), LAST_DAY)
        return first + timedelta(days=self.rng.randrange((last - first).days + 1))

    # -- contacts ------------------------------------------------------------------------

    def _contacts(
        self, country: _CountryInfo, languages: list[str], domain: str, joined_on: date | None
    ) -> list[dict[str, Any]]:
        rng = self.rng
        count = _weighted(rng, CONTACT_COUNT_WEIGHTS)
        roles = self._roles(count)
        contacts = []
        for role in roles:
            language = languages[0] if rng.random() < 0.75 else rng.choice(languages)
            first, last, display = self._person(country, language)
            contacts.append(
                {
                    "name": display,
                    "email": self._email(first, last, domain, role),
                    "role": role,
                    "language": language,
                    **self._subscription(),
                    **self._consent(joined_on),
                    **self._bounces(),
                }
            )
        return contacts

    def _roles(self, count: int) -> list[ContactRole]:
        rng = self.rng
        others = {
            ContactRole.communications: 0.35,
            ContactRole.legal: 0.25,
            ContactRole.other: 0.3,
            ContactRole.director: 0.1,
        }
        draw = rng.random()
        if draw < NO_FOCAL_POINT_RATE:
            roles = []
        elif draw < NO_FOCAL_POINT_RATE + TWO_FOCAL_POINTS_RATE and count > 1:
            roles = [ContactRole.focal_point, ContactRole.focal_point]
        else:
            roles = [ContactRole.focal_point]
        if len(roles) < count and rng.random() < 0.5:
            roles.append(ContactRole.director)
        while len(roles) < count:
            roles.append(_weighted(rng, others))
        return roles

    def _person(self, country: _CountryInfo, language: str) -> tuple[str, str, str]:
        """(given name, family name, name as written) of a plausible person there."""
        rng = self.rng
        style = vocab.PERSON_NAME_STYLES.get(country.iso3) or vocab.REGION_PERSON_NAME_STYLES.get(
            country.region, "en_GB"
        )
        if isinstance(style, dict):
            style = style.get(language) or next(iter(style.values()))
        elif isinstance(style, tuple):
            style = rng.choice(style)
        female = rng.random() < 0.55
        if style.startswith("@"):
            women, men, families = vocab.NAME_LISTS[style]
            given_names = women if female else men
            first = rng.choice(given_names)
            last = rng.choice(families) if families else rng.choice(given_names)
        else:
            first, last = self._faker_name(style, female)
        display = f"{last} {first}" if style in vocab.FAMILY_NAME_FIRST else f"{first} {last}"
        return first, last, display

    def _faker_name(self, locale: str, female: bool) -> tuple[str, str]:
        fake = _faker(locale)
        if locale not in self.seeded_fakers:
            # One stream per locale, derived from the seed: the names drawn do not
            # depend on which other locales this run happens to use.
            fake.seed_instance(f"{self.seed}:{locale}")
            self.seeded_fakers.add(locale)
        if locale in vocab.ROMANIZED:
            if locale == "ja_JP":
                first = (
                    fake.first_romanized_name_female()
                    if female
                    else fake.first_romanized_name_male()
                )
            else:
                first = fake.first_romanized_name()
            return first, fake.last_romanized_name()
        first = fake.first_name_female() if female else fake.first_name_male()
        last = fake.last_name_female() if female else fake.last_name_male()
        if locale in vocab.TRANSLITERATED:
            first, last = _romanize(first), _romanize(last)
        return first, last

    def _email(self, first: str, last: str, domain: str, role: ContactRole) -> str:
        rng = self.rng
        given, family = _ascii_word(first) or "contact", _ascii_word(last)
        if rng.random() < PERSONAL_EMAIL_RATE:
            domain = rng.choices(RESERVED_DOMAINS, weights=(0.4, 0.3, 0.3))[0]
            local = f"{given}.{family}" if family else given
        elif role is ContactRole.communications and rng.random() < 0.2:
            local = rng.choice(("communications", "info", "media", "press"))
        else:
            patterns = (
                f"{given}.{family}",
                f"{given[0]}{family}",
                f"{given}",
                f"{given}_{family}",
                f"{family}.{given}",
            )
            local = rng.choices(patterns, weights=(0.55, 0.2, 0.1, 0.1, 0.05))[0]
            local = local.strip("._") or given
        email = f"{local}@{domain}"
        number = 2
        while email in self.taken_emails:
            email = f"{local}{number}@{domain}"
            number += 1
        self.taken_emails.add(email)
        return email

    def _subscription(self) -> dict[str, Any]:
        draw = self.rng.random()
        if draw < UNSUBSCRIBED_RATE:
            return {"subscription_status": SubscriptionStatus.unsubscribed, "paused_until": None}
        if draw < UNSUBSCRIBED_RATE + PAUSED_RATE:
            # Half paused until a date (e.g. while travelling), half until they resume.
            until = None
            if self.rng.random() < 0.5:
                until = date(2027, 1, 1) + timedelta(days=self.rng.randrange(180))
            return {"subscription_status": SubscriptionStatus.paused, "paused_until": until}
        return {"subscription_status": SubscriptionStatus.subscribed, "paused_until": None}

    def _consent(self, joined_on: date | None) -> dict[str, Any]:
        if self.rng.random() >= CONSENT_RATE:
            return {"consent_at": None, "consent_method": None}
        earliest = max(joined_on or date(2025, 1, 1), date(2008, 1, 1))
        return {
            "consent_at": self._moment(earliest, LAST_DAY),
            "consent_method": _weighted(self.rng, dict(vocab.CONSENT_METHODS)),
        }

    def _bounces(self) -> dict[str, Any]:
        draw = self.rng.random()
        if draw < HARD_BOUNCE_RATE:
            return {
                "bounce_status": BounceStatus.hard,
                "hard_bounce_count": self.rng.randint(1, 3),
                "soft_bounce_count": self.rng.randint(0, 2),
                "last_bounced_at": self._moment(date(2024, 1, 1), LAST_DAY),
            }
        if draw < HARD_BOUNCE_RATE + SOFT_BOUNCE_RATE:
            return {
                "bounce_status": BounceStatus.soft,
                "hard_bounce_count": 0,
                "soft_bounce_count": self.rng.randint(1, 4),
                "last_bounced_at": self._moment(date(2025, 6, 1), LAST_DAY),
            }
        return {
            "bounce_status": BounceStatus.ok,
            "hard_bounce_count": 0,
            "soft_bounce_count": 0,
            "last_bounced_at": None,
        }

    def _moment(self, first: date, last: date) -> datetime:
        day = first + timedelta(days=self.rng.randrange(max((last - first).days, 0) + 1))
        seconds = self.rng.randrange(7 * 3600, 20 * 3600)  # office hours, UTC
        return datetime.combine(day, time(), tzinfo=UTC) + timedelta(seconds=seconds)


# Joining years: a wave around the Rome Conference (1998) and the ratification drive.
_JOIN_YEAR_WEIGHTS: dict[int, float] = {
    year: 1.5
    if year < 1998
    else 5
    if year <= 2002
    else 3
    if year <= 2010
    else 2
    if year <= 2019
    else 1.5
    for year in range(FIRST_JOINED.year, LAST_DAY.year + 1)
}


# --- insertion ----------------------------------------------------------------------------


def _insert_chunk(session: Session, drafts: list[_Draft], now: datetime) -> list[int]:
    """Insert a chunk in four bulk statements; returns the organisation ids in order.

    Core inserts on the tables, not ORM bulk inserts: the ORM splits a batch wherever
    the set of None values changes from row to row, which turns 10,000 contacts into
    over a thousand statements.
    """
    organizations = _table(Organization)
    ids = list(
        session.scalars(
            insert(organizations).returning(organizations.c.id, sort_by_parameter_order=True),
            [{**draft.row, "created_at": now, "updated_at": now} for draft in drafts],
        )
    )
    focus_rows, language_rows, contact_rows = [], [], []
    for organization_id, draft in zip(ids, drafts, strict=True):
        focus_rows += [
            {"organization_id": organization_id, "focus_area": tag} for tag in draft.focus_areas
        ]
        language_rows += [
            {"organization_id": organization_id, "position": position, "language": language}
            for position, language in enumerate(draft.languages)
        ]
        contact_rows += [
            {**contact, "organization_id": organization_id, "created_at": now, "updated_at": now}
            for contact in draft.contacts
        ]
    session.execute(insert(_table(OrganizationFocusArea)), focus_rows)
    session.execute(insert(_table(OrganizationLanguage)), language_rows)
    if contact_rows:
        session.execute(insert(_table(Contact)), contact_rows)
    return ids


def _table(model: type[SQLModel]) -> Table:
    return model.metadata.tables[str(model.__tablename__)]


# --- helpers --------------------------------------------------------------------------------


def _weighted(rng: random.Random, weights: dict[T, float]) -> T:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


@cache
def _faker(locale: str) -> Faker:
    """One Faker per locale with only the person provider (all of them take ~70 ms)."""
    return Faker(locale, providers=["faker.providers.person"])


def _romanize(name: str) -> str:
    """Latin letters for a Cyrillic, Greek, Georgian, Armenian or Korean name."""
    latin = re.sub(f"[`'{APOSTROPHE}]", "", unidecode(name)).strip()
    return " ".join(part[:1].upper() + part[1:] for part in latin.split())


def _ascii_words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", unidecode(text).lower())


def _ascii_word(text: str) -> str:
    return "".join(_ascii_words(text))


def _acronym(name: str) -> str | None:
    """'Lawyers for Justice in Kenya' -> 'LJK'; 'Coalition nationale pour la CPI' -> 'CNCPI'."""
    letters = []
    for token in re.split(r"[\s\-\u2013,()]+", name):
        # "l'État" counts as "État"; "Women's" as "Women".
        token = re.sub(f"^(?:[ldLD]|qu)['{APOSTROPHE}]", "", token)
        token = re.split(f"['{APOSTROPHE}]", token, maxsplit=1)[0]
        if not token or token.casefold() in vocab.ACRONYM_STOPWORDS or not token[0].isalpha():
            continue
        letters.append(token if len(token) > 1 and token.isupper() else token[0])
    acronym = unidecode("".join(letters)).upper()
    return acronym if 2 <= len(acronym) <= 12 else None
