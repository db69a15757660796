"""Member organisations, their contacts, and the custom fields admins define."""

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, Text, UniqueConstraint
from sqlmodel import Field, Relationship, SQLModel

from app.core import models as _naming  # noqa: F401  (constraint names)
from app.core.types import UTCDateTime, enum_type, utcnow


class OrganizationType(StrEnum):
    ngo = "ngo"
    bar_association = "bar_association"
    academic = "academic"
    faith_based = "faith_based"
    network = "network"
    media = "media"
    other = "other"


class MembershipStatus(StrEnum):
    applicant = "applicant"
    active = "active"
    lapsed = "lapsed"
    suspended = "suspended"
    archived = "archived"


class ContactRole(StrEnum):
    focal_point = "focal_point"
    director = "director"
    communications = "communications"
    legal = "legal"
    other = "other"


class SubscriptionStatus(StrEnum):
    subscribed = "subscribed"
    unsubscribed = "unsubscribed"
    paused = "paused"


class BounceStatus(StrEnum):
    ok = "ok"
    soft = "soft"  # recent temporary failures; still mailed
    hard = "hard"  # permanent failure; not mailed until the address is corrected


class CustomFieldType(StrEnum):
    text = "text"
    number = "number"
    date = "date"
    choice = "choice"


def trigram_index(name: str, column: str) -> Index:
    """A pg_trgm GIN index for substring search (ILIKE '%...%'), on PostgreSQL only
    (alembic 0007); SQLite has no such index and scans."""
    return Index(
        name, column, postgresql_using="gin", postgresql_ops={column: "gin_trgm_ops"}
    ).ddl_if(dialect="postgresql")


class Organization(SQLModel, table=True):
    __tablename__ = "organizations"
    __table_args__ = (
        trigram_index("ix_organizations_name_trgm", "name"),
        trigram_index("ix_organizations_acronym_trgm", "acronym"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=300, index=True)
    acronym: str | None = Field(default=None, max_length=40)
    country_iso3: str = Field(foreign_key="countries.iso3", index=True, max_length=3)
    type: OrganizationType = Field(
        default=OrganizationType.ngo, sa_type=enum_type(OrganizationType), index=True
    )
    membership_status: MembershipStatus = Field(
        default=MembershipStatus.applicant, sa_type=enum_type(MembershipStatus), index=True
    )
    joined_on: date | None = None
    website: str | None = Field(default=None, max_length=500)
    address: str | None = Field(default=None, sa_type=Text)
    notes: str | None = Field(default=None, sa_type=Text)
    custom_fields: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    # Set when this organisation was merged into another (and so archived).
    merged_into_id: int | None = Field(default=None, foreign_key="organizations.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    focus_area_rows: list["OrganizationFocusArea"] = Relationship(
        sa_relationship_kwargs={
            "lazy": "selectin",
            "cascade": "all, delete-orphan",
            "order_by": "OrganizationFocusArea.focus_area",
        }
    )
    language_rows: list["OrganizationLanguage"] = Relationship(
        sa_relationship_kwargs={
            "lazy": "selectin",
            "cascade": "all, delete-orphan",
            "order_by": "OrganizationLanguage.position",
        }
    )
    contacts: list["Contact"] = Relationship(
        back_populates="organization",
        sa_relationship_kwargs={"order_by": "Contact.id"},
    )

    @property
    def focus_areas(self) -> list[str]:
        return [row.focus_area for row in self.focus_area_rows]

    @property
    def languages(self) -> list[str]:
        return [row.language for row in self.language_rows]


class OrganizationFocusArea(SQLModel, table=True):
    """Focus-area tags, one row each, so that filters are plain indexed joins."""

    __tablename__ = "organization_focus_areas"

    # Optional only until the row is attached to its organisation.
    organization_id: int | None = Field(
        default=None, foreign_key="organizations.id", primary_key=True, ondelete="CASCADE"
    )
    focus_area: str = Field(primary_key=True, max_length=60, index=True)


class OrganizationLanguage(SQLModel, table=True):
    """Working languages in order of preference (position 0 first)."""

    __tablename__ = "organization_languages"
    __table_args__ = (UniqueConstraint("organization_id", "language"),)

    # Optional only until the row is attached to its organisation.
    organization_id: int | None = Field(
        default=None, foreign_key="organizations.id", primary_key=True, ondelete="CASCADE"
    )
    position: int = Field(primary_key=True)
    language: str = Field(max_length=8, index=True)


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("organization_id", "email"),
        trigram_index("ix_contacts_name_trgm", "name"),
        trigram_index("ix_contacts_email_trgm", "email"),
    )

    id: int | None = Field(default=None, primary_key=True)
    organization_id: int = Field(foreign_key="organizations.id", index=True)
    name: str = Field(max_length=200)
    # Stored lower-cased so that uniqueness and look-ups ignore case.
    email: str = Field(max_length=320, index=True)
    role: ContactRole = Field(default=ContactRole.other, sa_type=enum_type(ContactRole))
    language: str = Field(default="en", max_length=8)
    subscription_status: SubscriptionStatus = Field(
        default=SubscriptionStatus.subscribed, sa_type=enum_type(SubscriptionStatus)
    )
    paused_until: date | None = None
    consent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    consent_method: str | None = Field(default=None, max_length=200)
    bounce_status: BounceStatus = Field(default=BounceStatus.ok, sa_type=enum_type(BounceStatus))
    hard_bounce_count: int = 0
    soft_bounce_count: int = 0
    last_bounced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    organization: Organization = Relationship(back_populates="contacts")
    topic_opt_out_rows: list["ContactTopicOptOut"] = Relationship(
        sa_relationship_kwargs={
            "lazy": "selectin",
            "cascade": "all, delete-orphan",
            "order_by": "ContactTopicOptOut.topic",
        }
    )

    @property
    def topics_opted_out(self) -> list[str]:
        return [row.topic for row in self.topic_opt_out_rows]


class ContactTopicOptOut(SQLModel, table=True):
    """A topic (app/campaigns/topics.py) a contact does not want alerts about."""

    __tablename__ = "contact_topic_opt_outs"

    # Optional only until the row is attached to its contact.
    contact_id: int | None = Field(
        default=None, foreign_key="contacts.id", primary_key=True, ondelete="CASCADE"
    )
    topic: str = Field(primary_key=True, max_length=40, index=True)


class CustomFieldDefinition(SQLModel, table=True):
    """A field admins add to every organisation (validated, exported and imported)."""

    __tablename__ = "custom_field_definitions"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=60, unique=True)
    label: str = Field(max_length=200)
    field_type: CustomFieldType = Field(sa_type=enum_type(CustomFieldType))
    choices: list[str] = Field(default_factory=list, sa_type=JSON)
    required: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# The member registry's tables, e.g. for refreshing statistics after a bulk load.
REGISTRY_TABLES = [
    Organization.__tablename__,
    OrganizationFocusArea.__tablename__,
    OrganizationLanguage.__tablename__,
    Contact.__tablename__,
    ContactTopicOptOut.__tablename__,
]


class ApplicationDecision(StrEnum):
    approved = "approved"
    declined = "declined"


class MembershipApplication(SQLModel, table=True):
    """An organisation's request to join, made through the public form."""

    __tablename__ = "membership_applications"

    id: int | None = Field(default=None, primary_key=True)
    organization_id: int = Field(foreign_key="organizations.id", index=True)
    # The applicant's first contact; the application outlives that contact.
    contact_id: int | None = Field(default=None, foreign_key="contacts.id", ondelete="SET NULL")
    motivation: str | None = Field(default=None, sa_type=Text)
    submitted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    decision: ApplicationDecision | None = Field(
        default=None, sa_type=enum_type(ApplicationDecision)
    )
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_by: str | None = Field(default=None, max_length=200)
    decline_reason: str | None = Field(default=None, sa_type=Text)
