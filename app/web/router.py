"""Server-rendered pages: thin handlers over the same services as the JSON API.

Filters come from GET forms, so every page's URL can be shared. The query string is
parsed into the API's own filter schemas; a value they reject re-renders the page with
the message and status 422, never a 500. Empty form fields mean "not set".
"""

import re
import typing
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlmodel import Session

from app.accounts.auth import AnyUser, StaffUser
from app.accounts.principal import Principal, Role
from app.core.errors import NotFound, ValidationFailed
from app.core.http import SessionDep
from app.countries import service as countries
from app.countries.models import (
    ApicStatus,
    Country,
    KampalaStatus,
    RomeStatuteStatus,
)
from app.countries.schemas import CountryFilter, RegionRead
from app.i18n import N_
from app.members import service as members
from app.members.custom_fields import list_custom_fields
from app.members.models import MembershipStatus, OrganizationType
from app.members.schemas import OrganizationFilter
from app.web.templating import (
    describe_history,
    in_language,
    label,
    language_name,
    member_page,
    page_language,
    templates,
)

router = APIRouter(include_in_schema=False)
FilterModel = TypeVar("FilterModel", bound=BaseModel)

PAGE_SIZE = 50
NO_PAGE_HERE = N_("There is no page at this address.")
# Ids are 32-bit integers in the database; larger numbers name nothing.
_MAX_ID = 2**31 - 1

# A few working languages offered as suggestions in the member filter (any ISO 639-1
# code is accepted).
SUGGESTED_LANGUAGES = ("en", "fr", "es", "ar", "pt", "ru", "zh", "sw")


@dataclass
class FilterForm:
    """What the visitor typed (to fill the form again) and what was wrong with it."""

    values: dict[str, list[str]] = field(default_factory=dict)
    errors: list[tuple[str | None, str]] = field(default_factory=list)

    def value(self, name: str) -> str:
        values = self.values.get(name)
        return values[-1] if values else ""

    def selected(self, name: str, option: str) -> bool:
        return option in self.values.get(name, [])

    def error_for(self, name: str) -> str | None:
        messages = [message for field_name, message in self.errors if field_name == name]
        return " ".join(messages) or None

    def add_error(self, field_name: str | None, message: str) -> None:
        self.errors.append((field_name, message))

    def query_items(self, **extra: str) -> list[tuple[str, str]]:
        items = [(name, value) for name, values in self.values.items() for value in values]
        return items + list(extra.items())


def read_filter_form(request: Request, *, reserved: tuple[str, ...] = ()) -> FilterForm:
    """The non-empty query parameters, minus the `reserved` ones the page reads itself."""
    form = FilterForm()
    for name, raw in request.query_params.multi_items():
        value = raw.strip()
        if value and name not in reserved:
            form.values.setdefault(name, []).append(value)
    return form


def validate_filters(model: type[FilterModel], form: FilterForm) -> FilterModel | None:
    """The form as the API's filter schema, or None with the problems added to `form`."""
    data: dict[str, Any] = {}
    for name, values in form.values.items():
        model_field = model.model_fields.get(name)
        is_list = model_field is not None and typing.get_origin(model_field.annotation) is list
        data[name] = values if is_list or model_field is None else values[-1]
    try:
        return model.model_validate(data)
    except ValidationError as error:
        for problem in error.errors():
            field_name = str(problem["loc"][0]) if problem["loc"] else None
            if problem["type"] == "extra_forbidden":
                form.add_error(None, f"{field_name!r} is not a filter on this page.")
                continue
            message = str(problem["msg"]).removeprefix("Value error, ")
            given = problem.get("input")
            if isinstance(given, str) and given not in message:
                message = f"{given!r}: {message}"
            form.add_error(field_name, message)
        return None


def _parse_id(text: str) -> int | None:
    if not re.fullmatch(r"[0-9]{1,10}", text):
        return None
    return int(text) if 0 < int(text) <= _MAX_ID else None


def not_found_page(request: Request, message: str) -> Response:
    """The 404 page: in English for staff, in the visitor's language for members and
    the public (a message the catalogue lacks is said in general words)."""
    context = {"message": message, "section": None}
    principal = getattr(request.state, "principal", None)
    if principal is not None and principal.role is not Role.member:
        return templates.TemplateResponse(request, "not_found.html", context, status_code=404)
    language = page_language(request)
    context["message"] = in_language(message, language, instead=NO_PAGE_HERE)
    return member_page(request, "not_found.html", context, language=language, status_code=404)


def _enum_options(values: type[StrEnum]) -> list[tuple[str, str]]:
    return [(value.value, label(value)) for value in values]


def _regions(session: Session, principal: Principal) -> list[RegionRead]:
    return countries.list_regions(session, principal)


# --- pages --------------------------------------------------------------------------------


# Where each role starts: the secretariat's dashboard, a regional lead's region, a
# member's own organisation.
HOME_PAGES = {
    Role.secretariat: "/dashboard",
    Role.regional_lead: "/region",
    Role.member: "/portal",
}


def home_path(principal: Principal) -> str:
    return HOME_PAGES[principal.role]


@router.get("/")
def home(principal: AnyUser) -> RedirectResponse:
    """Each role's home; someone not signed in is sent to sign in first."""
    return RedirectResponse(home_path(principal), status_code=302)


@router.get("/members", response_class=HTMLResponse)
def members_page(request: Request, session: SessionDep, principal: StaffUser) -> Response:
    form = read_filter_form(request, reserved=("cursor",))
    cursor = request.query_params.get("cursor") or None
    filters = validate_filters(OrganizationFilter, form)
    page = None
    if filters is not None:
        try:
            page = members.list_organizations(
                session, principal, filters, limit=PAGE_SIZE, cursor=cursor
            )
        except ValidationFailed as error:
            form.add_error(error.field_name, error.message)
    all_countries = countries.list_countries(session, CountryFilter())
    regions = _regions(session, principal)
    next_url = None
    if page is not None and page.next_cursor:
        next_url = "/members?" + urlencode(form.query_items(cursor=page.next_cursor))
    context = {
        "section": "members",
        "form": form,
        "page": page,
        "paged": cursor is not None,
        "first_url": "/members?" + urlencode(form.query_items()),
        # The API's export takes the same filters as this page.
        "export_url": "/api/organizations/export.csv?" + urlencode(form.query_items()),
        "next_url": next_url,
        "countries_by_code": {country.iso3: country for country in all_countries},
        "region_names": {str(region.slug): region.name for region in regions},
        "options": {
            "region": [(str(region.slug), region.name) for region in regions],
            "country": [(country.iso3, country.name) for country in all_countries],
            "type": _enum_options(OrganizationType),
            "membership_status": _enum_options(MembershipStatus),
            "rome_statute_status": _enum_options(RomeStatuteStatus),
            "apic_status": _enum_options(ApicStatus),
            "language": [(code, language_name(code)) for code in SUGGESTED_LANGUAGES],
        },
    }
    return templates.TemplateResponse(
        request, "members/list.html", context, status_code=422 if form.errors else 200
    )


@router.get("/members/{organization_id}", response_class=HTMLResponse)
def organization_page(
    request: Request, session: SessionDep, principal: StaffUser, organization_id: str
) -> Response:
    identifier = _parse_id(organization_id)
    if identifier is None:
        return not_found_page(request, f"There is no organisation with id {organization_id!r}.")
    try:
        organization = members.get_organization(session, principal, identifier)
    except NotFound:
        return not_found_page(request, f"There is no organisation with id {identifier}.")
    country = countries.get_country(session, organization.country_iso3)
    regions = {str(region.slug): region.name for region in _regions(session, principal)}
    definitions = {d.key: d for d in list_custom_fields(session)}
    contacts = members.list_contacts(session, principal, identifier)
    custom_values = [
        (definitions[key].label if key in definitions else label(key), value)
        for key, value in sorted(organization.custom_fields.items())
    ]
    context = {
        "section": "members",
        "organization": organization,
        "country": country,
        "region_name": regions.get(country.region_slug, label(country.region_slug)),
        "custom_values": custom_values,
        "contacts": contacts,
        "history": describe_history(
            members.organization_history(session, principal, identifier), identifier, contacts
        ),
    }
    return templates.TemplateResponse(request, "members/detail.html", context)


@router.get("/countries", response_class=HTMLResponse)
def countries_page(request: Request, session: SessionDep, principal: AnyUser) -> Response:
    form = read_filter_form(request)
    filters = validate_filters(CountryFilter, form)
    rows: list[Country] = []
    if filters is not None:
        rows = countries.list_countries(session, filters)
    regions = _regions(session, principal)
    context = {
        "section": "countries",
        "form": form,
        "rows": rows,
        "region_names": {str(region.slug): region.name for region in regions},
        "options": {
            "region": [(str(region.slug), region.name) for region in regions],
            "rome_statute_status": _enum_options(RomeStatuteStatus),
            "apic_status": _enum_options(ApicStatus),
            "kampala_status": _enum_options(KampalaStatus),
        },
    }
    return templates.TemplateResponse(
        request, "countries/list.html", context, status_code=422 if form.errors else 200
    )


@router.get("/countries/{iso3}", response_class=HTMLResponse)
def country_page(request: Request, session: SessionDep, principal: AnyUser, iso3: str) -> Response:
    try:
        if not re.fullmatch(r"[A-Za-z]{3}", iso3):
            raise NotFound(iso3)
        country = countries.get_country(session, iso3)
    except NotFound:
        return not_found_page(request, f"There is no country with the code {iso3!r}.")
    if country.iso3 != iso3:
        return RedirectResponse(f"/countries/{country.iso3}", status_code=301)
    regions = {str(region.slug): region.name for region in _regions(session, principal)}
    context = {
        "section": "countries",
        "country": country,
        "region_name": regions.get(country.region_slug, label(country.region_slug)),
        "history": countries.country_history(session, country.iso3),
    }
    return templates.TemplateResponse(request, "countries/detail.html", context)
