from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from app.accounts import service
from app.accounts.auth import SESSION_COOKIE, AdminUser, AnyUser, Public, bearer_scheme
from app.accounts.models import CredentialKind
from app.accounts.schemas import PasswordChange, TokenResponse, UserCreate, UserRead, UserUpdate
from app.core import throttle
from app.core.errors import NotAuthenticated, ValidationFailed
from app.core.http import ResourceId, SessionDep, error_responses

router = APIRouter(prefix="/api", tags=["accounts"])


@router.post(
    "/auth/token",
    response_model=TokenResponse,
    dependencies=[Public],
    responses=error_responses(401, 429),
)
def sign_in_for_token(
    request: Request, session: SessionDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> TokenResponse:
    """OAuth2 password flow for staff: `username` is the email. Repeated failures for an
    account or from an address get 429 with `Retry-After`."""
    address = throttle.client_address(request)
    throttle.check_sign_in_allowed(form.username, address)
    user = service.authenticate(session, form.username, form.password)
    if user is None:
        throttle.count_failed_sign_in(form.username, address)
        raise NotAuthenticated("Wrong email or password", field="username")
    throttle.clear_failed_sign_ins(form.username)
    token, lifetime = service.issue_credential(session, user, CredentialKind.bearer)
    return TokenResponse(access_token=token, expires_in=lifetime)


@router.post("/auth/sign-out", status_code=204)
def sign_out(
    request: Request,
    session: SessionDep,
    principal: AnyUser,
    bearer: Annotated[str | None, Depends(bearer_scheme)],
) -> Response:
    """Ends the credential this request was made with (token or page session)."""
    secret = bearer or request.cookies.get(SESSION_COOKIE)
    if secret:
        service.revoke_credential(session, secret)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/auth/password", status_code=204, responses=error_responses(429))
def change_password(
    request: Request,
    session: SessionDep,
    principal: AnyUser,
    data: PasswordChange,
    bearer: Annotated[str | None, Depends(bearer_scheme)],
) -> Response:
    """Sets a new password; every other session and token of the user ends. Wrong
    current passwords count as failed sign-ins (a stolen session must not be a way to
    guess the password)."""
    user = service.get_user(session, principal.user_id or 0)
    address = throttle.client_address(request)
    throttle.check_sign_in_allowed(user.email, address)
    keep = bearer or request.cookies.get(SESSION_COOKIE)
    try:
        service.change_password(session, principal, user, data, keep=keep)
    except ValidationFailed as refused:
        if refused.field_name == "current_password":
            throttle.count_failed_sign_in(user.email, address)
        raise
    throttle.clear_failed_sign_ins(user.email)
    return Response(status_code=204)


@router.get("/me", response_model=UserRead)
def me(session: SessionDep, principal: AnyUser) -> UserRead:
    return UserRead.model_validate(service.get_user(session, principal.user_id or 0))


@router.get("/users", response_model=list[UserRead])
def list_users(session: SessionDep, principal: AdminUser) -> list[UserRead]:
    return [UserRead.model_validate(user) for user in service.list_users(session)]


@router.post("/users", response_model=UserRead, status_code=201)
def create_user(session: SessionDep, principal: AdminUser, data: UserCreate) -> UserRead:
    return UserRead.model_validate(service.create_user(session, principal, data))


@router.get("/users/{user_id}", response_model=UserRead)
def get_user(session: SessionDep, principal: AdminUser, user_id: ResourceId) -> UserRead:
    return UserRead.model_validate(service.get_user(session, user_id))


@router.patch("/users/{user_id}", response_model=UserRead)
def update_user(
    session: SessionDep, principal: AdminUser, user_id: ResourceId, data: UserUpdate
) -> UserRead:
    """Change a user's name, admin flag, regions, or deactivate them (which ends every
    session and token they hold)."""
    return UserRead.model_validate(service.update_user(session, principal, user_id, data))
