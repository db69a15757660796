"""Users, their regions, and the credentials that stand for them."""

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, Relationship, SQLModel

from app.accounts.principal import Role
from app.core import models as _naming  # noqa: F401  (constraint names)
from app.core.types import UTCDateTime, enum_type, utcnow
from app.countries import models as _countries  # noqa: F401  (tables the keys point to)
from app.members import models as _members  # noqa: F401


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    full_name: str = Field(default="", max_length=200)
    role: Role = Field(sa_type=enum_type(Role))
    is_admin: bool = False
    is_active: bool = True
    # Argon2id; members sign in by emailed link and have none.
    password_hash: str | None = Field(default=None, max_length=200)
    # A member acts for one organisation, through one of its contacts.
    organization_id: int | None = Field(default=None, foreign_key="organizations.id")
    contact_id: int | None = Field(default=None, foreign_key="contacts.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_sign_in_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    region_rows: list["UserRegion"] = Relationship(
        sa_relationship_kwargs={"lazy": "selectin", "cascade": "all, delete-orphan"}
    )

    @property
    def regions(self) -> list[str]:
        return sorted(row.region_slug for row in self.region_rows)


class UserRegion(SQLModel, table=True):
    __tablename__ = "user_regions"

    user_id: int | None = Field(
        default=None, foreign_key="users.id", primary_key=True, ondelete="CASCADE"
    )
    region_slug: str = Field(foreign_key="regions.slug", primary_key=True, max_length=20)


class CredentialKind(StrEnum):
    session = "session"  # the pages' cookie
    bearer = "bearer"  # API clients


class Credential(SQLModel, table=True):
    """A sign-in that is still valid: a page session or a bearer token.

    Only a keyed hash of the secret is stored; revoking a row ends that sign-in."""

    __tablename__ = "credentials"

    id: int | None = Field(default=None, primary_key=True)
    secret_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    kind: CredentialKind = Field(sa_type=enum_type(CredentialKind))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SignInLink(SQLModel, table=True):
    """An emailed sign-in link for a member: single use, short-lived, stored as a hash."""

    __tablename__ = "sign_in_links"

    id: int | None = Field(default=None, primary_key=True)
    secret_hash: str = Field(max_length=64, unique=True)
    email: str = Field(max_length=320, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
