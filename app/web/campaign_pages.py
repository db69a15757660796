"""Staff pages for action alerts: the list, the form, and the campaign page.

Thin handlers over the services the JSON API uses (app/campaigns): a form is parsed
into the API's own schemas (CampaignCreate, CampaignUpdate, LaunchRequest,
TestSendRequest, AudienceFilter) and handed to the same service, lifecycle and message
functions. Whatever they refuse re-renders the page with the message beside the field
(422; 409 for a state conflict, 403 for an author approving her own alert) and changes
nothing. Every action is a POST form carrying the CSRF token, answered by a 303 back to
the campaign page with `?done=<what happened>`, which the page says in a sentence.
"""

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from html.parser import HTMLParser
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session
from starlette.datastructures import FormData

from app.accounts import service as accounts
from app.accounts.auth import SecretariatUser, StaffUser
from app.accounts.principal import Principal, Role
from app.campaigns import lifecycle, messages, service
from app.campaigns.audience import (
    AudienceFilter,
    AudiencePreview,
    LanguageChoice,
    audience_preview,
)
from app.campaigns.models import ActionType, Campaign, CampaignStatus
from app.campaigns.rendering import TemplateProblem, compile_variant
from app.campaigns.schemas import (
    AudiencePreviewRequest,
    CampaignCreate,
    CampaignListQuery,
    CampaignPreview,
    CampaignUpdate,
    DraftPreview,
    DraftPreviewRequest,
    LaunchRequest,
    TestSendRequest,
)
from app.campaigns.tokens import TOKENS, sample_context
from app.campaigns.topics import TOPIC_LABELS, Topic
from app.core.errors import DomainError, NotFound, ValidationFailed
from app.core.headers import CONTENT_SECURITY_POLICY
from app.core.http import SessionDep
from app.countries import service as countries
from app.countries.models import (
    ApicStatus,
    ImplementingLegislation,
    KampalaStatus,
    RomeStatuteStatus,
)
from app.countries.schemas import CountryFilter
from app.delivery.store import campaign_progress
from app.i18n import SUPPORTED_LANGUAGES, text_direction
from app.members.models import ContactRole, MembershipStatus, OrganizationType
from app.web.forms import FORM_LANGUAGES
from app.web.router import FilterForm, not_found_page, read_filter_form, validate_filters
from app.web.templating import label, language_name, templates

router = APIRouter(include_in_schema=False)

_MAX_ID = 2**31 - 1

# The audience filter's list fields, in the order the builder shows them.
AUDIENCE_LIST_FIELDS = (
    "regions",
    "countries",
    "rome_statute_status",
    "apic_status",
    "kampala_status",
    "implementing_legislation",
    "organization_types",
    "membership_status",
    "languages",
    "contact_roles",
)
AUDIENCE_LABELS = {
    "regions": "Regions",
    "countries": "Countries",
    "rome_statute_status": "Rome Statute",
    "apic_status": "APIC",
    "kampala_status": "Kampala amendments",
    "implementing_legislation": "Implementing legislation",
    "organization_types": "Types of organisation",
    "focus_areas": "Focus areas",
    "membership_status": "Membership status",
    "languages": "Contact's preferred language",
    "contact_roles": "Contact roles",
}
FIELD_LABELS = {
    "title": "Title",
    "action_type": "What members are asked to do",
    "topics": "Topics",
    "tracking": "Tracking",
    "default_language": "Default language",
    "variants": "Language versions",
    "to": "Send to",
    "test_language": "Language",
    "send_at": "Date and time",
    "timezone": "Time zone",
    "confirm": "Confirmation",
    **AUDIENCE_LABELS,
}

# Time zones offered for scheduling (any IANA name is accepted by the API).
TIME_ZONES: tuple[tuple[str, str], ...] = (
    ("Europe/Zurich", "Geneva (Europe/Zurich)"),
    ("Europe/Amsterdam", "The Hague (Europe/Amsterdam)"),
    ("UTC", "UTC"),
    ("Europe/London", "London (Europe/London)"),
    ("America/New_York", "New York (America/New_York)"),
    ("America/Bogota", "Bogotá (America/Bogota)"),
    ("America/Sao_Paulo", "São Paulo (America/Sao_Paulo)"),
    ("Africa/Dakar", "Dakar (Africa/Dakar)"),
    ("Africa/Lagos", "Lagos (Africa/Lagos)"),
    ("Africa/Nairobi", "Nairobi (Africa/Nairobi)"),
    ("Africa/Johannesburg", "Johannesburg (Africa/Johannesburg)"),
    ("Asia/Amman", "Amman (Asia/Amman)"),
    ("Asia/Kolkata", "New Delhi (Asia/Kolkata)"),
    ("Asia/Manila", "Manila (Asia/Manila)"),
    ("Asia/Tokyo", "Tokyo (Asia/Tokyo)"),
    ("Australia/Sydney", "Sydney (Australia/Sydney)"),
)
DEFAULT_TIME_ZONE = "Europe/Zurich"

# The confirmation each action leaves on the campaign page (`?done=...`).
DONE_SENTENCES = {
    "created": "Alert saved as a draft. Check the preview in each language and send "
    "yourself a test; then ask another secretariat member to approve it.",
    "updated": "Changes saved.",
    "returned_to_draft": "Changes saved. The alert went back to draft: another "
    "secretariat member must approve it again before it can be launched or scheduled.",
    "approved": "Approved. It can now be launched or scheduled.",
    "launched": "Launched. The alert is being sent now; pause it if something is wrong.",
    "scheduled": "Scheduled. It will start sending on its own at the time shown below. "
    "You can still reschedule it, launch it now or cancel it; editing it returns it "
    "to draft.",
    "paused": "Paused. No more messages go out until you resume it.",
    "resumed": "Resumed. Sending carries on where it stopped.",
    "cancelled": "Cancelled. Nothing more will be sent; the alert stays here as a record.",
}
LIST_SENTENCES = {
    "deleted": "Alert deleted. The audit log keeps a copy of what it was.",
}

EXCLUSION_LABELS = {
    "unsubscribed": "Unsubscribed",
    "paused": "Paused their alerts",
    "topic_opt_out": "Opted out of one of the topics",
    "bounced": "Address bounces",
    "suppressed": "On the suppression list",
}

# What the progress section says about a launched alert, by status. The page's script
# (campaigns.js) gets the same sentences, so that they change with the status.
PROGRESS_SENTENCES = {
    "sending": "Sending now.",
    "paused": "Paused: nothing more goes out until someone resumes it.",
    "sent": "Finished: every message has been handled.",
    "cancelled": "Cancelled: nothing more is sent.",
}

STATUS_TONES = {
    "draft": "neutral",
    "approved": "info",
    "scheduled": "info",
    "sending": "good",
    "paused": "warn",
    "sent": "good",
    "cancelled": "muted",
}


# --- reading forms ------------------------------------------------------------------------


async def _posted_form(request: Request) -> FormData:
    """The whole posted form. The alert form's fields depend on its languages
    (`subject.<lang>`, `body.<lang>`), so they are read by name, not declared."""
    return await request.form()


PostedForm = Annotated[FormData, Depends(_posted_form)]


def _text(posted: FormData, name: str) -> str:
    value = posted.get(name)
    return value if isinstance(value, str) else ""


def _texts(posted: FormData, name: str) -> list[str]:
    return [v.strip() for v in posted.getlist(name) if isinstance(v, str) and v.strip()]


def _checked(posted: FormData, name: str) -> bool:
    return _text(posted, name).lower() in {"on", "true", "1", "yes"}


def _lines(text: str) -> str:
    """Browsers send a textarea's line breaks as CRLF; the alert is stored with LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _focus_area_tags(text: str) -> list[str]:
    """ "Victims rights, rule-of-law" → the tags the schema then checks (the same
    reading as the membership application form)."""
    tags: list[str] = []
    for part in text.split(","):
        tag = re.sub(r"\s+", "-", part.strip().lower())
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def _addresses(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,;]+", text) if part]


def _parse_id(text: str) -> int | None:
    if not re.fullmatch(r"[0-9]{1,10}", text):
        return None
    return int(text) if 0 < int(text) <= _MAX_ID else None


def _message(problem: Any) -> str:
    if problem["type"] == "missing":
        return "This field is required."
    message = str(problem["msg"]).removeprefix("Value error, ")
    return message[:1].upper() + message[1:]


@dataclass
class AlertForm:
    """The alert form as posted: what to show again, and what goes to the schema."""

    form: FilterForm
    data: dict[str, Any]
    # The languages sent as `variants`, in order: variants.1.body is body.<sent[1]>.
    sent_languages: list[str]


def _variant_languages_posted(posted: FormData) -> list[str]:
    languages: list[str] = []
    for name in posted:
        kind, _, language = name.partition(".")
        if kind in {"subject", "body"} and language and language not in languages:
            languages.append(language)
    return languages


def _read_alert_form(posted: FormData, stored: Campaign | None = None) -> AlertForm:
    form = FilterForm()
    values = form.values
    title = _text(posted, "title")
    action_type = _text(posted, "action_type")
    default_language = _text(posted, "default_language")
    focus_text = _text(posted, "focus_areas")
    values.update(
        title=[title],
        action_type=[action_type],
        default_language=[default_language],
        focus_areas=[focus_text],
        topics=_texts(posted, "topics"),
    )
    tracking = {
        "clicks": _checked(posted, "track_clicks"),
        "opens": _checked(posted, "track_opens"),
    }
    values["track_clicks"] = ["on"] if tracking["clicks"] else []
    values["track_opens"] = ["on"] if tracking["opens"] else []

    audience: dict[str, Any] = {}
    for name in AUDIENCE_LIST_FIELDS:
        values[name] = _texts(posted, name)
        audience[name] = values[name]
    # Every field is sent, so that no box ticked means "any" (membership too).
    audience["focus_areas"] = _focus_area_tags(focus_text)

    variants: list[dict[str, str]] = []
    sent: list[str] = []
    for language in _variant_languages_posted(posted):
        subject = _text(posted, f"subject.{language}")
        body = _lines(_text(posted, f"body.{language}"))
        values[f"subject.{language}"] = [subject]
        values[f"body.{language}"] = [body]
        if subject.strip() or body.strip():  # both empty: this language is not used
            variants.append({"language": language, "subject": subject, "body": body})
            sent.append(language)

    topics = list(values["topics"])
    if stored is not None:
        topics = _in_stored_order(topics, stored.topics)
        audience = {
            name: _in_stored_order(value, stored.audience.get(name))
            for name, value in audience.items()
        }
    data = {
        "title": title,
        "action_type": action_type,
        "topics": topics,
        "audience": audience,
        "default_language": default_language,
        "variants": variants,
        "tracking": tracking,
    }
    return AlertForm(form=form, data=data, sent_languages=sent)


def _in_stored_order(values: list[str], stored: Any) -> list[str]:
    """The stored list when the form holds the same values in another order, so that
    saving an unchanged form changes nothing (and an approval stands)."""
    if isinstance(stored, list) and sorted(map(str, stored)) == sorted(values):
        return [str(value) for value in stored]
    return values


def _field_key(location: Sequence[str | int], sent_languages: list[str]) -> str | None:
    """A schema or service location ("variants", 1, "body") → the form field (body.fr)."""
    if not location:
        return None
    head = str(location[0])
    if head == "variants":
        index = location[1] if len(location) > 1 else None
        if isinstance(index, int) and 0 <= index < len(sent_languages):
            part = str(location[2]) if len(location) > 2 else "subject"
            return f"{part}.{sent_languages[index]}"
        return "variants"
    if head == "audience":
        return str(location[1]) if len(location) > 1 else None
    return head


def _domain_location(error: DomainError) -> list[str | int]:
    if error.field is None:
        return []
    if isinstance(error.field, str):
        return [int(p) if p.isdigit() else p for p in error.field.split(".")]
    return list(error.field)


def _add_schema_errors(alert: AlertForm, error: ValidationError) -> None:
    for problem in error.errors():
        location = list(problem["loc"])
        key = _field_key(location, alert.sent_languages)
        message = _message(problem)
        if key == "variants" and problem["type"] == "too_short":
            message = "Write the alert in at least one language: a subject and a text."
        elif (
            key
            and key.startswith(("subject.", "body."))
            and problem["type"]
            in {
                "string_too_short",
                "missing",
            }
        ):
            message = (
                "Write both a subject and a text in this language, or clear both to leave "
                "the language out."
            )
        elif location and location[0] == "audience" and len(location) > 2:
            given = problem.get("input")
            message = f"{given!r}: {message}" if isinstance(given, str) else message
        alert.form.add_error(key, message)


def _add_domain_error(alert: AlertForm, error: DomainError) -> None:
    alert.form.add_error(_field_key(_domain_location(error), alert.sent_languages), error.message)


def _form_from_campaign(campaign: Campaign) -> FilterForm:
    audience = AudienceFilter.model_validate(campaign.audience).model_dump(mode="json")
    values: dict[str, list[str]] = {
        "title": [campaign.title],
        "action_type": [campaign.action_type.value],
        "topics": list(campaign.topics),
        "default_language": [campaign.default_language],
        "track_clicks": ["on"] if campaign.track_clicks else [],
        "track_opens": ["on"] if campaign.track_opens else [],
        "focus_areas": [", ".join(audience["focus_areas"])],
    }
    for name in AUDIENCE_LIST_FIELDS:
        values[name] = [str(value) for value in audience[name]]
    for variant in campaign.variants:
        values[f"subject.{variant.language}"] = [variant.subject]
        values[f"body.{variant.language}"] = [variant.body]
    return FilterForm(values=values)


def _new_form() -> FilterForm:
    return FilterForm(
        values={
            "action_type": [ActionType.contact_officials.value],
            "default_language": ["en"],
            "track_clicks": ["on"],
            "membership_status": [MembershipStatus.active.value],
        }
    )


# --- presentation helpers -----------------------------------------------------------------


def _region_names(session: Session, principal: Principal) -> dict[str, str]:
    return {str(region.slug): region.name for region in countries.list_regions(session, principal)}


def format_send_time(value: datetime | None, zone_name: str | None) -> str:
    """ "Mon 7 Dec 2026, 09:00 Europe/Zurich" in the zone it was chosen in (when that is
    an IANA zone), else in UTC."""
    if value is None:
        return "—"
    zone = None
    if zone_name:
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            zone = None
    shown = value.astimezone(zone) if zone else value.astimezone(ZoneInfo("UTC"))
    return f"{shown:%a} {shown.day} {shown:%b %Y, %H:%M} {zone_name if zone else 'UTC'}"


def format_utc(value: datetime | None) -> str:
    if value is None:
        return "—"
    shown = value.astimezone(ZoneInfo("UTC"))
    return f"{shown:%a} {shown.day} {shown:%b %Y, %H:%M} UTC"


def _offered_languages(form: FilterForm) -> list[str]:
    """The language tabs: the app's own four, then any other the alert already has."""
    extra = [
        name.partition(".")[2]
        for name in form.values
        if name.startswith("subject.") and name.partition(".")[2] not in SUPPORTED_LANGUAGES
    ]
    return [*SUPPORTED_LANGUAGES, *dict.fromkeys(extra)]


def _options(values: Any) -> list[tuple[str, str]]:
    return [(value.value, label(value)) for value in values]


def _form_options(session: Session, principal: Principal) -> dict[str, list[tuple[str, str]]]:
    return {
        "action_type": _options(ActionType),
        "topics": [(topic.value, TOPIC_LABELS[topic]) for topic in Topic],
        "regions": list(_region_names(session, principal).items()),
        "countries": [
            (country.iso3, country.name)
            for country in countries.list_countries(session, CountryFilter())
        ],
        "rome_statute_status": _options(RomeStatuteStatus),
        "apic_status": _options(ApicStatus),
        "kampala_status": _options(KampalaStatus),
        "implementing_legislation": _options(ImplementingLegislation),
        "organization_types": _options(OrganizationType),
        # Archived organisations never receive alerts: not a choice.
        "membership_status": [
            (value.value, label(value))
            for value in MembershipStatus
            if value is not MembershipStatus.archived
        ],
        "languages": [(code, language_name(code)) for code in FORM_LANGUAGES],
        "contact_roles": _options(ContactRole),
    }


def _field_labels(languages: Sequence[str]) -> dict[str, str]:
    labels = dict(FIELD_LABELS)
    for language in languages:
        name = language_name(language)
        labels[f"subject.{language}"] = f"{name} subject"
        labels[f"body.{language}"] = f"{name} text"
        labels[f"language.{language}"] = f"{name} version"
    return labels


def _audience_fields(alert: AlertForm | None, campaign: Campaign | None) -> dict[str, Any]:
    """The form's audience as the API's AudiencePreviewRequest reads it."""
    if alert is not None:
        return {
            **alert.data["audience"],
            "topics": alert.data["topics"],
            "variant_languages": alert.sent_languages,
            "default_language": alert.data["default_language"] or None,
        }
    if campaign is not None:
        return {
            **campaign.audience,
            "topics": campaign.topics,
            "variant_languages": [variant.language for variant in campaign.variants],
            "default_language": campaign.default_language,
        }
    return {}


def _preview_of_form(
    session: Session, principal: Principal, alert: AlertForm | None, campaign: Campaign | None
) -> tuple[AudiencePreview | None, str | None]:
    """The audience count shown with the form when it loads (the script keeps it up to
    date as the form changes): the same request and call as POST /api/audiences/preview."""
    try:
        request = AudiencePreviewRequest.model_validate(_audience_fields(alert, campaign))
        preview = audience_preview(
            session,
            principal,
            request.audience(),
            topics=request.topics,
            languages=LanguageChoice(
                languages=tuple(request.variant_languages), default=request.default_language
            ),
        )
    except ValidationError:
        return None, "Correct the audience and the form to see how many people it reaches."
    except DomainError as error:
        return None, error.message
    return preview, None


@dataclass
class LivePreview:
    """The preview beside the editor as the page first shows it (the script then asks
    POST /api/campaigns/preview as the text changes): one language, and the message or
    what is wrong with it."""

    language: str
    preview: DraftPreview | None = None
    problem: str | None = None


def _live_preview(
    session: Session,
    principal: Principal,
    form: FilterForm,
    alert: AlertForm | None,
    campaign: Campaign | None,
) -> LivePreview:
    """The default language's version (the tab the script opens first), through the same
    request and call as the API; an audience the form cannot use yet falls back to
    made-up sample values, as the script does."""
    language = form.value("default_language") or "en"
    fields = {
        "language": language,
        "subject": form.value(f"subject.{language}"),
        "body": form.value(f"body.{language}"),
    }
    for audience in (_audience_fields(alert, campaign), None):
        try:
            draft = DraftPreviewRequest.model_validate({**fields, "audience": audience})
            return LivePreview(language, preview=messages.preview_draft(session, principal, draft))
        except ValidationError as error:
            problems = error.errors()
            if audience is not None and all(p["loc"][0] == "audience" for p in problems):
                continue
            return LivePreview(language, problem=_message(problems[0]))
        except DomainError as error:
            if audience is not None and (error.field_name or "").startswith("audience"):
                continue
            return LivePreview(language, problem=error.message)
    return LivePreview(language)  # not reached: the try without an audience returns


# Every element of staff Markdown that the email layout's CSS styles (headings, links,
# code, quotes, tables with each alignment), for the form page's policy to let through
# whatever the editor's preview shows later: see preview_policy.
_STYLED_MARKDOWN = """# A
## B
### C

Text, [a link](https://example.org) and `code`.

> A quote.

| a | b | c | d |
|:--|:-:|--:|---|
| 1 | 2 | 3 | 4 |
"""


@lru_cache(maxsize=1)
def _styled_specimens() -> tuple[str, ...]:
    """The specimen as an email, once per text direction."""
    languages = {text_direction(code): code for code in SUPPORTED_LANGUAGES}.values()
    return tuple(
        compile_variant(language=language, subject="", body=_STYLED_MARKDOWN)
        .render(sample_context(language))
        .html
        for language in languages
    )


def _form_page(
    request: Request,
    session: Session,
    principal: Principal,
    form: FilterForm,
    *,
    campaign: Campaign | None = None,
    alert: AlertForm | None = None,
    status_code: int = 200,
) -> Response:
    languages = _offered_languages(form)
    preview, preview_error = _preview_of_form(session, principal, alert, campaign)
    live = _live_preview(session, principal, form, alert, campaign)
    context = {
        "section": "campaigns",
        "form": form,
        "campaign": campaign,
        "languages": [(code, language_name(code), text_direction(code)) for code in languages],
        "options": _form_options(session, principal),
        "field_labels": _field_labels(languages),
        "audience_fields": AUDIENCE_LABELS,
        "tokens": TOKENS,
        "preview": preview,
        "preview_error": preview_error,
        "region_names": _region_names(session, principal),
        "exclusion_labels": EXCLUSION_LABELS,
        "action": f"/campaigns/{campaign.id}/edit" if campaign else "/campaigns/new",
        "returns_to_draft": campaign is not None
        and campaign.status in (CampaignStatus.approved, CampaignStatus.scheduled),
        "live": live,
    }
    shown = [live.preview.html] if live.preview else []
    return templates.TemplateResponse(
        request,
        "campaigns/form.html",
        context,
        status_code=status_code,
        headers={"Content-Security-Policy": preview_policy([*_styled_specimens(), *shown])},
    )


def _action_forms() -> FilterForm:
    """What was typed in the test-send and schedule forms, and what was wrong."""
    return FilterForm(values={"timezone": [DEFAULT_TIME_ZONE]})


def _audience_summary(
    session: Session, principal: Principal, campaign: Campaign
) -> list[tuple[str, str]]:
    """The alert's filter in words, one line per field that narrows it."""
    audience = AudienceFilter.model_validate(campaign.audience)
    regions = _region_names(session, principal)
    country_names: dict[str, str] = {}
    if audience.countries:
        country_names = {
            country.iso3: country.name
            for country in countries.list_countries(session, CountryFilter())
        }
    lines: list[tuple[str, str]] = []
    for name, title in AUDIENCE_LABELS.items():
        values: list[str] = [str(value) for value in getattr(audience, name)]
        if name == "membership_status" and not values:
            lines.append((title, "Any status (archived organisations never receive alerts)"))
            continue
        if not values:
            continue
        if name == "regions":
            shown = [regions.get(value, label(value)) for value in values]
        elif name == "countries":
            shown = [country_names.get(value, value) for value in values]
        elif name == "languages":
            shown = [language_name(value) for value in values]
        elif name == "focus_areas":
            shown = values
        else:
            shown = [label(value) for value in values]
        lines.append((title, ", ".join(shown)))
    return lines


def _previews(
    session: Session, principal: Principal, campaign: Campaign
) -> list[tuple[str, CampaignPreview | None, str | None]]:
    """Each variant rendered as a member of the audience would get it."""
    previews: list[tuple[str, CampaignPreview | None, str | None]] = []
    for variant in campaign.variants:
        try:
            preview = messages.preview_campaign(
                session, principal, campaign, language=variant.language
            )
            previews.append((variant.language, preview, None))
        except (DomainError, TemplateProblem) as error:
            previews.append((variant.language, None, str(getattr(error, "message", error))))
    return previews


class _InlineStyles(HTMLParser):
    """The inline CSS of an email: its style attributes and <style> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: set[str] = set()
        self._style: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.sources.update(value for name, value in attrs if name == "style" and value)
        if tag == "style":
            self._style = []

    def handle_data(self, data: str) -> None:
        if self._style is not None:
            self._style.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "style" and self._style is not None:
            self.sources.add("".join(self._style))
            self._style = None


def preview_policy(documents: Sequence[str]) -> str:
    """The site's Content-Security-Policy, letting through exactly the inline CSS of the
    previewed emails (by hash) and nothing else.

    A `srcdoc` frame inherits the page's policy, and the site's allows no inline style,
    so without this the preview would show the email unstyled, not as members get it.
    Scripts stay forbidden, in the page and in the (sandboxed) frames alike."""
    sources: set[str] = set()
    for document in documents:
        collector = _InlineStyles()
        collector.feed(document)
        collector.close()
        sources |= collector.sources
    if not sources:
        return CONTENT_SECURITY_POLICY
    hashes = " ".join(
        sorted(
            f"'sha256-{base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()}'"
            for source in sources
        )
    )
    return CONTENT_SECURITY_POLICY.replace(
        "style-src 'self'", f"style-src 'self' 'unsafe-hashes' {hashes}", 1
    )


def progress_view(session: Session, campaign: Campaign) -> dict[str, Any] | None:
    """Where a launched alert's messages stand, as the page first shows it (the script
    then asks GET /api/campaigns/{id} for the same figures every few seconds)."""
    if campaign.launched_at is None or campaign.id is None:
        return None
    figures = campaign_progress(session, campaign.id)
    total = figures.total
    handled = figures.sent + figures.failed + figures.suppressed
    status = campaign.status.value
    return {
        "total": total,
        "handled": handled,
        "queued": figures.queued,
        "sending": figures.sending,
        "sent": figures.sent,
        "failed": figures.failed,
        "suppressed": figures.suppressed,
        "rate": figures.rate,
        # Rounded down, so that 100% means every message handled; nobody to send to is done.
        "percent": handled * 100 // total if total else 100,
        # <progress> needs a maximum above zero.
        "bar_max": total or 1,
        "bar_value": handled if total else 1,
        "sentence": (
            f"Paused by the system: {campaign.paused_reason} It resumes by itself when the "
            "relay answers again; pause it yourself to keep it paused."
            if campaign.paused_by_pipeline and campaign.paused_reason
            else PROGRESS_SENTENCES.get(status, label(status))
        ),
        "live": status in ("sending", "paused"),
    }


def _own_email(session: Session, principal: Principal) -> str:
    if principal.user_id is None:
        return ""
    try:
        return accounts.get_user(session, principal.user_id).email
    except DomainError:
        return ""


def _campaign_page(
    request: Request,
    session: Session,
    principal: Principal,
    campaign: Campaign,
    *,
    error: str | None = None,
    actions: FilterForm | None = None,
    status_code: int = 200,
) -> Response:
    read = service.campaign_read(session, campaign)
    actions = actions or _action_forms()
    if not actions.value("to"):
        actions.values["to"] = [_own_email(session, principal)]
    done = request.query_params.get("done", "")
    notice = DONE_SENTENCES.get(done)
    if done == "test_sent":
        sent = request.query_params.get("sent", "")
        count = int(sent) if sent.isdigit() else 0
        notice = (
            f"Test sent: {count} message{'' if count == 1 else 's'} marked [Test] "
            "queued. They count in no figure; the secretariat's outbox shows them."
        )
    try:
        audience = audience_preview(
            session,
            principal,
            AudienceFilter.model_validate(campaign.audience),
            topics=campaign.topics,
            languages=messages.language_choice(campaign),
        )
        audience_error = None
    except DomainError as problem:
        audience, audience_error = None, problem.message
    previews = _previews(session, principal, campaign)
    context = {
        "section": "campaigns",
        "campaign": read,
        "status_tones": STATUS_TONES,
        "notice": notice,
        "error": error,
        "is_secretariat": principal.role is Role.secretariat,
        "allowed": set(read.allowed_actions),
        "send_time": format_send_time(campaign.send_at, campaign.send_timezone),
        "send_time_utc": format_utc(campaign.send_at),
        "launched_at": format_utc(campaign.launched_at),
        "approved_at": format_utc(campaign.approved_at),
        "created_at": format_utc(campaign.created_at),
        "topic_labels": {topic.value: text for topic, text in TOPIC_LABELS.items()},
        "preview": audience,
        "preview_error": audience_error,
        "region_names": _region_names(session, principal),
        "exclusion_labels": EXCLUSION_LABELS,
        "audience_lines": _audience_summary(session, principal, campaign),
        "previews": previews,
        "actions": actions,
        "field_labels": FIELD_LABELS,
        "time_zones": TIME_ZONES,
        "progress": progress_view(session, campaign),
        "progress_sentences": PROGRESS_SENTENCES,
        "status_labels": {status.value: label(status) for status in CampaignStatus},
    }
    policy = preview_policy([preview.html for _, preview, _ in previews if preview])
    return templates.TemplateResponse(
        request,
        "campaigns/detail.html",
        context,
        status_code=status_code,
        headers={"Content-Security-Policy": policy},
    )


def _campaign_or_none(session: Session, principal: Principal, campaign_id: str) -> Campaign | None:
    identifier = _parse_id(campaign_id)
    if identifier is None:
        return None
    try:
        return service.get_campaign(session, principal, identifier)
    except NotFound:
        return None


def _no_campaign(request: Request, campaign_id: str) -> Response:
    return not_found_page(request, f"There is no action alert with id {campaign_id!r}.")


def _done(campaign_id: int, done: str, **extra: str) -> RedirectResponse:
    query = urlencode({"done": done, **extra})
    return RedirectResponse(f"/campaigns/{campaign_id}?{query}", status_code=303)


# --- the list -------------------------------------------------------------------------------


@router.get("/campaigns", response_class=HTMLResponse)
def campaigns_page(request: Request, session: SessionDep, principal: StaffUser) -> Response:
    form = read_filter_form(request, reserved=("cursor", "done"))
    cursor = request.query_params.get("cursor") or None
    filters = validate_filters(CampaignListQuery, form)
    rows: list[Campaign] = []
    next_cursor: str | None = None
    total = 0
    if filters is not None:
        try:
            rows, next_cursor, total = service.list_campaigns(
                session, principal, filters.model_copy(update={"cursor": cursor})
            )
        except ValidationFailed as error:
            form.add_error(error.field_name, error.message)
    filtered = bool(form.values)
    context = {
        "section": "campaigns",
        "form": form,
        "rows": rows,
        "total": total,
        "listed": filters is not None and not form.errors,
        "filtered": filtered,
        "paged": cursor is not None,
        "first_url": "/campaigns?" + urlencode(form.query_items()),
        "next_url": "/campaigns?" + urlencode(form.query_items(cursor=next_cursor))
        if next_cursor
        else None,
        "notice": LIST_SENTENCES.get(request.query_params.get("done", "")),
        "is_secretariat": principal.role is Role.secretariat,
        "status_tones": STATUS_TONES,
        "region_names": _region_names(session, principal),
        "send_times": {
            row.id: format_utc(row.launched_at)
            if row.launched_at
            else format_send_time(row.send_at, row.send_timezone)
            for row in rows
        },
        "options": {"status": _options(CampaignStatus)},
    }
    return templates.TemplateResponse(
        request, "campaigns/list.html", context, status_code=422 if form.errors else 200
    )


# --- writing ------------------------------------------------------------------------------


@router.get("/campaigns/new", response_class=HTMLResponse)
def new_campaign_page(
    request: Request, session: SessionDep, principal: SecretariatUser
) -> Response:
    return _form_page(request, session, principal, _new_form())


@router.post("/campaigns/new", response_class=HTMLResponse)
def create_campaign(
    request: Request, session: SessionDep, principal: SecretariatUser, posted: PostedForm
) -> Response:
    alert = _read_alert_form(posted)
    try:
        data = CampaignCreate.model_validate(alert.data)
        campaign = service.create_campaign(session, principal, data)
    except ValidationError as error:
        _add_schema_errors(alert, error)
        return _form_page(request, session, principal, alert.form, alert=alert, status_code=422)
    except DomainError as error:
        session.rollback()
        _add_domain_error(alert, error)
        return _form_page(
            request, session, principal, alert.form, alert=alert, status_code=error.status_code
        )
    return _done(campaign.id or 0, "created")


@router.get("/campaigns/{campaign_id}/edit", response_class=HTMLResponse)
def edit_campaign_page(
    request: Request, session: SessionDep, principal: SecretariatUser, campaign_id: str
) -> Response:
    campaign = _campaign_or_none(session, principal, campaign_id)
    if campaign is None:
        return _no_campaign(request, campaign_id)
    try:
        lifecycle.require_allowed(campaign, lifecycle.Action.edit)
    except DomainError as error:
        return _campaign_page(
            request, session, principal, campaign, error=error.message, status_code=409
        )
    return _form_page(request, session, principal, _form_from_campaign(campaign), campaign=campaign)


@router.post("/campaigns/{campaign_id}/edit", response_class=HTMLResponse)
def update_campaign(
    request: Request,
    session: SessionDep,
    principal: SecretariatUser,
    campaign_id: str,
    posted: PostedForm,
) -> Response:
    campaign = _campaign_or_none(session, principal, campaign_id)
    if campaign is None:
        return _no_campaign(request, campaign_id)
    was = campaign.status
    alert = _read_alert_form(posted, stored=campaign)
    try:
        data = CampaignUpdate.model_validate(alert.data)
        campaign = service.update_campaign(session, principal, campaign.id or 0, data)
    except ValidationError as error:
        _add_schema_errors(alert, error)
        return _form_page(
            request,
            session,
            principal,
            alert.form,
            campaign=campaign,
            alert=alert,
            status_code=422,
        )
    except DomainError as error:
        session.rollback()
        if isinstance(error, NotFound) and error.location == "path":
            return _no_campaign(request, campaign_id)
        _add_domain_error(alert, error)
        return _form_page(
            request,
            session,
            principal,
            alert.form,
            campaign=campaign,
            alert=alert,
            status_code=error.status_code,
        )
    returned = was != campaign.status and campaign.status is CampaignStatus.draft
    return _done(campaign.id or 0, "returned_to_draft" if returned else "updated")


# --- the campaign page and its actions --------------------------------------------------------


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_page(
    request: Request, session: SessionDep, principal: StaffUser, campaign_id: str
) -> Response:
    campaign = _campaign_or_none(session, principal, campaign_id)
    if campaign is None:
        return _no_campaign(request, campaign_id)
    return _campaign_page(request, session, principal, campaign)


def _refused(
    request: Request,
    session: Session,
    principal: Principal,
    campaign_id: str,
    error: DomainError,
    actions: FilterForm | None = None,
) -> Response:
    """Re-render the campaign page with what was refused (nothing was changed)."""
    session.rollback()
    campaign = _campaign_or_none(session, principal, campaign_id)
    if campaign is None:
        return _no_campaign(request, campaign_id)
    if actions is not None and error.field_name in {"send_at", "timezone", "to", "language"}:
        name = "test_language" if error.field_name == "language" else error.field_name
        actions.add_error(name, error.message)
    return _campaign_page(
        request,
        session,
        principal,
        campaign,
        error=error.message,
        actions=actions,
        status_code=error.status_code,
    )


@router.post("/campaigns/{campaign_id}/approve", response_class=HTMLResponse)
def approve_campaign(
    request: Request, session: SessionDep, principal: SecretariatUser, campaign_id: str
) -> Response:
    return _transition(request, session, principal, campaign_id, lifecycle.approve, "approved")


@router.post("/campaigns/{campaign_id}/launch", response_class=HTMLResponse)
def launch_campaign(
    request: Request, session: SessionDep, principal: SecretariatUser, campaign_id: str
) -> Response:
    """Start sending now."""
    return _transition(request, session, principal, campaign_id, lifecycle.launch, "launched")


@router.post("/campaigns/{campaign_id}/schedule", response_class=HTMLResponse)
def schedule_campaign(
    request: Request,
    session: SessionDep,
    principal: SecretariatUser,
    campaign_id: str,
    posted: PostedForm,
) -> Response:
    """A local date and time in a chosen zone → the aware instant the API takes."""
    campaign = _campaign_or_none(session, principal, campaign_id)
    if campaign is None:
        return _no_campaign(request, campaign_id)
    local_text = _text(posted, "send_at").strip()
    zone_name = _text(posted, "timezone").strip()
    actions = FilterForm(values={"send_at": [local_text], "timezone": [zone_name]})
    problem = None
    send_at = None
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        actions.add_error("timezone", "Choose a time zone from the list.")
        problem = "Choose a time zone from the list."
    else:
        try:
            send_at = datetime.fromisoformat(local_text).replace(tzinfo=zone)
        except ValueError:
            problem = "Give the date and time it should start sending, e.g. 2026-12-07 09:00."
            actions.add_error("send_at", problem)
    if problem is not None or send_at is None:
        return _campaign_page(
            request,
            session,
            principal,
            campaign,
            error=problem,
            actions=actions,
            status_code=422,
        )
    try:
        data = LaunchRequest(send_at=send_at, timezone=zone_name)
        lifecycle.launch(session, principal, campaign, send_at=data.send_at, timezone=data.timezone)
    except ValidationError as error:
        for item in error.errors():
            actions.add_error(str(item["loc"][0]) if item["loc"] else None, _message(item))
        return _campaign_page(
            request,
            session,
            principal,
            campaign,
            error="The schedule could not be used.",
            actions=actions,
            status_code=422,
        )
    except DomainError as error:
        return _refused(request, session, principal, campaign_id, error, actions)
    return _done(campaign.id or 0, "scheduled" if campaign.send_at else "launched")


def _transition(
    request: Request,
    session: Session,
    principal: Principal,
    campaign_id: str,
    act: Any,
    done: str,
) -> Response:
    campaign = _campaign_or_none(session, principal, campaign_id)
    if campaign is None:
        return _no_campaign(request, campaign_id)
    try:
        act(session, principal, campaign)
    except DomainError as error:
        return _refused(request, session, principal, campaign_id, error)
    return _done(campaign.id or 0, done)


@router.post("/campaigns/{campaign_id}/pause", response_class=HTMLResponse)
def pause_campaign(
    request: Request, session: SessionDep, principal: SecretariatUser, campaign_id: str
) -> Response:
    return _transition(request, session, principal, campaign_id, lifecycle.pause, "paused")


@router.post("/campaigns/{campaign_id}/resume", response_class=HTMLResponse)
def resume_campaign(
    request: Request, session: SessionDep, principal: SecretariatUser, campaign_id: str
) -> Response:
    return _transition(request, session, principal, campaign_id, lifecycle.resume, "resumed")


def _confirmation_missing(
    request: Request,
    session: Session,
    principal: Principal,
    campaign_id: str,
    posted: FormData,
    what: str,
) -> Response | None:
    if _checked(posted, "confirm"):
        return None
    campaign = _campaign_or_none(session, principal, campaign_id)
    if campaign is None:
        return _no_campaign(request, campaign_id)
    actions = _action_forms()
    message = f"Tick the box to confirm that you want to {what} this alert."
    actions.add_error(f"confirm-{what}", message)
    return _campaign_page(
        request, session, principal, campaign, error=message, actions=actions, status_code=422
    )


@router.post("/campaigns/{campaign_id}/cancel", response_class=HTMLResponse)
def cancel_campaign(
    request: Request,
    session: SessionDep,
    principal: SecretariatUser,
    campaign_id: str,
    posted: PostedForm,
) -> Response:
    refused = _confirmation_missing(request, session, principal, campaign_id, posted, "cancel")
    if refused is not None:
        return refused
    return _transition(request, session, principal, campaign_id, lifecycle.cancel, "cancelled")


@router.post("/campaigns/{campaign_id}/delete", response_class=HTMLResponse)
def delete_campaign(
    request: Request,
    session: SessionDep,
    principal: SecretariatUser,
    campaign_id: str,
    posted: PostedForm,
) -> Response:
    refused = _confirmation_missing(request, session, principal, campaign_id, posted, "delete")
    if refused is not None:
        return refused
    identifier = _parse_id(campaign_id)
    try:
        if identifier is None:
            raise NotFound(f"No campaign with id {campaign_id!r}")
        service.delete_campaign(session, principal, identifier)
    except DomainError as error:
        return _refused(request, session, principal, campaign_id, error)
    return RedirectResponse("/campaigns?done=deleted", status_code=303)


@router.post("/campaigns/{campaign_id}/test", response_class=HTMLResponse)
def send_test(
    request: Request,
    session: SessionDep,
    principal: SecretariatUser,
    campaign_id: str,
    posted: PostedForm,
) -> Response:
    campaign = _campaign_or_none(session, principal, campaign_id)
    if campaign is None:
        return _no_campaign(request, campaign_id)
    to_text = _text(posted, "to")
    language = _text(posted, "test_language").strip()
    actions = _action_forms()
    actions.values.update(to=[to_text], test_language=[language])
    try:
        data = TestSendRequest(to=_addresses(to_text), language=language or None)
        result = messages.send_test(session, principal, campaign, data)
    except ValidationError as error:
        for item in error.errors():
            name = str(item["loc"][0]) if item["loc"] else None
            message = _message(item)
            if name == "to" and item["type"] == "too_short":
                message = "Give at least one email address."
            given = item.get("input")
            if name == "to" and len(item["loc"]) > 1 and isinstance(given, str):
                message = f"{given!r}: {message}"
            actions.add_error("test_language" if name == "language" else name, message)
        return _campaign_page(
            request,
            session,
            principal,
            campaign,
            error="The test could not be sent.",
            actions=actions,
            status_code=422,
        )
    except DomainError as error:
        return _refused(request, session, principal, campaign_id, error, actions)
    return _done(campaign.id or 0, "test_sent", sent=str(result.sent))
