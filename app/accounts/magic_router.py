"""Member sign-in by emailed link, for API clients (the pages are in app/web/member_pages.py)."""

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from app.accounts import magic_links, service
from app.accounts.auth import Public
from app.accounts.models import CredentialKind
from app.accounts.schemas import TokenResponse
from app.core import throttle
from app.core.http import SessionDep, error_responses

router = APIRouter(prefix="/api/auth", tags=["accounts"])

LINK_ON_ITS_WAY = "If that address belongs to a member, a sign-in link is on its way."


class SignInLinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr = Field(max_length=320)


class SignInLinkRequested(BaseModel):
    detail: str = LINK_ON_ITS_WAY


class SignInLinkRedemption(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200, description="The secret from the link")
    organization_id: int | None = Field(
        default=None,
        ge=1,
        le=2_147_483_647,
        description="Which organisation to act for, when the address belongs to several",
    )


@router.post(
    "/magic-link",
    status_code=202,
    response_model=SignInLinkRequested,
    dependencies=[Public],
    responses=error_responses(429),
)
def request_sign_in_link(
    request: Request, session: SessionDep, data: SignInLinkRequest
) -> SignInLinkRequested:
    """Emails a sign-in link to a subscribed contact of an active or applicant member.
    Answers the same whether or not the address belongs to one; too many requests for
    an address, or from one client, get 429 with Retry-After."""
    throttle.count_link_request(data.email, throttle.client_address(request))
    magic_links.request_sign_in_link(session, data.email)
    return SignInLinkRequested()


@router.post(
    "/magic-link/redeem",
    response_model=TokenResponse,
    dependencies=[Public],
    responses=error_responses(404),
)
def redeem_sign_in_link(session: SessionDep, data: SignInLinkRedemption) -> TokenResponse:
    """Exchanges the secret of a sign-in link (the last part of its URL) for a bearer
    token. The link works once; unknown, used or expired links get 404."""
    user = magic_links.redeem_link(session, data.token, data.organization_id)
    token, lifetime = service.issue_credential(session, user, CredentialKind.bearer)
    return TokenResponse(access_token=token, expires_in=lifetime)
