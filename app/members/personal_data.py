"""Personal data of a contact: export everything held about them, or erase it.

Export gathers, for one contact: the contact row, their organisation's id and name, the
member user account(s) tied to them (never a password hash), their sign-in history,
their sign-in links (times only, never the secret), the transactional messages sent to
them (subject and times only: bodies may hold a sign-in link), any membership
application they made, whether their address is suppressed, every audit entry about
the contact or their user account, and what their account did (actions only).

Erasure keeps the contact row but anonymises it, so that counts (contacts per
organisation, deliveries per campaign, participation figures) stay intact while nothing
in them points to a person any more:

- the contact: name "[erased]", email `erased-{id}@invalid.example` (unique per
  organisation, never deliverable), consent cleared, unsubscribed;
- audit entries: the address wherever it appears, and the person's name and consent
  in entries about them, become "[erased]";
- member user accounts tied to the contact (or with their address): anonymised,
  deactivated, every session and token revoked;
- sign-in links for the address: deleted; transactional messages to the address:
  deleted, and the address replaced in any other message that quotes it;
- the organisation's notes: the address replaced;
- suppressions: the SHA-256 of the lower-cased address is added (reason `erased`), so
  the address is never mailed again even if someone imports it afresh.

The erasure is written once, as the audit entry "contact.erase", which names no one.
"""

import json
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Text, cast, delete, func, or_, update
from sqlmodel import Session, col, select

from app.accounts.models import SignInLink, User
from app.accounts.principal import Principal, Role
from app.accounts.service import revoke_credentials
from app.core.audit import AuditEntry, AuditEntryRead, record_audit
from app.core.errors import Conflict
from app.core.types import utcnow
from app.delivery.models import OutboxMessage, Suppression, SuppressionReason
from app.delivery.suppressions import suppress, suppression_hash
from app.members.models import (
    Contact,
    MembershipApplication,
    Organization,
    SubscriptionStatus,
)
from app.members.schemas import ContactRead
from app.members.service import get_contact

ERASED = "[erased]"
ERASED_EMAIL_DOMAIN = "invalid.example"
# In a record about the person (the contact's or their account's audit entries, or a
# record that holds their address), these fields are theirs.
PERSONAL_KEYS = frozenset(
    {
        "name",
        "full_name",
        "email",
        "contact_name",
        "contact_email",
        "consent_at",
        "consent_method",
    }
)


def erased_contact_email(contact_id: int) -> str:
    return f"erased-{contact_id}@{ERASED_EMAIL_DOMAIN}"


def is_erased(contact: Contact) -> bool:
    return contact.email == erased_contact_email(contact.id or 0)


# --- export -------------------------------------------------------------------------------


class ExportedOrganization(BaseModel):
    id: int
    name: str


class ExportedUser(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    full_name: str
    role: Role
    is_active: bool
    organization_id: int | None
    contact_id: int | None
    created_at: datetime
    updated_at: datetime
    last_sign_in_at: datetime | None


class ExportedSignIn(BaseModel):
    at: datetime
    user_id: str
    action: str


class ExportedSignInLink(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    created_at: datetime
    expires_at: datetime
    used_at: datetime | None


class ExportedMessage(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    to_address: str
    subject: str
    purpose: str
    created_at: datetime
    sent_at: datetime | None


class ExportedApplication(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    motivation: str | None
    submitted_at: datetime
    decision: str | None
    decided_at: datetime | None


class ExportedSuppression(BaseModel):
    reason: SuppressionReason
    since: datetime


class ExportedAction(BaseModel):
    """Something the person's account did: what and when, not the values it changed
    (those may be other people's data)."""

    model_config = ConfigDict(from_attributes=True)

    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str


class ContactExport(BaseModel):
    exported_at: datetime
    contact: ContactRead
    organization: ExportedOrganization
    user_accounts: list[ExportedUser]
    sign_in_history: list[ExportedSignIn]
    sign_in_links: list[ExportedSignInLink]
    messages: list[ExportedMessage]
    membership_applications: list[ExportedApplication]
    suppression: ExportedSuppression | None
    audit_entries: list[AuditEntryRead]
    actions_by_their_account: list[ExportedAction]


def _linked_users(session: Session, contact: Contact) -> list[User]:
    """Member accounts that are this person: tied to the contact, or with their address
    (an address at two organisations has one account, tied to one of the contacts)."""
    return list(
        session.scalars(
            select(User)
            .where(
                or_(
                    col(User.contact_id) == contact.id,
                    (col(User.email) == contact.email) & (col(User.role) == Role.member),
                )
            )
            .order_by(col(User.id))
        ).all()
    )


def _entries_about(session: Session, contact: Contact, users: list[User]) -> list[AuditEntry]:
    conditions = [
        (col(AuditEntry.target_type) == "contact") & (col(AuditEntry.target_id) == str(contact.id))
    ]
    if users:
        conditions.append(
            (col(AuditEntry.target_type) == "user")
            & col(AuditEntry.target_id).in_([str(user.id) for user in users])
        )
    return list(
        session.scalars(
            select(AuditEntry)
            .where(or_(*conditions))
            .order_by(col(AuditEntry.at), col(AuditEntry.id))
        ).all()
    )


def export_contact(session: Session, principal: Principal, contact_id: int) -> ContactExport:
    """Everything held about a contact the principal may see (audited, "contact.export")."""
    contact = get_contact(session, principal, contact_id)
    organization = session.get_one(Organization, contact.organization_id)
    users = _linked_users(session, contact)
    user_ids = {str(user.id) for user in users}
    entries = _entries_about(session, contact, users)
    actions = (
        list(
            session.scalars(
                select(AuditEntry)
                .where(col(AuditEntry.actor).in_([f"user:{user.id}" for user in users]))
                .order_by(col(AuditEntry.at), col(AuditEntry.id))
            ).all()
        )
        if users
        else []
    )
    addresses = sorted({contact.email, *(user.email for user in users)})
    links = session.scalars(
        select(SignInLink)
        .where(col(SignInLink.email).in_(addresses))
        .order_by(col(SignInLink.created_at))
    ).all()
    messages = session.scalars(
        select(OutboxMessage)
        .where(func.lower(col(OutboxMessage.to_address)).in_(addresses))
        .order_by(col(OutboxMessage.created_at))
    ).all()
    applications = session.scalars(
        select(MembershipApplication)
        .where(col(MembershipApplication.contact_id) == contact.id)
        .order_by(col(MembershipApplication.submitted_at))
    ).all()
    suppression = session.scalars(
        select(Suppression).where(col(Suppression.email_hash) == suppression_hash(contact.email))
    ).first()
    export = ContactExport(
        exported_at=utcnow(),
        contact=ContactRead.from_contact(contact),
        organization=ExportedOrganization(id=organization.id or 0, name=organization.name),
        user_accounts=[ExportedUser.model_validate(user) for user in users],
        sign_in_history=[
            ExportedSignIn(at=entry.at, user_id=entry.target_id, action=entry.action)
            for entry in entries
            if entry.target_type == "user"
            and entry.target_id in user_ids
            and entry.action.startswith("auth.")
        ],
        sign_in_links=[ExportedSignInLink.model_validate(link) for link in links],
        messages=[ExportedMessage.model_validate(message) for message in messages],
        membership_applications=[ExportedApplication.model_validate(a) for a in applications],
        suppression=(
            ExportedSuppression(reason=suppression.reason, since=suppression.created_at)
            if suppression
            else None
        ),
        audit_entries=[AuditEntryRead.model_validate(entry) for entry in entries],
        actions_by_their_account=[ExportedAction.model_validate(entry) for entry in actions],
    )
    record_audit(
        session,
        actor=principal.actor,
        action="contact.export",
        target_type="contact",
        target_id=contact.id,
        organization_id=contact.organization_id,
    )
    session.flush()
    return export


# --- erasure ------------------------------------------------------------------------------


class ErasureReport(BaseModel):
    contact_id: int
    organization_id: int
    users_deactivated: int
    sign_in_links_deleted: int
    messages_deleted: int
    messages_scrubbed: int
    audit_entries_scrubbed: int
    suppressed: bool


def erase_contact(session: Session, principal: Principal, contact_id: int) -> ErasureReport:
    """Remove a contact's personal data everywhere it is held; keep the row, anonymised,
    so that every count stays right (see the module's docstring for the full list).

    This is the one function erasure goes through. Tables added later that hold personal
    data (replies and action notes, issue 6; deliveries and events) extend it here, each
    step keyed by the contact id or the addresses collected below.
    """
    contact = get_contact(session, principal, contact_id)
    if is_erased(contact):
        raise Conflict("This contact's personal data has been erased already")
    users = _linked_users(session, contact)
    addresses = sorted({contact.email.lower(), *(user.email.lower() for user in users)})
    names = {name for name in [contact.name, *(user.full_name for user in users)] if name.strip()}

    audit_entries_scrubbed = _scrub_audit_entries(session, contact, users, addresses, names)
    messages_deleted, messages_scrubbed = _erase_messages(session, addresses)
    sign_in_links_deleted = _delete_sign_in_links(session, addresses)
    for user in users:
        _anonymise_user(session, user)
    _scrub_organization_notes(session, contact.organization_id, addresses)
    _erase_applications(session, contact)
    suppressed = _suppress(session, addresses)
    _anonymise_contact(contact)
    session.flush()

    report = ErasureReport(
        contact_id=contact.id or 0,
        organization_id=contact.organization_id,
        users_deactivated=len(users),
        sign_in_links_deleted=sign_in_links_deleted,
        messages_deleted=messages_deleted,
        messages_scrubbed=messages_scrubbed,
        audit_entries_scrubbed=audit_entries_scrubbed,
        suppressed=suppressed,
    )
    # Counts and ids only: this entry must not bring back what was just erased.
    record_audit(
        session,
        actor=principal.actor,
        action="contact.erase",
        target_type="contact",
        target_id=contact.id,
        organization_id=contact.organization_id,
        after=report.model_dump(exclude={"contact_id", "organization_id"}),
    )
    session.flush()
    return report


def _erase_applications(session: Session, contact: Contact) -> None:
    """What the person wrote in their application, and what staff wrote back to them,
    is theirs: it goes too (the application and its decision stay, for the counts)."""
    mine = col(MembershipApplication.contact_id) == contact.id
    organization_ids = select(MembershipApplication.organization_id).where(mine)
    # The decline reason is also the note of its audit entry.
    session.execute(
        update(AuditEntry)
        .where(
            col(AuditEntry.action) == "application.decline",
            col(AuditEntry.organization_id).in_(organization_ids),
            col(AuditEntry.note).is_not(None),
        )
        .values(note=ERASED)
    )
    for column in (MembershipApplication.motivation, MembershipApplication.decline_reason):
        session.execute(
            update(MembershipApplication)
            .where(mine, col(column).is_not(None))
            .values({col(column): ERASED})
        )


def _anonymise_contact(contact: Contact) -> None:
    contact.name = ERASED
    contact.email = erased_contact_email(contact.id or 0)
    contact.consent_at = None
    contact.consent_method = None
    contact.subscription_status = SubscriptionStatus.unsubscribed
    contact.paused_until = None
    contact.updated_at = utcnow()


def _anonymise_user(session: Session, user: User) -> None:
    user.email = f"erased-user-{user.id}@{ERASED_EMAIL_DOMAIN}"
    user.full_name = ""
    user.is_active = False
    user.password_hash = None
    user.updated_at = utcnow()
    revoke_credentials(session, user.id or 0)


def _delete_sign_in_links(session: Session, addresses: list[str]) -> int:
    result = session.execute(delete(SignInLink).where(col(SignInLink.email).in_(addresses)))
    return int(getattr(result, "rowcount", 0) or 0)


def _erase_messages(session: Session, addresses: list[str]) -> tuple[int, int]:
    """Delete the messages sent to the person; take their address out of any other."""
    result = session.execute(
        delete(OutboxMessage).where(func.lower(col(OutboxMessage.to_address)).in_(addresses))
    )
    deleted = int(getattr(result, "rowcount", 0) or 0)
    mentions = [
        or_(
            col(OutboxMessage.subject).icontains(address, autoescape=True),
            col(OutboxMessage.text_body).icontains(address, autoescape=True),
            col(OutboxMessage.html_body).icontains(address, autoescape=True),
        )
        for address in addresses
    ]
    scrubbed = 0
    for message in session.scalars(select(OutboxMessage).where(or_(*mentions))).all():
        message.subject = _replace_addresses(message.subject, addresses)
        message.text_body = _replace_addresses(message.text_body, addresses)
        if message.html_body is not None:
            message.html_body = _replace_addresses(message.html_body, addresses)
        scrubbed += 1
    return deleted, scrubbed


def _scrub_organization_notes(session: Session, organization_id: int, addresses: list[str]) -> None:
    organization = session.get_one(Organization, organization_id)
    if organization.notes:
        organization.notes = _replace_addresses(organization.notes, addresses)


def _suppress(session: Session, addresses: list[str]) -> bool:
    """Keep every address of the person off every list, as a hash (an address that is
    suppressed already keeps its first reason)."""
    for address in addresses:
        suppress(session, address, SuppressionReason.erased)
    return True


def _scrub_audit_entries(
    session: Session,
    contact: Contact,
    users: list[User],
    addresses: list[str],
    names: set[str],
) -> int:
    """Replace the person's data in the audit log with "[erased]".

    In entries about the contact or their accounts, every personal field (name, email,
    consent) goes, including earlier values (a name changed since). Elsewhere, any
    entry that quotes one of their addresses, current or earlier, loses the address,
    and a record holding that address (a merged-away twin, an application) loses the
    name and consent beside it.
    """
    about = _entries_about(session, contact, users)
    addresses = sorted({*addresses, *_earlier_values(about, ("email", "contact_email"))})
    addresses = [address.lower() for address in addresses]
    names = {*names, *_earlier_values(about, ("name", "full_name", "contact_name"))}
    folded_names = {name.strip().casefold() for name in names if name.strip()}
    quoting = [
        or_(
            cast(col(AuditEntry.before), Text).icontains(form, autoescape=True),
            cast(col(AuditEntry.after), Text).icontains(form, autoescape=True),
            col(AuditEntry.note).icontains(form, autoescape=True),
        )
        for address in addresses
        # JSON text may escape non-ASCII characters: look for both spellings.
        for form in {address, json.dumps(address)[1:-1]}
    ]
    mentioning = list(session.scalars(select(AuditEntry).where(or_(*quoting))).all())
    about_ids = {entry.id for entry in about}
    scrubbed = 0
    for entry in {entry.id: entry for entry in [*about, *mentioning]}.values():
        scrub = _Scrubber(addresses, folded_names, about=entry.id in about_ids)
        before, after = scrub.value(entry.before), scrub.value(entry.after)
        note = _replace_addresses(entry.note, addresses) if entry.note else entry.note
        if before != entry.before or after != entry.after or note != entry.note:
            # New objects, so that the JSON columns are seen as changed.
            entry.before, entry.after, entry.note = before, after, note
            scrubbed += 1
    return scrubbed


def _earlier_values(entries: list[AuditEntry], keys: tuple[str, ...]) -> set[str]:
    found: set[str] = set()
    for entry in entries:
        for record in (entry.before, entry.after):
            for key in keys:
                value = (record or {}).get(key)
                if isinstance(value, str) and value.strip() and value != ERASED:
                    found.add(value)
    return found


class _Scrubber:
    def __init__(self, addresses: list[str], folded_names: set[str], *, about: bool) -> None:
        self.addresses = addresses
        self.folded_names = folded_names
        self.about = about

    def value(self, value: Any, *, top: bool = True) -> Any:
        if isinstance(value, dict):
            personal = (self.about and top) or any(
                isinstance(item, str) and item.strip().lower() in self.addresses
                for item in value.values()
            )
            return {
                key: ERASED
                if personal and key in PERSONAL_KEYS and item is not None
                else self.value(item, top=False)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self.value(item, top=False) for item in value]
        if isinstance(value, str):
            if value.strip().casefold() in self.folded_names:
                return ERASED
            return _replace_addresses(value, self.addresses)
        return value


def _replace_addresses(text: str, addresses: list[str]) -> str:
    for address in addresses:
        text = re.sub(re.escape(address), ERASED, text, flags=re.IGNORECASE)
    return text
