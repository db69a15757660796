"""The pages' Jinja2 environment: autoescaped, strict, with the labels people read.

Only presentation lives here (how a value is shown); every rule about what a value may
be stays in the schemas and services that the API uses too.
"""

from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from babel import Locale
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

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
}

# Enum values as people say them; anything missing falls back to "Snake case".
VALUE_LABELS: dict[str, str] = {
    "ngo": "NGO",
    "faith_based": "Faith-based",
    "non_signatory": "Non-signatory",
    "not_ratified": "Not ratified",
    "not_applicable": "Not applicable",
    "focal_point": "Focal point",
    "asia-pacific": "Asia-Pacific",
    "mena": "Middle East and North Africa",
}

ACTION_LABELS: dict[str, str] = {
    "organization.create": "Created",
    "organization.update": "Changed",
    "organization.merge": "Merged into another organisation",
    "organization.merge_received": "Received a merge",
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
ENUM_FIELDS = frozenset({*BADGE_TONES, "type", "role", "region"})


def field_value(field: str, value: Any) -> str:
    """A recorded value of `field` (history entries), as a person reads it."""
    if field in ENUM_FIELDS and isinstance(value, str):
        return label(value)
    return format_value(value)


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        label=label,
        language_name=language_name,
        date=format_date,
        datetime=format_datetime,
        value=format_value,
        action=action_label,
    )
    environment.globals.update(badge_tone=badge_tone, field_value=field_value)
    return environment


templates = Jinja2Templates(env=_environment())
