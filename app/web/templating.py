"""The pages' Jinja2 environment: autoescaped, strict, with the labels people read.

Only presentation lives here (how a value is shown); every rule about what a value may
be stays in the schemas and services that the API uses too.
"""

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

import pycountry
from babel import Locale, negotiate_locale
from babel.dates import format_date as babel_date
from babel.dates import format_time as babel_time
from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from app.accounts.principal import Role
from app.core.audit import AuditEntry
from app.core.db import session_scope
from app.core.errors import NotFound
from app.core.settings import get_settings
from app.i18n import N_, SUPPORTED_LANGUAGES, base_language, text_direction, translations
from app.members import service as members
from app.tracking.wording import language_name as native_language_name

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

_ENGLISH = Locale("en")

# Field names as people say them (filter errors, history entries).
FIELD_LABELS: dict[str, str] = {
    "q": "Search",
    "region": "Region",
    "country": "Country",
    "type": "Type",
    "membership_status": "Membership status",
    "focus_area": "Focus area",
    "focus_areas": "Focus areas",
    "language": "Language",
    "languages": "Working languages",
    "rome_statute_status": "Rome Statute",
    "rome_statute_date": "Rome Statute date",
    "withdrawal_notified_on": "Withdrawal notified on",
    "withdrawal_effective_on": "Withdrawal effective on",
    "signature_withdrawn": "Signature withdrawn",
    "apic_status": "APIC",
    "apic_date": "APIC date",
    "kampala_status": "Kampala amendments",
    "kampala_date": "Kampala date",
    "implementing_legislation": "Implementing legislation",
    "include_archived": "Include archived",
    "cursor": "Page",
    "name": "Name",
    "acronym": "Acronym",
    "joined_on": "Joined",
    "website": "Website",
    "address": "Address",
    "notes": "Notes",
    "custom_fields": "Custom fields",
    "merged_into_id": "Merged into",
    "merged_from_id": "Merged from",
    "contacts_moved": "Contacts moved",
    "contacts_combined": "Contacts combined",
    "organization_id": "Organisation",
    "email": "Email",
    "role": "Role",
    "subscription_status": "Subscription",
    "paused_until": "Paused until",
    "consent_at": "Consent given",
    "consent_method": "Consent method",
    "bounce_status": "Bounce status",
    "hard_bounce_count": "Hard bounces",
    "soft_bounce_count": "Soft bounces",
    "last_bounced_at": "Last bounce",
}

# Enum values as people say them; anything missing falls back to "Snake case".
# Those members read on their own pages are marked for the catalogues (N_).
VALUE_LABELS: dict[str, str] = {
    "ngo": N_("NGO"),
    "bar_association": N_("Bar association"),
    "academic": N_("Academic"),
    "faith_based": N_("Faith-based"),
    "network": N_("Network"),
    "media": N_("Media"),
    "other": N_("Other"),
    "applicant": N_("Applicant"),
    "active": N_("Active"),
    "lapsed": N_("Lapsed"),
    "suspended": N_("Suspended"),
    "archived": N_("Archived"),
    "focal_point": N_("Focal point"),
    "director": N_("Director"),
    "communications": N_("Communications"),
    "legal": N_("Legal"),
    "subscribed": N_("Subscribed"),
    "unsubscribed": N_("Unsubscribed"),
    "paused": N_("Paused"),
    "non_signatory": "Non-signatory",
    "not_ratified": "Not ratified",
    "not_applicable": "Not applicable",
    "asia-pacific": "Asia-Pacific",
    "mena": "Middle East and North Africa",
    "ok": "OK",
}

ACTION_LABELS: dict[str, str] = {
    "organization.create": "Created",
    "organization.update": "Changed",
    "organization.merge": "Merged into",
    "organization.merge_received": "Merged in",
    "contact.create": "Contact added",
    "contact.update": "Contact changed",
    "contact.delete": "Contact removed",
    "contact.bounce_state": "Bounce state raised",
    "application.submit": "Applied for membership",
    "application.approve": "Application approved",
    "application.decline": "Application declined",
    "organization.lapse": "Membership lapsed",
    "organization.suspend": "Membership suspended",
    "organization.reinstate": "Membership reinstated",
    # The rest of the audit log (the /audit page).
    "contact.erase": "Contact erased",
    "contact.export": "Personal data exported",
    "user.create": "User created",
    "user.update": "User changed",
    "user.password_change": "Password changed",
    "user.switch_organization": "Switched organisation",
    "auth.link_requested": "Sign-in link requested",
    "auth.sign_in.session": "Signed in",
    "auth.sign_in.bearer": "API token issued",
    "campaign.created": "Alert created",
    "campaign.updated": "Alert changed",
    "campaign.deleted": "Alert deleted",
    "campaign.test_sent": "Test sent",
    "campaign.approval_requested": "Approval requested",
    "campaign.approved": "Alert approved",
    "campaign.scheduled": "Alert scheduled",
    "campaign.launched": "Alert launched",
    "campaign.paused": "Sending paused",
    "campaign.resumed": "Sending resumed",
    "campaign.sent": "Sending finished",
    "campaign.cancelled": "Alert cancelled",
    "campaign.returned_to_draft": "Returned to draft",
    "alert.action_reported": "Action reported",
    "country.status_change": "Treaty status changed",
    "custom_field.create": "Custom field added",
    "custom_field.delete": "Custom field removed",
    "delivery.bounce": "Bounce received",
    "delivery.complaint": "Spam complaint received",
    "suppression.create": "Address suppressed",
    "demo.seed": "Demo data loaded",
}

# Badge tone per status value: the CSS gives each tone colours with AA contrast, and
# every badge also carries its text, so nothing is told by colour alone.
BADGE_TONES: dict[str, dict[str, str]] = {
    "rome_statute_status": {
        "party": "good",
        "signatory": "info",
        "withdrawn": "bad",
        "non_signatory": "neutral",
        "unknown": "unknown",
    },
    "apic_status": {"party": "good", "signatory": "info", "none": "neutral", "unknown": "unknown"},
    "kampala_status": {
        "ratified": "good",
        "not_ratified": "neutral",
        "not_applicable": "muted",
        "unknown": "unknown",
    },
    "implementing_legislation": {
        "complete": "good",
        "partial": "info",
        "draft": "warn",
        "none": "neutral",
        "unknown": "unknown",
    },
    "membership_status": {
        "active": "good",
        "applicant": "info",
        "lapsed": "warn",
        "suspended": "bad",
        "archived": "muted",
    },
    "subscription_status": {"subscribed": "good", "paused": "warn", "unsubscribed": "neutral"},
    "bounce_status": {"ok": "muted", "soft": "warn", "hard": "bad"},
}


def label(value: Any) -> str:
    """A field name or enum value as a person reads it."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    key = value.value if isinstance(value, Enum) else str(value)
    if key in FIELD_LABELS:
        return FIELD_LABELS[key]
    if key in VALUE_LABELS:
        return VALUE_LABELS[key]
    return key.replace("_", " ").capitalize()


def action_label(action: str) -> str:
    return ACTION_LABELS.get(action, label(action.rsplit(".", 1)[-1]))


def badge_tone(field: str, value: Any) -> str:
    key = value.value if isinstance(value, Enum) else str(value)
    return BADGE_TONES.get(field, {}).get(key, "neutral")


def language_name(code: str) -> str:
    return _ENGLISH.languages.get(code, code)


def format_date(value: date | str | None) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            return format_date(date.fromisoformat(value))
        except ValueError:
            return value
    if isinstance(value, datetime):
        return format_datetime(value)
    return f"{value.day} {value:%b %Y}"


def format_datetime(value: datetime | None) -> str:
    if value is None:
        return "—"
    return f"{value.day} {value:%b %Y, %H:%M} UTC"


def format_value(value: Any) -> str:
    """A value from a history record (JSON-ready: strings, numbers, lists, dicts)."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(format_value(item) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{label(k)}: {format_value(v)}" for k, v in value.items())
    if isinstance(value, str):
        try:
            return format_date(date.fromisoformat(value)) if len(value) == 10 else value
        except ValueError:
            return value
    return str(value)


# Fields whose recorded values are enum values, shown through `label`.
ENUM_FIELDS = frozenset({*BADGE_TONES, "type", "role", "region", "status", "action_type"})


# Fields whose recorded values are record ids, times, or language codes.
ID_FIELDS = frozenset({"organization_id", "merged_into_id", "merged_from_id"})
DATETIME_FIELDS = frozenset({"consent_at", "last_bounced_at"})
LANGUAGE_FIELDS = frozenset({"language", "languages", "default_language"})


def field_value(field: str, value: Any) -> str:
    """A recorded value of `field` (history entries), as a person reads it."""
    if field in ENUM_FIELDS and isinstance(value, str):
        return label(value)
    if field in ID_FIELDS and isinstance(value, int):
        return f"#{value}"
    if field in DATETIME_FIELDS and isinstance(value, str):
        try:
            return format_datetime(datetime.fromisoformat(value))
        except ValueError:
            return value
    if field in LANGUAGE_FIELDS and isinstance(value, str | list):
        codes = [value] if isinstance(value, str) else value
        return format_value(
            [language_name(code) if isinstance(code, str) else code for code in codes]
        )
    return format_value(value)


# --- history ---------------------------------------------------------------------------


class _Person(Protocol):
    id: int | None
    name: str
    email: str


@dataclass(frozen=True)
class Link:
    href: str
    text: str


@dataclass(frozen=True)
class Change:
    name: str  # the field, as people say it
    before: str | None  # None: nothing to change from (a creation)
    after: str


@dataclass(frozen=True)
class HistoryItem:
    """One audit entry as the organisation page tells it."""

    entry: AuditEntry
    title: str
    link: Link | None = None  # the other organisation of a merge, after the title
    detail: str | None = None
    note: str | None = None
    on_merged: Link | None = None  # the entry is about an organisation merged into this one
    changes: list[Change] = field(default_factory=list)


_MERGE_FIELDS = frozenset(
    {"merged_into_id", "merged_from_id", "contacts_moved", "contacts_combined"}
)
_CONTACT_TITLE_FIELDS = frozenset({"name", "email", "organization_id"})
# Values not worth listing in a creation: what every new record starts with.
_UNREMARKABLE: dict[str, Any] = {
    "bounce_status": "ok",
    "hard_bounce_count": 0,
    "soft_bounce_count": 0,
}


def describe_history(
    entries: Sequence[AuditEntry], organization_id: int, contacts: Iterable[_Person]
) -> list[HistoryItem]:
    """The organisation's timeline (newest first) in words: what happened, to which
    contact, and on which organisation when it was one since merged into this one."""
    # Who each contact was, walking back in time from now: a contact's entries name it
    # as it was called then, even if it was renamed or removed later.
    people: dict[str, dict[str, Any]] = {
        str(contact.id): {"name": contact.name, "email": contact.email} for contact in contacts
    }
    items = []
    for entry in entries:
        if entry.target_type == "contact":
            item = _contact_item(entry, people.setdefault(entry.target_id, {}))
        else:
            item = _organization_item(entry)
        if entry.organization_id is not None and entry.organization_id != organization_id:
            other = entry.organization_id
            item = replace(item, on_merged=Link(f"/members/{other}", f"#{other}"))
        items.append(item)
    return items


def _organization_item(entry: AuditEntry) -> HistoryItem:
    before, after = entry.before or {}, entry.after or {}
    note = _sentence(entry.note)
    if entry.action == "organization.merge":
        into = after.get("merged_into_id")
        return HistoryItem(
            entry,
            "Merged into" if isinstance(into, int) else "Merged into another organisation",
            link=_organization_link(into),
            note=note,
            changes=entry_changes(entry, skip=_MERGE_FIELDS),
        )
    if entry.action == "organization.merge_received":
        source = after.get("merged_from_id")
        moved, combined = after.get("contacts_moved"), after.get("contacts_combined")
        detail = None
        if isinstance(moved, int) and isinstance(combined, int):
            detail = f"({moved} contact{'' if moved == 1 else 's'} moved, {combined} combined)"
        return HistoryItem(
            entry,
            "Merged in" if isinstance(source, int) else "Merged in another organisation",
            link=_organization_link(source),
            detail=detail,
            note=note,
            changes=entry_changes(entry, skip=_MERGE_FIELDS),
        )
    title = action_label(entry.action)
    if entry.action == "organization.update" and "membership_status" in after:
        if after["membership_status"] == "archived":
            title = "Archived"
        elif before.get("membership_status") == "archived":
            title = "Restored from the archive"
    return HistoryItem(entry, title, note=note, changes=entry_changes(entry))


def _contact_item(entry: AuditEntry, known: dict[str, Any]) -> HistoryItem:
    before, after = entry.before or {}, entry.after or {}
    # A creation names the contact as it was then; a removal, as it was until then.
    if entry.action == "contact.create":
        known.update(_identity(after))
    elif entry.action == "contact.delete":
        known.update(_identity(before))
    who = {**_identity(after), **known}
    # Entries older than this one see the contact as it was before this change.
    known.update(_identity(before))

    name = who.get("name") or f"contact #{entry.target_id}"
    full = f"{name} <{who['email']}>" if who.get("email") else name
    note = _sentence(entry.note)
    if entry.action == "contact.create":
        return HistoryItem(
            entry,
            f"Contact added: {full}",
            note=note,
            changes=entry_changes(entry, skip=_CONTACT_TITLE_FIELDS),
        )
    if entry.action == "contact.delete":
        return HistoryItem(entry, f"Contact removed: {full}", note=note)
    if entry.action == "contact.bounce_state":
        source = f" ({entry.note})" if entry.note else ""
        return HistoryItem(
            entry, f"Bounce state raised{source}: {name}", changes=entry_changes(entry)
        )
    title = ACTION_LABELS.get(entry.action) or f"Contact: {action_label(entry.action).lower()}"
    return HistoryItem(entry, f"{title}: {name}", note=note, changes=entry_changes(entry))


def _identity(values: dict[str, Any]) -> dict[str, Any]:
    return {key: values[key] for key in ("name", "email") if values.get(key)}


def _organization_link(identifier: Any) -> Link | None:
    if not isinstance(identifier, int):
        return None
    return Link(f"/members/{identifier}", f"#{identifier}")


def _sentence(note: str | None) -> str | None:
    return note[:1].upper() + note[1:] if note else None


def entry_changes(entry: AuditEntry, *, skip: frozenset[str] = frozenset()) -> list[Change]:
    """The fields an entry records: from → to for a change, the values for a creation."""
    changes = []
    for key, value in (entry.after or {}).items():
        if key in skip:
            continue
        if entry.before is None:
            shown = field_value(key, value)
            if shown != "—" and not (key in _UNREMARKABLE and _UNREMARKABLE[key] == value):
                changes.append(Change(label(key), None, shown))
        else:
            changes.append(
                Change(label(key), field_value(key, entry.before.get(key)), field_value(key, value))
            )
    return changes


@lru_cache(maxsize=16)
def environment_for(language: str) -> Environment:
    """The pages' environment with wording in `language` (gettext catalogues of
    app/i18n; English is the source text). Staff pages use the English one."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    environment.policies["ext.i18n.trimmed"] = True
    environment.install_gettext_translations(  # type: ignore[attr-defined]
        translations(language), newstyle=True
    )
    environment.filters.update(
        label=lambda value: label_in(value, language),
        language_name=lambda code: language_name_in(code, language),
        country_name=lambda country: country_name_in(country, language),
        date=format_date,
        datetime=format_datetime,
        value=format_value,
        action=action_label,
    )
    if base_language(language) != "en":
        # Dates as the language writes them ("3 mars 2026"); staff pages keep theirs.
        locale = Locale.parse(base_language(language))
        environment.filters.update(
            date=lambda value: _local_date(value, locale),
            datetime=lambda value: _local_datetime(value, locale),
        )
    environment.globals.update(badge_tone=badge_tone, field_value=field_value)
    return environment


def _local_date(value: date | None, locale: Locale) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return _local_datetime(value, locale)
    return babel_date(value, format="long", locale=locale)


def _local_datetime(value: datetime | None, locale: Locale) -> str:
    if value is None:
        return "—"
    day = babel_date(value, format="long", locale=locale)
    time = babel_time(value, format="short", locale=locale)
    # The language's own way of joining a date and a time ("{1}, {0}", "{1}، {0}").
    pattern = str(locale.datetime_formats["medium"])
    return pattern.replace("{1}", day).replace("{0}", time) + " UTC"


# --- in the language of a member's page ---------------------------------------------------


def label_in(value: Any, language: str) -> str:
    """`label` in `language`, where the catalogue has it (the values members read)."""
    return translations(language).gettext(label(value))


def language_name_in(code: str, language: str) -> str:
    """A language's name as `language` says it ("anglais" in French)."""
    if base_language(language) == "en":
        return language_name(code)
    return Locale.parse(base_language(language)).languages.get(code, code)


class _NamedCountry(Protocol):
    iso3: str
    name: str


def country_name_in(country: _NamedCountry, language: str) -> str:
    """A country's name as `language` says it (CLDR's names; the registry's in English)."""
    found = pycountry.countries.get(alpha_3=country.iso3)
    if base_language(language) == "en" or found is None:
        return country.name
    territories = Locale.parse(base_language(language)).territories
    return str(territories.get(found.alpha_2, country.name))


def sort_key(text: str) -> str:
    """Alphabetical order for names in any of the pages' languages ("Égypte" by E)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(character for character in decomposed if not unicodedata.combining(character))


def _signed_in(request: Request) -> dict[str, Any]:
    """Who is signed in, and the CSRF token their forms must carry (set by the auth
    dependency; absent on public pages)."""
    return {
        "current_principal": getattr(request.state, "principal", None),
        "csrf_token": getattr(request.state, "csrf_token", ""),
    }


@lru_cache(maxsize=16)
def templates_for(language: str) -> Jinja2Templates:
    return Jinja2Templates(env=environment_for(language), context_processors=[_signed_in])


# Staff pages are in English.
templates = templates_for("en")

# The language switcher's choice: in the address of the page it leads to (`?lang=fr`),
# then remembered by the browser for a year.
LANGUAGE_PARAMETER = "lang"
LANGUAGE_COOKIE = "lang"
LANGUAGE_COOKIE_MAX_AGE = 365 * 24 * 60 * 60


def member_page(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    language: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """A page members and the public read (sign-in, portal, application form): in
    `language` (by default the visitor's, see `page_language`), with `language` and
    `direction` set for the frame and the language switcher's links."""
    language = language or page_language(request)
    response = templates_for(language).TemplateResponse(
        request,
        name,
        {
            "language": language,
            "direction": text_direction(language),
            "language_choices": language_choices(request, language),
            **context,
        },
        status_code=status_code,
        headers=headers,
    )
    # The same address answers in other languages for other visitors.
    response.headers["Vary"] = "Accept-Language, Cookie"
    chosen = supported_language(request.query_params.get(LANGUAGE_PARAMETER))
    if chosen is not None and chosen != request.cookies.get(LANGUAGE_COOKIE):
        response.set_cookie(
            LANGUAGE_COOKIE,
            chosen,
            max_age=LANGUAGE_COOKIE_MAX_AGE,
            samesite="lax",
            secure=get_settings().public_base_url.startswith("https://"),
        )
    return response


def page_language(request: Request, usual: str | None = None) -> str:
    """The language a member-facing page is shown in: the visitor's own choice (the
    switcher), else `usual` (what the page's reader is known to read, e.g. the language
    an alert went to her in) or the signed-in member's own contact's language, else
    what the browser asks for, else English. Anything unsupported is passed over."""
    return (
        chosen_language(request)
        or supported_language(usual if usual is not None else _contact_language(request))
        or _browser_language(request)
        or "en"
    )


def supported_language(value: str | None) -> str | None:
    """`value` as one of the languages the pages are written in, or None."""
    code = base_language(value) if value else None
    return code if code in SUPPORTED_LANGUAGES else None


def chosen_language(request: Request) -> str | None:
    """The language picked with the switcher: on this address, or remembered."""
    return supported_language(request.query_params.get(LANGUAGE_PARAMETER)) or (
        supported_language(request.cookies.get(LANGUAGE_COOKIE))
    )


def _contact_language(request: Request) -> str | None:
    """The signed-in member's own contact's language (the auth dependency leaves the
    principal on the request; public pages have none)."""
    principal = getattr(request.state, "principal", None)
    if principal is None or principal.role is not Role.member or principal.contact_id is None:
        return None
    # A form's POST asks up to three times (checking, showing, the page): read it once.
    if not hasattr(request.state, "contact_language"):
        with session_scope(writes=False) as session:
            try:
                found = members.get_contact(session, principal, principal.contact_id).language
            except NotFound:  # removed since she signed in
                found = None
        request.state.contact_language = found
    known: str | None = request.state.contact_language
    return known


def _browser_language(request: Request) -> str | None:
    """Accept-Language ("fr-CA,fr;q=0.9,en;q=0.5") negotiated against our languages."""
    weighted: list[tuple[float, str]] = []
    for item in request.headers.get("accept-language", "").split(","):
        tag, _, parameters = item.strip().partition(";")
        quality = 1.0
        if parameters.strip().startswith("q="):
            try:
                quality = float(parameters.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*" and quality > 0:
            weighted.append((quality, tag))
    preferred = [tag for _quality, tag in sorted(weighted, key=lambda item: -item[0])]
    # Babel answers with the tag as the browser spelt it ("FR"): back to our codes.
    return supported_language(negotiate_locale(preferred, SUPPORTED_LANGUAGES, sep="-"))


@dataclass(frozen=True)
class LanguageChoice:
    code: str
    name: str  # in the language itself, as its readers look for it
    href: str  # this page in that language
    current: bool


def language_choices(request: Request, current: str) -> list[LanguageChoice]:
    """The switcher's links: this page (query kept) in each language. Query-only links
    ("?lang=fr"): the page's own path is never written into them, so an address such as
    "//elsewhere.example/x" (answered by the not-found page) cannot become a link off
    the site."""
    query = [
        (key, value)
        for key, value in request.query_params.multi_items()
        if key != LANGUAGE_PARAMETER
    ]
    return [
        LanguageChoice(
            code,
            native_language_name(code),
            f"?{urlencode([*query, (LANGUAGE_PARAMETER, code)])}",
            code == current,
        )
        for code in SUPPORTED_LANGUAGES
    ]


def in_language(message: str, language: str, *, instead: str | None = None) -> str:
    """A message of the schemas or services (English) in a page's language: its
    translation where the catalogue has one; else `instead`, a message id saying what to
    do without the English-only detail (e.g. the value quoted in a validator's message);
    else the English text."""
    gettext = translations(language).gettext
    translated = gettext(message)
    if translated != message or instead is None or base_language(language) == "en":
        return translated
    return gettext(instead)
