from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.accounts.auth import SecretariatUser, StaffUser
from app.campaigns import lifecycle, messages, service
from app.campaigns.audience import AudienceFilter, AudiencePreview, LanguageChoice, audience_preview
from app.campaigns.schemas import (
    ApprovalRequest,
    ApprovalRequested,
    AudiencePreviewRequest,
    CampaignCreate,
    CampaignListQuery,
    CampaignPage,
    CampaignPreview,
    CampaignRead,
    CampaignUpdate,
    DraftPreview,
    DraftPreviewRequest,
    LaunchRequest,
    TestSendRequest,
    TestSendResult,
)
from app.campaigns.tokens import TOKENS, TokenInfo
from app.core.http import ResourceId, SessionDep
from app.members.schemas import LanguageCode

router = APIRouter(prefix="/api", tags=["campaigns"])


@router.post("/audiences/preview", response_model=AudiencePreview)
def preview_audience(
    session: SessionDep, principal: StaffUser, request: AudiencePreviewRequest
) -> AudiencePreview:
    """How many contacts an audience filter reaches right now, by region, language and
    country, how many only through an `unknown` treaty status, and who is left out and
    why. `total` is the number of messages a launch at this moment would create.

    Add the alert's `topics` to count topic opt-outs, and its `variant_languages` (and
    `default_language`) to count by the language each recipient would get."""
    return audience_preview(
        session,
        principal,
        request.audience(),
        topics=request.topics,
        languages=LanguageChoice(
            languages=tuple(request.variant_languages), default=request.default_language
        ),
    )


@router.get("/campaigns", response_model=CampaignPage)
def list_campaigns(
    session: SessionDep, principal: StaffUser, query: Annotated[CampaignListQuery, Query()]
) -> CampaignPage:
    """Newest first. Regional leads see the alerts scheduled or sent to their regions."""
    items, next_cursor, total = service.list_campaigns(session, principal, query)
    return CampaignPage(
        items=service.campaign_summaries(items), next_cursor=next_cursor, total=total
    )


@router.post("/campaigns", response_model=CampaignRead, status_code=status.HTTP_201_CREATED)
def create_campaign(
    session: SessionDep, principal: SecretariatUser, data: CampaignCreate
) -> CampaignRead:
    """A new alert, in draft. Subjects and bodies are checked now: an unknown token or
    a template error is a 422 naming the variant, the token and the line."""
    return service.campaign_read(session, service.create_campaign(session, principal, data))


@router.post("/campaigns/preview", response_model=DraftPreview)
def preview_draft(
    session: SessionDep, principal: SecretariatUser, request: DraftPreviewRequest
) -> DraftPreview:
    """One language version as it is being written, rendered as a recipient would see
    it (subject, HTML and plain text), without saving anything: what the alert form
    shows beside the editor.

    It is checked as a save checks it, so a misspelt token or a template error is a 422
    naming `subject` or `body`, with the line in the message. Rendered for `contact_id`,
    else for the first person `audience` reaches who gets this language, else with
    made-up sample values. `audience_sample` lists people the audience reaches, to
    choose whom to render for next."""
    return messages.preview_draft(session, principal, request)


@router.get("/campaigns/tokens", response_model=list[TokenInfo])
def list_tokens(principal: StaffUser) -> list[TokenInfo]:
    """The personalisation tokens a subject or body may use, each with an example."""
    return TOKENS


@router.get("/campaigns/{campaign_id}", response_model=CampaignRead)
def get_campaign(
    session: SessionDep, principal: StaffUser, campaign_id: ResourceId
) -> CampaignRead:
    return service.campaign_read(session, service.get_campaign(session, principal, campaign_id))


@router.patch("/campaigns/{campaign_id}", response_model=CampaignRead)
def update_campaign(
    session: SessionDep, principal: SecretariatUser, campaign_id: ResourceId, data: CampaignUpdate
) -> CampaignRead:
    """Edit a campaign before it sends. An approved or scheduled one returns to draft."""
    campaign = service.update_campaign(session, principal, campaign_id, data)
    return service.campaign_read(session, campaign)


@router.delete("/campaigns/{campaign_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_campaign(
    session: SessionDep, principal: SecretariatUser, campaign_id: ResourceId
) -> Response:
    """Only a campaign that never sent anything (draft, approved, or cancelled before
    launch) can be deleted; the audit log keeps what it was."""
    service.delete_campaign(session, principal, campaign_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/campaigns/{campaign_id}/audience", response_model=AudiencePreview)
def campaign_audience(
    session: SessionDep, principal: StaffUser, campaign_id: ResourceId
) -> AudiencePreview:
    """The audience preview of this campaign: its filter, topics and languages."""
    campaign = service.get_campaign(session, principal, campaign_id)
    return audience_preview(
        session,
        principal,
        AudienceFilter.model_validate(campaign.audience),
        topics=campaign.topics,
        languages=messages.language_choice(campaign),
    )


@router.get("/campaigns/{campaign_id}/preview", response_model=CampaignPreview)
def preview_campaign(
    session: SessionDep,
    principal: StaffUser,
    campaign_id: ResourceId,
    language: Annotated[
        LanguageCode | None,
        Query(description="A variant's language; by default the one the contact would get"),
    ] = None,
    contact_id: Annotated[
        int | None,
        Query(ge=1, le=2_147_483_647, description="By default, a member of the audience"),
    ] = None,
) -> CampaignPreview:
    """The alert as a recipient would see it: subject, HTML and plain text."""
    campaign = service.get_campaign(session, principal, campaign_id)
    return messages.preview_campaign(
        session, principal, campaign, language=language, contact_id=contact_id
    )


@router.post("/campaigns/{campaign_id}/test", response_model=TestSendResult)
def send_test(
    session: SessionDep,
    principal: SecretariatUser,
    campaign_id: ResourceId,
    request: TestSendRequest,
) -> TestSendResult:
    """Send real test messages (subject marked [Test]) to up to five addresses, in one
    language or in each. They count in no figure."""
    campaign = service.get_campaign(session, principal, campaign_id)
    return messages.send_test(session, principal, campaign, request)


@router.post("/campaigns/{campaign_id}/request-approval", response_model=ApprovalRequested)
def request_approval(
    session: SessionDep,
    principal: SecretariatUser,
    campaign_id: ResourceId,
    request: ApprovalRequest | None = None,
) -> ApprovalRequested:
    """Email the other secretariat members a link to read and approve this draft."""
    campaign = service.get_campaign(session, principal, campaign_id)
    note = request.note if request else None
    return ApprovalRequested(asked=messages.request_approval(session, principal, campaign, note))


@router.post("/campaigns/{campaign_id}/approve", response_model=CampaignRead)
def approve_campaign(
    session: SessionDep, principal: SecretariatUser, campaign_id: ResourceId
) -> CampaignRead:
    """Approve a draft. With approval required, the approver cannot be the author."""
    campaign = service.get_campaign(session, principal, campaign_id)
    lifecycle.approve(session, principal, campaign)
    return service.campaign_read(session, campaign)


@router.post("/campaigns/{campaign_id}/launch", response_model=CampaignRead)
def launch_campaign(
    session: SessionDep,
    principal: SecretariatUser,
    campaign_id: ResourceId,
    request: LaunchRequest | None = None,
) -> CampaignRead:
    """Start sending now, or schedule with `send_at` (ISO 8601 with a time zone)."""
    campaign = service.get_campaign(session, principal, campaign_id)
    request = request or LaunchRequest()
    lifecycle.launch(
        session, principal, campaign, send_at=request.send_at, timezone=request.timezone
    )
    return service.campaign_read(session, campaign)


@router.post("/campaigns/{campaign_id}/pause", response_model=CampaignRead)
def pause_campaign(
    session: SessionDep, principal: SecretariatUser, campaign_id: ResourceId
) -> CampaignRead:
    campaign = service.get_campaign(session, principal, campaign_id)
    lifecycle.pause(session, principal, campaign)
    return service.campaign_read(session, campaign)


@router.post("/campaigns/{campaign_id}/resume", response_model=CampaignRead)
def resume_campaign(
    session: SessionDep, principal: SecretariatUser, campaign_id: ResourceId
) -> CampaignRead:
    campaign = service.get_campaign(session, principal, campaign_id)
    lifecycle.resume(session, principal, campaign)
    return service.campaign_read(session, campaign)


@router.post("/campaigns/{campaign_id}/cancel", response_model=CampaignRead)
def cancel_campaign(
    session: SessionDep, principal: SecretariatUser, campaign_id: ResourceId
) -> CampaignRead:
    campaign = service.get_campaign(session, principal, campaign_id)
    lifecycle.cancel(session, principal, campaign)
    return service.campaign_read(session, campaign)
