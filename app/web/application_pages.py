"""The public membership application form, and the staff page that decides applications.

Both go through the same schemas and services as the API: a value the API would refuse
re-renders the form with the message beside the field, never a 500.
"""

import re
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from app.accounts.auth import Public, StaffUser
from app.accounts.principal import Principal
from app.core import throttle
from app.core.errors import DomainError, NotFound
from app.core.http import SessionDep
from app.countries import service as countries
from app.countries.schemas import CountryFilter
from app.members import applications
from app.members.models import ContactRole, OrganizationType
from app.members.schemas import ApplicationCreate, ApplicationDecline, ApplicationState
from app.web.router import FilterForm
from app.web.templating import label, language_name, templates

router = APIRouter(include_in_schema=False)

# Offered as checkboxes and choices on the form (the API takes any ISO 639-1 code).
FORM_LANGUAGES = ("en", "fr", "es", "ar", "pt", "ru", "zh", "sw")
# Filled only by robots, which fill every field: the visitor never sees it.
HONEYPOT_FIELD = "comment"
_MAX_ID = 2**31 - 1
# The form's fields as the applicant reads them (labels and the error summary).
APPLY_LABELS = {
    "organization_name": "Name of the organisation",
    "acronym": "Acronym",
    "country": "Country",
    "type": "Type of organisation",
    "languages": "Working languages",
    "focus_areas": "Focus areas",
    "website": "Website",
    "address": "Postal address",
    "contact_name": "Your name",
    "contact_email": "Your email address",
    "contact_role": "Your role",
    "contact_language": "Language we should write to you in",
    "motivation": "Motivation",
}


# --- the public form ---------------------------------------------------------------------


def _apply_page(
    request: Request, session: Session, form: FilterForm, *, status_code: int = 200
) -> Response:
    context = {
        "section": None,
        "form": form,
        "honeypot_field": HONEYPOT_FIELD,
        "field_labels": APPLY_LABELS,
        "options": {
            "country": [
                (country.iso3, country.name)
                for country in countries.list_countries(session, CountryFilter())
            ],
            "type": [(value.value, label(value)) for value in OrganizationType],
            "contact_role": [(value.value, label(value)) for value in ContactRole],
            "language": [(code, language_name(code)) for code in FORM_LANGUAGES],
        },
    }
    return templates.TemplateResponse(
        request, "applications/apply.html", context, status_code=status_code
    )


@router.get("/apply", response_class=HTMLResponse, dependencies=[Public])
def apply_page(request: Request, session: SessionDep) -> Response:
    form = FilterForm(
        values={"languages": ["en"], "contact_language": ["en"], "type": ["ngo"]},
    )
    return _apply_page(request, session, form)


@router.post("/apply", response_class=HTMLResponse, dependencies=[Public])
def apply(
    request: Request,
    session: SessionDep,
    organization_name: Annotated[str, Form()] = "",
    acronym: Annotated[str, Form()] = "",
    country: Annotated[str, Form()] = "",
    type: Annotated[str, Form()] = "",
    focus_areas: Annotated[str, Form()] = "",
    languages: Annotated[list[str] | None, Form()] = None,
    website: Annotated[str, Form()] = "",
    address: Annotated[str, Form()] = "",
    contact_name: Annotated[str, Form()] = "",
    contact_email: Annotated[str, Form()] = "",
    contact_role: Annotated[str, Form()] = "",
    contact_language: Annotated[str, Form()] = "",
    motivation: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> Response:
    if comment.strip():
        # A robot: look exactly like success, keep nothing.
        return RedirectResponse("/apply/thank-you", status_code=303)
    typed = {
        "organization_name": organization_name,
        "acronym": acronym,
        "country": country,
        "type": type,
        "focus_areas": focus_areas,
        "website": website,
        "address": address,
        "contact_name": contact_name,
        "contact_email": contact_email,
        "contact_role": contact_role,
        "contact_language": contact_language,
        "motivation": motivation,
    }
    chosen_languages = [code.strip() for code in languages or [] if code.strip()]
    form = FilterForm(values={name: [value] for name, value in typed.items() if value.strip()})
    form.values["languages"] = chosen_languages
    data: dict[str, Any] = {name: value.strip() for name, value in typed.items() if value.strip()}
    data.pop("focus_areas", None)
    data["focus_areas"] = _focus_area_tags(focus_areas)
    data["languages"] = chosen_languages
    if not chosen_languages:
        form.add_error("languages", "Choose at least one working language.")
    try:
        application = ApplicationCreate.model_validate(data)
    except ValidationError as error:
        _add_validation_errors(form, error)
        return _apply_page(request, session, form, status_code=422)
    if form.errors:
        return _apply_page(request, session, form, status_code=422)
    try:
        throttle.count_application(throttle.client_address(request))
        applications.submit_application(session, application)
    except DomainError as error:
        session.rollback()  # nothing of a refused application is kept
        form.add_error(error.field_name, error.message)
        return _apply_page(request, session, form, status_code=error.status_code)
    return RedirectResponse("/apply/thank-you", status_code=303)


@router.get("/apply/thank-you", response_class=HTMLResponse, dependencies=[Public])
def thank_you_page(request: Request) -> Response:
    return templates.TemplateResponse(request, "applications/thank_you.html", {"section": None})


def _focus_area_tags(text: str) -> list[str]:
    """ "Victims' rights, Rule of law" → the words the tag validator then checks."""
    tags = []
    for part in text.split(","):
        tag = re.sub(r"\s+", "-", part.strip().lower())
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def _add_validation_errors(form: FilterForm, error: ValidationError) -> None:
    for problem in error.errors():
        location = problem["loc"]
        name = str(location[0]) if location else None
        message = str(problem["msg"]).removeprefix("Value error, ")
        if problem["type"] == "missing":
            message = "This field is required."
        elif name in {"focus_areas", "languages"} and len(location) > 1:
            given = problem.get("input")
            message = f"{given!r}: {message}" if isinstance(given, str) else message
        form.add_error(name, message[:1].upper() + message[1:])


# --- deciding (staff) ---------------------------------------------------------------------


def _parse_id(text: str) -> int | None:
    if not re.fullmatch(r"[0-9]{1,10}", text):
        return None
    return int(text) if 0 < int(text) <= _MAX_ID else None


def _applications_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    notice: str | None = None,
    error: str | None = None,
    reason_errors: dict[int, str] | None = None,
    reasons: dict[int, str] | None = None,
    status_code: int = 200,
) -> Response:
    """The pending applications; `error` is shown at the top, `reason_errors` beside the
    decline form of that application (which keeps what was typed, `reasons`)."""
    views, total = applications.list_applications(
        session, principal, ApplicationState.pending, limit=applications.MAX_PAGE_SIZE
    )
    countries_by_code = {
        country.iso3: country.name for country in countries.list_countries(session, CountryFilter())
    }
    context = {
        "section": "applications",
        "views": views,
        "total": total,
        "countries_by_code": countries_by_code,
        "notice": notice,
        "error": error,
        "reason_errors": reason_errors or {},
        "reasons": reasons or {},
    }
    return templates.TemplateResponse(
        request, "applications/list.html", context, status_code=status_code
    )


@router.get("/applications", response_class=HTMLResponse)
def applications_page(
    request: Request,
    session: SessionDep,
    principal: StaffUser,
    approved: str = "",
    declined: str = "",
) -> Response:
    notice = None
    for word, raw in (("approved", approved), ("declined", declined)):
        identifier = _parse_id(raw)
        if identifier is None:
            continue
        try:
            view = applications.get_application(session, principal, identifier)
        except NotFound:
            continue
        if view.state.value == word:
            notice = f"The application of {view.organization.name} was {word}."
    return _applications_page(request, session, principal, notice=notice)


@router.post("/applications/{application_id}/approve", response_class=HTMLResponse)
def approve(
    request: Request, session: SessionDep, principal: StaffUser, application_id: str
) -> Response:
    identifier = _parse_id(application_id)
    try:
        if identifier is None:
            raise NotFound(f"No application with id {application_id!r}")
        applications.approve_application(session, principal, identifier)
    except DomainError as error:
        session.rollback()
        return _applications_page(
            request,
            session,
            principal,
            error=error.message,
            status_code=error.status_code,
        )
    return RedirectResponse("/applications?" + urlencode({"approved": identifier}), 303)


@router.post("/applications/{application_id}/decline", response_class=HTMLResponse)
def decline(
    request: Request,
    session: SessionDep,
    principal: StaffUser,
    application_id: str,
    reason: Annotated[str, Form()] = "",
) -> Response:
    identifier = _parse_id(application_id)
    try:
        if identifier is None:
            raise NotFound(f"No application with id {application_id!r}")
        try:
            data = ApplicationDecline(reason=reason)
        except ValidationError as error:
            problem = error.errors()[0]
            message = str(problem["msg"]).removeprefix("Value error, ")
            if problem["type"] == "string_too_short":
                message = "Give a reason: it is sent to the applicant."
            return _applications_page(
                request,
                session,
                principal,
                error=f"Reason: {message}",
                reason_errors={identifier: message},
                reasons={identifier: reason},
                status_code=422,
            )
        applications.decline_application(session, principal, identifier, data.reason)
    except DomainError as error:
        session.rollback()
        return _applications_page(
            request,
            session,
            principal,
            error=error.message,
            status_code=error.status_code,
        )
    return RedirectResponse("/applications?" + urlencode({"declined": identifier}), 303)
