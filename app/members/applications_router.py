"""Membership applications (public form, staff decisions) and the explicit membership
status actions: lapse, suspend, reinstate."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlmodel import Session

from app.accounts.auth import Public, StaffUser
from app.accounts.principal import Principal
from app.core import throttle
from app.core.http import ResourceId, SessionDep
from app.countries.regions import RegionSlug
from app.members import applications, service
from app.members.schemas import (
    ApplicationContactRead,
    ApplicationCreate,
    ApplicationCreated,
    ApplicationDecline,
    ApplicationOrganizationRead,
    ApplicationPage,
    ApplicationRead,
    ApplicationState,
    MembershipStatusChange,
    MembershipSuspension,
    OrganizationRead,
)
from app.members.service import MembershipAction

router = APIRouter(prefix="/api", tags=["applications"])


def application_read(view: applications.ApplicationView) -> ApplicationRead:
    application, organization, contact = view.application, view.organization, view.contact
    return ApplicationRead(
        id=application.id or 0,
        status=view.state,
        organization=ApplicationOrganizationRead(
            id=organization.id or 0,
            name=organization.name,
            acronym=organization.acronym,
            country=organization.country_iso3,
            region=RegionSlug(view.region),
            type=organization.type,
            membership_status=organization.membership_status,
            focus_areas=organization.focus_areas,
            languages=organization.languages,
            website=organization.website,
            address=organization.address,
        ),
        contact=None
        if contact is None
        else ApplicationContactRead(
            id=contact.id or 0,
            name=contact.name,
            email=contact.email,
            role=contact.role,
            language=contact.language,
        ),
        motivation=application.motivation,
        submitted_at=application.submitted_at,
        decided_at=application.decided_at,
        decided_by=application.decided_by,
        decline_reason=application.decline_reason,
    )


@router.post(
    "/applications",
    response_model=ApplicationCreated,
    status_code=201,
    dependencies=[Public],
)
def submit_application(
    request: Request, session: SessionDep, data: ApplicationCreate
) -> ApplicationCreated:
    """Apply for membership (no sign-in). Creates an `applicant` organisation and its
    first contact; the secretariat or the regional lead decides. Too many applications
    from one address get 429 with Retry-After."""
    throttle.count_application(throttle.client_address(request))
    application = applications.submit_application(session, data)
    return ApplicationCreated(
        id=application.id or 0,
        message="Thank you: your application was received. We will write to "
        f"{data.contact_email.lower()} when it has been decided.",
    )


@router.get("/applications", response_model=ApplicationPage)
def list_applications(
    session: SessionDep,
    principal: StaffUser,
    status: Annotated[ApplicationState, Query()] = ApplicationState.pending,
    limit: Annotated[int, Query(ge=1, le=applications.MAX_PAGE_SIZE)] = 100,
) -> ApplicationPage:
    """Applications in a state (oldest first); a regional lead sees her regions' only."""
    views, total = applications.list_applications(session, principal, status, limit=limit)
    return ApplicationPage(items=[application_read(view) for view in views], total=total)


@router.get("/applications/{application_id}", response_model=ApplicationRead)
def get_application(
    session: SessionDep, principal: StaffUser, application_id: ResourceId
) -> ApplicationRead:
    return application_read(applications.get_application(session, principal, application_id))


@router.post("/applications/{application_id}/approve", response_model=ApplicationRead)
def approve_application(
    session: SessionDep, principal: StaffUser, application_id: ResourceId
) -> ApplicationRead:
    """The organisation becomes `active` from today and its contact gets a welcome email
    telling how to sign in."""
    return application_read(applications.approve_application(session, principal, application_id))


@router.post("/applications/{application_id}/decline", response_model=ApplicationRead)
def decline_application(
    session: SessionDep,
    principal: StaffUser,
    application_id: ResourceId,
    data: ApplicationDecline,
) -> ApplicationRead:
    """The organisation is archived and its contact gets an email with the reason."""
    return application_read(
        applications.decline_application(session, principal, application_id, data.reason)
    )


def _changed(
    session: Session,
    principal: Principal,
    organization_id: int,
    action: MembershipAction,
    reason: str | None,
) -> OrganizationRead:
    organization = service.change_membership_status(
        session, principal, organization_id, action, reason=reason
    )
    return OrganizationRead.from_organization(
        organization, service.region_of(session, organization)
    )


@router.post("/organizations/{organization_id}/lapse", response_model=OrganizationRead)
def lapse_membership(
    session: SessionDep,
    principal: StaffUser,
    organization_id: ResourceId,
    data: MembershipStatusChange | None = None,
) -> OrganizationRead:
    """active → lapsed (e.g. dues or contact lost). The reason, if given, is audited."""
    reason = data.reason if data else None
    return _changed(session, principal, organization_id, MembershipAction.lapse, reason)


@router.post("/organizations/{organization_id}/suspend", response_model=OrganizationRead)
def suspend_membership(
    session: SessionDep,
    principal: StaffUser,
    organization_id: ResourceId,
    data: MembershipSuspension,
) -> OrganizationRead:
    """active → suspended; a reason is required and audited."""
    return _changed(session, principal, organization_id, MembershipAction.suspend, data.reason)


@router.post("/organizations/{organization_id}/reinstate", response_model=OrganizationRead)
def reinstate_membership(
    session: SessionDep,
    principal: StaffUser,
    organization_id: ResourceId,
    data: MembershipStatusChange | None = None,
) -> OrganizationRead:
    """lapsed or suspended → active. The reason, if given, is audited."""
    reason = data.reason if data else None
    return _changed(session, principal, organization_id, MembershipAction.reinstate, reason)
