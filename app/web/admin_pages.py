"""Pages for the secretariat's own tools: user management (admins) and the outbox."""

import re
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session, col, func, select

from app.accounts import service as accounts
from app.accounts.auth import AdminUser, SecretariatUser
from app.accounts.principal import Role
from app.accounts.schemas import UserCreate, UserUpdate
from app.core.errors import DomainError
from app.core.http import ResourceId, SessionDep
from app.core.settings import get_settings
from app.countries.regions import RegionSlug
from app.delivery.models import OutboxMessage
from app.web.campaign_pages import preview_policy
from app.web.router import FilterForm, not_found_page, read_filter_form
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


# --- the outbox -------------------------------------------------------------------------------

OUTBOX_PAGE_SIZE = 50
# The purposes the filter always offers, in this order; any other purpose found in the
# outbox is offered after them.
OUTBOX_PURPOSES = {
    "sign_in_link": "Sign-in links",
    "welcome": "Welcome messages",
    "campaign": "Campaign messages",
    "campaign_test": "Campaign tests",
}
# Messages whose text the list shows (in demo mode): short ones a demo visitor follows a
# link in. Campaign messages are many and long; they are read one at a time.
OUTBOX_BULK_PURPOSES = frozenset({"campaign", "campaign_test"})
_MAX_ID = 2**31 - 1


def _outbox_id(text: str) -> int | None:
    if not re.fullmatch(r"[0-9]{1,10}", text):
        return None
    return int(text) if 0 < int(text) <= _MAX_ID else None


def _unsent_words() -> str:
    """What a message without `sent_at` or an error is: the embedded default keeps every
    message here; with a relay it is on its way."""
    return "Kept here" if get_settings().mail_backend == "outbox" else "Not sent yet"


def _purpose_options(session: Session) -> list[tuple[str, str]]:
    present = session.scalars(select(OutboxMessage.purpose).distinct()).all()
    extra = sorted(purpose for purpose in present if purpose not in OUTBOX_PURPOSES)
    return [*OUTBOX_PURPOSES.items(), *((purpose, label(purpose)) for purpose in extra)]


def _outbox_page(
    session: Session, purpose: str | None, before: int | None
) -> tuple[list[OutboxMessage], int | None, int]:
    """One page of messages, newest first, keyset on the id (a later page does not slow
    down with the size of the outbox), the id to continue before, and the total."""
    matching = select(OutboxMessage)
    counted = select(func.count()).select_from(OutboxMessage)
    if purpose is not None:
        matching = matching.where(col(OutboxMessage.purpose) == purpose)
        counted = counted.where(col(OutboxMessage.purpose) == purpose)
    if before is not None:
        matching = matching.where(col(OutboxMessage.id) < before)
    rows = list(
        session.scalars(
            matching.order_by(col(OutboxMessage.id).desc()).limit(OUTBOX_PAGE_SIZE + 1)
        ).all()
    )
    next_before = rows[OUTBOX_PAGE_SIZE - 1].id if len(rows) > OUTBOX_PAGE_SIZE else None
    return rows[:OUTBOX_PAGE_SIZE], next_before, session.scalar(counted) or 0


@router.get("/outbox", response_class=HTMLResponse)
def outbox_page(request: Request, session: SessionDep, principal: SecretariatUser) -> Response:
    """Everything the product mailed or (embedded default) kept instead: transactional
    mail and campaign messages. Bodies hold sign-in and personal links, so they are shown
    only in demo mode, where the outbox stands in for everyone's inbox."""
    form = read_filter_form(request, reserved=("cursor",))
    options = _purpose_options(session)
    purpose = form.value("purpose") or None
    if purpose is not None and purpose not in dict(options):
        form.add_error("purpose", "Choose a kind of message from the list.")
    cursor_text = request.query_params.get("cursor", "").strip()
    before = _outbox_id(cursor_text) if cursor_text else None
    if cursor_text and before is None:
        form.add_error(None, "That page of the outbox does not exist; start from the first page.")
    unknown = sorted(name for name in form.values if name != "purpose")
    if unknown:
        form.add_error(None, f"{unknown[0]!r} is not a filter on this page.")
    rows: list[OutboxMessage] = []
    next_before = None
    total = 0
    if not form.errors:
        rows, next_before, total = _outbox_page(session, purpose, before)
    filters = [("purpose", purpose)] if purpose else []
    return templates.TemplateResponse(
        request,
        "outbox.html",
        {
            "section": "outbox",
            "form": form,
            "messages": rows,
            "total": total,
            "options": {"purpose": options},
            "filtered": purpose is not None,
            "paged": before is not None,
            "first_url": "/outbox?" + urlencode(filters) if filters else "/outbox",
            "next_url": "/outbox?" + urlencode([*filters, ("cursor", str(next_before))])
            if next_before
            else None,
            "show_bodies": get_settings().demo_mode,
            "bulk_purposes": OUTBOX_BULK_PURPOSES,
            "unsent_words": _unsent_words(),
        },
        status_code=422 if form.errors else 200,
    )


@router.get("/outbox/{message_id}", response_class=HTMLResponse)
def outbox_message_page(
    request: Request, session: SessionDep, principal: SecretariatUser, message_id: str
) -> Response:
    """One message as its recipient got it: the HTML in a sandboxed frame (no scripts),
    and the plain text. Bodies only in demo mode, as on the list."""
    identifier = _outbox_id(message_id)
    message = session.get(OutboxMessage, identifier) if identifier is not None else None
    if message is None:
        return not_found_page(request, f"There is no message with id {message_id!r} in the outbox.")
    show_bodies = get_settings().demo_mode
    # The frame inherits the page's policy: let the email's own inline CSS through.
    documents = [message.html_body] if show_bodies and message.html_body else []
    return templates.TemplateResponse(
        request,
        "outbox_message.html",
        {
            "section": "outbox",
            "message": message,
            "show_bodies": show_bodies,
            "unsent_words": _unsent_words(),
        },
        headers={"Content-Security-Policy": preview_policy(documents)},
    )
