"""Demo sign-ins, one per role, so a new user can try the product at once.

They exist only in demo mode: the password is printed on the terminal and written in
this file, so it must never reach a real installation.
"""

from dataclasses import dataclass

from sqlmodel import Session, col, select

from app.accounts import service as accounts
from app.accounts.principal import Principal, Role
from app.accounts.schemas import UserCreate
from app.core.errors import ValidationFailed
from app.core.settings import get_settings
from app.members.models import Contact, MembershipStatus, Organization, SubscriptionStatus

DEMO_PASSWORD = "coalition-demo-password"  # noqa: S105  (demo mode only, see module doc)


@dataclass(frozen=True)
class DemoUser:
    email: str
    role: Role
    full_name: str
    is_admin: bool = False
    regions: tuple[str, ...] = ()


# Two secretariat users, so that one can approve what the other writes.
STAFF = (
    DemoUser("admin@example.org", Role.secretariat, "Amira Haddad (admin)", is_admin=True),
    DemoUser("secretariat@example.org", Role.secretariat, "Tomás Rivera"),
    DemoUser("lead.africa@example.org", Role.regional_lead, "Grace Mensah", regions=("africa",)),
)


@dataclass
class DemoSignIn:
    email: str
    role: Role
    how: str
    created: bool


def ensure_demo_users(session: Session, principal: Principal) -> list[DemoSignIn]:
    """Create the demo users that are missing (a second run changes nothing)."""
    if not get_settings().demo_mode:
        raise ValidationFailed("Demo users exist only in demo mode (DEMO_MODE=1)")
    sign_ins = []
    for demo in STAFF:
        existing = accounts.find_user_by_email(session, demo.email)
        if existing is None:
            accounts.create_user(
                session,
                principal,
                UserCreate(
                    email=demo.email,
                    full_name=demo.full_name,
                    role=demo.role,
                    is_admin=demo.is_admin,
                    regions=list(demo.regions),
                    password=DEMO_PASSWORD,
                ),
            )
        sign_ins.append(
            DemoSignIn(demo.email, demo.role, f"password {DEMO_PASSWORD}", existing is None)
        )
    member = _demo_member_contact(session)
    if member is not None:
        contact, organization = member
        # Members have no password: their account is made when they first use a link.
        sign_ins.append(
            DemoSignIn(
                contact.email,
                Role.member,
                f"ask for a sign-in link at /sign-in/member ({organization.name}); "
                "in demo mode the email lands in the outbox at /outbox",
                created=False,
            )
        )
    return sign_ins


def _demo_member_contact(session: Session) -> tuple[Contact, Organization] | None:
    """A subscribed focal point of an active member, the same one every time."""
    row = session.execute(
        select(Contact, Organization)
        .join(Organization, col(Organization.id) == col(Contact.organization_id))
        .where(
            Organization.membership_status == MembershipStatus.active,
            Contact.subscription_status == SubscriptionStatus.subscribed,
        )
        .order_by(col(Organization.id), col(Contact.id))
        .limit(1)
    ).first()
    return (row[0], row[1]) if row else None
