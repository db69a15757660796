"""Users and sign-in: who may act, with which credential, and ending those credentials.

No HTTP here. Credentials are random secrets shown once; only their keyed hashes are
stored, and a revoked or expired row signs nobody in.
"""

from datetime import timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from app.accounts.models import Credential, CredentialKind, User, UserRegion
from app.accounts.principal import Principal, Role
from app.accounts.schemas import PasswordChange, UserCreate, UserUpdate
from app.accounts.security import hash_password, new_secret, secret_hash, verify_password
from app.core.audit import record_audit, record_changes
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.core.types import utcnow
from app.members.models import Contact, MembershipStatus, Organization

LIFETIMES = {
    CredentialKind.session: timedelta(hours=12),
    CredentialKind.bearer: timedelta(days=30),
}


def principal_for(user: User) -> Principal:
    return Principal(
        actor=f"user:{user.id}",
        role=user.role,
        regions=frozenset(user.regions),
        organization_id=user.organization_id,
        user_id=user.id,
        is_admin=user.is_admin,
        contact_id=user.contact_id,
    )


def user_snapshot(user: User) -> dict[str, object]:
    """What the audit log records of a user: never the password hash."""
    return {
        "email": user.email,
        "full_name": user.full_name,
        "role": user.role,
        "is_admin": user.is_admin,
        "is_active": user.is_active,
        "regions": user.regions,
        "organization_id": user.organization_id,
        "contact_id": user.contact_id,
    }


# --- users ---------------------------------------------------------------------------


def find_user_by_email(session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == email.strip().lower())).first()


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"No user with id {user_id}")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(col(User.email))).all())


def create_user(session: Session, principal: Principal, data: UserCreate) -> User:
    email = data.email.lower()
    if find_user_by_email(session, email) is not None:
        raise Conflict(f"A user with email {email} exists already", field="email")
    _check_role_fields(session, data)
    user = User(
        email=email,
        full_name=data.full_name,
        role=data.role,
        is_admin=data.is_admin and data.role is Role.secretariat,
        organization_id=data.organization_id if data.role is Role.member else None,
        contact_id=data.contact_id if data.role is Role.member else None,
        password_hash=hash_password(data.password) if data.password else None,
    )
    user.region_rows = [UserRegion(region_slug=slug) for slug in sorted(set(data.regions))]
    session.add(user)
    session.flush()
    record_audit(
        session,
        actor=principal.actor,
        action="user.create",
        target_type="user",
        target_id=user.id,
        after=user_snapshot(user),
    )
    return user


def _check_role_fields(session: Session, data: UserCreate) -> None:
    if data.role is Role.regional_lead and not data.regions:
        raise ValidationFailed("A regional lead needs at least one region", field="regions")
    if data.role is not Role.regional_lead and data.regions:
        raise ValidationFailed("Only regional leads have regions", field="regions")
    if data.is_admin and data.role is not Role.secretariat:
        raise ValidationFailed("Only secretariat users can be admins", field="is_admin")
    if data.role is Role.member:
        if data.password:
            raise ValidationFailed("Members sign in by emailed link", field="password")
        contact = session.get(Contact, data.contact_id) if data.contact_id else None
        if contact is None or contact.organization_id != data.organization_id:
            raise ValidationFailed(
                "A member needs organization_id and one of its contacts as contact_id",
                field="contact_id",
            )
    elif data.organization_id or data.contact_id:
        raise ValidationFailed("Only members belong to an organisation", field="organization_id")
    elif not data.password:
        raise ValidationFailed("Staff users need a password", field="password")


def update_user(session: Session, principal: Principal, user_id: int, data: UserUpdate) -> User:
    user = get_user(session, user_id)
    before = user_snapshot(user)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("is_admin") and user.role is not Role.secretariat:
        raise ValidationFailed("Only secretariat users can be admins", field="is_admin")
    if "regions" in changes:
        if user.role is not Role.regional_lead:
            raise ValidationFailed("Only regional leads have regions", field="regions")
        if not changes["regions"]:
            raise ValidationFailed("A regional lead needs at least one region", field="regions")
        user.region_rows = [UserRegion(region_slug=s) for s in sorted(set(changes.pop("regions")))]
    if user.id == principal.user_id and (
        changes.get("is_active") is False or changes.get("is_admin") is False
    ):
        raise ValidationFailed("You cannot lock yourself out", field="is_active")
    for name, value in changes.items():
        if value is not None:
            setattr(user, name, value)
    session.flush()
    if record_changes(
        session,
        actor=principal.actor,
        action="user.update",
        target_type="user",
        target_id=user.id,
        before=before,
        after=user_snapshot(user),
    ):
        user.updated_at = utcnow()
    if not user.is_active or before["role"] != user.role or before["regions"] != user.regions:
        # What the user may see changed or ended: every sign-in starts again.
        revoke_credentials(session, user.id or 0)
    return user


def change_password(
    session: Session, principal: Principal, user: User, data: PasswordChange, *, keep: str | None
) -> None:
    """Set a new password and end every other sign-in of the user (keep: this one)."""
    if user.role is Role.member:
        raise ValidationFailed("Members sign in by emailed link", field="new_password")
    if not verify_password(user.password_hash, data.current_password):
        raise ValidationFailed("The current password is not right", field="current_password")
    user.password_hash = hash_password(data.new_password)
    user.updated_at = utcnow()
    revoke_credentials(session, user.id or 0, keep_secret=keep)
    record_audit(
        session,
        actor=principal.actor,
        action="user.password_change",
        target_type="user",
        target_id=user.id,
    )


# --- credentials -------------------------------------------------------------------------


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active staff user with this email and password, or None (same cost either way)."""
    user = find_user_by_email(session, email)
    valid = verify_password(user.password_hash if user else None, password)
    if user is None or not valid or not user.is_active:
        return None
    return user


def issue_credential(session: Session, user: User, kind: CredentialKind) -> tuple[str, int]:
    """A new sign-in for `user`: the secret (shown once) and its lifetime in seconds."""
    secret = new_secret()
    lifetime = LIFETIMES[kind]
    session.add(
        Credential(
            secret_hash=secret_hash(secret),
            user_id=user.id or 0,
            kind=kind,
            expires_at=utcnow() + lifetime,
        )
    )
    user.last_sign_in_at = utcnow()
    session.flush()
    record_audit(
        session,
        actor=f"user:{user.id}",
        action=f"auth.sign_in.{kind.value}",
        target_type="user",
        target_id=user.id,
    )
    return secret, int(lifetime.total_seconds())


def user_for_credential(session: Session, secret: str, kind: CredentialKind) -> User | None:
    credential = session.scalars(
        select(Credential).where(
            Credential.secret_hash == secret_hash(secret),
            Credential.kind == kind,
            col(Credential.revoked_at).is_(None),
            col(Credential.expires_at) > utcnow(),
        )
    ).first()
    if credential is None:
        return None
    user = session.get(User, credential.user_id)
    if user is None or not user.is_active:
        return None
    if user.role is Role.member and not _member_organization_current(session, user):
        return None  # a lapsed, suspended or archived member no longer signs in
    return user


def _member_organization_current(session: Session, user: User) -> bool:
    status = session.scalar(
        select(Organization.membership_status).where(Organization.id == user.organization_id)
    )
    return status in (MembershipStatus.active, MembershipStatus.applicant)


def revoke_credential(session: Session, secret: str) -> None:
    session.execute(
        update(Credential)
        .where(col(Credential.secret_hash) == secret_hash(secret))
        .values(revoked_at=utcnow())
    )


def revoke_credentials(session: Session, user_id: int, *, keep_secret: str | None = None) -> None:
    statement = (
        update(Credential)
        .where(col(Credential.user_id) == user_id, col(Credential.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    if keep_secret is not None:
        statement = statement.where(col(Credential.secret_hash) != secret_hash(keep_secret))
    session.execute(statement)
