"""Request and response shapes for organisations, contacts and custom fields."""

import re
import unicodedata
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any

import pycountry
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
)

from app.campaigns.topics import Topic
from app.countries.models import ApicStatus, RomeStatuteStatus
from app.countries.regions import RegionSlug
from app.members.models import (
    BounceStatus,
    Contact,
    ContactRole,
    CustomFieldType,
    MembershipStatus,
    Organization,
    OrganizationType,
    SubscriptionStatus,
)


def _language_code(value: str) -> str:
    code = value.strip().lower()
    if len(code) != 2 or pycountry.languages.get(alpha_2=code) is None:
        raise ValueError(f"{value!r} is not an ISO 639-1 language code such as 'en' or 'fr'")
    return code


def _focus_area(value: str) -> str:
    tag = value.strip().lower()
    if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", tag) or len(tag) > 60:
        raise ValueError(
            f"{value!r} is not a focus-area tag: lower-case words joined by '-', "
            "e.g. 'victims-rights'"
        )
    return tag


def _iso3(value: str) -> str:
    code = value.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-3 code such as 'KEN'")
    return code


def _website(value: str) -> str:
    url = value.strip()
    if len(url) > 500:
        raise ValueError("must be at most 500 characters")
    if not re.fullmatch(r"https?://[^\s/$.?#][^\s]*", url, flags=re.IGNORECASE):
        raise ValueError("must be an http:// or https:// address")
    return url


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it here with a message, not a 500 later.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _single_line(value: str) -> str:
    # Names end up in mail headers and CSV cells: no line breaks or control characters,
    # including C1 controls (NEL, U+0085) and Unicode's line and paragraph separators,
    # which mail readers and spreadsheets may also take as line breaks.
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in value):
        raise ValueError("must be a single line without control characters")
    return value


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 has no UTC equivalent
        raise ValueError("is out of the range of dates that can be stored") from None


def unique_values(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("must not repeat a value")
    return values


LanguageCode = Annotated[str, AfterValidator(_language_code)]
FocusArea = Annotated[str, AfterValidator(_focus_area)]
CountryCode = Annotated[str, AfterValidator(_iso3)]
Website = Annotated[str, AfterValidator(_website)]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=300),
    AfterValidator(_single_line),
]
PersonName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_single_line),
]
Acronym = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=40), AfterValidator(_single_line)
]
LongText = Annotated[str, StringConstraints(max_length=10_000), AfterValidator(_no_nul)]
# Times from clients must say their zone; they are kept in UTC.
UTCDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc)]
# bool is listed so that true/false reach validation as booleans, not as 1/0.
CustomValue = str | bool | int | float | None


class OrganizationFields(BaseModel):
    """Fields shared by create and update; every one optional here."""

    model_config = ConfigDict(extra="forbid")

    acronym: Acronym | None = None
    type: OrganizationType | None = None
    focus_areas: Annotated[list[FocusArea], AfterValidator(unique_values)] | None = Field(
        default=None, max_length=30
    )
    languages: Annotated[list[LanguageCode], AfterValidator(unique_values)] | None = Field(
        default=None, max_length=10, description="Working languages, most used first"
    )
    membership_status: MembershipStatus | None = None
    joined_on: date | None = None
    website: Website | None = None
    address: LongText | None = None
    notes: LongText | None = None
    custom_fields: dict[str, CustomValue] | None = None


class OrganizationCreate(OrganizationFields):
    name: Name
    country: CountryCode
    type: OrganizationType = OrganizationType.ngo
    membership_status: MembershipStatus = MembershipStatus.active
    focus_areas: Annotated[list[FocusArea], AfterValidator(unique_values)] = Field(
        default_factory=list, max_length=30
    )
    languages: Annotated[list[LanguageCode], AfterValidator(unique_values)] = Field(
        default_factory=lambda: ["en"], min_length=1, max_length=10
    )
    custom_fields: dict[str, CustomValue] = Field(default_factory=dict)


class OrganizationUpdate(OrganizationFields):
    name: Name | None = None
    country: CountryCode | None = None

    @field_validator("name", "country", "type", "membership_status", "languages")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null")
        return value


class OrganizationRead(BaseModel):
    id: int
    name: str
    acronym: str | None
    country: str
    region: RegionSlug
    type: OrganizationType
    focus_areas: list[str]
    languages: list[str]
    membership_status: MembershipStatus
    website: str | None
    joined_on: date | None
    address: str | None
    notes: str | None
    custom_fields: dict[str, Any]
    merged_into_id: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_organization(
        cls, organization: Organization, region: str, *, internal: bool = True
    ) -> "OrganizationRead":
        """`internal=False` leaves out the secretariat's own notes (for members)."""
        return cls(
            id=organization.id or 0,
            name=organization.name,
            acronym=organization.acronym,
            country=organization.country_iso3,
            region=RegionSlug(region),
            type=organization.type,
            focus_areas=organization.focus_areas,
            languages=organization.languages,
            membership_status=organization.membership_status,
            website=organization.website,
            joined_on=organization.joined_on,
            address=organization.address,
            notes=organization.notes if internal else None,
            custom_fields=dict(organization.custom_fields),
            merged_into_id=organization.merged_into_id,
            created_at=organization.created_at,
            updated_at=organization.updated_at,
        )


class OrganizationPage(BaseModel):
    items: list[OrganizationRead]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")
    total: int = Field(
        description=(
            "How many organisations match, over all pages, counted up to 10,000: "
            "when `total_exact` is false, more than `total` match"
        )
    )
    total_exact: bool = Field(
        default=True, description="False when the count stopped at `total` (10,000)"
    )


class OrganizationFilter(BaseModel):
    """Filters for the member list and export. Lists mean "any of"; fields combine with "and"."""

    model_config = ConfigDict(extra="forbid")

    region: list[RegionSlug] = Field(default_factory=list)
    country: list[CountryCode] = Field(default_factory=list)
    q: (
        Annotated[
            str, StringConstraints(strip_whitespace=True, max_length=200), AfterValidator(_no_nul)
        ]
        | None
    ) = Field(default=None, description="Text in name, acronym, contact names or emails")
    focus_area: list[FocusArea] = Field(default_factory=list)
    language: list[LanguageCode] = Field(default_factory=list)
    type: list[OrganizationType] = Field(default_factory=list)
    membership_status: list[MembershipStatus] = Field(default_factory=list)
    rome_statute_status: list[RomeStatuteStatus] = Field(default_factory=list)
    apic_status: list[ApicStatus] = Field(default_factory=list)
    include_archived: bool = Field(
        default=False, description="Archived organisations are left out unless asked for"
    )


class OrganizationListQuery(OrganizationFilter):
    """The member list's query string: the filters plus keyset pagination."""

    limit: int = Field(default=50, ge=1, le=500, description="Page size")
    cursor: str | None = Field(
        default=None, max_length=2000, description="`next_cursor` of the previous page"
    )

    def filters(self) -> OrganizationFilter:
        return OrganizationFilter.model_validate(self.model_dump(exclude={"limit", "cursor"}))


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    into: int = Field(ge=1, le=2_147_483_647, description="The organisation that keeps everything")


class ContactFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: ContactRole | None = None
    language: LanguageCode | None = None
    subscription_status: SubscriptionStatus | None = None
    paused_until: date | None = None
    consent_at: UTCDatetime | None = Field(
        default=None, description="When consent was given, with a time zone (e.g. Z)"
    )
    consent_method: (
        Annotated[str, StringConstraints(max_length=200), AfterValidator(_single_line)] | None
    ) = None
    topics_opted_out: Annotated[list[Topic], AfterValidator(unique_values)] | None = Field(
        default=None, description="Topics this person wants no alerts about"
    )


class ContactCreate(ContactFields):
    name: PersonName
    email: EmailStr
    role: ContactRole = ContactRole.other
    language: LanguageCode = "en"
    subscription_status: SubscriptionStatus = SubscriptionStatus.subscribed
    topics_opted_out: Annotated[list[Topic], AfterValidator(unique_values)] = Field(
        default_factory=list, description="Topics this person wants no alerts about"
    )


class ContactUpdate(ContactFields):
    name: PersonName | None = None
    email: EmailStr | None = None

    @field_validator("name", "email", "role", "language", "subscription_status", "topics_opted_out")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null")
        return value


class ContactRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    name: str
    email: str
    role: ContactRole
    language: str
    subscription_status: SubscriptionStatus
    paused_until: date | None
    topics_opted_out: list[str]
    consent_at: datetime | None
    consent_method: str | None
    bounce_status: BounceStatus
    hard_bounce_count: int
    soft_bounce_count: int
    last_bounced_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_contact(cls, contact: Contact) -> "ContactRead":
        return cls.model_validate(contact)


CustomFieldKey = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z][a-z0-9_]{0,59}$")
]


class CustomFieldCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: CustomFieldKey = Field(description="snake_case, used in the API and CSV columns")
    label: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
        AfterValidator(_single_line),
    ]
    field_type: CustomFieldType
    choices: list[
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
            AfterValidator(_single_line),
        ]
    ] = Field(default_factory=list, max_length=200)
    # StrictBool: JSON true or false, not 0 or "yes" (the API documents a boolean).
    required: StrictBool = False


class CustomFieldRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    key: str
    label: str
    field_type: CustomFieldType
    choices: list[str]
    required: bool


class ImportCounts(BaseModel):
    created: int = 0
    updated: int = 0
    unchanged: int = 0


class ImportRejection(BaseModel):
    row: int = Field(description="Row number as a spreadsheet shows it: the header is row 1")
    reason: str = Field(description="What was wrong, starting with the column's name")


class ImportReport(BaseModel):
    """What an import did (or, for a dry run, would do)."""

    dry_run: bool
    rows: int = Field(description="Data rows read (blank rows are skipped)")
    organizations: ImportCounts = Field(default_factory=ImportCounts)
    contacts: ImportCounts = Field(default_factory=ImportCounts)
    rejected: int = Field(default=0, description="Rows not applied; see rejected_rows")
    rejected_rows: list[ImportRejection] = Field(default_factory=list)


# --- membership applications and membership status (issue 3, point 8) ----------------

MotivationText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=5000), AfterValidator(_no_nul)
]
ReasonText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
    AfterValidator(_no_nul),
]


class ApplicationCreate(BaseModel):
    """The public membership application: an organisation and its first contact.

    Flat, so that the page's form fields and the API's fields have the same names.
    Membership status, notes and custom fields are the secretariat's, not the applicant's.
    """

    model_config = ConfigDict(extra="forbid")

    organization_name: Name
    acronym: Acronym | None = None
    country: CountryCode = Field(description="ISO 3166-1 alpha-3, e.g. KEN")
    type: OrganizationType = OrganizationType.ngo
    focus_areas: Annotated[list[FocusArea], AfterValidator(unique_values)] = Field(
        default_factory=list, max_length=30
    )
    languages: Annotated[list[LanguageCode], AfterValidator(unique_values)] = Field(
        default_factory=lambda: ["en"],
        min_length=1,
        max_length=10,
        description="Working languages, most used first",
    )
    website: Website | None = None
    address: LongText | None = None
    contact_name: PersonName
    contact_email: EmailStr
    contact_role: ContactRole = ContactRole.focal_point
    contact_language: LanguageCode = "en"
    motivation: MotivationText | None = Field(
        default=None, description="Why the organisation wants to join (at most 5,000 characters)"
    )


class ApplicationCreated(BaseModel):
    id: int
    message: str


class ApplicationState(StrEnum):
    """An application's state: `pending` until someone decides it."""

    pending = "pending"
    approved = "approved"
    declined = "declined"


class ApplicationContactRead(BaseModel):
    id: int
    name: str
    email: str
    role: ContactRole
    language: str


class ApplicationOrganizationRead(BaseModel):
    id: int
    name: str
    acronym: str | None
    country: str
    region: RegionSlug
    type: OrganizationType
    membership_status: MembershipStatus
    focus_areas: list[str]
    languages: list[str]
    website: str | None
    address: str | None


class ApplicationRead(BaseModel):
    id: int
    status: ApplicationState
    organization: ApplicationOrganizationRead
    contact: ApplicationContactRead | None = Field(
        description="The contact who applied (null if removed since)"
    )
    motivation: str | None
    submitted_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    decline_reason: str | None


class ApplicationPage(BaseModel):
    items: list[ApplicationRead]
    total: int = Field(description="How many applications are in this state, over all pages")


class ApplicationDecline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: ReasonText = Field(description="Why; it is sent to the applicant")


class MembershipStatusChange(BaseModel):
    """Lapse or reinstate: the reason is optional (it goes into the audit note)."""

    model_config = ConfigDict(extra="forbid")

    reason: ReasonText | None = None


class MembershipSuspension(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: ReasonText


class MemberOrganizationUpdate(BaseModel):
    """What a member may change of her own organisation: its descriptive fields.

    Country (and so region), membership status, custom fields, notes and merges are the
    secretariat's; sending any of them, or any unknown field, is a 422 naming it.
    """

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    acronym: Acronym | None = None
    website: Website | None = None
    address: LongText | None = None
    type: OrganizationType | None = None
    focus_areas: Annotated[list[FocusArea], AfterValidator(unique_values)] | None = Field(
        default=None, max_length=30
    )
    languages: Annotated[list[LanguageCode], AfterValidator(unique_values)] | None = Field(
        default=None, min_length=1, max_length=10, description="Working languages, most used first"
    )

    @field_validator("name", "type", "languages")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null")
        return value
