"""Membership applications: the public form creates an `applicant` organisation with its
first contact; secretariat or the lead of its region approves (→ `active`, welcome
email) or declines it (→ `archived`, polite email with the reason).

Reads go through `visible_organizations`, so a regional lead sees and decides only the
applications of her regions. No HTTP here; services flush, the caller commits, and the
mail is queued in the same transaction (a rolled-back decision sends nothing).
"""

from dataclasses import dataclass

from sqlalchemy import func, update
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.accounts.magic_links import create_sign_in_link, sign_in_choices
from app.accounts.principal import Principal, Role
from app.accounts.scoping import visible_organizations
from app.core.audit import record_audit
from app.core.errors import Conflict, NotFound
from app.core.settings import get_settings
from app.core.types import utcnow
from app.countries.models import Country
from app.delivery.mailer import queue_email
from app.i18n import N_
from app.members import service
from app.members.models import (
    ApplicationDecision,
    Contact,
    MembershipApplication,
    MembershipStatus,
    Organization,
)
from app.members.schemas import (
    ApplicationCreate,
    ApplicationState,
    ContactCreate,
    OrganizationCreate,
)

# Who the audit log names for what the public form creates. It acts as secretariat so
# that the registry's own checks (country exists, placeable) apply unchanged.
APPLICATION_FORM = Principal(actor="public:application", role=Role.secretariat)
CONSENT_METHOD = "membership application form"
MAX_PAGE_SIZE = 500


@dataclass
class ApplicationView:
    """An application with what a reader needs beside it."""

    application: MembershipApplication
    organization: Organization
    contact: Contact | None
    region: str

    @property
    def state(self) -> ApplicationState:
        if self.application.decision is None:
            return ApplicationState.pending
        return ApplicationState(self.application.decision.value)


# --- applying -----------------------------------------------------------------------------


def submit_application(session: Session, data: ApplicationCreate) -> MembershipApplication:
    """Create the applicant organisation, its first contact (consent recorded now) and the
    application. Refuses a name already registered (not archived) in that country."""
    _refuse_duplicate(session, data.organization_name, data.country)
    organization = service.create_organization(
        session,
        APPLICATION_FORM,
        OrganizationCreate(
            name=data.organization_name,
            acronym=data.acronym,
            country=data.country,
            type=data.type,
            focus_areas=data.focus_areas,
            languages=data.languages,
            website=data.website,
            address=data.address,
            membership_status=MembershipStatus.applicant,
        ),
    )
    contact = service.add_contact(
        session,
        APPLICATION_FORM,
        organization,
        ContactCreate(
            name=data.contact_name,
            email=data.contact_email,
            role=data.contact_role,
            language=data.contact_language,
            consent_at=utcnow(),
            consent_method=CONSENT_METHOD,
        ),
    )
    application = MembershipApplication(
        organization_id=organization.id or 0,
        contact_id=contact.id,
        motivation=data.motivation or None,
    )
    session.add(application)
    session.flush()
    record_audit(
        session,
        actor=APPLICATION_FORM.actor,
        action="application.submit",
        target_type="organization",
        target_id=organization.id,
        organization_id=organization.id,
        # The motivation stays on the application; the log says only that one was made.
        after={"application_id": application.id},
    )
    return application


def _refuse_duplicate(session: Session, name: str, country: str) -> None:
    existing = session.scalar(
        select(Organization.id).where(
            func.lower(Organization.name) == name.lower(),
            col(Organization.country_iso3) == country,
            col(Organization.membership_status) != MembershipStatus.archived,
        )
    )
    if existing is not None:
        raise Conflict(
            N_(
                "An organisation of this name in this country is already a member or has "
                "applied; write to the secretariat if you think this is a mistake"
            ),
            field="organization_name",
        )


# --- reading ------------------------------------------------------------------------------


def visible_applications(principal: Principal) -> SelectOfScalar[MembershipApplication]:
    """The applications of the organisations the principal may see."""
    organization_ids = visible_organizations(principal).with_only_columns(col(Organization.id))
    return select(MembershipApplication).where(
        col(MembershipApplication.organization_id).in_(organization_ids)
    )


def _in_state(
    query: SelectOfScalar[MembershipApplication], state: ApplicationState
) -> SelectOfScalar[MembershipApplication]:
    if state is ApplicationState.pending:
        return query.where(col(MembershipApplication.decision).is_(None))
    return query.where(col(MembershipApplication.decision) == ApplicationDecision(state.value))


def list_applications(
    session: Session,
    principal: Principal,
    state: ApplicationState = ApplicationState.pending,
    *,
    limit: int = 100,
) -> tuple[list[ApplicationView], int]:
    """Applications in a state, oldest first, and how many there are in all."""
    query = _in_state(visible_applications(principal), state)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    applications = list(
        session.scalars(
            query.order_by(
                col(MembershipApplication.submitted_at), col(MembershipApplication.id)
            ).limit(min(max(limit, 1), MAX_PAGE_SIZE))
        ).all()
    )
    return _views(session, applications), total


def get_application(session: Session, principal: Principal, application_id: int) -> ApplicationView:
    application = session.scalars(
        visible_applications(principal).where(col(MembershipApplication.id) == application_id)
    ).first()
    if application is None:
        raise NotFound(f"No application with id {application_id}")
    return _views(session, [application])[0]


def _views(session: Session, applications: list[MembershipApplication]) -> list[ApplicationView]:
    if not applications:
        return []
    organizations = {
        organization.id: organization
        for organization in session.scalars(
            select(Organization).where(
                col(Organization.id).in_({a.organization_id for a in applications})
            )
        ).all()
    }
    contact_ids = {a.contact_id for a in applications if a.contact_id is not None}
    contacts = {
        contact.id: contact
        for contact in session.scalars(select(Contact).where(col(Contact.id).in_(contact_ids)))
    }
    regions = dict(
        session.execute(
            select(Country.iso3, Country.region_slug).where(
                col(Country.iso3).in_({o.country_iso3 for o in organizations.values()})
            )
        ).all()
    )
    views = []
    for application in applications:
        organization = organizations[application.organization_id]
        views.append(
            ApplicationView(
                application=application,
                organization=organization,
                contact=contacts.get(application.contact_id),
                region=regions[organization.country_iso3],
            )
        )
    return views


# --- deciding -----------------------------------------------------------------------------


def approve_application(
    session: Session, principal: Principal, application_id: int
) -> ApplicationView:
    """The organisation becomes an active member from today; its contact is welcomed."""
    view = _decidable(session, principal, application_id)
    organization = view.organization
    _record_decision(session, principal, view.application, ApplicationDecision.approved)
    before = {
        "membership_status": organization.membership_status,
        "joined_on": organization.joined_on,
    }
    organization.membership_status = MembershipStatus.active
    organization.joined_on = utcnow().date()
    organization.updated_at = utcnow()
    record_audit(
        session,
        actor=principal.actor,
        action="application.approve",
        target_type="organization",
        target_id=organization.id,
        organization_id=organization.id,
        before=before,
        after={
            "membership_status": organization.membership_status,
            "joined_on": organization.joined_on,
            "application_id": view.application.id,
        },
    )
    recipient = _recipient(session, view)
    if recipient is not None:
        session.flush()  # the organisation is active now, so the contact may sign in
        choices = sign_in_choices(session, recipient.email)
        link = create_sign_in_link(session, recipient.email, choices) if choices else None
        queue_email(
            session,
            to=recipient.email,
            subject="Welcome to the Coalition for the International Criminal Court",
            text=_welcome_text(recipient, organization, link),
            purpose="welcome",
        )
    session.flush()
    return view


def decline_application(
    session: Session, principal: Principal, application_id: int, reason: str
) -> ApplicationView:
    """The applicant organisation is archived; its contact is told why."""
    view = _decidable(session, principal, application_id)
    organization = view.organization
    _record_decision(
        session, principal, view.application, ApplicationDecision.declined, reason=reason
    )
    before = {"membership_status": organization.membership_status}
    organization.membership_status = MembershipStatus.archived
    organization.updated_at = utcnow()
    record_audit(
        session,
        actor=principal.actor,
        action="application.decline",
        target_type="organization",
        target_id=organization.id,
        organization_id=organization.id,
        before=before,
        after={
            "membership_status": organization.membership_status,
            "application_id": view.application.id,
        },
        note=reason,
    )
    recipient = _recipient(session, view)
    if recipient is not None:
        queue_email(
            session,
            to=recipient.email,
            subject="Your application to the Coalition for the International Criminal Court",
            text=_decline_text(recipient, organization, reason),
            purpose="application_declined",
        )
    session.flush()
    return view


def _decidable(session: Session, principal: Principal, application_id: int) -> ApplicationView:
    view = get_application(session, principal, application_id)
    application = view.application
    if application.decision is not None:
        when = application.decided_at.date().isoformat() if application.decided_at else "earlier"
        raise Conflict(
            f"This application was already {application.decision.value} ({when}, by "
            f"{application.decided_by})"
        )
    status = view.organization.membership_status
    if status is not MembershipStatus.applicant:
        raise Conflict(
            f"The organisation is no longer an applicant (its membership is {status.value}); "
            "change it on the organisation itself",
            field="membership_status",
        )
    return view


def _record_decision(
    session: Session,
    principal: Principal,
    application: MembershipApplication,
    decision: ApplicationDecision,
    *,
    reason: str | None = None,
) -> None:
    """Set the decision only if none is recorded yet, in one statement: of two people
    deciding at the same moment, one wins and the other gets a conflict."""
    result = session.execute(
        update(MembershipApplication)
        .where(
            col(MembershipApplication.id) == application.id,
            col(MembershipApplication.decision).is_(None),
        )
        .values(
            decision=decision,
            decided_at=utcnow(),
            decided_by=principal.actor,
            decline_reason=reason,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("Someone else decided this application a moment ago; reload")
    session.refresh(application)


def _recipient(session: Session, view: ApplicationView) -> Contact | None:
    """The contact who applied or, if removed since, the organisation's first contact."""
    if view.contact is not None:
        return view.contact
    return session.scalars(
        select(Contact)
        .where(col(Contact.organization_id) == view.organization.id)
        .order_by(col(Contact.id))
    ).first()


def _welcome_text(contact: Contact, organization: Organization, link: str | None) -> str:
    base_url = get_settings().public_base_url.rstrip("/")
    sign_in = (
        f"To see and update your organisation's profile, contacts and preferences, sign in "
        f"with this link (it works once, within 15 minutes):\n\n{link}\n\n"
        if link
        else ""
    )
    return (
        f"Dear {contact.name},\n\n"
        f"We are glad to tell you that {organization.name} is now a member of the "
        "Coalition for the International Criminal Court. Welcome!\n\n"
        f"{sign_in}"
        f"Whenever you need to sign in later, request a new link at "
        f"{base_url}/sign-in/member with this email address ({contact.email}).\n\n"
        "With best regards,\n"
        "The secretariat of the Coalition for the International Criminal Court\n"
    )


def _decline_text(contact: Contact, organization: Organization, reason: str) -> str:
    return (
        f"Dear {contact.name},\n\n"
        f"Thank you for the application of {organization.name} to join the Coalition "
        "for the International Criminal Court, and for the work you do.\n\n"
        "After careful consideration we are unable to accept it at this time, for "
        f"this reason:\n\n{reason}\n\n"
        "If you have questions, or if your situation changes, you are welcome to reply "
        "to this message or to apply again.\n\n"
        "With best regards,\n"
        "The secretariat of the Coalition for the International Criminal Court\n"
    )
