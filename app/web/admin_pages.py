"""Pages for the secretariat's own tools: user management (admins) and the outbox."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.accounts import service as accounts
from app.accounts.auth import AdminUser, SecretariatUser
from app.accounts.principal import Role
from app.accounts.schemas import UserCreate, UserUpdate
from app.core.errors import DomainError
from app.core.http import ResourceId, SessionDep
from app.core.settings import get_settings
from app.countries.regions import RegionSlug
from app.delivery.outbox import recent_messages
from app.web.router import FilterForm, not_found_page
from app.web.templating import label, templates

router = APIRouter(include_in_schema=False)


def _users_page(
    request: Request, session: SessionDep, form: FilterForm, *, status_code: int = 200
) -> Response:
    return templates.TemplateResponse(
        request,
        "users/list.html",
        {
            "section": "users",
            "users": accounts.list_users(session),
            "form": form,
            "roles": [(role.value, label(role)) for role in Role if role is not Role.member],
            "regions": [(slug.value, label(slug)) for slug in RegionSlug],
            "created": request.query_params.get("created", ""),
        },
        status_code=status_code,
    )


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, session: SessionDep, principal: AdminUser) -> Response:
    return _users_page(request, session, FilterForm())


@router.post("/users", response_class=HTMLResponse)
def create_user(
    request: Request,
    session: SessionDep,
    principal: AdminUser,
    email: Annotated[str, Form(max_length=320)] = "",
    full_name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=40)] = "",
    regions: Annotated[list[str] | None, Form()] = None,
    is_admin: Annotated[bool, Form()] = False,
    password: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Staff accounts only: members get theirs by signing in with an emailed link."""
    form = FilterForm(
        values={
            "email": [email],
            "full_name": [full_name],
            "role": [role],
            "regions": regions or [],
        }
    )
    try:
        data = UserCreate(
            email=email,
            full_name=full_name,
            role=role,
            regions=regions or [],
            is_admin=is_admin,
            password=password or None,
        )
        if data.role is Role.member:
            form.add_error("role", "Members get their account by signing in with an emailed link")
        else:
            user = accounts.create_user(session, principal, data)
            return RedirectResponse(f"/users?created={user.email}", status_code=303)
    except ValidationError as error:
        for problem in error.errors():
            name = str(problem["loc"][0]) if problem["loc"] else None
            form.add_error(name, str(problem["msg"]).removeprefix("Value error, "))
    except DomainError as error:
        form.add_error(error.field_name, error.message)
    return _users_page(request, session, form, status_code=422)


@router.post("/users/{user_id}/active")
def set_user_active(
    request: Request,
    session: SessionDep,
    principal: AdminUser,
    user_id: ResourceId,
    active: Annotated[bool, Form()],
) -> Response:
    """Deactivating ends every session and token the user holds."""
    try:
        accounts.update_user(session, principal, user_id, UserUpdate(is_active=active))
    except DomainError as error:
        if error.status_code == 404:
            return not_found_page(request, f"There is no user with id {user_id}.")
        form = FilterForm()
        form.add_error(None, error.message)
        return _users_page(request, session, form, status_code=error.status_code)
    return RedirectResponse("/users", status_code=303)


@router.get("/outbox", response_class=HTMLResponse)
def outbox_page(request: Request, session: SessionDep, principal: SecretariatUser) -> Response:
    """Transactional mail. Bodies hold sign-in links, so they are shown only in demo mode,
    where the outbox stands in for everyone's inbox."""
    return templates.TemplateResponse(
        request,
        "outbox.html",
        {
            "section": "outbox",
            "messages": recent_messages(session),
            "show_bodies": get_settings().demo_mode,
        },
    )
