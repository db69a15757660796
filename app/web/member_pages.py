"""Member sign-in by emailed link, and the member's own page (the portal).

Opening a link (GET) only shows whom it signs in as: mail scanners open links before
people do, so only the POST of its button uses the link up. These pages are public and
carry no CSRF token: the link's secret is what authenticates the POST.
"""

import logging
import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from app.accounts import magic_links, service
from app.accounts.auth import AnyUser, Public, SameSiteSignIn
from app.accounts.magic_router import SignInLinkRequest
from app.accounts.principal import Role
from app.core import throttle
from app.core.errors import NotFound, ValidationFailed
from app.core.http import SessionDep
from app.countries import service as countries
from app.members import service as members
from app.web.account_pages import start_page_session
from app.web.templating import templates

router = APIRouter(include_in_schema=False)

# Any string: a mangled or truncated link gets the friendly "not valid" page.
LinkSecret = Annotated[str, Path()]
# The link's secret is in the address of these pages: keep it out of caches, and out of
# the Referer of every request the page makes (its own stylesheet included: server logs).
# strict-origin: requests from the link page (its stylesheet, the button's POST) carry
# only this site's origin, never the secret in the page's URL. Not no-referrer, which
# makes browsers send "Origin: null" and so defeats the same-site check on the POST.
_PRIVATE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "strict-origin"}
_LINK_PATH = re.compile(r"(/sign-in/link/)[^/?#\s]+")


class RedactSignInLinks(logging.Filter):
    """Keeps the secret of sign-in links out of the server's access log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _LINK_PATH.sub(r"\1[redacted]", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


logging.getLogger("uvicorn.access").addFilter(RedactSignInLinks())


def _page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    return templates.TemplateResponse(
        request,
        f"members_signin/{name}",
        {"section": None, **context},
        status_code=status_code,
        headers=_PRIVATE_HEADERS,
    )


@router.get("/sign-in/member", response_class=HTMLResponse, dependencies=[Public])
def request_link_page(request: Request) -> Response:
    return _page(request, "request.html", {"email": "", "error": None})


@router.post("/sign-in/member", response_class=HTMLResponse, dependencies=[Public])
def request_link(
    request: Request, session: SessionDep, email: Annotated[str, Form()] = ""
) -> Response:
    try:
        data = SignInLinkRequest(email=email.strip())
    except ValidationError:
        error = "Enter your email address, like name@example.org."
        return _page(request, "request.html", {"email": email[:320], "error": error}, 422)
    try:
        throttle.count_link_request(data.email, throttle.client_address(request))
    except throttle.TooManyRequests as refused:
        error = f"{refused.message}."
        page = _page(request, "request.html", {"email": data.email, "error": error}, 429)
        page.headers["Retry-After"] = str(refused.retry_after)
        return page
    magic_links.request_sign_in_link(session, data.email)
    return _page(request, "check_inbox.html", {})


@router.get("/sign-in/link/{secret}", response_class=HTMLResponse, dependencies=[Public])
def link_page(request: Request, session: SessionDep, secret: LinkSecret) -> Response:
    """Whom the link signs in as, and a button; the link stays valid."""
    return _link_page(request, session, secret)


@router.post(
    "/sign-in/link/{secret}",
    response_class=HTMLResponse,
    dependencies=[Public, SameSiteSignIn],
)
def redeem_link(
    request: Request,
    session: SessionDep,
    secret: LinkSecret,
    organization_id: Annotated[str, Form()] = "",
) -> Response:
    chosen = int(organization_id) if organization_id.isdecimal() else None
    try:
        user = magic_links.redeem_link(session, secret, chosen)
    except NotFound:
        return _page(request, "link_not_valid.html", {}, 404)
    except ValidationFailed:
        error = "Choose the organisation you are signing in for."
        return _link_page(request, session, secret, error=error, status_code=422)
    return start_page_session(session, user, "/portal")


def _link_page(
    request: Request,
    session: Session,
    secret: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    try:
        choices = magic_links.describe_link(session, secret)
    except NotFound:
        return _page(request, "link_not_valid.html", {}, 404)
    context = {"secret": secret, "choices": choices, "error": error}
    return _page(request, "link.html", context, status_code)


@router.get("/portal", response_class=HTMLResponse)
def portal(request: Request, session: SessionDep, principal: AnyUser) -> Response:
    """The signed-in member's organisation: its profile and contacts (read-only)."""
    if principal.role is not Role.member or principal.organization_id is None:
        return RedirectResponse("/members", status_code=303)
    organization = members.get_organization(session, principal, principal.organization_id)
    contacts = members.list_contacts(session, principal, principal.organization_id)
    user = service.get_user(session, principal.user_id or 0)
    contact = next((c for c in contacts if c.id == user.contact_id), None)
    return templates.TemplateResponse(
        request,
        "members_signin/portal.html",
        {
            "section": "portal",
            "organization": organization,
            "country": countries.get_country(session, organization.country_iso3),
            "contacts": contacts,
            "name": contact.name if contact else (user.full_name or user.email),
        },
    )
