"""Request and response shapes for action alerts."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
)

from app.campaigns.audience import AudienceFilter
from app.campaigns.models import ActionType, Campaign, CampaignStatus
from app.campaigns.topics import Topic
from app.core.http import IsoDateTime
from app.members.schemas import LanguageCode, Name, unique_values


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Body = Annotated[str, StringConstraints(min_length=1, max_length=100_000), AfterValidator(_no_nul)]
MAX_VARIANTS = 20


class VariantIn(BaseModel):
    """The alert in one language. The body is Markdown with tokens (GET
    /api/campaigns/tokens); the subject may hold tokens too."""

    model_config = ConfigDict(extra="forbid")

    language: LanguageCode
    subject: Annotated[Subject, AfterValidator(_no_nul)]
    body: Body


class Tracking(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # StrictBool: JSON true or false, not 0 or "yes" (the API documents a boolean).
    clicks: StrictBool = Field(default=True, description="Send links through the click counter")
    opens: StrictBool = Field(default=False, description="Add a tracking image (off by default)")


class CampaignFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Name | None = None
    action_type: ActionType | None = None
    topics: Annotated[list[Topic], AfterValidator(unique_values)] | None = Field(
        default=None, description="Contacts who opted out of one of these topics are left out"
    )
    audience: AudienceFilter | None = None
    default_language: LanguageCode | None = None
    variants: list[VariantIn] | None = Field(default=None, min_length=1, max_length=MAX_VARIANTS)
    tracking: Tracking | None = None


class CampaignCreate(CampaignFields):
    title: Name
    action_type: ActionType
    topics: Annotated[list[Topic], AfterValidator(unique_values)] = Field(default_factory=list)
    audience: AudienceFilter = Field(default_factory=AudienceFilter)
    default_language: LanguageCode
    variants: list[VariantIn] = Field(min_length=1, max_length=MAX_VARIANTS)
    tracking: Tracking = Field(default_factory=Tracking)


class CampaignUpdate(CampaignFields):
    """Fields left out stay as they are; `variants`, when given, replaces them all."""

    @field_validator("*")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be left out, but not null")
        return value


class VariantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    language: str
    subject: str
    body: str
    direction: str = Field(description="ltr, or rtl for Arabic and other right-to-left scripts")


class UserSummary(BaseModel):
    id: int
    name: str
    email: str


class CampaignProgress(BaseModel):
    """Live counts of the delivery rows written at launch."""

    total: int
    queued: int
    sending: int
    sent: int
    failed: int
    suppressed: int
    rate: float = Field(description="Messages sent per second over the last ten seconds")


class CampaignRead(BaseModel):
    id: int
    title: str
    action_type: ActionType
    status: CampaignStatus
    topics: list[str]
    audience: AudienceFilter
    default_language: str
    variants: list[VariantRead]
    tracking: Tracking
    regions: list[str] = Field(description="The regions the audience can reach")
    author: UserSummary | None
    approved_by: UserSummary | None
    approved_at: datetime | None
    send_at: datetime | None
    send_timezone: str | None
    launched_at: datetime | None
    finished_at: datetime | None
    cancelled_at: datetime | None
    paused_reason: str | None = Field(
        description="Why the pipeline paused it (the relay stopped answering)"
    )
    paused_by_pipeline: bool = Field(
        description="Paused by the pipeline: it resumes by itself when the relay answers"
    )
    created_at: datetime
    updated_at: datetime
    allowed_actions: list[str] = Field(
        description="What may be done to the campaign in its present state"
    )
    progress: CampaignProgress | None = Field(
        description="Once launched: where each recipient's message stands"
    )


class CampaignSummary(BaseModel):
    """A campaign in a list: without its variants' bodies."""

    id: int
    title: str
    action_type: ActionType
    status: CampaignStatus
    default_language: str
    languages: list[str]
    regions: list[str]
    send_at: datetime | None
    launched_at: datetime | None
    updated_at: datetime

    @classmethod
    def from_campaign(cls, campaign: Campaign) -> "CampaignSummary":
        return cls(
            id=campaign.id or 0,
            title=campaign.title,
            action_type=campaign.action_type,
            status=campaign.status,
            default_language=campaign.default_language,
            languages=[variant.language for variant in campaign.variants],
            regions=campaign.regions,
            send_at=campaign.send_at,
            launched_at=campaign.launched_at,
            updated_at=campaign.updated_at,
        )


class CampaignPage(BaseModel):
    items: list[CampaignSummary]
    next_cursor: str | None
    total: int


class CampaignListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: list[CampaignStatus] = Field(default_factory=list)
    q: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = Field(
        default=None, description="Text in the title"
    )
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=100)

    @field_validator("q")
    @classmethod
    def _q_no_nul(cls, value: str | None) -> str | None:
        return _no_nul(value) if value else None


class LaunchRequest(BaseModel):
    """Launch now (no `send_at`) or schedule."""

    model_config = ConfigDict(extra="forbid")

    send_at: IsoDateTime | None = Field(
        default=None,
        description="ISO 8601 with a time zone, e.g. 2026-12-07T09:00:00+01:00",
    )
    timezone: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None,
        description="IANA time zone the time was chosen in (e.g. Europe/Zurich), for display",
    )


class TestSendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: Annotated[list[EmailStr], AfterValidator(unique_values)] = Field(min_length=1, max_length=5)
    language: LanguageCode | None = Field(
        default=None, description="One variant; all of them when left out"
    )
    contact_id: int | None = Field(
        default=None, ge=1, le=2_147_483_647, description="Render as this contact would see it"
    )


class TestSendResult(BaseModel):
    sent: int
    to: list[str]
    languages: list[str]


class CampaignPreview(BaseModel):
    subject: str
    html: str
    text: str
    language: str
    direction: str
    contact_id: int | None = Field(
        description="The contact rendered for; null when no one in the audience fits and "
        "made-up sample values were used"
    )


class AudiencePreviewRequest(AudienceFilter):
    """An audience filter, optionally with the alert's topics and languages, so that the
    exclusions and the counts by language are those of that alert."""

    topics: Annotated[list[Topic], AfterValidator(unique_values)] = Field(default_factory=list)
    variant_languages: Annotated[list[LanguageCode], AfterValidator(unique_values)] = Field(
        default_factory=list,
        max_length=MAX_VARIANTS,
        description="The alert's languages; without them everyone counts in her own",
    )
    default_language: LanguageCode | None = None

    def audience(self) -> AudienceFilter:
        return AudienceFilter.model_validate(
            self.model_dump(exclude={"topics", "variant_languages", "default_language"})
        )


class DraftPreviewRequest(BaseModel):
    """One language version as it is being written, before it is saved. Subject and
    text may still be empty; their limits are those of a saved variant."""

    model_config = ConfigDict(extra="forbid")

    language: LanguageCode
    subject: Annotated[str, StringConstraints(max_length=300), AfterValidator(_no_nul)] = ""
    body: Annotated[str, StringConstraints(max_length=100_000), AfterValidator(_no_nul)] = ""
    contact_id: int | None = Field(
        default=None,
        ge=1,
        le=2_147_483_647,
        description="Render as this contact would see it; with `audience`, she must be "
        "one of the people it reaches",
    )
    audience: AudiencePreviewRequest | None = Field(
        default=None,
        description="The alert's audience, topics and languages: without `contact_id`, "
        "the preview is for the first person it reaches who gets this language",
    )


class PreviewRecipient(BaseModel):
    """Someone a preview can be rendered for."""

    contact_id: int
    name: str
    organization_name: str
    country_name: str
    language: str | None = Field(
        description="The language version she would get (when the audience is known)"
    )


class DraftPreview(CampaignPreview):
    recipient: PreviewRecipient | None = Field(
        description="Who it was rendered for; null when made-up sample values were used"
    )
    audience_sample: list[PreviewRecipient] = Field(
        description="The first people the audience reaches, those who get this language "
        "first: whom else the preview can be rendered for"
    )


class ApprovalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = Field(
        default=None, description="A few words for the colleagues asked to approve"
    )

    @field_validator("note")
    @classmethod
    def _note_no_nul(cls, value: str | None) -> str | None:
        return _no_nul(value) if value else None


class ApprovalRequested(BaseModel):
    asked: list[str] = Field(description="The secretariat members who were emailed")
