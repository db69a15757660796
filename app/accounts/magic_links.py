"""Member sign-in by emailed link.

A subscribed contact of an `active` or `applicant` organisation asks for a link; it is
valid for 15 minutes, works once, and only a keyed hash of its secret is stored. Opening
the link shows whom it signs in as (`describe_link`) without using it up, since mail
scanners open links before people do; only `redeem_link` (a POST) uses it, and does so
with one conditional UPDATE so that two simultaneous redemptions give one sign-in.

One address is one user (users.email is unique). An address that belongs to contacts
of several organisations chooses one at redemption; the user then acts for that one.

Never logged or audited: the secret, the link, the address it went to.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlmodel import Session, col, select

from app.accounts.models import SignInLink, User
from app.accounts.principal import Principal, Role
from app.accounts.schemas import UserCreate
from app.accounts.security import new_secret, secret_hash
from app.accounts.service import create_user, find_user_by_email, user_snapshot
from app.core.audit import record_audit, record_changes
from app.core.errors import NotFound, ValidationFailed
from app.core.settings import get_settings
from app.core.types import utcnow
from app.delivery.mailer import queue_email
from app.i18n import N_, translations
from app.members.models import Contact, MembershipStatus, Organization, SubscriptionStatus

LINK_LIFETIME = timedelta(minutes=15)
ELIGIBLE_STATUSES = (MembershipStatus.active, MembershipStatus.applicant)
LINK_NOT_VALID = (
    "This sign-in link is not valid: it may have expired or been used already. Ask for a new one."
)
# Who creates and updates member accounts on a redemption, in the audit log.
SIGN_IN_SYSTEM = Principal(actor="system:sign-in-link", role=Role.secretariat)


@dataclass(frozen=True)
class SignInChoice:
    """One organisation an address may sign in for, through one of its contacts."""

    organization_id: int
    organization_name: str
    contact_id: int
    contact_name: str


def normalize_email(email: str) -> str:
    return email.strip().lower()


def sign_in_choices(session: Session, email: str) -> list[SignInChoice]:
    """The organisations this address may sign in for (none: it gets no link).

    An address that already belongs to a staff user or to a deactivated account is not
    eligible: a link must never sign in a staff account, nor undo a deactivation."""
    email = normalize_email(email)
    user = find_user_by_email(session, email)
    if user is not None and (user.role is not Role.member or not user.is_active):
        return []
    rows = session.execute(
        select(Contact, Organization)
        .join(Organization, col(Organization.id) == col(Contact.organization_id))
        .where(
            col(Contact.email) == email,
            col(Contact.subscription_status) == SubscriptionStatus.subscribed,
            col(Organization.membership_status).in_(ELIGIBLE_STATUSES),
        )
        .order_by(col(Organization.name), col(Organization.id))
    ).all()
    return [
        SignInChoice(
            organization_id=organization.id or 0,
            organization_name=organization.name,
            contact_id=contact.id or 0,
            contact_name=contact.name,
        )
        for contact, organization in rows
    ]


def request_sign_in_link(session: Session, email: str, language: str | None = None) -> None:
    """Email a sign-in link if the address may sign in; otherwise do nothing. The caller
    answers the same either way, so nobody learns which addresses are members.

    The email is in `language` (the page she asked from), else in her contact's."""
    choices = sign_in_choices(session, email)
    if not choices:
        return
    url = create_sign_in_link(session, email, choices)
    contact = session.get(Contact, choices[0].contact_id)
    gettext = translations(language or (contact.language if contact else "en")).gettext
    queue_email(
        session,
        to=normalize_email(email),
        subject=gettext(_LINK_EMAIL_SUBJECT),
        text=_link_email_text(choices, url, gettext),
        purpose="sign_in_link",
    )


def create_sign_in_link(
    session: Session, email: str, choices: list[SignInChoice] | None = None
) -> str:
    """A new single-use link for an address that may sign in (its URL, to be mailed
    by the caller and nowhere else)."""
    choices = choices if choices is not None else sign_in_choices(session, email)
    if not choices:
        raise ValidationFailed("This address may not sign in", field="email")
    secret = new_secret()
    now = utcnow()
    link = SignInLink(
        secret_hash=secret_hash(secret),
        email=normalize_email(email),
        created_at=now,
        expires_at=now + LINK_LIFETIME,
    )
    session.add(link)
    session.flush()
    record_audit(
        session,
        actor="public",
        action="auth.link_requested",
        target_type="sign_in_link",
        target_id=link.id,
        after={"contact_ids": [choice.contact_id for choice in choices]},
    )
    return f"{get_settings().public_base_url.rstrip('/')}/sign-in/link/{secret}"


_LINK_EMAIL_SUBJECT = N_("Your sign-in link for the Coalition for the ICC")
# One message per paragraph, for the translators.
_LINK_EMAIL_PARAGRAPHS = (
    N_("Dear %(name)s,"),
    N_(
        "Someone (we hope you) asked to sign in to the member pages of the Coalition for "
        "the International Criminal Court with this email address, for:"
    ),
    None,  # the organisations
    N_("Open this link to sign in. It works once, within 15 minutes:"),
    None,  # the link
    N_("If you did not ask for it, ignore this message: nobody can sign in without the link."),
    N_("The secretariat of the Coalition for the International Criminal Court"),
)


def _link_email_text(
    choices: list[SignInChoice], url: str, gettext: Callable[[str], str] = str
) -> str:
    organizations = "\n".join(f"- {choice.organization_name}" for choice in choices)
    filled = iter((organizations, url))
    paragraphs = [
        next(filled) if message is None else gettext(message) for message in _LINK_EMAIL_PARAGRAPHS
    ]
    paragraphs[0] = paragraphs[0] % {"name": choices[0].contact_name}
    return "\n\n".join(paragraphs) + "\n"


def describe_link(session: Session, secret: str) -> list[SignInChoice]:
    """Whom a valid link may sign in as, without using it up (NotFound if not valid)."""
    link = _valid_link(session, secret)
    choices = sign_in_choices(session, link.email)
    if not choices:
        raise NotFound(LINK_NOT_VALID, field="token", location="body")
    return choices


def redeem_link(session: Session, secret: str, organization_id: int | None) -> User:
    """Use the link up and return the member user it signs in, created on first use.

    The choice is checked before the link is used, so a wrong or missing
    organization_id (422) leaves it valid."""
    choice = _choose(describe_link(session, secret), organization_id)
    _use_up(session, secret)
    return _member_user(session, choice)


def _valid_link(session: Session, secret: str) -> SignInLink:
    link = session.scalars(
        select(SignInLink).where(
            col(SignInLink.secret_hash) == secret_hash(secret),
            col(SignInLink.used_at).is_(None),
            col(SignInLink.expires_at) > utcnow(),
        )
    ).first()
    if link is None:
        raise NotFound(LINK_NOT_VALID, field="token", location="body")
    return link


def _choose(choices: list[SignInChoice], organization_id: int | None) -> SignInChoice:
    if organization_id is None and len(choices) == 1:
        return choices[0]
    for choice in choices:
        if choice.organization_id == organization_id:
            return choice
    names = ", ".join(f"{c.organization_name} ({c.organization_id})" for c in choices)
    raise ValidationFailed(
        f"Choose the organisation to sign in for: one of {names}", field="organization_id"
    )


def _use_up(session: Session, secret: str) -> None:
    """Mark the link used in one conditional UPDATE: of two simultaneous redemptions,
    the database lets exactly one match the row."""
    now = utcnow()
    statement = (
        update(SignInLink)
        .where(
            col(SignInLink.secret_hash) == secret_hash(secret),
            col(SignInLink.used_at).is_(None),
            col(SignInLink.expires_at) > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    result = cast(CursorResult[Any], session.execute(statement))
    if result.rowcount != 1:
        raise NotFound(LINK_NOT_VALID, field="token", location="body")


def _member_user(session: Session, choice: SignInChoice) -> User:
    """The address's member user, created now if new, acting for the chosen organisation."""
    contact = session.get_one(Contact, choice.contact_id)
    user = find_user_by_email(session, contact.email)
    if user is None:
        return create_user(
            session,
            SIGN_IN_SYSTEM,
            UserCreate(
                email=contact.email,
                full_name=contact.name,
                role=Role.member,
                organization_id=choice.organization_id,
                contact_id=choice.contact_id,
            ),
        )
    before = user_snapshot(user)
    user.organization_id = choice.organization_id
    user.contact_id = choice.contact_id
    user.full_name = user.full_name or contact.name
    session.flush()
    if record_changes(
        session,
        actor=SIGN_IN_SYSTEM.actor,
        action="user.switch_organization",
        target_type="user",
        target_id=user.id,
        before=before,
        after=user_snapshot(user),
    ):
        user.updated_at = utcnow()
    return user
