"""The personalisation tokens an alert's subject and body may use, and their values.

A token is a dotted name (`country.name`) that a template reads from a context made of
plain dicts of strings, built here for one recipient: no model object, nothing with a
method a template could use to reach further. Words (roles, treaty status, region
names) are in the alert's language, from the gettext catalogues in `app.i18n`.

Building a context is done once per recipient, up to 100,000 times for one alert, so
everything that depends only on the language and the country is looked up once and
cached.
"""

from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import pycountry
from babel import Locale, UnknownLocaleError
from pydantic import BaseModel

from app.countries.models import (
    ApicStatus,
    Country,
    ImplementingLegislation,
    KampalaStatus,
    RomeStatuteStatus,
)
from app.countries.regions import RegionSlug
from app.i18n import N_, base_language, translations
from app.members.models import ContactRole

Context = dict[str, dict[str, str]]


class TokenInfo(BaseModel):
    name: str
    description: str
    example: str


@dataclass(frozen=True)
class TrackingLinks:
    """Where the links of an alert that counts clicks and opens point: `click` is the
    base of each body link (`{click}/{n}`), `open_image` the image that counts an open."""

    click: str
    open_image: str


@dataclass(frozen=True)
class RecipientLinks:
    """The recipient's own links (they carry the delivery's token), made by the caller.

    `tracking` is set for real deliveries only; previews and samples have none, and a
    variant compiled with click or open tracking needs it."""

    report: str
    unsubscribe: str
    preferences: str
    tracking: TrackingLinks | None = None


# --- Words, marked for the catalogues and translated at use -------------------------

ROLE_WORDS: dict[str, str] = {
    ContactRole.focal_point: N_("focal point"),
    ContactRole.director: N_("director"),
    ContactRole.communications: N_("communications officer"),
    ContactRole.legal: N_("legal adviser"),
    ContactRole.other: N_("contact person"),
}

REGION_NAMES: dict[str, str] = {
    RegionSlug.africa: N_("Africa"),
    RegionSlug.americas: N_("Americas"),
    RegionSlug.asia_pacific: N_("Asia-Pacific"),
    RegionSlug.europe: N_("Europe"),
    RegionSlug.mena: N_("Middle East and North Africa"),
}

# Each phrase names its treaty, so it reads on its own ("APIC: …" is not needed) and
# translates without agreeing with the country's grammatical gender.
ROME_STATUTE_WORDS: dict[str, str] = {
    RomeStatuteStatus.party: N_("State Party to the Rome Statute"),
    RomeStatuteStatus.signatory: N_("Rome Statute signed, not yet ratified"),
    RomeStatuteStatus.withdrawn: N_("Withdrawn from the Rome Statute"),
    RomeStatuteStatus.non_signatory: N_("Rome Statute neither signed nor ratified"),
    RomeStatuteStatus.unknown: N_("Rome Statute status unknown"),
}

APIC_WORDS: dict[str, str] = {
    ApicStatus.party: N_("Party to the APIC"),
    ApicStatus.signatory: N_("APIC signed, not yet ratified"),
    ApicStatus.none: N_("APIC neither signed nor ratified"),
    ApicStatus.unknown: N_("APIC status unknown"),
}

KAMPALA_WORDS: dict[str, str] = {
    KampalaStatus.ratified: N_("Kampala amendments ratified"),
    KampalaStatus.not_ratified: N_("Kampala amendments not ratified"),
    KampalaStatus.not_applicable: N_("Kampala amendments not applicable (not a State Party)"),
    KampalaStatus.unknown: N_("Kampala amendments status unknown"),
}

IMPLEMENTING_LEGISLATION_WORDS: dict[str, str] = {
    ImplementingLegislation.none: N_("No implementing legislation"),
    ImplementingLegislation.draft: N_("Implementing legislation in draft"),
    ImplementingLegislation.partial: N_("Partial implementing legislation"),
    ImplementingLegislation.complete: N_("Complete implementing legislation"),
    ImplementingLegislation.unknown: N_("Implementing legislation status unknown"),
}

# CLDR's short names for these read badly in an alert ("Congo - Kinshasa") or are not
# what the ICC and the UN call them ("Palestinian Territories" for a State Party).
COUNTRY_NAME_OVERRIDES: dict[tuple[str, str], str] = {
    ("fr", "COD"): "République démocratique du Congo",
    ("ar", "COD"): "جمهورية الكونغو الديمقراطية",
    ("fr", "COG"): "République du Congo",
    ("es", "COG"): "República del Congo",
    ("ar", "COG"): "جمهورية الكونغو",
    ("fr", "PSE"): "État de Palestine",
    ("es", "PSE"): "Estado de Palestina",
    ("ar", "PSE"): "دولة فلسطين",
}


# --- The catalogue the API serves ---------------------------------------------------

TOKENS: list[TokenInfo] = [
    TokenInfo(
        name="contact.name",
        description="The recipient's full name, as recorded.",
        example="Amina Diallo",
    ),
    TokenInfo(
        name="contact.first_name",
        description=(
            "The first word of the recipient's name (so 'Dr Amina Diallo' gives 'Dr'); "
            "use contact.name when names are recorded with titles."
        ),
        example="Amina",
    ),
    TokenInfo(
        name="contact.role",
        description="The recipient's role at their organisation, in the alert's language.",
        example="focal point",
    ),
    TokenInfo(
        name="organization.name",
        description="The member organisation's name.",
        example="Justice and Accountability Network",
    ),
    TokenInfo(
        name="organization.acronym",
        description="The organisation's acronym; empty when it has none.",
        example="JAN",
    ),
    TokenInfo(
        name="country.name",
        description="The organisation's country, named in the alert's language.",
        example="Kenya",
    ),
    TokenInfo(
        name="country.iso3",
        description="The country's ISO 3166-1 alpha-3 code.",
        example="KEN",
    ),
    TokenInfo(
        name="country.rome_statute_status",
        description=(
            "The country's Rome Statute status as a code, for conditions: party, "
            "signatory, withdrawn, non_signatory or unknown."
        ),
        example="party",
    ),
    TokenInfo(
        name="country.rome_statute_status_text",
        description="The Rome Statute status in words, in the alert's language.",
        example="State Party to the Rome Statute",
    ),
    TokenInfo(
        name="country.apic_status",
        description=(
            "The country's APIC status as a code, for conditions: party, signatory, "
            'none or unknown (e.g. {% if country.apic_status == "none" %}).'
        ),
        example="none",
    ),
    TokenInfo(
        name="country.apic_status_text",
        description="The APIC status in words, in the alert's language.",
        example="APIC neither signed nor ratified",
    ),
    TokenInfo(
        name="country.kampala_status",
        description=(
            "The country's Kampala amendments status as a code, for conditions: ratified, "
            "not_ratified, not_applicable or unknown."
        ),
        example="not_ratified",
    ),
    TokenInfo(
        name="country.kampala_status_text",
        description="The Kampala amendments status in words, in the alert's language.",
        example="Kampala amendments not ratified",
    ),
    TokenInfo(
        name="country.implementing_legislation",
        description=(
            "The country's implementing legislation as a code, for conditions: none, "
            "draft, partial, complete or unknown."
        ),
        example="partial",
    ),
    TokenInfo(
        name="country.implementing_legislation_text",
        description="The implementing legislation status in words, in the alert's language.",
        example="Partial implementing legislation",
    ),
    TokenInfo(
        name="region.name",
        description="The country's CICC region, named in the alert's language.",
        example="Africa",
    ),
    TokenInfo(
        name="region.slug",
        description=(
            "The region's code, for conditions: africa, americas, asia-pacific, europe or mena."
        ),
        example="africa",
    ),
    TokenInfo(
        name="links.report",
        description="The recipient's link to report what they did about this alert.",
        example="https://alerts.example.org/act/EXAMPLE",
    ),
    TokenInfo(
        name="links.unsubscribe",
        description="The recipient's link to stop receiving alerts.",
        example="https://alerts.example.org/unsubscribe/EXAMPLE",
    ),
    TokenInfo(
        name="links.preferences",
        description="The recipient's link to choose their language and topics.",
        example="https://alerts.example.org/preferences/EXAMPLE",
    ),
]

TOKEN_NAMES: frozenset[str] = frozenset(token.name for token in TOKENS)

# The top-level names a template may read (each is a dict of tokens, never used bare).
NAMESPACES: frozenset[str] = frozenset(name.split(".", 1)[0] for name in TOKEN_NAMES)

# Not a token: the click and open links the layout writes for campaigns that count them.
# Staff text can neither read it nor bind a name over it.
TRACKING_NAMESPACE = "tracking"
RESERVED_NAMES: frozenset[str] = NAMESPACES | {TRACKING_NAMESPACE}


# --- Building a recipient's context -------------------------------------------------


class CountryFacts(Protocol):
    """What a recipient's context reads of their country: a `Country`, or the send
    path's lighter row of the same columns."""

    @property
    def iso3(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def region_slug(self) -> str: ...
    @property
    def rome_statute_status(self) -> object: ...
    @property
    def apic_status(self) -> object: ...
    @property
    def kampala_status(self) -> object: ...
    @property
    def implementing_legislation(self) -> object: ...


def recipient_context(
    *,
    language: str,
    contact_name: str,
    contact_role: str,
    organization_name: str,
    organization_acronym: str | None,
    country: CountryFacts,
    links: RecipientLinks,
) -> Context:
    """The values of every token for one recipient, in the alert's language (and the
    tracking links, when the caller has them)."""
    context: Context = {
        "contact": {
            "name": contact_name,
            "first_name": first_name(contact_name),
            "role": role_words(language, contact_role),
        },
        "organization": {"name": organization_name, "acronym": organization_acronym or ""},
        # Copies, so that a caller changing its context cannot change the cached one.
        "country": dict(
            _country_values(
                language,
                country.iso3,
                country.name,
                str(country.rome_statute_status),
                str(country.apic_status),
                str(country.kampala_status),
                str(country.implementing_legislation),
            )
        ),
        "region": dict(_region_values(language, country.region_slug)),
        "links": {
            "report": links.report,
            "unsubscribe": links.unsubscribe,
            "preferences": links.preferences,
        },
    }
    if links.tracking is not None:
        context[TRACKING_NAMESPACE] = {
            "click": links.tracking.click,
            "open": links.tracking.open_image,
        }
    return context


def first_name(name: str) -> str:
    """The first word of the name: simple and predictable, and documented as such."""
    words = name.split()
    return words[0] if words else ""


@lru_cache(maxsize=64)
def role_words(language: str, role: str) -> str:
    words = ROLE_WORDS.get(role, ROLE_WORDS[ContactRole.other])
    return translations(language).gettext(words)


@lru_cache(maxsize=4096)
def country_name(language: str, iso3: str, english_name: str) -> str:
    """The country named in `language` (CLDR through Babel); the stored name otherwise.

    English keeps the stored name: it is the project's own, formal, list (CLDR's English
    names are the short colloquial ones)."""
    code = base_language(language)
    if code == "en":
        return english_name
    if (code, iso3) in COUNTRY_NAME_OVERRIDES:
        return COUNTRY_NAME_OVERRIDES[code, iso3]
    record = pycountry.countries.get(alpha_3=iso3)
    if record is None:
        return english_name
    try:
        locale = Locale.parse(code)
    except (UnknownLocaleError, ValueError):
        return english_name
    return str(locale.territories.get(record.alpha_2, english_name))


@lru_cache(maxsize=4096)
def _country_values(
    language: str,
    iso3: str,
    english_name: str,
    rome_statute_status: str,
    apic_status: str,
    kampala_status: str,
    implementing_legislation: str,
) -> dict[str, str]:
    gettext = translations(language).gettext
    return {
        "name": country_name(language, iso3, english_name),
        "iso3": iso3,
        "rome_statute_status": rome_statute_status,
        "rome_statute_status_text": gettext(
            ROME_STATUTE_WORDS.get(rome_statute_status, ROME_STATUTE_WORDS["unknown"])
        ),
        "apic_status": apic_status,
        "apic_status_text": gettext(APIC_WORDS.get(apic_status, APIC_WORDS["unknown"])),
        "kampala_status": kampala_status,
        "kampala_status_text": gettext(KAMPALA_WORDS.get(kampala_status, KAMPALA_WORDS["unknown"])),
        "implementing_legislation": implementing_legislation,
        "implementing_legislation_text": gettext(
            IMPLEMENTING_LEGISLATION_WORDS.get(
                implementing_legislation, IMPLEMENTING_LEGISLATION_WORDS["unknown"]
            )
        ),
    }


@lru_cache(maxsize=64)
def _region_values(language: str, slug: str) -> dict[str, str]:
    english = REGION_NAMES.get(slug, slug)
    return {"name": translations(language).gettext(english), "slug": slug}


SAMPLE_COUNTRY = Country(
    iso3="KEN",
    name="Kenya",
    region_slug=RegionSlug.africa,
    rome_statute_status=RomeStatuteStatus.party,
    apic_status=ApicStatus.none,
    kampala_status=KampalaStatus.not_ratified,
    implementing_legislation=ImplementingLegislation.partial,
)

SAMPLE_LINKS = RecipientLinks(
    report="https://alerts.example.org/act/EXAMPLE",
    unsubscribe="https://alerts.example.org/unsubscribe/EXAMPLE",
    preferences="https://alerts.example.org/preferences/EXAMPLE",
)


def sample_context(language: str) -> Context:
    """A complete context of made-up values, to check and preview a template."""
    return recipient_context(
        language=language,
        contact_name="Amina Diallo",
        contact_role=ContactRole.focal_point,
        organization_name="Justice and Accountability Network",
        organization_acronym="JAN",
        country=SAMPLE_COUNTRY,
        links=SAMPLE_LINKS,
    )


SAMPLE_CONTEXT: Context = sample_context("en")
