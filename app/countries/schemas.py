"""Request and response shapes for regions and countries."""

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from app.countries.models import (
    STATUS_FIELDS,
    ApicStatus,
    Country,
    ImplementingLegislation,
    KampalaStatus,
    RomeStatuteStatus,
)
from app.countries.regions import RegionSlug


class RegionRead(BaseModel):
    slug: RegionSlug
    name: str
    country_count: int
    member_count: int


class CountryStatus(BaseModel):
    rome_statute_status: RomeStatuteStatus
    rome_statute_date: date | None = Field(
        description="Deposit of ratification/accession (parties, and states that later "
        "withdrew), or signature (signatories)."
    )
    withdrawal_notified_on: date | None
    withdrawal_effective_on: date | None
    signature_withdrawn: bool = Field(
        description="A signatory that has told the UN Secretary-General it will not ratify."
    )
    apic_status: ApicStatus
    apic_date: date | None
    kampala_status: KampalaStatus
    kampala_date: date | None
    implementing_legislation: ImplementingLegislation


class CountryRead(CountryStatus):
    iso3: str
    name: str
    region: RegionSlug
    updated_at: datetime

    @classmethod
    def from_country(cls, country: Country) -> "CountryRead":
        values = {name: getattr(country, name) for name in STATUS_FIELDS}
        return cls(
            iso3=country.iso3,
            name=country.name,
            region=RegionSlug(country.region_slug),
            updated_at=country.updated_at,
            **values,
        )


NON_NULL_FIELDS = frozenset(
    {
        "rome_statute_status",
        "signature_withdrawn",
        "apic_status",
        "kampala_status",
        "implementing_legislation",
    }
)


class CountryStatusUpdate(BaseModel):
    """The status fields to change, and the source that supports the change."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=2000, description="Where the change comes from")
    rome_statute_status: RomeStatuteStatus | None = None
    rome_statute_date: date | None = None
    withdrawal_notified_on: date | None = None
    withdrawal_effective_on: date | None = None
    # StrictBool: JSON true or false, not 0 or "yes" (the API documents a boolean).
    signature_withdrawn: StrictBool | None = None
    apic_status: ApicStatus | None = None
    apic_date: date | None = None
    kampala_status: KampalaStatus | None = None
    kampala_date: date | None = None
    implementing_legislation: ImplementingLegislation | None = None

    @field_validator("source")
    @classmethod
    def _source_is_text(cls, value: str) -> str:
        if "\x00" in value or not value.strip():
            raise ValueError("must be non-blank text naming where the change comes from")
        return value

    @model_validator(mode="after")
    def _statuses_are_not_null(self) -> "CountryStatusUpdate":
        for name in NON_NULL_FIELDS & self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null; use 'unknown' when it is not known")
        return self

    def status_changes(self) -> dict[str, Any]:
        """The fields the client sent (an explicit null clears a date)."""
        return {name: getattr(self, name) for name in self.model_fields_set if name != "source"}


class CountryHistoryEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    changed_at: datetime
    changed_by: str
    source: str
    changes: dict[str, Any]


class CountryFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region: list[RegionSlug] = Field(default_factory=list)
    rome_statute_status: list[RomeStatuteStatus] = Field(default_factory=list)
    apic_status: list[ApicStatus] = Field(default_factory=list)
    kampala_status: list[KampalaStatus] = Field(default_factory=list)
