"""The secretariat's dashboard and the audit log: thin handlers over app/reports and the
audit log's own query (app/core/audit_router.py), with the API's role rules.

A regional lead who opens the dashboard is sent to her region's, a member to her
organisation's portal (app/web/router.py `home_path`).
"""

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from app.accounts.auth import AnyUser, SecretariatUser
from app.accounts.principal import Principal, Role
from app.campaigns.models import CampaignStatus
from app.core.audit import AuditEntry
from app.core.audit_router import AuditQuery, list_audit_entries
from app.core.errors import ValidationFailed
from app.core.http import SessionDep
from app.inbound import service as inbound
from app.inbound.schemas import ReplyListQuery
from app.members import applications
from app.reports import audit_log, dashboard
from app.reports import service as reports
from app.reports.charts import Column, column_chart
from app.reports.schemas import ActivityQuery
from app.web.campaign_pages import (
    PROGRESS_SENTENCES,
    STATUS_TONES,
    format_send_time,
    progress_view,
)
from app.web.router import FilterForm, home_path, read_filter_form, validate_filters
from app.web.templating import Change, Link, action_label, entry_changes, label, templates

router = APIRouter(include_in_schema=False)

LIST_LIMIT = 10  # rows of each dashboard list; each says how many there are in all
ACTIVITY_WEEKS = 12
AUDIT_PAGE_SIZE = 50


# --- the dashboard --------------------------------------------------------------------------


def _week_name(monday: date) -> str:
    return f"{monday.day} {monday:%b}"


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, session: SessionDep, principal: AnyUser) -> Response:
    if principal.role is not Role.secretariat:
        return RedirectResponse(home_path(principal), status_code=303)
    in_flight = dashboard.alerts_in_flight(session, principal)
    activity = reports.activity(session, principal, ActivityQuery(weeks=ACTIVITY_WEEKS))
    actions, actions_total = reports.reported_actions(session, principal, None, limit=LIST_LIMIT)
    without_contacts, without_contacts_total = dashboard.members_without_contacts(
        session, principal, limit=LIST_LIMIT
    )
    bounced, bounced_total = dashboard.bounced_focal_points(session, principal, limit=LIST_LIMIT)
    waiting, waiting_total = applications.list_applications(session, principal, limit=5)
    weeks = [Column(_week_name(week.starts_on), week.actions) for week in activity.weeks]
    context = {
        "section": "dashboard",
        "going_out": [
            (campaign, progress_view(session, campaign)) for campaign in in_flight.going_out
        ],
        "scheduled": in_flight.scheduled,
        "format_send_time": format_send_time,
        "status_tones": STATUS_TONES,
        "progress_sentences": PROGRESS_SENTENCES,
        "status_labels": {status.value: label(status) for status in CampaignStatus},
        "recent": dashboard.response_activity(session, principal),
        "actions": actions,
        "actions_total": actions_total,
        "replies": inbound.list_replies(
            session, principal, ReplyListQuery(automatic=False, limit=5)
        ),
        "activity_total": sum(week.actions for week in activity.weeks),
        "activity_chart": column_chart(
            "chart-activity",
            f"Actions reported per week, the last {ACTIVITY_WEEKS} weeks",
            weeks,
            unit=("action", "actions"),
        ),
        "activity_weeks": ACTIVITY_WEEKS,
        "without_contacts": without_contacts,
        "without_contacts_total": without_contacts_total,
        "bounced": bounced,
        "bounced_total": bounced_total,
        "applications": waiting,
        "applications_total": waiting_total,
    }
    return templates.TemplateResponse(request, "dashboard/index.html", context)


# --- the audit log --------------------------------------------------------------------------

# The API's filters as the form names them (its `limit` is the page's own).
AUDIT_FIELD_LABELS = {
    "actor": "Who",
    "action": "Action",
    "target_type": "Kind of record",
    "target_id": "Record id",
    "organization_id": "Organisation id",
    "since": "From",
    "until": "Until",
    "cursor": "Page",
}
# What each kind of record is called, for the filter and the entries.
TARGET_TYPES = {
    "organization": "Organisation",
    "contact": "Contact",
    "application": "Membership application",
    "campaign": "Action alert",
    "country": "Country",
    "user": "User",
    "custom_field": "Custom field",
    "suppression": "Suppression",
    "delivery": "Delivery",
    "action_report": "Reported action",
    "sign_in_link": "Sign-in link",
    "registry": "Registry",
}
# Actors that are not a user, as people say them (see record_audit's callers).
ACTORS = {
    "public": "Someone not signed in",
    "public:application": "The membership application form",
    "scheduler": "The scheduler",
}


@dataclass(frozen=True)
class AuditItem:
    """One entry of the log in words, with links to who did it and what it is about."""

    entry: AuditEntry
    title: str
    actor: str
    actor_filter: str  # the page filtered to this actor
    target: str
    target_link: str | None
    organization: Link | None  # the organisation a contact's entry concerns
    changes: list[Change]


def _day_bounds(form: FilterForm) -> FilterForm:
    """The form as the API reads it: the page asks for days, the API for times with a
    zone; "from" a day is its UTC midnight, "until" a day the midnight after it, so the
    day is included. A value that is not a day is passed on for the API's schema to
    accept (a time with a zone) or refuse."""
    values = dict(form.values)
    for name, days in (("since", 0), ("until", 1)):
        text = form.value(name)
        try:
            day = date.fromisoformat(text) if len(text) == 10 else None
            if day is not None:
                values[name] = [f"{day + timedelta(days=days)}T00:00:00+00:00"]
        except (ValueError, OverflowError):  # not a day, or the last one there is
            pass  # the API's schema names the problem
    return FilterForm(values=values)


def _actor_words(actor: str, names: audit_log.AuditNames) -> str:
    user_id = audit_log.user_id_of(actor)
    if user_id is not None:
        return names.users.get(user_id, f"User #{user_id}")
    kind, _, who = actor.partition(":")
    if actor in ACTORS:
        return ACTORS[actor]
    if kind == "cli":
        return f"{who} (command line)"
    if kind == "system":
        return f"The system ({who})" if who else "The system"
    return actor


def _target(entry: AuditEntry, names: audit_log.AuditNames) -> tuple[str, str | None]:
    """What an entry is about (its name when known, else its kind and id), and the page
    of it when there is one."""
    kind, identifier = entry.target_type, entry.target_id
    unnamed = f"{TARGET_TYPES.get(kind, label(kind))} #{identifier}"
    number = int(identifier) if identifier.isdecimal() else None
    if kind == "organization" and number in names.organizations:
        return names.organizations[number], f"/members/{number}"
    if kind == "campaign" and number in names.campaigns:
        # Only an alert that still exists: a deleted one has no page and no name here.
        return names.campaigns[number], f"/campaigns/{number}"
    if kind == "country" and identifier in names.countries:
        return names.countries[identifier], f"/countries/{identifier}"
    if kind == "user" and number in names.users:
        return names.users[number], None
    if kind == "contact":
        recorded = {**(entry.before or {}), **(entry.after or {})}
        person = recorded.get("name") or recorded.get("email")
        return (person if isinstance(person, str) else unnamed), None
    return unnamed, None


def _audit_items(
    session: Session, principal: Principal, entries: list[AuditEntry]
) -> list[AuditItem]:
    names = audit_log.audit_names(session, principal, entries)
    items = []
    for entry in entries:
        target, target_link = _target(entry, names)
        organization = None
        if entry.organization_id is not None and entry.target_type != "organization":
            name = names.organizations.get(entry.organization_id)
            if name:
                organization = Link(f"/members/{entry.organization_id}", name)
        items.append(
            AuditItem(
                entry=entry,
                title=action_label(entry.action),
                actor=_actor_words(entry.actor, names),
                actor_filter="/audit?" + urlencode({"actor": entry.actor}),
                target=target,
                target_link=target_link,
                organization=organization,
                changes=entry_changes(entry),
            )
        )
    return items


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, session: SessionDep, principal: SecretariatUser) -> Response:
    form = read_filter_form(request, reserved=("cursor", "limit"))
    cursor = request.query_params.get("cursor") or None
    query_form = _day_bounds(form)
    if cursor:
        query_form.values["cursor"] = [cursor]
    query_form.values["limit"] = [str(AUDIT_PAGE_SIZE)]
    query = validate_filters(AuditQuery, query_form)
    entries: list[AuditEntry] | None = None
    next_cursor = None
    if query is not None:
        try:
            entries, next_cursor = list_audit_entries(session, query)
        except ValidationFailed as error:
            query_form.add_error(error.field_name, error.message)
    form.errors.extend(query_form.errors)
    context: dict[str, Any] = {
        "section": "audit",
        "form": form,
        "items": _audit_items(session, principal, entries) if entries is not None else None,
        "paged": cursor is not None,
        "first_url": "/audit?" + urlencode(form.query_items()),
        "next_url": "/audit?" + urlencode(form.query_items(cursor=next_cursor))
        if next_cursor
        else None,
        "filtered": bool(form.values),
        "actions": audit_log.audit_actions(session),
        "target_types": sorted(TARGET_TYPES.items(), key=lambda item: item[1]),
        "field_labels": AUDIT_FIELD_LABELS,
    }
    return templates.TemplateResponse(
        request, "dashboard/audit.html", context, status_code=422 if form.errors else 200
    )
