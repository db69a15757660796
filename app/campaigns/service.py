"""Action alerts: write, read and list them. The lifecycle (approve, launch, pause...)
is in lifecycle.py; previews and test sends in messages.py."""

from dataclasses import asdict
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.accounts.models import User
from app.accounts.principal import Principal
from app.accounts.scoping import visible_campaigns
from app.campaigns import lifecycle
from app.campaigns.audience import AudienceFilter, check_filter, regions_reached
from app.campaigns.models import Campaign, CampaignRegion, CampaignVariant
from app.campaigns.rendering import TemplateProblem, check_variant
from app.campaigns.schemas import (
    CampaignCreate,
    CampaignListQuery,
    CampaignProgress,
    CampaignRead,
    CampaignSummary,
    CampaignUpdate,
    Tracking,
    UserSummary,
    VariantIn,
    VariantRead,
)
from app.core.audit import record_audit, record_changes
from app.core.cursors import decode_id_cursor, encode_id_cursor
from app.core.errors import NotFound, ValidationFailed
from app.core.types import utcnow
from app.delivery.store import campaign_progress
from app.i18n import text_direction

# --- reading --------------------------------------------------------------------------


def get_campaign(session: Session, principal: Principal, campaign_id: int) -> Campaign:
    campaign = session.scalars(
        visible_campaigns(principal).where(col(Campaign.id) == campaign_id)
    ).first()
    if campaign is None:
        raise NotFound(f"No campaign with id {campaign_id}")
    return campaign


def list_campaigns(
    session: Session, principal: Principal, query: CampaignListQuery
) -> tuple[list[Campaign], str | None, int]:
    """Newest first; the cursor is the last id shown, so pages never repeat or skip."""
    campaigns = visible_campaigns(principal)
    if query.status:
        campaigns = campaigns.where(col(Campaign.status).in_(query.status))
    if query.q:
        campaigns = campaigns.where(col(Campaign.title).icontains(query.q, autoescape=True))
    total = session.scalar(select(func.count()).select_from(campaigns.subquery())) or 0
    if query.cursor:
        campaigns = campaigns.where(col(Campaign.id) < decode_id_cursor(query.cursor))
    rows = list(session.scalars(campaigns.order_by(col(Campaign.id).desc()).limit(query.limit + 1)))
    items = rows[: query.limit]
    next_cursor = encode_id_cursor(items[-1].id or 0) if len(rows) > query.limit else None
    return items, next_cursor, total


def campaign_read(session: Session, campaign: Campaign) -> CampaignRead:
    user_ids = {campaign.author_id, campaign.approved_by_id} - {None}
    users = {
        user.id: UserSummary(id=user.id or 0, name=user.full_name or user.email, email=user.email)
        for user in session.scalars(select(User).where(col(User.id).in_(user_ids)))
    }
    return CampaignRead(
        id=campaign.id or 0,
        title=campaign.title,
        action_type=campaign.action_type,
        status=campaign.status,
        topics=campaign.topics,
        audience=AudienceFilter.model_validate(campaign.audience),
        default_language=campaign.default_language,
        variants=[
            VariantRead(
                language=variant.language,
                subject=variant.subject,
                body=variant.body,
                direction=text_direction(variant.language),
            )
            for variant in campaign.variants
        ],
        tracking=Tracking(clicks=campaign.track_clicks, opens=campaign.track_opens),
        regions=campaign.regions,
        author=users.get(campaign.author_id),
        approved_by=users.get(campaign.approved_by_id),
        approved_at=campaign.approved_at,
        send_at=campaign.send_at,
        send_timezone=campaign.send_timezone,
        launched_at=campaign.launched_at,
        finished_at=campaign.finished_at,
        cancelled_at=campaign.cancelled_at,
        paused_reason=campaign.paused_reason,
        paused_by_pipeline=campaign.paused_by_pipeline,
        created_at=campaign.created_at,
        updated_at=campaign.updated_at,
        allowed_actions=sorted(lifecycle.allowed_actions(campaign)),
        progress=_progress(session, campaign),
    )


def _progress(session: Session, campaign: Campaign) -> CampaignProgress | None:
    if campaign.launched_at is None:
        return None
    figures = campaign_progress(session, campaign.id or 0)
    return CampaignProgress(total=figures.total, **asdict(figures))


def campaign_summaries(campaigns: list[Campaign]) -> list[CampaignSummary]:
    return [CampaignSummary.from_campaign(campaign) for campaign in campaigns]


# --- writing --------------------------------------------------------------------------


def snapshot(campaign: Campaign) -> dict[str, Any]:
    """What the audit log records of a campaign (bodies included: they are the alert)."""
    return {
        "title": campaign.title,
        "action_type": campaign.action_type,
        "status": campaign.status,
        "topics": list(campaign.topics),
        "audience": dict(campaign.audience),
        "default_language": campaign.default_language,
        "tracking": {"clicks": campaign.track_clicks, "opens": campaign.track_opens},
        "variants": [
            {"language": v.language, "subject": v.subject, "body": v.body}
            for v in campaign.variants
        ],
    }


def create_campaign(session: Session, principal: Principal, data: CampaignCreate) -> Campaign:
    _check_content(session, data.audience, data.variants, data.default_language)
    campaign = Campaign(
        title=data.title,
        action_type=data.action_type,
        topics=sorted(str(topic) for topic in data.topics),
        audience=_stored_audience(data.audience),
        default_language=data.default_language,
        track_clicks=data.tracking.clicks,
        track_opens=data.tracking.opens,
        author_id=_author_id(principal),
        variants=_variant_rows(data.variants),
        region_rows=_region_rows(session, data.audience),
    )
    session.add(campaign)
    session.flush()
    record_audit(
        session,
        actor=principal.actor,
        action="campaign.created",
        target_type="campaign",
        target_id=campaign.id,
        after=snapshot(campaign),
    )
    return campaign


def update_campaign(
    session: Session, principal: Principal, campaign_id: int, data: CampaignUpdate
) -> Campaign:
    """Edit a campaign that has not started sending. An approved or scheduled campaign
    goes back to draft: what was approved is no longer what would be sent."""
    campaign = get_campaign(session, principal, campaign_id)
    lifecycle.require_allowed(campaign, lifecycle.Action.edit)
    changes = data.model_dump(exclude_unset=True)
    audience = data.audience or _audience_of(campaign)
    variants = data.variants if "variants" in changes else None
    default_language = changes.get("default_language", campaign.default_language)
    _check_content(
        session,
        audience,
        variants if variants is not None else _variants_in(campaign),
        default_language,
    )
    before = snapshot(campaign)
    if "title" in changes:
        campaign.title = changes["title"]
    if "action_type" in changes:
        campaign.action_type = changes["action_type"]
    if "topics" in changes:
        campaign.topics = sorted(str(topic) for topic in changes["topics"])
    if "tracking" in changes and data.tracking is not None:
        campaign.track_clicks = data.tracking.clicks
        campaign.track_opens = data.tracking.opens
    campaign.default_language = default_language
    if "audience" in changes:
        campaign.audience = _stored_audience(audience)
        _replace_regions(session, campaign, audience)
    if variants is not None:
        _replace_variants(session, campaign, variants)
    if not record_changes(
        session,
        actor=principal.actor,
        action="campaign.updated",
        target_type="campaign",
        target_id=campaign.id,
        before=before,
        after=snapshot(campaign),
    ):
        return campaign  # nothing changed: an approval stands
    campaign.updated_at = utcnow()
    lifecycle.return_to_draft(session, principal, campaign)
    session.flush()
    return campaign


def delete_campaign(session: Session, principal: Principal, campaign_id: int) -> None:
    campaign = get_campaign(session, principal, campaign_id)
    lifecycle.require_allowed(campaign, lifecycle.Action.delete)
    record_audit(
        session,
        actor=principal.actor,
        action="campaign.deleted",
        target_type="campaign",
        target_id=campaign.id,
        before=snapshot(campaign),
    )
    session.delete(campaign)
    session.flush()


def _check_content(
    session: Session,
    audience: AudienceFilter,
    variants: list[VariantIn],
    default_language: str,
) -> None:
    check_filter(session, audience, location="body")
    languages = [variant.language for variant in variants]
    for index, language in enumerate(languages):
        if language in languages[:index]:
            raise ValidationFailed(
                f"There is already a variant in {language!r}: one variant per language",
                field=("variants", index, "language"),
            )
    if default_language not in languages:
        raise ValidationFailed(
            f"There is no variant in the default language {default_language!r}; "
            f"the variants are in {', '.join(languages)}",
            field="default_language",
        )
    for index, variant in enumerate(variants):
        try:
            check_variant(variant.subject, variant.body, variant.language)
        except TemplateProblem as problem:
            raise ValidationFailed(
                problem.message, field=("variants", index, problem.field)
            ) from None


def _author_id(principal: Principal) -> int:
    if principal.user_id is None:
        # The command line acts as the installation's operator, who has no user row.
        raise ValidationFailed("Campaigns are written by a signed-in user", field="author")
    return principal.user_id


def _stored_audience(audience: AudienceFilter) -> dict[str, Any]:
    # Every list means "any of": sorted, the same audience is stored the same way, and
    # re-saving it in another order does not count as an edit (which would undo an
    # approval).
    return {
        name: sorted(value) if isinstance(value, list) else value
        for name, value in audience.model_dump(mode="json").items()
    }


def _audience_of(campaign: Campaign) -> AudienceFilter:
    return AudienceFilter.model_validate(campaign.audience)


def _variants_in(campaign: Campaign) -> list[VariantIn]:
    return [
        VariantIn(language=v.language, subject=v.subject, body=v.body) for v in campaign.variants
    ]


def _variant_rows(variants: list[VariantIn]) -> list[CampaignVariant]:
    return [CampaignVariant(language=v.language, subject=v.subject, body=v.body) for v in variants]


def _replace_variants(session: Session, campaign: Campaign, variants: list[VariantIn]) -> None:
    """Update variants in place by language (so their rows keep their ids), add new
    languages, drop the languages no longer given."""
    existing = {variant.language: variant for variant in campaign.variants}
    wanted = {variant.language for variant in variants}
    for language, row in existing.items():
        if language not in wanted:
            campaign.variants.remove(row)
    for variant in variants:
        kept = existing.get(variant.language)
        if kept is None:
            campaign.variants.append(
                CampaignVariant(
                    language=variant.language, subject=variant.subject, body=variant.body
                )
            )
        else:
            kept.subject = variant.subject
            kept.body = variant.body
    session.flush()


def _region_rows(session: Session, audience: AudienceFilter) -> list[CampaignRegion]:
    return [CampaignRegion(region_slug=slug) for slug in regions_reached(session, audience)]


def _replace_regions(session: Session, campaign: Campaign, audience: AudienceFilter) -> None:
    # Rows are kept or removed one by one: re-adding a (campaign, region) key in the
    # same flush that deletes it would collide.
    wanted = set(regions_reached(session, audience))
    for row in list(campaign.region_rows):
        if row.region_slug not in wanted:
            campaign.region_rows.remove(row)
    for slug in sorted(wanted - set(campaign.regions)):
        campaign.region_rows.append(CampaignRegion(region_slug=slug))
