"""Member organisations and their contacts: search, create, change, archive, merge.

Every read starts from `visible_organizations`/`visible_contacts`; services flush and
never commit (the caller's unit of work does).
"""

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, exists, func, or_, tuple_, union
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.accounts.models import User
from app.accounts.principal import Principal, Role
from app.accounts.scoping import (
    may_place_organization_in,
    visible_contacts,
    visible_organizations,
)
from app.core.audit import AuditEntry, changed_fields, record_audit, record_changes
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.core.types import utcnow
from app.countries.models import Country
from app.countries.service import require_country
from app.members.custom_fields import list_custom_fields, validate_custom_values
from app.members.models import (
    BounceStatus,
    Contact,
    ContactTopicOptOut,
    MembershipStatus,
    Organization,
    OrganizationFocusArea,
    OrganizationLanguage,
    SubscriptionStatus,
)
from app.members.schemas import (
    ContactCreate,
    ContactUpdate,
    OrganizationCreate,
    OrganizationFilter,
    OrganizationUpdate,
)

MAX_PAGE_SIZE = 500
# The list counts its matches up to this many. Counting every match of a broad filter
# over hundreds of thousands of organisations costs more than the page itself (a third
# of a second for a language at 250,000); past this the page says "more than".
COUNT_LIMIT = 10_000
MAX_ID = 2_147_483_647  # ids are 32-bit integers in the database


# --- reading --------------------------------------------------------------------------


def filtered_organizations(
    session: Session, principal: Principal, filters: OrganizationFilter
) -> SelectOfScalar[Organization]:
    """The organisations the principal may see that match the filters (unordered)."""
    for code in filters.country:
        require_country(session, code, field="country", location="query")
    query = visible_organizations(principal)
    if not filters.include_archived and MembershipStatus.archived not in filters.membership_status:
        query = query.where(col(Organization.membership_status) != MembershipStatus.archived)
    if filters.membership_status:
        query = query.where(col(Organization.membership_status).in_(filters.membership_status))
    if filters.country:
        query = query.where(col(Organization.country_iso3).in_(filters.country))
    if filters.type:
        query = query.where(col(Organization.type).in_(filters.type))
    country_conditions = []
    if filters.region:
        country_conditions.append(col(Country.region_slug).in_(filters.region))
    if filters.rome_statute_status:
        country_conditions.append(col(Country.rome_statute_status).in_(filters.rome_statute_status))
    if filters.apic_status:
        country_conditions.append(col(Country.apic_status).in_(filters.apic_status))
    if country_conditions:
        query = query.where(
            col(Organization.country_iso3).in_(select(Country.iso3).where(*country_conditions))
        )
    if filters.focus_area:
        query = query.where(
            exists().where(
                col(OrganizationFocusArea.organization_id) == Organization.id,
                col(OrganizationFocusArea.focus_area).in_(filters.focus_area),
            )
        )
    if filters.language:
        query = query.where(
            exists().where(
                col(OrganizationLanguage.organization_id) == Organization.id,
                col(OrganizationLanguage.language).in_(filters.language),
            )
        )
    if filters.q:
        query = query.where(_text_matches(session, filters.q))
    return query


def _text_matches(session: Session, text: str) -> Any:
    """Case-insensitive substring over name, acronym and contact names and emails.

    `autoescape` makes % and _ in the user's text literal, not wildcards.

    On PostgreSQL, text of three characters or more is looked up in the trigram indexes
    (pg_trgm, alembic 0007) of those four columns: the ids of the organisations whose
    name or acronym matches, united with those of the contacts that match, each side an
    index scan. The same test written with OR over a correlated EXISTS (below) can use
    no index and reads every contact of every organisation: seconds at 250,000
    organisations. Shorter text has no trigram to look up, and matches so many rows
    that the scan in name order stops early anyway.
    """
    if _is_postgresql(session) and len(text) >= 3:
        pattern = "%" + _like_escaped(text) + "%"
        named = select(Organization.id).where(
            or_(col(Organization.name).ilike(pattern), col(Organization.acronym).ilike(pattern))
        )
        by_contact = select(Contact.organization_id).where(
            or_(col(Contact.name).ilike(pattern), col(Contact.email).ilike(pattern))
        )
        return col(Organization.id).in_(union(named, by_contact))
    contact_match = exists().where(
        col(Contact.organization_id) == Organization.id,
        or_(
            col(Contact.name).icontains(text, autoescape=True),
            col(Contact.email).icontains(text, autoescape=True),
        ),
    )
    return or_(
        col(Organization.name).icontains(text, autoescape=True),
        col(Organization.acronym).icontains(text, autoescape=True),
        contact_match,
    )


def _like_escaped(text: str) -> str:
    """The text as a LIKE pattern that matches it literally (PostgreSQL's LIKE escapes
    with a backslash by default; no ESCAPE clause, so that the planner sees a plain
    pattern it can look up in a trigram index)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


@dataclass
class OrganizationPageResult:
    items: list[Organization]
    next_cursor: str | None
    total: int  # at most COUNT_LIMIT
    total_exact: bool = True  # False: more than `total` match


def list_organizations(
    session: Session,
    principal: Principal,
    filters: OrganizationFilter,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> OrganizationPageResult:
    """A page in (name, id) order; the cursor is the last row's key, so walking the pages
    yields every match exactly once even while other rows are added."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationFailed(
            f"limit must be between 1 and {MAX_PAGE_SIZE}", field="limit", location="query"
        )
    query = filtered_organizations(session, principal, filters)
    counted = (
        session.scalar(select(func.count()).select_from(query.limit(COUNT_LIMIT + 1).subquery()))
        or 0
    )
    if cursor:
        after_name, after_id = decode_cursor(cursor)
        query = query.where(tuple_(Organization.name, Organization.id) > (after_name, after_id))
    rows = list(
        session.scalars(
            query.order_by(col(Organization.name), col(Organization.id)).limit(limit + 1)
        ).all()
    )
    items = rows[:limit]
    next_cursor = encode_cursor(items[-1]) if len(rows) > limit else None
    return OrganizationPageResult(
        items=items,
        next_cursor=next_cursor,
        total=min(counted, COUNT_LIMIT),
        total_exact=counted <= COUNT_LIMIT,
    )


def encode_cursor(organization: Organization) -> str:
    raw = json.dumps([organization.name, organization.id], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        name, identifier = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if (
            isinstance(name, str)
            and len(name) <= 300
            and name.encode("utf-8")  # refuses lone surrogates
            and isinstance(identifier, int)
            and 1 <= identifier <= MAX_ID
        ):
            return name, identifier
    except (ValueError, TypeError, binascii.Error):
        pass
    raise ValidationFailed(
        "Malformed cursor: pass the next_cursor of the previous page unchanged",
        field="cursor",
        location="query",
    )


def get_organization(session: Session, principal: Principal, organization_id: int) -> Organization:
    organization = session.scalars(
        visible_organizations(principal).where(col(Organization.id) == organization_id)
    ).first()
    if organization is None:
        raise NotFound(f"No organisation with id {organization_id}")
    return organization


def region_of(session: Session, organization: Organization) -> str:
    return session.get_one(Country, organization.country_iso3).region_slug


def regions_of(session: Session, organizations: list[Organization]) -> dict[str, str]:
    codes = {organization.country_iso3 for organization in organizations}
    if not codes:
        return {}
    return dict(
        session.execute(
            select(Country.iso3, Country.region_slug).where(col(Country.iso3).in_(codes))
        ).all()
    )


def organization_history(
    session: Session, principal: Principal, organization_id: int
) -> list[AuditEntry]:
    """The organisation's timeline: its own changes and its contacts', including those
    of organisations merged into it."""
    organization = get_organization(session, principal, organization_id)
    organization_ids = [organization.id, *_merged_into_ids(session, organization.id or 0)]
    return list(
        session.scalars(
            select(AuditEntry)
            .where(col(AuditEntry.organization_id).in_(organization_ids))
            .order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
        ).all()
    )


def _merged_into_ids(session: Session, organization_id: int) -> list[int]:
    """Every organisation merged into this one, directly or through a chain of merges."""
    found: list[int] = []
    frontier = [organization_id]
    while frontier:
        children = list(
            session.scalars(
                select(Organization.id).where(col(Organization.merged_into_id).in_(frontier))
            ).all()
        )
        found.extend(c for c in children if c is not None)
        frontier = [c for c in children if c is not None]
    return found


# --- writing organisations ---------------------------------------------------------------


def snapshot(organization: Organization) -> dict[str, Any]:
    """What the audit log records of an organisation."""
    return {
        "name": organization.name,
        "acronym": organization.acronym,
        "country": organization.country_iso3,
        "type": organization.type,
        "focus_areas": organization.focus_areas,
        "languages": organization.languages,
        "membership_status": organization.membership_status,
        "joined_on": organization.joined_on,
        "website": organization.website,
        "address": organization.address,
        "notes": organization.notes,
        "custom_fields": dict(organization.custom_fields),
        "merged_into_id": organization.merged_into_id,
    }


def set_focus_areas(organization: Organization, focus_areas: list[str]) -> None:
    keep = {row.focus_area: row for row in organization.focus_area_rows}
    organization.focus_area_rows = [
        keep.get(tag) or OrganizationFocusArea(focus_area=tag) for tag in sorted(set(focus_areas))
    ]


def language_rows(languages: list[str]) -> list[OrganizationLanguage]:
    """Working languages as rows, in the order given (most used first)."""
    return [
        OrganizationLanguage(position=position, language=language)
        for position, language in enumerate(languages)
    ]


def set_languages(session: Session, organization: Organization, languages: list[str]) -> None:
    if languages == organization.languages:
        return
    # Positions are part of the key: clear first so reordering never collides.
    organization.language_rows = []
    session.flush()
    organization.language_rows = language_rows(languages)


def _require_placeable_country(session: Session, principal: Principal, iso3: str) -> None:
    country = require_country(session, iso3)
    if not may_place_organization_in(principal, country):
        raise ValidationFailed(f"{country.name} is outside the regions you manage", field="country")


def create_organization(
    session: Session, principal: Principal, data: OrganizationCreate
) -> Organization:
    _require_placeable_country(session, principal, data.country)
    # Applicants cannot know the secretariat's required fields; staff fill them in.
    custom_fields = validate_custom_values(
        list_custom_fields(session),
        data.custom_fields,
        require=data.membership_status is not MembershipStatus.applicant,
    )
    organization = Organization(
        name=data.name,
        acronym=data.acronym or None,
        country_iso3=data.country,
        type=data.type,
        membership_status=data.membership_status,
        joined_on=data.joined_on,
        website=data.website,
        address=data.address,
        notes=data.notes,
        custom_fields=custom_fields,
    )
    set_focus_areas(organization, data.focus_areas)
    organization.language_rows = language_rows(data.languages)
    session.add(organization)
    session.flush()
    record_audit(
        session,
        actor=principal.actor,
        action="organization.create",
        target_type="organization",
        target_id=organization.id,
        organization_id=organization.id,
        after=snapshot(organization),
    )
    return organization


def update_organization(
    session: Session, principal: Principal, organization_id: int, data: OrganizationUpdate
) -> Organization:
    organization = get_organization(session, principal, organization_id)
    apply_organization_changes(
        session, principal, organization, data.model_dump(exclude_unset=True)
    )
    return organization


def apply_organization_changes(
    session: Session, principal: Principal, organization: Organization, changes: dict[str, Any]
) -> bool:
    """Apply validated field values; audit and return whether anything changed."""
    before = snapshot(organization)
    if (
        organization.merged_into_id is not None
        and changes.get("membership_status", MembershipStatus.archived)
        is not MembershipStatus.archived
    ):
        raise Conflict(
            f"This organisation was merged into #{organization.merged_into_id}; edit that one",
            field="membership_status",
        )
    if "country" in changes:
        _require_placeable_country(session, principal, changes["country"])
        organization.country_iso3 = changes.pop("country")
    if "focus_areas" in changes:
        set_focus_areas(organization, changes.pop("focus_areas") or [])
    if "languages" in changes:
        set_languages(session, organization, changes.pop("languages"))
    if "custom_fields" in changes:
        organization.custom_fields = validate_custom_values(
            list_custom_fields(session),
            changes.pop("custom_fields") or {},
            current=organization.custom_fields,
        )
    for name, value in changes.items():
        setattr(organization, name, value if value != "" or name == "name" else None)
    changed = record_changes(
        session,
        actor=principal.actor,
        action="organization.update",
        target_type="organization",
        target_id=organization.id,
        organization_id=organization.id,
        before=before,
        after=snapshot(organization),
    )
    if changed:
        organization.updated_at = utcnow()
        session.flush()
    return changed


def archive_organization(
    session: Session, principal: Principal, organization_id: int
) -> Organization:
    """Deleting archives: contacts, history and participation stay."""
    organization = get_organization(session, principal, organization_id)
    if organization.membership_status is not MembershipStatus.archived:
        apply_organization_changes(
            session, principal, organization, {"membership_status": MembershipStatus.archived}
        )
    return organization


def merge_organizations(
    session: Session, principal: Principal, source_id: int, into_id: int
) -> Organization:
    """Move contacts, focus areas, languages and custom values from `source` into `into`,
    then archive `source`. Where both have a contact with the same email, the surviving
    contact keeps the stricter subscription and bounce state: an unsubscribe is never
    lost in a merge. Every change to either organisation and to each contact is audited."""
    if source_id == into_id:
        raise ValidationFailed("An organisation cannot be merged into itself", field="into")
    source = get_organization(session, principal, source_id)
    try:
        target = get_organization(session, principal, into_id)
    except NotFound:
        raise ValidationFailed(f"No organisation with id {into_id}", field="into") from None
    if source.merged_into_id is not None:
        raise Conflict(f"This organisation was already merged into #{source.merged_into_id}")
    if target.membership_status is MembershipStatus.archived:
        raise ValidationFailed("Cannot merge into an archived organisation", field="into")

    moved, combined = _merge_contacts(session, principal, source, target)
    counts = {"contacts_moved": moved, "contacts_combined": combined}

    target_before = snapshot(target)
    set_focus_areas(target, [*target.focus_areas, *source.focus_areas])
    set_languages(
        session,
        target,
        target.languages + [lang for lang in source.languages if lang not in target.languages],
    )
    if source.notes:
        heading = f"Merged from {source.name} (#{source.id}):"
        target.notes = "\n\n".join(filter(None, [target.notes, f"{heading}\n{source.notes}"]))
    target.acronym = target.acronym or source.acronym
    target.website = target.website or source.website
    target.joined_on = min(filter(None, [target.joined_on, source.joined_on]), default=None)
    # Custom values are copied as stored (validated when written); the target's win.
    target.custom_fields = {**source.custom_fields, **target.custom_fields}

    source_before = snapshot(source)
    source.membership_status = MembershipStatus.archived
    source.merged_into_id = target.id
    source.updated_at = target.updated_at = utcnow()
    session.flush()
    for organization, before, action, extra in (
        (source, source_before, "organization.merge", {}),
        (target, target_before, "organization.merge_received", {"merged_from_id": source.id}),
    ):
        old, new = changed_fields(before, snapshot(organization))
        record_audit(
            session,
            actor=principal.actor,
            action=action,
            target_type="organization",
            target_id=organization.id,
            organization_id=organization.id,
            before=old,
            after={**new, **extra, **counts},
        )
    session.expire(target, ["contacts"])
    return target


def _merge_contacts(
    session: Session, principal: Principal, source: Organization, target: Organization
) -> tuple[int, int]:
    """Move the source's contacts to the target, combining those whose email the target
    has already. Returns (moved, combined)."""
    target_contacts = {contact.email: contact for contact in target.contacts}
    moved, combined = 0, 0
    for contact in list(source.contacts):
        twin = target_contacts.get(contact.email)
        if twin is None:
            before = contact_snapshot(contact)
            contact.organization_id = target.id or 0
            contact.updated_at = utcnow()
            _audit_contact(
                session, principal, "contact.update", contact, before, "moved in a merge"
            )
            moved += 1
            continue
        before = contact_snapshot(twin)
        _combine_contacts(keep=twin, drop=contact)
        _audit_contact(
            session,
            principal,
            "contact.update",
            twin,
            before,
            f"combined with contact #{contact.id}",
        )
        record_audit(
            session,
            actor=principal.actor,
            action="contact.delete",
            target_type="contact",
            target_id=contact.id,
            organization_id=source.id,
            before=contact_snapshot(contact),
            note=f"combined into contact #{twin.id} in a merge",
        )
        session.delete(contact)
        combined += 1
    session.flush()
    return moved, combined


def _audit_contact(
    session: Session,
    principal: Principal,
    action: str,
    contact: Contact,
    before: dict[str, Any],
    note: str,
) -> None:
    record_changes(
        session,
        actor=principal.actor,
        action=action,
        target_type="contact",
        target_id=contact.id,
        organization_id=contact.organization_id,
        before=before,
        after=contact_snapshot(contact),
        note=note,
    )


_SUBSCRIPTION_STRICTNESS = {
    SubscriptionStatus.subscribed: 0,
    SubscriptionStatus.paused: 1,
    SubscriptionStatus.unsubscribed: 2,
}


def _combine_contacts(*, keep: Contact, drop: Contact) -> None:
    if (
        _SUBSCRIPTION_STRICTNESS[drop.subscription_status]
        > _SUBSCRIPTION_STRICTNESS[keep.subscription_status]
    ):
        keep.subscription_status = drop.subscription_status
        keep.paused_until = drop.paused_until
    raise_bounce_state(
        keep,
        bounce_status=drop.bounce_status,
        hard_bounce_count=drop.hard_bounce_count,
        soft_bounce_count=drop.soft_bounce_count,
        last_bounced_at=drop.last_bounced_at,
    )
    keep.consent_at = keep.consent_at or drop.consent_at
    keep.consent_method = keep.consent_method or drop.consent_method
    # Either person's opt-outs stand: the combined contact has all of them.
    set_topic_opt_outs(keep, sorted(set(keep.topics_opted_out) | set(drop.topics_opted_out)))
    keep.updated_at = utcnow()


BOUNCE_FIELDS = ("bounce_status", "hard_bounce_count", "soft_bounce_count", "last_bounced_at")
_BOUNCE_SEVERITY = {BounceStatus.ok: 0, BounceStatus.soft: 1, BounceStatus.hard: 2}


def raise_bounce_state(
    contact: Contact,
    *,
    bounce_status: BounceStatus | None,
    hard_bounce_count: int | None,
    soft_bounce_count: int | None,
    last_bounced_at: datetime | None,
) -> None:
    """Take the worse of two records of an address's bounces; never lowers what is known
    (a merge or an import must not make a dead address mailable again)."""
    if (
        bounce_status is not None
        and _BOUNCE_SEVERITY[bounce_status] > _BOUNCE_SEVERITY[contact.bounce_status]
    ):
        contact.bounce_status = bounce_status
    contact.hard_bounce_count = max(contact.hard_bounce_count, hard_bounce_count or 0)
    contact.soft_bounce_count = max(contact.soft_bounce_count, soft_bounce_count or 0)
    contact.last_bounced_at = max(
        filter(None, [contact.last_bounced_at, last_bounced_at]), default=None
    )


# --- contacts -------------------------------------------------------------------------------


def list_contacts(session: Session, principal: Principal, organization_id: int) -> list[Contact]:
    organization = get_organization(session, principal, organization_id)
    return list(
        session.scalars(
            select(Contact)
            .where(col(Contact.organization_id) == organization.id)
            .order_by(col(Contact.id))
        ).all()
    )


def get_contact(session: Session, principal: Principal, contact_id: int) -> Contact:
    contact = session.scalars(
        visible_contacts(principal).where(col(Contact.id) == contact_id)
    ).first()
    if contact is None:
        raise NotFound(f"No contact with id {contact_id}")
    return contact


def contact_snapshot(contact: Contact) -> dict[str, Any]:
    return {
        name: getattr(contact, name)
        for name in (
            "organization_id",
            "name",
            "email",
            "role",
            "language",
            "subscription_status",
            "paused_until",
            "topics_opted_out",
            "consent_at",
            "consent_method",
            *BOUNCE_FIELDS,
        )
    }


def set_topic_opt_outs(contact: Contact, topics: Sequence[str]) -> None:
    contact.topic_opt_out_rows = [ContactTopicOptOut(topic=str(topic)) for topic in topics]


def _ensure_email_free(
    session: Session, organization_id: int, email: str, *, except_id: int | None = None
) -> None:
    query = select(Contact.id).where(
        and_(col(Contact.organization_id) == organization_id, col(Contact.email) == email)
    )
    if except_id is not None:
        query = query.where(col(Contact.id) != except_id)
    if session.scalar(query) is not None:
        raise Conflict(f"This organisation already has a contact with email {email}", field="email")


def create_contact(
    session: Session, principal: Principal, organization_id: int, data: ContactCreate
) -> Contact:
    organization = get_organization(session, principal, organization_id)
    return add_contact(session, principal, organization, data)


def add_contact(
    session: Session, principal: Principal, organization: Organization, data: ContactCreate
) -> Contact:
    """Add a contact to an organisation the caller has already looked up through scoping."""
    email = data.email.lower()
    _ensure_email_free(session, organization.id or 0, email)
    values = data.model_dump(exclude={"topics_opted_out"})
    contact = Contact(organization_id=organization.id or 0, **{**values, "email": email})
    set_topic_opt_outs(contact, data.topics_opted_out)
    session.add(contact)
    session.flush()
    record_audit(
        session,
        actor=principal.actor,
        action="contact.create",
        target_type="contact",
        target_id=contact.id,
        organization_id=contact.organization_id,
        after=contact_snapshot(contact),
    )
    return contact


def update_contact(
    session: Session, principal: Principal, contact_id: int, data: ContactUpdate
) -> Contact:
    contact = get_contact(session, principal, contact_id)
    apply_contact_changes(session, principal, contact, data.model_dump(exclude_unset=True))
    return contact


def apply_contact_changes(
    session: Session, principal: Principal, contact: Contact, changes: dict[str, Any]
) -> bool:
    before = contact_snapshot(contact)
    _refuse_resubscribe_by_others(principal, contact, changes)
    if "email" in changes:
        changes["email"] = changes["email"].lower()
        _ensure_email_free(session, contact.organization_id, changes["email"], except_id=contact.id)
    if "topics_opted_out" in changes:
        set_topic_opt_outs(contact, changes.pop("topics_opted_out"))
    for name, value in changes.items():
        setattr(contact, name, value)
    changed = record_changes(
        session,
        actor=principal.actor,
        action="contact.update",
        target_type="contact",
        target_id=contact.id,
        organization_id=contact.organization_id,
        before=before,
        after=contact_snapshot(contact),
    )
    if changed:
        contact.updated_at = utcnow()
        session.flush()
    return changed


def _refuse_resubscribe_by_others(
    principal: Principal, contact: Contact, changes: dict[str, Any]
) -> None:
    """Only the person who unsubscribed may undo it (consent is theirs to give)."""
    new_status = changes.get("subscription_status", contact.subscription_status)
    is_that_person = principal.role is Role.member and principal.contact_id == contact.id
    if (
        contact.subscription_status is SubscriptionStatus.unsubscribed
        and new_status is not SubscriptionStatus.unsubscribed
        and not is_that_person
    ):
        raise Conflict(
            "This contact unsubscribed; only they can subscribe again (from their "
            "preferences page)",
            field="subscription_status",
        )


def delete_contact(session: Session, principal: Principal, contact_id: int) -> None:
    contact = get_contact(session, principal, contact_id)
    if session.scalar(select(User.id).where(User.contact_id == contact.id)) is not None:
        raise Conflict(
            "A member signs in as this contact; give them another contact first, or erase "
            "the contact's personal data instead"
        )
    record_audit(
        session,
        actor=principal.actor,
        action="contact.delete",
        target_type="contact",
        target_id=contact.id,
        organization_id=contact.organization_id,
        before=contact_snapshot(contact),
    )
    session.delete(contact)
    session.flush()


# --- membership status: lapse, suspend, reinstate -------------------------------------------


class MembershipAction(StrEnum):
    lapse = "lapse"
    suspend = "suspend"
    reinstate = "reinstate"


# action: (the statuses it may start from, the status it leads to). Anything else is
# refused: e.g. an applicant is approved or declined, never "reinstated", and an archived
# organisation is restored by editing it, not by these actions.
MEMBERSHIP_TRANSITIONS: dict[
    MembershipAction, tuple[frozenset[MembershipStatus], MembershipStatus]
] = {
    MembershipAction.lapse: (frozenset({MembershipStatus.active}), MembershipStatus.lapsed),
    MembershipAction.suspend: (frozenset({MembershipStatus.active}), MembershipStatus.suspended),
    MembershipAction.reinstate: (
        frozenset({MembershipStatus.lapsed, MembershipStatus.suspended}),
        MembershipStatus.active,
    ),
}


def change_membership_status(
    session: Session,
    principal: Principal,
    organization_id: int,
    action: MembershipAction,
    *,
    reason: str | None = None,
) -> Organization:
    """Lapse, suspend or reinstate a member, as one audited action
    ("organization.<action>", the reason in its note)."""
    allowed_from, new_status = MEMBERSHIP_TRANSITIONS[action]
    organization = get_organization(session, principal, organization_id)
    current = organization.membership_status
    if current not in allowed_from:
        allowed = " or ".join(sorted(status.value for status in allowed_from))
        raise Conflict(
            f"Cannot {action.value} an organisation whose membership is {current.value} "
            f"(only one that is {allowed})",
            field="membership_status",
        )
    organization.membership_status = new_status
    organization.updated_at = utcnow()
    record_audit(
        session,
        actor=principal.actor,
        action=f"organization.{action.value}",
        target_type="organization",
        target_id=organization.id,
        organization_id=organization.id,
        before={"membership_status": current},
        after={"membership_status": new_status},
        note=reason,
    )
    session.flush()
    return organization
