"""Who is calling, and which routes each role may use.

A request is signed in by a bearer token (API clients) or by the session cookie
(pages). Requests signed in by the cookie that change something must carry the
session's CSRF token (header `X-CSRF-Token` or form field `csrf_token`); bearer
requests need none, since browsers never add that header on their own.

Every route declares who may use it with one of the gates below (`Allow(...)` or
`Public`); a test walks the route table and fails on a route that declares none.
"""

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session

from app.accounts import service
from app.accounts.models import CredentialKind
from app.accounts.principal import Principal, Role
from app.accounts.security import csrf_token_for, same_token
from app.core.db import READ_ONLY_METHODS, get_session
from app.core.errors import Forbidden, NotAuthenticated

SESSION_COOKIE = "coalition_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"

# Declares the token URL for the /docs "Authorize" button; auto_error=False because a
# page session is just as good.
bearer_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


async def csrf_token_sent(request: Request) -> str:
    """The CSRF token the request carries, if any. Async because reading a form body is;
    kept apart from `current_principal` so that the database is never queried on the
    event loop (see there)."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


def current_principal(
    request: Request,
    session: Annotated[Session, Depends(get_session, scope="function")],
    bearer: Annotated[str | None, Depends(bearer_scheme)],
    csrf_sent: Annotated[str, Depends(csrf_token_sent)],
) -> Principal:
    # A plain def: FastAPI runs it in the thread pool. Queried on the event loop, a
    # writer's BEGIN IMMEDIATE waiting on SQLite's lock would stall every request,
    # including the one holding the lock (its commit needs the loop): two POSTs at once
    # froze the server for the busy timeout and then failed one with a 500.
    if bearer:
        user = service.user_for_credential(session, bearer, CredentialKind.bearer)
        if user is None:
            raise NotAuthenticated("The bearer token is invalid, expired or revoked")
        request.state.principal = service.principal_for(user)
        return request.state.principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise NotAuthenticated("Sign in first")
    user = service.user_for_credential(session, cookie, CredentialKind.session)
    if user is None:
        raise NotAuthenticated("Your session has ended; sign in again")
    csrf_token = csrf_token_for(cookie)
    if request.method not in READ_ONLY_METHODS and not same_token(csrf_sent, csrf_token):
        raise Forbidden("Missing or wrong CSRF token; reload the page and try again")
    principal = service.principal_for(user)
    # For the pages: who is signed in, and the token their forms carry.
    request.state.principal = principal
    request.state.csrf_token = csrf_token
    return principal


def same_site_sign_in(request: Request) -> None:
    """Sign-in forms have no session yet, so no CSRF token: refuse a browser post that
    comes from another site (it could sign the victim in to the attacker's account).
    Clients that send neither Origin nor Referer are not browsers and pass."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if source is None:
        return
    if urlsplit(source).netloc != request.headers.get("host"):
        raise Forbidden("Sign in from this site's own pages")


SameSiteSignIn = Depends(same_site_sign_in)


class Allow:
    """Gate: the roles that may use a route (`admin=True`: secretariat admins only)."""

    def __init__(self, *roles: Role, admin: bool = False) -> None:
        self.roles = frozenset(roles)
        self.admin = admin

    def __call__(self, principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in self.roles or (self.admin and not principal.is_admin):
            raise Forbidden("Your role may not use this")
        return principal


def public() -> None:
    """Gate: anyone, signed in or not (the route checks its own token if it has one)."""


Public = Depends(public)
AnyUser = Annotated[Principal, Depends(Allow(Role.secretariat, Role.regional_lead, Role.member))]
StaffUser = Annotated[Principal, Depends(Allow(Role.secretariat, Role.regional_lead))]
SecretariatUser = Annotated[Principal, Depends(Allow(Role.secretariat))]
AdminUser = Annotated[Principal, Depends(Allow(Role.secretariat, admin=True))]
