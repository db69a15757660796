"""The member's portal: her organisation's profile and contacts, her own preferences,
the alerts the organisation received and a report of what it did about each.

Thin handlers over the services the API and the alerts' own pages use (members,
app/tracking/portal.py): a value they refuse shows the form again with the message
beside the field (422, or the service's status) and nothing is kept. Every page is in
the member's language (`member_page`). Staff have the registry instead and are sent
there.
"""

from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.auth import AnyUser
from app.accounts.principal import Principal, Role
from app.core.errors import NotFound
from app.core.http import SessionDep
from app.countries import service as countries
from app.i18n import N_
from app.members import service as members
from app.members.models import Contact, ContactRole, Organization, OrganizationType
from app.members.schemas import ContactCreate, ContactUpdate, MemberOrganizationUpdate
from app.tracking import portal
from app.tracking import service as tracking
from app.tracking.pages import (
    form_problems,
    preferences_form,
    preferences_sent,
    report_form,
    report_sent,
)
from app.tracking.schemas import ActionReportCreate, FieldProblem, PreferencesUpdate
from app.tracking.wording import language_name
from app.web.forms import (
    ADVICE,
    FORM_LANGUAGES,
    NO_LANGUAGE,
    ShowForm,
    checked,
    focus_area_tags,
    parse_id,
    submit,
)
from app.web.templating import in_language, member_page, page_language

router = APIRouter(include_in_schema=False)

STAFF_HOME = "/"  # each role's home
# The portal's front page shows this many of the latest alerts.
RECENT_ALERTS = 5

Found = TypeVar("Found")

# What the front page confirms after a form was saved (`?saved=…`).
NOTICES = {
    "profile": N_("Your changes are saved."),
    "contact_added": N_("The contact is added."),
    "contact_changed": N_("Your changes to the contact are saved."),
    "contact_removed": N_("The contact is removed."),
}
FILL_IN = N_("Fill in this field.")


# --- shared ---------------------------------------------------------------------------------


def _is_member(principal: Principal) -> bool:
    return principal.role is Role.member and principal.organization_id is not None


def _to_registry() -> Response:
    return RedirectResponse(STAFF_HOME, status_code=303)


def _own_organization(session: Session, principal: Principal) -> Organization:
    return members.get_organization(session, principal, principal.organization_id or 0)


def _not_found(request: Request, message: str) -> Response:
    language = page_language(request)
    context = {"section": None, "message": in_language(message, language)}
    return member_page(request, "not_found.html", context, language=language, status_code=404)


def _contact_not_found(request: Request) -> Response:
    return _not_found(request, N_("Your organisation has no such contact."))


def _alert_not_found(request: Request) -> Response:
    return _not_found(request, N_("Your organisation did not receive this alert."))


def _in_reach(
    find: Callable[[Session, Principal, int], Found],
    session: Session,
    principal: Principal,
    text: str,
) -> Found | None:
    """What `find` gives for the id in the address; None for an id that is not one and for
    one out of the member's reach alike (the same 404)."""
    identifier = parse_id(text)
    if identifier is None:
        return None
    try:
        return find(session, principal, identifier)
    except NotFound:
        return None


def _submit(
    request: Request, session: Session, keep: Callable[[], object], show: ShowForm, *, done: str
) -> Response:
    """A portal form's POST (see app/web/forms.py), in the page's language."""
    language = page_language(request)
    return submit(session, keep, show, language=language, done=done, advice=ADVICE)


def _required(values: dict[str, Any], names: tuple[str, ...]) -> list[FieldProblem]:
    return [FieldProblem(name, FILL_IN) for name in names if not values[name]]


def _language_options(*current: str) -> list[tuple[str, str]]:
    """The languages the forms offer, each named in itself, and those already chosen."""
    codes = [*FORM_LANGUAGES, *(code for code in current if code not in FORM_LANGUAGES)]
    return [(code, language_name(code)) for code in codes]


# --- the front page -------------------------------------------------------------------------


@router.get("/portal", response_class=HTMLResponse)
def portal_page(request: Request, session: SessionDep, principal: AnyUser) -> Response:
    """The organisation's profile and contacts, and the latest alerts it received."""
    if not _is_member(principal):
        return _to_registry()
    organization = _own_organization(session, principal)
    contacts = members.list_contacts(session, principal, organization.id or 0)
    user = accounts.get_user(session, principal.user_id or 0)
    contact = next((c for c in contacts if c.id == user.contact_id), None)
    return member_page(
        request,
        "portal/home.html",
        {
            "section": "portal",
            "organization": organization,
            "country": countries.get_country(session, organization.country_iso3),
            "contacts": contacts,
            "own_contact_id": principal.contact_id,
            "name": contact.name if contact else (user.full_name or user.email),
            "alerts": portal.alerts_received(session, principal, limit=RECENT_ALERTS),
            "notice": NOTICES.get(request.query_params.get("saved", "")),
        },
    )


# --- the profile ----------------------------------------------------------------------------


def _profile_page(
    request: Request,
    organization: Organization,
    values: dict[str, Any],
    language: str,
    *,
    problems: list[FieldProblem] | None = None,
    status_code: int = 200,
) -> Response:
    return member_page(
        request,
        "portal/profile.html",
        {
            "section": "portal",
            "organization": organization,
            "values": values,
            "problems": problems or [],
            "types": list(OrganizationType),
            "language_options": _language_options(*organization.languages),
        },
        language=language,
        status_code=status_code,
    )


@router.get("/portal/profile", response_class=HTMLResponse)
def profile_page(request: Request, session: SessionDep, principal: AnyUser) -> Response:
    if not _is_member(principal):
        return _to_registry()
    organization = _own_organization(session, principal)
    values = {
        "name": organization.name,
        "acronym": organization.acronym or "",
        "type": organization.type.value,
        "languages": organization.languages,
        "focus_areas": ", ".join(organization.focus_areas),
        "website": organization.website or "",
        "address": organization.address or "",
    }
    return _profile_page(request, organization, values, page_language(request))


@router.post("/portal/profile", response_class=HTMLResponse)
def save_profile(
    request: Request,
    session: SessionDep,
    principal: AnyUser,
    name: Annotated[str, Form()] = "",
    acronym: Annotated[str, Form()] = "",
    type: Annotated[str, Form()] = "",
    languages: Annotated[list[str], Form()] = [],  # noqa: B006  (FastAPI copies defaults)
    focus_areas: Annotated[str, Form()] = "",
    website: Annotated[str, Form()] = "",
    address: Annotated[str, Form()] = "",
) -> Response:
    if not _is_member(principal):
        return _to_registry()
    organization = _own_organization(session, principal)
    language = page_language(request)
    chosen = [code.strip() for code in languages if code.strip()]
    values: dict[str, Any] = {
        "name": name.strip(),
        "acronym": acronym.strip(),
        "type": type.strip(),
        "languages": chosen,
        "focus_areas": focus_areas.strip(),
        "website": website.strip(),
        "address": address.strip(),
    }
    problems = _required(values, ("name", "type"))
    if not chosen:
        problems.append(FieldProblem("languages", NO_LANGUAGE))
    # Working languages are kept most used first: those still ticked keep their place.
    ordered = [c for c in organization.languages if c in chosen]
    ordered += [c for c in chosen if c not in ordered]
    # Empty fields are cleared (the service keeps them as "not set").
    data: dict[str, Any] = {
        "acronym": values["acronym"],
        "focus_areas": focus_area_tags(values["focus_areas"]),
        "website": values["website"] or None,
        "address": values["address"],
        **{key: values[key] for key in ("name", "type") if values[key]},
        **({"languages": ordered} if ordered else {}),
    }

    def keep() -> None:
        changes = checked(MemberOrganizationUpdate, data, problems)
        members.apply_organization_changes(
            session, principal, organization, changes.model_dump(exclude_unset=True)
        )

    show = partial(_profile_page, request, organization, values, language)
    return _submit(request, session, keep, show, done="/portal?saved=profile")


# --- contacts -------------------------------------------------------------------------------

CONTACT_FIELDS = ("name", "email", "role", "language")


def _contact_page(
    request: Request,
    values: dict[str, str],
    language: str,
    *,
    contact: Contact | None = None,
    problems: list[FieldProblem] | None = None,
    status_code: int = 200,
) -> Response:
    """The form to add a contact, or to change `contact`."""
    return member_page(
        request,
        "portal/contact.html",
        {
            "section": "portal",
            "contact": contact,
            "action": f"/portal/contacts/{contact.id}/edit" if contact else "/portal/contacts/new",
            "values": values,
            "problems": problems or [],
            "roles": list(ContactRole),
            "language_options": _language_options(values["language"]),
        },
        language=language,
        status_code=status_code,
    )


def _typed_contact(name: str, email: str, role: str, language: str) -> dict[str, str]:
    return {"name": name.strip(), "email": email.strip(), "role": role, "language": language}


def _contact_problems(values: dict[str, str]) -> tuple[dict[str, str], list[FieldProblem]]:
    """The form's values for the contact schemas (an empty field is not sent), and the
    required fields left empty."""
    return {k: v for k, v in values.items() if v}, _required(values, CONTACT_FIELDS)


@router.get("/portal/contacts/new", response_class=HTMLResponse)
def new_contact_page(request: Request, principal: AnyUser) -> Response:
    if not _is_member(principal):
        return _to_registry()
    language = page_language(request)
    values = {"name": "", "email": "", "role": ContactRole.other.value, "language": language}
    return _contact_page(request, values, language)


@router.post("/portal/contacts/new", response_class=HTMLResponse)
def add_contact(
    request: Request,
    session: SessionDep,
    principal: AnyUser,
    name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    language: Annotated[str, Form()] = "",
) -> Response:
    if not _is_member(principal):
        return _to_registry()
    values = _typed_contact(name, email, role, language)

    def keep() -> None:
        data, problems = _contact_problems(values)
        contact = checked(ContactCreate, data, problems)
        members.create_contact(session, principal, principal.organization_id or 0, contact)

    show = partial(_contact_page, request, values, page_language(request))
    return _submit(request, session, keep, show, done="/portal?saved=contact_added")


def _scoped_contact(session: Session, principal: Principal, contact_id: str) -> Contact | None:
    """The contact of the member's organisation with this id; None for any other."""
    return _in_reach(members.get_contact, session, principal, contact_id)


@router.get("/portal/contacts/{contact_id}/edit", response_class=HTMLResponse)
def edit_contact_page(
    request: Request, session: SessionDep, principal: AnyUser, contact_id: str
) -> Response:
    if not _is_member(principal):
        return _to_registry()
    contact = _scoped_contact(session, principal, contact_id)
    if contact is None:
        return _contact_not_found(request)
    values = _typed_contact(contact.name, contact.email, contact.role.value, contact.language)
    return _contact_page(request, values, page_language(request), contact=contact)


@router.post("/portal/contacts/{contact_id}/edit", response_class=HTMLResponse)
def change_contact(
    request: Request,
    session: SessionDep,
    principal: AnyUser,
    contact_id: str,
    name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    language: Annotated[str, Form()] = "",
) -> Response:
    if not _is_member(principal):
        return _to_registry()
    contact = _scoped_contact(session, principal, contact_id)
    if contact is None:
        return _contact_not_found(request)
    values = _typed_contact(name, email, role, language)

    def keep() -> None:
        data, problems = _contact_problems(values)
        changes = checked(ContactUpdate, data, problems)
        members.update_contact(session, principal, contact.id or 0, changes)

    show = partial(_contact_page, request, values, page_language(request), contact=contact)
    return _submit(request, session, keep, show, done="/portal?saved=contact_changed")


def _remove_page(
    request: Request,
    contact: Contact,
    *,
    problems: list[FieldProblem] | None = None,
    status_code: int = 200,
) -> Response:
    return member_page(
        request,
        "portal/remove_contact.html",
        {"section": "portal", "contact": contact, "problems": problems or []},
        status_code=status_code,
    )


@router.get("/portal/contacts/{contact_id}/remove", response_class=HTMLResponse)
def remove_contact_page(
    request: Request, session: SessionDep, principal: AnyUser, contact_id: str
) -> Response:
    """Asks first: removing a contact cannot be undone."""
    if not _is_member(principal):
        return _to_registry()
    contact = _scoped_contact(session, principal, contact_id)
    if contact is None:
        return _contact_not_found(request)
    return _remove_page(request, contact)


@router.post("/portal/contacts/{contact_id}/remove", response_class=HTMLResponse)
def remove_contact(
    request: Request, session: SessionDep, principal: AnyUser, contact_id: str
) -> Response:
    if not _is_member(principal):
        return _to_registry()
    contact = _scoped_contact(session, principal, contact_id)
    if contact is None:
        return _contact_not_found(request)
    return _submit(
        request,
        session,
        lambda: members.delete_contact(session, principal, contact.id or 0),
        partial(_remove_page, request, contact),
        done="/portal?saved=contact_removed",
    )


# --- her own preferences --------------------------------------------------------------------


def _preferences_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    values: dict[str, Any] | None = None,
    problems: list[FieldProblem] | None = None,
    status_code: int = 200,
) -> Response:
    preferences = portal.own_preferences(session, principal, today=date.today())
    return member_page(
        request,
        "portal/preferences.html",
        {
            "section": "portal_preferences",
            # The form of the alerts' own preferences page, sent with this session's
            # CSRF token instead of a link's form token.
            **preferences_form(preferences, "/portal/preferences", "", values=values),
            **form_problems(problems or []),
            "saved": "saved" in request.query_params,
        },
        status_code=status_code,
    )


@router.get("/portal/preferences", response_class=HTMLResponse)
def preferences_page(request: Request, session: SessionDep, principal: AnyUser) -> Response:
    if not _is_member(principal):
        return _to_registry()
    if principal.contact_id is None:
        return _contact_not_found(request)
    try:
        return _preferences_page(request, session, principal)
    except NotFound:  # her contact was removed since she signed in
        return _contact_not_found(request)


@router.post("/portal/preferences", response_class=HTMLResponse)
def save_preferences(
    request: Request,
    session: SessionDep,
    principal: AnyUser,
    alerts: Annotated[str, Form()] = "",
    language: Annotated[str, Form()] = "",
    topics: Annotated[list[str], Form()] = [],  # noqa: B006  (FastAPI copies defaults)
) -> Response:
    if not _is_member(principal):
        return _to_registry()
    values: dict[str, Any] = {"alerts": alerts, "language": language, "topics": topics}

    def keep() -> None:
        data = checked(PreferencesUpdate, preferences_sent(values))
        portal.update_own_preferences(session, principal, data, today=date.today())

    show = partial(_preferences_page, request, session, principal, values=values)
    try:
        return _submit(request, session, keep, show, done="/portal/preferences?saved=1")
    except NotFound:  # her contact was removed since she signed in: the form cannot be shown
        return _contact_not_found(request)


# --- alerts received, and what the organisation did about them ------------------------------


@router.get("/portal/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, session: SessionDep, principal: AnyUser) -> Response:
    if not _is_member(principal):
        return _to_registry()
    return member_page(
        request,
        "portal/alerts.html",
        {"section": "portal_alerts", "alerts": portal.alerts_received(session, principal)},
    )


def _report_page(
    request: Request,
    session: Session,
    principal: Principal,
    recipient: tracking.Recipient,
    *,
    values: dict[str, str] | None = None,
    problems: list[FieldProblem] | None = None,
    status_code: int = 200,
) -> Response:
    campaign = recipient.campaign
    variant = recipient.variant
    return member_page(
        request,
        "portal/report.html",
        {
            "section": "portal_alerts",
            "alert_subject": variant.subject if variant else campaign.title,
            "alert_language": recipient.delivery.language,
            "received_at": recipient.delivery.sent_at,
            # The alerts' own report form, sent with this session's CSRF token.
            **report_form(
                f"/portal/alerts/{campaign.id}/report", "", values=values, problems=problems or []
            ),
            "reported": "reported" in request.query_params,
            "reports": tracking.organization_reports(session, principal, campaign_id=campaign.id),
        },
        status_code=status_code,
    )


def _received_alert(
    session: Session, principal: Principal, campaign_id: str
) -> tracking.Recipient | None:
    """The organisation's delivery of the alert with this id; None for any other."""
    return _in_reach(portal.received_alert, session, principal, campaign_id)


@router.get("/portal/alerts/{campaign_id}/report", response_class=HTMLResponse)
def report_page(
    request: Request, session: SessionDep, principal: AnyUser, campaign_id: str
) -> Response:
    if not _is_member(principal):
        return _to_registry()
    recipient = _received_alert(session, principal, campaign_id)
    if recipient is None:
        return _alert_not_found(request)
    return _report_page(request, session, principal, recipient)


@router.post("/portal/alerts/{campaign_id}/report", response_class=HTMLResponse)
def report_action(
    request: Request,
    session: SessionDep,
    principal: AnyUser,
    campaign_id: str,
    action_type: Annotated[str, Form()] = "",
    action_date: Annotated[str, Form()] = "",
    engaged_with: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    if not _is_member(principal):
        return _to_registry()
    recipient = _received_alert(session, principal, campaign_id)
    if recipient is None:
        return _alert_not_found(request)
    values = {
        "action_type": action_type,
        "action_date": action_date,
        "engaged_with": engaged_with,
        "note": note,
    }

    def keep() -> None:
        data = checked(ActionReportCreate, report_sent(values))
        tracking.report_action(session, recipient, data, by=principal)

    show = partial(_report_page, request, session, principal, recipient, values=values)
    done = f"/portal/alerts/{recipient.campaign.id}/report?reported=1"
    return _submit(request, session, keep, show, done=done)
