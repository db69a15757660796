"""A signed-in member and the alerts: those her organisation received, a report of what
it did about one, and her own preferences.

The member is the principal here, not a link: every read starts from the scoping
queries (her organisation's deliveries), and every change goes through the functions
the alert's own pages use (app/tracking/service.py), so the rules are the same.
"""

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.accounts.principal import Principal
from app.accounts.scoping import visible_deliveries, visible_organizations
from app.accounts.service import get_user
from app.campaigns import messages
from app.campaigns.models import Campaign
from app.core.errors import Conflict, DomainError, NotFound
from app.countries.models import Country
from app.delivery.models import Delivery, DeliveryState
from app.members import service as members
from app.members.models import Contact, Organization
from app.tracking.models import ActionReport
from app.tracking.schemas import PreferencesUpdate
from app.tracking.service import (
    Preferences,
    Recipient,
    contact_preferences,
    recipient_of,
    set_address_preferences,
)


@dataclass(frozen=True)
class ReceivedAlert:
    campaign_id: int
    subject: str  # as it went out: in the member's language when it reached her
    language: str
    received_at: datetime | None
    reports: int  # actions the organisation reported about it


def _received(principal: Principal) -> SelectOfScalar[Delivery]:
    """What reached the organisation: its contacts' sent deliveries, first sent first."""
    return (
        visible_deliveries(principal)
        .where(col(Delivery.state) == DeliveryState.sent)
        .order_by(col(Delivery.sent_at), col(Delivery.id))
    )


def alerts_received(
    session: Session, principal: Principal, *, limit: int | None = None
) -> list[ReceivedAlert]:
    """The alerts sent to the organisation's contacts, latest first; each once, named as
    it reached the member herself when it did."""
    shown: dict[int, Delivery] = {}
    first_sent: dict[int, datetime | None] = {}
    for delivery in session.scalars(_received(principal)):
        first_sent.setdefault(delivery.campaign_id, delivery.sent_at)
        if delivery.campaign_id not in shown or _is_own(delivery, principal):
            shown[delivery.campaign_id] = delivery
    # Dictionaries keep their order: the first alert to arrive comes first.
    campaign_ids = list(reversed(first_sent))[:limit]
    if not campaign_ids:
        return []
    titles: dict[int, str] = dict(
        session.execute(
            select(Campaign.id, Campaign.title).where(col(Campaign.id).in_(campaign_ids))
        ).all()
    )
    subjects = _subjects_as_sent(session, principal, [shown[c] for c in campaign_ids])
    organization_ids = visible_organizations(principal).with_only_columns(col(Organization.id))
    reports: dict[int, int] = dict(
        session.execute(
            select(ActionReport.campaign_id, func.count())
            .where(
                col(ActionReport.campaign_id).in_(campaign_ids),
                col(ActionReport.organization_id).in_(organization_ids),
            )
            .group_by(col(ActionReport.campaign_id))
        ).all()
    )
    return [
        ReceivedAlert(
            campaign_id=campaign_id,
            subject=subjects.get(campaign_id, titles[campaign_id]),
            language=shown[campaign_id].language,
            received_at=first_sent[campaign_id],
            reports=reports.get(campaign_id, 0),
        )
        for campaign_id in campaign_ids
    ]


def _subjects_as_sent(
    session: Session, principal: Principal, deliveries: list[Delivery]
) -> dict[int, str]:
    """Each alert's subject as its delivery's recipient read it: the variants' subjects
    hold tokens ("{{ country.name }}: ratify…"), filled in for her as in the email."""
    if principal.organization_id is None:
        return {}
    organization = members.get_organization(session, principal, principal.organization_id)
    country = session.get(Country, organization.country_iso3)
    contacts = {
        contact.id: contact
        for contact in session.scalars(
            select(Contact).where(col(Contact.id).in_([d.contact_id for d in deliveries]))
        )
    }
    campaigns = {
        campaign.id: campaign
        for campaign in session.scalars(
            select(Campaign).where(col(Campaign.id).in_([d.campaign_id for d in deliveries]))
        )
    }
    subjects = {}
    for delivery in deliveries:
        contact = contacts.get(delivery.contact_id)
        if contact is None or country is None:  # an erased contact: the title stands in
            continue
        try:
            subjects[delivery.campaign_id] = messages.subject_as_sent(
                campaigns[delivery.campaign_id],
                delivery.language,
                messages.Recipient(contact, organization, country),
            )
        except DomainError:  # no variant in that language any more: the title stands in
            continue
    return subjects


def _is_own(delivery: Delivery, principal: Principal) -> bool:
    return principal.contact_id is not None and delivery.contact_id == principal.contact_id


def received_alert(session: Session, principal: Principal, campaign_id: int) -> Recipient:
    """The delivery of an alert the member reports about: her own, or a colleague's when
    it did not reach her. An alert the organisation did not receive is not found."""
    deliveries = session.scalars(
        _received(principal).where(col(Delivery.campaign_id) == campaign_id)
    ).all()
    if not deliveries:
        raise NotFound(f"Your organisation received no alert with id {campaign_id}")
    own = next((d for d in deliveries if _is_own(d, principal)), deliveries[0])
    return recipient_of(session, own)


def own_contact(session: Session, principal: Principal) -> Contact:
    """The contact the member signs in as."""
    return members.get_contact(session, principal, principal.contact_id or 0)


def own_preferences(session: Session, principal: Principal, *, today: date) -> Preferences:
    return contact_preferences(session, own_contact(session, principal), today=today)


def update_own_preferences(
    session: Session, principal: Principal, data: PreferencesUpdate, *, today: date
) -> bool:
    """Apply the preferences form to the member's address, as the alert's own
    preferences page does; return whether anything changed.

    The choice holds for every contact with that address, in any organisation, so it is
    taken only for the address her sign-in link went to: were her contact's address
    edited to someone else's, the form would otherwise rewrite that person's consent."""
    contact = own_contact(session, principal)
    signed_in_as = get_user(session, principal.user_id or 0).email
    if contact.email.strip().lower() != signed_in_as.strip().lower():
        raise Conflict(
            f"These choices are for the address you signed in with ({signed_in_as}); your "
            f"contact's address is now {contact.email}. Ask for a sign-in link at that address "
            "to choose for it.",
            field="alerts",
        )
    changed, _stopped = set_address_preferences(
        session,
        contact,
        data,
        contact_preferences(session, contact, today=today),
        actor=principal.actor,
        today=today,
    )
    return changed
