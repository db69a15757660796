"""Request and response shapes for sign-in and users."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StrictBool, StringConstraints

from app.accounts.principal import Role
from app.accounts.security import MIN_PASSWORD_LENGTH
from app.countries.regions import RegionSlug

Password = Annotated[str, StringConstraints(min_length=MIN_PASSWORD_LENGTH, max_length=200)]


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105  (the OAuth2 token type, not a secret)
    expires_in: int = Field(description="Seconds until the token expires")


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    full_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    role: Role
    # StrictBool: JSON true or false, not 0 or "yes" (the API documents a boolean).
    is_admin: StrictBool = False
    regions: list[RegionSlug] = Field(default_factory=list)
    organization_id: int | None = Field(default=None, ge=1, le=2_147_483_647)
    contact_id: int | None = Field(default=None, ge=1, le=2_147_483_647)
    password: Password | None = Field(default=None, description="Staff only; members use links")


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = (
        None
    )
    is_admin: StrictBool | None = None
    is_active: StrictBool | None = None
    regions: list[RegionSlug] | None = None


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(max_length=200)
    new_password: Password


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    full_name: str
    role: Role
    is_admin: bool
    is_active: bool
    regions: list[str]
    organization_id: int | None
    contact_id: int | None
    created_at: datetime
    last_sign_in_at: datetime | None
