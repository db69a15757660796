"""An alert as a recipient sees it: previews (of a saved alert, or of text still being
written) and test sends.

All render through the same compiled variant the send pipeline uses, for a chosen
contact, for the first member of the audience, or (when the audience is empty) for
made-up sample values.
"""

from dataclasses import dataclass

from sqlalchemy import Subquery, case
from sqlmodel import Session, col, select

from app.accounts.models import User
from app.accounts.principal import Principal, Role
from app.accounts.scoping import visible_organizations
from app.campaigns import lifecycle
from app.campaigns.audience import (
    AudienceFilter,
    LanguageChoice,
    check_filter,
    chosen_language,
    recipient_rows,
)
from app.campaigns.models import Campaign, CampaignVariant
from app.campaigns.rendering import (
    CompiledVariant,
    RenderedMessage,
    TemplateProblem,
    check_variant,
    compile_variant,
)
from app.campaigns.schemas import (
    AudiencePreviewRequest,
    CampaignPreview,
    DraftPreview,
    DraftPreviewRequest,
    PreviewRecipient,
    TestSendRequest,
    TestSendResult,
)
from app.campaigns.tokens import Context, recipient_context, sample_context
from app.core.audit import record_audit
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.core.settings import get_settings
from app.countries.models import Country
from app.delivery.links import PREVIEW_TOKEN, delivery_links
from app.delivery.mailer import queue_email
from app.i18n import text_direction
from app.members.models import Contact, Organization

TEST_SUBJECT_PREFIX = "[Test] "
# How many members of the audience a draft's preview offers to render for.
AUDIENCE_SAMPLE_SIZE = 20
TEST_PURPOSE = "campaign_test"
APPROVAL_REQUEST_PURPOSE = "approval_request"


@dataclass(frozen=True)
class Recipient:
    contact: Contact
    organization: Organization
    country: Country


def language_choice(campaign: Campaign) -> LanguageChoice:
    return LanguageChoice(
        languages=tuple(variant.language for variant in campaign.variants),
        default=campaign.default_language,
    )


def preview_campaign(
    session: Session,
    principal: Principal,
    campaign: Campaign,
    *,
    language: str | None = None,
    contact_id: int | None = None,
) -> CampaignPreview:
    if language is not None:
        _variant(campaign, language, location="query")
    recipient = (
        _visible_recipient(session, principal, contact_id)
        if contact_id is not None
        else _sample_recipient(session, principal, campaign, language)
    )
    if language is None:
        language = (
            _language_for(session, campaign, recipient.contact)
            if recipient
            else campaign.default_language
        )
    rendered = _render(campaign, language, recipient)
    return CampaignPreview(
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        language=language,
        direction=text_direction(language),
        contact_id=recipient.contact.id if recipient else None,
    )


def send_test(
    session: Session, principal: Principal, campaign: Campaign, request: TestSendRequest
) -> TestSendResult:
    """Real messages through the mail path, marked as tests (subject and purpose) and
    left out of every figure: no delivery row is written."""
    languages = (
        [_variant(campaign, request.language, location="body").language]
        if request.language
        else [variant.language for variant in campaign.variants]
    )
    recipient = (
        _visible_recipient(session, principal, request.contact_id, location="body")
        if request.contact_id is not None
        else None
    )
    addresses = [str(address).lower() for address in request.to]
    for language in languages:
        rendered = _render(
            campaign,
            language,
            recipient or _sample_recipient(session, principal, campaign, language),
        )
        for address in addresses:
            queue_email(
                session,
                to=address,
                subject=TEST_SUBJECT_PREFIX + rendered.subject,
                text=rendered.text,
                html=rendered.html,
                purpose=TEST_PURPOSE,
            )
    record_audit(
        session,
        actor=principal.actor,
        action="campaign.test_sent",
        target_type="campaign",
        target_id=campaign.id,
        after={"to": addresses, "languages": languages},
    )
    return TestSendResult(sent=len(addresses) * len(languages), to=addresses, languages=languages)


def request_approval(
    session: Session, principal: Principal, campaign: Campaign, note: str | None = None
) -> list[str]:
    """Ask the other secretariat members, by email, to read and approve a draft."""
    lifecycle.require_allowed(campaign, lifecycle.Action.approve)
    colleagues = session.scalars(
        select(User)
        .where(col(User.role) == Role.secretariat, col(User.is_active))
        .where(col(User.id) != campaign.author_id)
        .order_by(col(User.id))
    ).all()
    if not colleagues:
        raise Conflict(
            "No other secretariat member can approve this alert: add one under Users, "
            "or switch approval off (CAMPAIGN_APPROVAL_REQUIRED=0)",
            field="status",
        )
    link = f"{get_settings().public_base_url.rstrip('/')}/campaigns/{campaign.id}"
    text = (
        f"{principal_name(session, principal)} asks you to read and approve the action alert "
        f'"{campaign.title}" before it is sent.\n\n'
        + (f"Their note: {note}\n\n" if note else "")
        + f"Read it, preview it in each language and approve it here:\n{link}\n"
    )
    addresses = [user.email for user in colleagues]
    for address in addresses:
        queue_email(
            session,
            to=address,
            subject=f"Please approve: {campaign.title}",
            text=text,
            purpose=APPROVAL_REQUEST_PURPOSE,
        )
    record_audit(
        session,
        actor=principal.actor,
        action="campaign.approval_requested",
        target_type="campaign",
        target_id=campaign.id,
        after={"to": addresses},
        note=note,
    )
    return addresses


def principal_name(session: Session, principal: Principal) -> str:
    user = session.get(User, principal.user_id) if principal.user_id else None
    return (user.full_name or user.email) if user else "A colleague"


def preview_draft(
    session: Session, principal: Principal, draft: DraftPreviewRequest
) -> DraftPreview:
    """Text not yet saved, as a recipient would see it: the checks a save makes (so a
    problem is the 422 saving would give, naming `subject` or `body` and the line), then
    the render a send makes. Nothing is written."""
    try:
        compiled = check_variant(draft.subject, draft.body, draft.language)
    except TemplateProblem as problem:
        raise ValidationFailed(problem.message, field=problem.field) from None
    members = (
        _audience_sample(session, principal, draft.audience, draft.language)
        if draft.audience is not None
        else []
    )
    chosen: PreviewRecipient | None = None
    recipient: Recipient | None = None
    if draft.contact_id is not None:
        recipient = _visible_recipient(session, principal, draft.contact_id, location="body")
        chosen = _summary(recipient, language=None)
        if draft.audience is not None:
            chosen = _audience_member(session, principal, draft.audience, recipient)
    else:
        chosen = next((m for m in members if m.language == draft.language), None)
        if chosen is not None:
            recipient = _visible_recipient(session, principal, chosen.contact_id)
    try:
        rendered = compiled.render(_context(draft.language, recipient))
    except TemplateProblem as problem:  # this recipient's data (the checks used samples)
        raise ValidationFailed(problem.message, field=problem.field) from None
    return DraftPreview(
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        language=draft.language,
        direction=text_direction(draft.language),
        contact_id=chosen.contact_id if chosen else None,
        recipient=chosen,
        audience_sample=members,
    )


def subject_as_sent(campaign: Campaign, language: str, recipient: Recipient) -> str:
    """The subject as this recipient read it, tokens filled in (the portal's list of the
    alerts received)."""
    return _render(campaign, language, recipient).subject


def _render(campaign: Campaign, language: str, recipient: Recipient | None) -> RenderedMessage:
    variant = _variant(campaign, language, location="query")
    compiled: CompiledVariant = compile_variant(
        language=language, subject=variant.subject, body=variant.body
    )
    try:
        return compiled.render(_context(language, recipient))
    except TemplateProblem as problem:  # checked at save, so only a real recipient's data
        index = campaign.variants.index(variant)
        raise ValidationFailed(problem.message, field=("variants", index, problem.field)) from None


def _context(language: str, recipient: Recipient | None) -> Context:
    """The recipient's token values (links that act for nobody), else made-up ones."""
    if recipient is None:
        return sample_context(language)
    return recipient_context(
        language=language,
        contact_name=recipient.contact.name,
        contact_role=recipient.contact.role,
        organization_name=recipient.organization.name,
        organization_acronym=recipient.organization.acronym,
        country=recipient.country,
        links=delivery_links(PREVIEW_TOKEN),
    )


def _variant(campaign: Campaign, language: str, *, location: str) -> CampaignVariant:
    for variant in campaign.variants:
        if variant.language == language:
            return variant
    languages = ", ".join(variant.language for variant in campaign.variants)
    raise ValidationFailed(
        f"This campaign has no variant in {language!r}; it has {languages}",
        field="language",
        location=location,
    )


def _visible_recipient(
    session: Session, principal: Principal, contact_id: int, *, location: str = "query"
) -> Recipient:
    row = session.execute(
        visible_organizations(principal)
        .join(Contact, col(Contact.organization_id) == col(Organization.id))
        .join(Country, col(Country.iso3) == col(Organization.country_iso3))
        .with_only_columns(Contact, Organization, Country)
        .where(col(Contact.id) == contact_id)
    ).first()
    if row is None:
        raise NotFound(f"No contact with id {contact_id}", field="contact_id", location=location)
    return Recipient(*row)


def _sample_recipient(
    session: Session, principal: Principal, campaign: Campaign, language: str | None
) -> Recipient | None:
    """The first member of the audience (who would get `language`, when given)."""
    recipients = recipient_rows(
        principal,
        AudienceFilter.model_validate(campaign.audience),
        topics=campaign.topics,
        languages=language_choice(campaign),
    ).subquery()
    first = select(recipients.c.contact_id).where(recipients.c.exclusion.is_(None))
    if language is not None:
        first = first.where(recipients.c.language == language)
    contact_id = session.scalar(first.order_by(recipients.c.contact_id).limit(1))
    if contact_id is None:
        return None
    return _visible_recipient(session, principal, contact_id)


def _language_for(session: Session, campaign: Campaign, contact: Contact) -> str:
    """The variant this contact would get (the same rule as the audience's counts)."""
    language = session.scalar(
        select(chosen_language(language_choice(campaign))).where(col(Contact.id) == contact.id)
    )
    return language or campaign.default_language


def _reached(session: Session, principal: Principal, request: AudiencePreviewRequest) -> Subquery:
    """The people an unsaved audience reaches now (as counted: exclusions left out)."""
    try:
        check_filter(session, request.audience())
    except ValidationFailed as error:  # named as a field of this request
        inner = error.field if isinstance(error.field, tuple) else (error.field or "",)
        raise ValidationFailed(error.message, field=("audience", *inner)) from None
    recipients = recipient_rows(
        principal,
        request.audience(),
        topics=request.topics,
        languages=LanguageChoice(
            languages=tuple(request.variant_languages), default=request.default_language
        ),
    ).subquery()
    return (
        select(recipients.c.contact_id, recipients.c.language)
        .where(recipients.c.exclusion.is_(None))
        .subquery("reached")
    )


def _audience_sample(
    session: Session, principal: Principal, request: AudiencePreviewRequest, language: str
) -> list[PreviewRecipient]:
    """The first people reached, those who get `language` first."""
    reached = _reached(session, principal, request)
    rows = session.execute(
        select(col(Contact.id), col(Contact.name), col(Organization.name), col(Country.name))
        .add_columns(reached.c.language)
        .select_from(reached)
        .join(Contact, col(Contact.id) == reached.c.contact_id)
        .join(Organization, col(Organization.id) == col(Contact.organization_id))
        .join(Country, col(Country.iso3) == col(Organization.country_iso3))
        .order_by(case((reached.c.language == language, 0), else_=1), reached.c.contact_id)
        .limit(AUDIENCE_SAMPLE_SIZE)
    ).all()
    return [
        PreviewRecipient(
            contact_id=contact_id,
            name=name,
            organization_name=organization,
            country_name=country,
            language=gets,
        )
        for contact_id, name, organization, country, gets in rows
    ]


def _audience_member(
    session: Session, principal: Principal, request: AudiencePreviewRequest, recipient: Recipient
) -> PreviewRecipient:
    reached = _reached(session, principal, request)
    found = session.execute(
        select(reached.c.language).where(reached.c.contact_id == recipient.contact.id)
    ).first()
    if found is None:
        raise ValidationFailed(
            f"{recipient.contact.name} is not among the people this audience reaches now: "
            "choose someone it reaches, or change the audience",
            field="contact_id",
        )
    return _summary(recipient, language=found.language)


def _summary(recipient: Recipient, *, language: str | None) -> PreviewRecipient:
    return PreviewRecipient(
        contact_id=recipient.contact.id or 0,
        name=recipient.contact.name,
        organization_name=recipient.organization.name,
        country_name=recipient.country.name,
        language=language,
    )
