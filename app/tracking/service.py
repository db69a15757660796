"""Responses to alerts through the links in them: clicks, opens, reported actions,
unsubscribes and preferences.

Every entry point starts from a signed link (app/tracking/signing.py); a link that is
not valid for its purpose is NotFound, the same whatever was wrong with it. The
previews' links (PREVIEW_TOKEN) open their pages but act for nobody.

Changes to a contact go through the members service, as the person the alert went to
(`recipient_principal`), so they are audited like any other change to a contact and
show on the organisation's timeline. Subscription, language and topics belong to the
address: an address is one recipient however many organisations list it (see
app/campaigns/audience.py), so a choice made for it holds for each of its contacts, or
the next alert would reach the person through another organisation's contact.

A member signed in to the portal (app/tracking/portal.py) reports actions and sets her
preferences through these same functions: her sign-in link proved the address hers.
"""

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.accounts.principal import Principal, Role
from app.accounts.scoping import visible_organizations
from app.campaigns.models import Campaign, CampaignVariant
from app.campaigns.topics import Topic
from app.core.audit import record_audit
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.delivery.links import PREVIEW_TOKEN
from app.delivery.models import Delivery, Suppression, SuppressionReason
from app.delivery.suppressions import is_suppressed, suppress, suppression_hash
from app.i18n import N_
from app.members import service as members
from app.members.models import Contact, Organization, SubscriptionStatus
from app.tracking.models import ActionReport, ResponseEvent, ResponseKind
from app.tracking.schemas import PAUSE_MONTHS, ActionReportCreate, AlertsChoice, PreferencesUpdate
from app.tracking.signing import Purpose, unsign
from app.tracking.wording import ACTION_TYPE_WORDS, offered_languages

# Said the same way whatever was wrong: a page must not tell a tampered link from an
# unknown or expired one.
LINK_NOT_VALID = "This link is not valid"
# Several reports per alert are welcome; thousands are someone abusing a link.
MAX_REPORTS_PER_ALERT = 50


# --- Links ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    """Whom a link names: the delivery, its alert, and the contact it went to (None
    when the contact has since been removed) with the contact's organisation."""

    delivery: Delivery
    campaign: Campaign
    contact: Contact | None
    organization: Organization | None

    @property
    def actor(self) -> str:
        return recipient_actor(self.delivery)

    @property
    def variant(self) -> CampaignVariant | None:
        return next(
            (v for v in self.campaign.variants if v.language == self.delivery.language), None
        )


def recipient_actor(delivery: Delivery) -> str:
    """Who the audit log names for what a recipient does through an alert's links."""
    return f"recipient:{delivery.id}"


def recipient_principal(recipient: Recipient, contact: Contact) -> Principal:
    """The person at the address, acting for one of its contacts: the one principal that
    may subscribe again a contact who unsubscribed."""
    return address_principal(recipient.actor, contact)


def address_principal(actor: str, contact: Contact) -> Principal:
    """Whoever proved they read the contact's mail (an alert's link, a sign-in link),
    acting for that contact."""
    return Principal(
        actor=actor,
        role=Role.member,
        organization_id=contact.organization_id,
        contact_id=contact.id,
    )


def _delivery(session: Session, signed: str, purpose: Purpose, *, lock: bool) -> Delivery | None:
    """The delivery a link names; None for a preview's link; NotFound otherwise."""
    token = unsign(signed, purpose)
    if token is None:
        raise NotFound(LINK_NOT_VALID)
    if token == PREVIEW_TOKEN:
        return None
    query = select(Delivery).where(col(Delivery.token) == token)
    if lock:
        # One message's clicks one after the other, so that each sees the ones before
        # it (the all-links-at-once rule); SQLite's write lock does this anyway.
        query = query.with_for_update()
    delivery = session.scalars(query).first()
    if delivery is None:
        raise NotFound(LINK_NOT_VALID)
    return delivery


def open_link(session: Session, signed: str, purpose: Purpose) -> Recipient | None:
    """Whom a page's link names (None: a preview's link, which names nobody)."""
    delivery = _delivery(session, signed, purpose, lock=False)
    if delivery is None:
        return None
    return recipient_of(session, delivery)


def recipient_of(session: Session, delivery: Delivery) -> Recipient:
    campaign = session.get_one(Campaign, delivery.campaign_id)
    contact = session.get(Contact, delivery.contact_id) if delivery.contact_id else None
    organization = session.get(Organization, contact.organization_id) if contact else None
    return Recipient(delivery, campaign, contact, organization)


def _event(delivery: Delivery, kind: ResponseKind, **values: Any) -> ResponseEvent:
    return ResponseEvent(
        delivery_id=delivery.id or 0,
        campaign_id=delivery.campaign_id,
        contact_id=delivery.contact_id,
        kind=kind,
        **values,
    )


# --- Reported actions -------------------------------------------------------------------


def reports_of(session: Session, recipient: Recipient) -> list[ActionReport]:
    """What was reported through this alert's link, newest first."""
    return list(
        session.scalars(
            select(ActionReport)
            .where(col(ActionReport.delivery_id) == recipient.delivery.id)
            .order_by(col(ActionReport.created_at).desc(), col(ActionReport.id).desc())
        ).all()
    )


def report_action(
    session: Session,
    recipient: Recipient,
    data: ActionReportCreate,
    *,
    by: Principal | None = None,
) -> ActionReport:
    """Keep what a member did about the alert: the report, its `acted` event, and an
    audit entry that puts it on the organisation's timeline.

    `by`: a member signed in to her portal, who may report through a colleague's
    delivery when the alert did not reach her own address; the report and the audit
    log then name her rather than the recipient."""
    contact, organization = recipient.contact, recipient.organization
    if contact is None or organization is None:
        raise NotFound(LINK_NOT_VALID)
    reporter = contact
    if by is not None and by.contact_id not in (None, contact.id):
        reporter = session.get(Contact, by.contact_id) or contact
    delivery = recipient.delivery
    count = session.scalar(select(func.count()).where(col(ActionReport.delivery_id) == delivery.id))
    if (count or 0) >= MAX_REPORTS_PER_ALERT:
        raise Conflict(
            N_("This alert has all the reports it can take; write to the secretariat instead.")
        )
    report = ActionReport(
        delivery_id=delivery.id or 0,
        campaign_id=delivery.campaign_id,
        organization_id=organization.id or 0,
        contact_id=reporter.id,
        **data.model_dump(),
    )
    session.add(report)
    session.add(_event(delivery, ResponseKind.acted, detail=data.action_type.value))
    session.flush()
    record_audit(
        session,
        actor=by.actor if by is not None else recipient.actor,
        action="alert.action_reported",
        target_type="action_report",
        target_id=report.id,
        organization_id=organization.id,
        # In words, for the timeline; the report itself is the record to query.
        after={
            "alert": recipient.campaign.title,
            "action": ACTION_TYPE_WORDS[data.action_type],
            "action_date": data.action_date,
            "engaged_with": data.engaged_with,
            "note": data.note,
            "reported_by": reporter.name,
        },
    )
    return report


@dataclass(frozen=True)
class OrganizationReport:
    report: ActionReport
    alert_title: str
    reported_by: str | None


def organization_reports(
    session: Session, principal: Principal, *, campaign_id: int | None = None, limit: int = 500
) -> list[OrganizationReport]:
    """The actions reported by the organisations the principal sees (a member: her
    own), latest action first; `campaign_id`: about that alert only."""
    organization_ids = visible_organizations(principal).with_only_columns(col(Organization.id))
    query = (
        select(ActionReport, Campaign.title, Contact.name)
        .join(Campaign, col(Campaign.id) == col(ActionReport.campaign_id))
        .outerjoin(Contact, col(Contact.id) == col(ActionReport.contact_id))
        .where(col(ActionReport.organization_id).in_(organization_ids))
    )
    if campaign_id is not None:
        query = query.where(col(ActionReport.campaign_id) == campaign_id)
    rows = session.execute(
        query.order_by(col(ActionReport.action_date).desc(), col(ActionReport.id).desc()).limit(
            limit
        )
    ).all()
    return [OrganizationReport(report, title, name) for report, title, name in rows]


# --- Subscription and preferences ------------------------------------------------------


def contacts_of_address(session: Session, contact: Contact) -> list[Contact]:
    """The contact and every other contact with the same address, locked and read afresh
    for the change the caller makes to them: two one-click POSTs at once (mail providers
    send them, and retry) would otherwise both see the address subscribed and both record
    an unsubscribe. Locked in id order: two requests for one address wait in turn and
    never deadlock."""
    return list(
        session.scalars(
            select(Contact)
            .where(col(Contact.email) == contact.email)
            .order_by(col(Contact.id))
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
    )


def unsubscribe(session: Session, recipient: Recipient, *, via: str) -> bool:
    """Stop every alert to the address the alert went to; return whether anything
    changed (a second request changes nothing, and records nothing)."""
    if recipient.contact is None:
        # The contact was removed since: keep the address itself off every list.
        changed = _suppress_address(session, recipient)
    else:
        changed = False
        for contact in contacts_of_address(session, recipient.contact):
            changed |= members.apply_contact_changes(
                session,
                recipient_principal(recipient, contact),
                contact,
                {"subscription_status": SubscriptionStatus.unsubscribed, "paused_until": None},
            )
    if changed:
        session.add(_event(recipient.delivery, ResponseKind.unsubscribed, detail=via))
        session.flush()
    return changed


def _suppress_address(session: Session, recipient: Recipient) -> bool:
    email = recipient.delivery.email
    if is_suppressed(session, email):
        return False
    suppress(session, email, SuppressionReason.unsubscribed)
    suppression_id = session.scalar(
        select(Suppression.id).where(col(Suppression.email_hash) == suppression_hash(email))
    )
    record_audit(
        session,
        actor=recipient.actor,
        action="suppression.create",
        target_type="suppression",
        target_id=suppression_id,
        after={"reason": SuppressionReason.unsubscribed},
    )
    return True


def is_unsubscribed(session: Session, recipient: Recipient) -> bool:
    if recipient.contact is None:
        return is_suppressed(session, recipient.delivery.email)
    return recipient.contact.subscription_status is SubscriptionStatus.unsubscribed


@dataclass(frozen=True)
class Preferences:
    """The preferences page: what the contact has now and what can be chosen."""

    email: str
    language: str
    languages: list[tuple[str, str]]  # (code, name in itself)
    topics_received: frozenset[str]
    status: SubscriptionStatus
    paused_until: date | None  # only while the pause runs
    # The address is on the suppression list (a complaint, a hard bounce): no choice
    # made here sends it anything.
    address_blocked: bool

    @property
    def choice(self) -> AlertsChoice:
        """The option that keeps things as they are."""
        if self.status is SubscriptionStatus.unsubscribed:
            return AlertsChoice.stop
        return AlertsChoice.keep_pause if self.paused_until else AlertsChoice.receive


def preferences_of(session: Session, recipient: Recipient, *, today: date) -> Preferences:
    """The preferences of the contact an alert went to; the alert's languages are offered
    too."""
    return contact_preferences(
        session,
        _require_contact(recipient),
        today=today,
        alert_languages=[variant.language for variant in recipient.campaign.variants],
    )


def contact_preferences(
    session: Session, contact: Contact, *, today: date, alert_languages: Iterable[str] = ()
) -> Preferences:
    pause_runs = contact.subscription_status is SubscriptionStatus.paused and (
        contact.paused_until is None or contact.paused_until > today
    )
    return Preferences(
        email=contact.email,
        language=contact.language,
        languages=offered_languages(contact.language, alert_languages),
        topics_received=frozenset(set(Topic) - set(contact.topics_opted_out)),
        status=(
            contact.subscription_status
            if contact.subscription_status is not SubscriptionStatus.paused or pause_runs
            else SubscriptionStatus.subscribed
        ),
        paused_until=contact.paused_until if pause_runs else None,
        address_blocked=is_suppressed(session, contact.email),
    )


def update_preferences(
    session: Session, recipient: Recipient, data: PreferencesUpdate, *, today: date
) -> bool:
    """Apply the preferences form of an alert's link; return whether anything changed.
    Stopping alerts from here is an unsubscribe like any other."""
    contact = _require_contact(recipient)
    changed, stopped = set_address_preferences(
        session,
        contact,
        data,
        preferences_of(session, recipient, today=today),
        actor=recipient.actor,
        today=today,
    )
    if stopped:
        session.add(_event(recipient.delivery, ResponseKind.unsubscribed, detail="preferences"))
        session.flush()
    return changed


def set_address_preferences(
    session: Session,
    contact: Contact,
    data: PreferencesUpdate,
    current: Preferences,
    *,
    actor: str,
    today: date,
) -> tuple[bool, bool]:
    """Apply the preferences form (offered as `current`) to every contact of the
    contact's address, as the person at that address; return whether anything changed
    and whether alerts were stopped."""
    codes = {code for code, _name in current.languages}
    if data.language not in codes:
        raise ValidationFailed(N_("Choose one of the options."), field="language")
    changes: dict[str, Any] = {
        "language": data.language,
        "topics_opted_out": sorted(set(Topic) - set(data.topics)),
    }
    if data.alerts is AlertsChoice.receive:
        changes |= {"subscription_status": SubscriptionStatus.subscribed, "paused_until": None}
    elif data.alerts is AlertsChoice.stop:
        changes |= {"subscription_status": SubscriptionStatus.unsubscribed, "paused_until": None}
    elif data.alerts in PAUSE_MONTHS:
        changes |= {
            "subscription_status": SubscriptionStatus.paused,
            "paused_until": months_after(today, PAUSE_MONTHS[data.alerts]),
        }
    changed = False
    stopped = False
    for each in contacts_of_address(session, contact):
        was_unsubscribed = each.subscription_status is SubscriptionStatus.unsubscribed
        # Sorted as the contact lists them, so that an unchanged list is no change.
        each_changes = dict(changes)
        if sorted(each.topics_opted_out) == each_changes["topics_opted_out"]:
            del each_changes["topics_opted_out"]
        changed |= members.apply_contact_changes(
            session, address_principal(actor, each), each, each_changes
        )
        stopped |= (
            not was_unsubscribed and each.subscription_status is SubscriptionStatus.unsubscribed
        )
    return changed, stopped


def _require_contact(recipient: Recipient) -> Contact:
    if recipient.contact is None:
        raise NotFound(LINK_NOT_VALID)
    return recipient.contact


def months_after(day: date, months: int) -> date:
    """The same day `months` later (the month's last day when it has no such day)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
