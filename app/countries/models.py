"""Regions, countries and the history of their treaty status."""

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Text
from sqlmodel import Field, SQLModel

from app.core import models as _naming  # noqa: F401  (constraint names)
from app.core.types import UTCDateTime, enum_type, utcnow


class RomeStatuteStatus(StrEnum):
    party = "party"
    signatory = "signatory"
    withdrawn = "withdrawn"
    non_signatory = "non_signatory"
    unknown = "unknown"


class ApicStatus(StrEnum):
    party = "party"
    signatory = "signatory"
    none = "none"
    unknown = "unknown"


class KampalaStatus(StrEnum):
    ratified = "ratified"
    not_ratified = "not_ratified"
    not_applicable = "not_applicable"
    unknown = "unknown"


class ImplementingLegislation(StrEnum):
    none = "none"
    draft = "draft"
    partial = "partial"
    complete = "complete"
    unknown = "unknown"


class Region(SQLModel, table=True):
    """The five CICC regions: fixed, created by the first migration."""

    __tablename__ = "regions"

    slug: str = Field(primary_key=True, max_length=20)
    name: str = Field(max_length=60)
    position: int


class Country(SQLModel, table=True):
    __tablename__ = "countries"

    iso3: str = Field(primary_key=True, max_length=3)
    name: str = Field(max_length=100, index=True)
    region_slug: str = Field(foreign_key="regions.slug", index=True, max_length=20)

    rome_statute_status: RomeStatuteStatus = Field(
        default=RomeStatuteStatus.unknown, sa_type=enum_type(RomeStatuteStatus), index=True
    )
    rome_statute_date: date | None = None
    withdrawal_notified_on: date | None = None
    withdrawal_effective_on: date | None = None
    # A signatory that has told the UN Secretary-General it will not ratify.
    signature_withdrawn: bool = False

    apic_status: ApicStatus = Field(
        default=ApicStatus.unknown, sa_type=enum_type(ApicStatus), index=True
    )
    apic_date: date | None = None

    kampala_status: KampalaStatus = Field(
        default=KampalaStatus.unknown, sa_type=enum_type(KampalaStatus)
    )
    kampala_date: date | None = None

    implementing_legislation: ImplementingLegislation = Field(
        default=ImplementingLegislation.unknown, sa_type=enum_type(ImplementingLegislation)
    )
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# The fields of a country that are its treaty status (and so kept in history).
STATUS_FIELDS: tuple[str, ...] = (
    "rome_statute_status",
    "rome_statute_date",
    "withdrawal_notified_on",
    "withdrawal_effective_on",
    "signature_withdrawn",
    "apic_status",
    "apic_date",
    "kampala_status",
    "kampala_date",
    "implementing_legislation",
)


class CountryStatusChange(SQLModel, table=True):
    """One change of a country's treaty status: who, when, from, to, and on what source."""

    __tablename__ = "country_status_changes"

    id: int | None = Field(default=None, primary_key=True)
    country_iso3: str = Field(foreign_key="countries.iso3", index=True, max_length=3)
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    changed_by: str = Field(max_length=200)
    source: str = Field(sa_type=Text)
    # {"field": {"from": old, "to": new}} with JSON-ready values.
    changes: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
