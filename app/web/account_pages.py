"""Sign-in and sign-out pages for staff (members sign in by emailed link)."""

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.accounts import service
from app.accounts.auth import SESSION_COOKIE, AnyUser, Public
from app.accounts.models import CredentialKind
from app.core.http import SessionDep
from app.core.settings import get_settings
from app.web.templating import templates

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only paths on this site: never an open redirect."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/members"


def sign_in_url(next_path: str) -> str:
    return "/sign-in?" + urlencode({"next": next_path})


@router.get("/sign-in", response_class=HTMLResponse, dependencies=[Public])
def sign_in_page(request: Request, next: str | None = None) -> Response:
    return templates.TemplateResponse(
        request,
        "accounts/sign_in.html",
        {"section": None, "next": safe_next(next), "email": "", "error": None},
    )


@router.post("/sign-in", response_class=HTMLResponse, dependencies=[Public])
def sign_in(
    request: Request,
    session: SessionDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/members",
) -> Response:
    user = service.authenticate(session, email, password)
    if user is None:
        return templates.TemplateResponse(
            request,
            "accounts/sign_in.html",
            {
                "section": None,
                "next": safe_next(next),
                "email": email,
                "error": "That email and password do not match an active account.",
            },
            status_code=401,
        )
    secret, lifetime = service.issue_credential(session, user, CredentialKind.session)
    response = RedirectResponse(safe_next(next), status_code=303)
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


@router.post("/sign-out")
def sign_out(request: Request, session: SessionDep, principal: AnyUser) -> Response:
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        service.revoke_credential(session, secret)
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
