"""Member sign-in by emailed link (the portal it leads to is app/web/portal_pages.py).

Opening a link (GET) only shows whom it signs in as: mail scanners open links before
people do, so only the POST of its button uses the link up. These pages are public and
carry no CSRF token: the link's secret is what authenticates the POST.
"""

import logging
import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from app.accounts import magic_links
from app.accounts.auth import Public, SameSiteSignIn
from app.accounts.magic_router import SignInLinkRequest
from app.core import throttle
from app.core.errors import NotFound, ValidationFailed
from app.core.http import SessionDep
from app.i18n import N_
from app.web.account_pages import start_page_session
from app.web.templating import in_language, member_page, page_language

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


# Said in the visitor's language (the throttle's own message is English only).
_EMAIL_NOT_VALID = N_("Enter your email address, like name@example.org.")
_TOO_MANY_LINKS = N_("Too many sign-in links were asked for. Try again later.")
_CHOOSE_ORGANISATION = N_("Choose the organisation you are signing in for.")


def _page(
    request: Request,
    name: str,
    context: dict[str, Any],
    status_code: int = 200,
    *,
    language: str | None = None,
) -> Response:
    return member_page(
        request,
        f"members_signin/{name}",
        {"section": "member_sign_in", **context},
        language=language,
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
    language = page_language(request)
    try:
        data = SignInLinkRequest(email=email.strip())
    except ValidationError:
        error = in_language(_EMAIL_NOT_VALID, language)
        context = {"email": email[:320], "error": error}
        return _page(request, "request.html", context, 422, language=language)
    try:
        throttle.count_link_request(data.email, throttle.client_address(request))
    except throttle.TooManyRequests as refused:
        error = in_language(f"{refused.message}.", language, instead=_TOO_MANY_LINKS)
        context = {"email": data.email, "error": error}
        page = _page(request, "request.html", context, 429, language=language)
        page.headers["Retry-After"] = str(refused.retry_after)
        return page
    magic_links.request_sign_in_link(session, data.email, language)
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
        error = in_language(_CHOOSE_ORGANISATION, page_language(request))
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
