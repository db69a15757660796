"""The public membership application form, and the staff page that decides applications.

Both go through the same schemas and services as the API: a value the API would refuse
re-renders the form with the message beside the field, never a 500.
"""

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
from app.i18n import N_, translations
from app.members import applications
from app.members.models import ContactRole, OrganizationType
from app.members.schemas import ApplicationCreate, ApplicationDecline, ApplicationState
from app.web.forms import ADVICE, FORM_LANGUAGES, NO_LANGUAGE, NOT_VALID, focus_area_tags, parse_id
from app.web.router import FilterForm
from app.web.templating import (
    country_name_in,
    in_language,
    label_in,
    language_name_in,
    member_page,
    page_language,
    sort_key,
    templates,
)

router = APIRouter(include_in_schema=False)

# Filled only by robots, which fill every field: the visitor never sees it.
HONEYPOT_FIELD = "comment"
# The form's fields as the applicant reads them (labels and the error summary).
APPLY_LABELS = {
    "organization_name": N_("Name of the organisation"),
    "acronym": N_("Acronym"),
    "country": N_("Country"),
    "type": N_("Type of organisation"),
    "languages": N_("Working languages"),
    "focus_areas": N_("Focus areas"),
    "website": N_("Website"),
    "address": N_("Postal address"),
    "contact_name": N_("Your name"),
    "contact_email": N_("Your email address"),
    "contact_role": N_("Your role"),
    "contact_language": N_("Language we should write to you in"),
    "motivation": N_("Motivation"),
}
REQUIRED = N_("This field is required.")
TOO_LONG = N_("This text is too long: at most %(max_length)s characters.")
# What to do instead of a message quoting English (see app/web/forms.py), by the
# application's field names.
INSTEAD = {
    **{
        name: ADVICE[name]
        for name in ("acronym", "country", "languages", "focus_areas", "website", "address")
    },
    "organization_name": ADVICE["name"],
    "contact_name": N_("Write your name on one line, without special characters."),
    "contact_email": ADVICE["email"],
    "contact_language": ADVICE["language"],
    "motivation": ADVICE["address"],
}
TOO_MANY = N_("Too many applications were sent from here. Try again later.")


# --- the public form ---------------------------------------------------------------------


def _apply_page(
    request: Request,
    session: Session,
    form: FilterForm,
    language: str,
    *,
    status_code: int = 200,
) -> Response:
    gettext = translations(language).gettext
    country_names = [
        (country.iso3, country_name_in(country, language))
        for country in countries.list_countries(session, CountryFilter())
    ]
    context = {
        "section": "apply",
        "form": form,
        "honeypot_field": HONEYPOT_FIELD,
        "field_labels": {name: gettext(text) for name, text in APPLY_LABELS.items()},
        "options": {
            "country": sorted(country_names, key=lambda option: sort_key(option[1])),
            "type": [(value.value, label_in(value, language)) for value in OrganizationType],
            "contact_role": [(value.value, label_in(value, language)) for value in ContactRole],
            "language": [(code, language_name_in(code, language)) for code in FORM_LANGUAGES],
        },
    }
    return member_page(
        request, "applications/apply.html", context, language=language, status_code=status_code
    )


@router.get("/apply", response_class=HTMLResponse, dependencies=[Public])
def apply_page(request: Request, session: SessionDep) -> Response:
    # The applicant's own language is the first guess at both language questions.
    language = page_language(request)
    form = FilterForm(
        values={"languages": [language], "contact_language": [language], "type": ["ngo"]},
    )
    return _apply_page(request, session, form, language)


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
    language = page_language(request)
    chosen_languages = [code.strip() for code in languages or [] if code.strip()]
    form = FilterForm(values={name: [value] for name, value in typed.items() if value.strip()})
    form.values["languages"] = chosen_languages
    data: dict[str, Any] = {name: value.strip() for name, value in typed.items() if value.strip()}
    data.pop("focus_areas", None)
    data["focus_areas"] = focus_area_tags(focus_areas)
    data["languages"] = chosen_languages
    if not chosen_languages:
        form.add_error("languages", in_language(NO_LANGUAGE, language))
    try:
        application = ApplicationCreate.model_validate(data)
    except ValidationError as error:
        _add_validation_errors(form, error, language)
        return _apply_page(request, session, form, language, status_code=422)
    if form.errors:
        return _apply_page(request, session, form, language, status_code=422)
    try:
        throttle.count_application(throttle.client_address(request))
        applications.submit_application(session, application)
    except DomainError as error:
        session.rollback()  # nothing of a refused application is kept
        form.add_error(error.field_name, _refusal_message(error, language))
        return _apply_page(request, session, form, language, status_code=error.status_code)
    return RedirectResponse("/apply/thank-you", status_code=303)


@router.get("/apply/thank-you", response_class=HTMLResponse, dependencies=[Public])
def thank_you_page(request: Request) -> Response:
    return member_page(request, "applications/thank_you.html", {"section": "apply"})


def _refusal_message(error: DomainError, language: str) -> str:
    if isinstance(error, throttle.TooManyRequests):
        instead = TOO_MANY
    else:
        instead = INSTEAD.get(error.field_name or "", NOT_VALID)
    return in_language(error.message, language, instead=instead)


def _add_validation_errors(form: FilterForm, error: ValidationError, language: str) -> None:
    for problem in error.errors():
        location = problem["loc"]
        name = str(location[0]) if location else None
        message = str(problem["msg"]).removeprefix("Value error, ")
        if problem["type"] == "missing":
            form.add_error(name, in_language(REQUIRED, language))
            continue
        if problem["type"] == "string_too_long":
            limit = {"max_length": (problem.get("ctx") or {}).get("max_length")}
            form.add_error(name, in_language(TOO_LONG, language) % limit)
            continue
        if name in {"focus_areas", "languages"} and len(location) > 1:
            given = problem.get("input")
            message = f"{given!r}: {message}" if isinstance(given, str) else message
        message = message[:1].upper() + message[1:]
        instead = INSTEAD.get(name or "", NOT_VALID)
        form.add_error(name, in_language(message, language, instead=instead))


# --- deciding (staff) ---------------------------------------------------------------------


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
        identifier = parse_id(raw)
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
    identifier = parse_id(application_id)
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
    identifier = parse_id(application_id)
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
