"""Sign-in and sign-out pages for staff (members sign in by emailed link)."""

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from app.accounts import service
from app.accounts.auth import SESSION_COOKIE, AnyUser, Public, SameSiteSignIn
from app.accounts.models import CredentialKind, User
from app.core import throttle
from app.core.http import SessionDep
from app.core.settings import get_settings
from app.web.templating import templates

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only paths on this site: never an open redirect."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"  # each role's home (app/web/router.py)


def sign_in_url(next_path: str) -> str:
    return "/sign-in?" + urlencode({"next": next_path})


@router.get("/sign-in", response_class=HTMLResponse, dependencies=[Public])
def sign_in_page(request: Request, next: str | None = None) -> Response:
    return templates.TemplateResponse(
        request,
        "accounts/sign_in.html",
        {"section": None, "next": safe_next(next), "email": "", "error": None},
    )


@router.post("/sign-in", response_class=HTMLResponse, dependencies=[Public, SameSiteSignIn])
def sign_in(
    request: Request,
    session: SessionDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    address = throttle.client_address(request)
    try:
        throttle.check_sign_in_allowed(email, address)
    except throttle.TooManyRequests as refused:
        return _sign_in_refused(request, next, email, refused.message + ".", 429, refused)
    user = service.authenticate(session, email, password)
    if user is None:
        throttle.count_failed_sign_in(email, address)
        return _sign_in_refused(
            request, next, email, "That email and password do not match an active account.", 401
        )
    throttle.clear_failed_sign_ins(email)
    return start_page_session(session, user, safe_next(next))


def start_page_session(session: Session, user: User, target: str) -> RedirectResponse:
    """Sign `user` in to the pages (a new session credential in an HttpOnly cookie) and
    go on to `target`. Staff sign-in and member sign-in links both end here."""
    secret, lifetime = service.issue_credential(session, user, CredentialKind.session)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=lifetime,
        httponly=True,
        samesite="lax",
        secure=get_settings().public_base_url.startswith("https://"),
        path="/",
    )
    return response


def _sign_in_refused(
    request: Request,
    next: str,
    email: str,
    error: str,
    status_code: int,
    throttled: throttle.TooManyRequests | None = None,
) -> Response:
    return templates.TemplateResponse(
        request,
        "accounts/sign_in.html",
        {"section": None, "next": safe_next(next), "email": email, "error": error},
        status_code=status_code,
        headers={"Retry-After": str(throttled.retry_after)} if throttled else None,
    )


@router.post("/sign-out")
def sign_out(request: Request, session: SessionDep, principal: AnyUser) -> Response:
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        service.revoke_credential(session, secret)
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
