from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile, status
from fastapi.responses import StreamingResponse
from sqlmodel import Session

from app.accounts.auth import AdminUser, Allow, AnyUser, StaffUser
from app.accounts.principal import Principal, Role
from app.core.audit import AuditEntryRead
from app.core.http import ResourceId, SessionDep
from app.members import custom_fields, service, spreadsheet
from app.members.models import Organization
from app.members.schemas import (
    ContactCreate,
    ContactRead,
    ContactUpdate,
    CustomFieldCreate,
    CustomFieldRead,
    ImportReport,
    MemberOrganizationUpdate,
    MergeRequest,
    OrganizationCreate,
    OrganizationFilter,
    OrganizationListQuery,
    OrganizationPage,
    OrganizationRead,
    OrganizationUpdate,
)

router = APIRouter(prefix="/api", tags=["members"])
# The member's own organisation (self-service); staff use /organizations/{id}.
MemberUser = Annotated[Principal, Depends(Allow(Role.member))]


def _read(session: Session, principal: Principal, organization: Organization) -> OrganizationRead:
    region = service.region_of(session, organization)
    return OrganizationRead.from_organization(
        organization, region, internal=principal.role is not Role.member
    )


@router.get("/organizations", response_model=OrganizationPage)
def list_organizations(
    session: SessionDep,
    principal: AnyUser,
    query: Annotated[OrganizationListQuery, Query()],
) -> OrganizationPage:
    page = service.list_organizations(
        session, principal, query.filters(), limit=query.limit, cursor=query.cursor
    )
    regions = service.regions_of(session, page.items)
    return OrganizationPage(
        items=[
            OrganizationRead.from_organization(
                o, regions[o.country_iso3], internal=principal.role is not Role.member
            )
            for o in page.items
        ],
        next_cursor=page.next_cursor,
        total=page.total,
        total_exact=page.total_exact,
    )


@router.post("/organizations", response_model=OrganizationRead, status_code=201)
def create_organization(
    session: SessionDep, principal: StaffUser, data: OrganizationCreate
) -> OrganizationRead:
    return _read(session, principal, service.create_organization(session, principal, data))


# The import and export routes come before /organizations/{organization_id}, or
# "export.csv" would be read as an id.


@router.post("/organizations/import", response_model=ImportReport)
def import_organizations(
    session: SessionDep,
    principal: StaffUser,
    file: Annotated[UploadFile, File(description="CSV in the format of docs/import-format.md")],
    dry_run: Annotated[bool, Query(description="Check and count, change nothing")] = False,
    dry_run_form: Annotated[
        bool, Form(alias="dry_run", description="The same flag, sent as a form field")
    ] = False,
) -> ImportReport:
    """Create and update organisations and contacts from a CSV file, one row per contact.

    Rows that fail are reported with their row number and reason; the others are
    applied. `dry_run` (as a query parameter or a form field) reports without changing
    anything.
    """
    return spreadsheet.import_members(
        session, principal, file.file, dry_run=dry_run or dry_run_form
    )


@router.get(
    "/organizations/export.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "CSV, one row per contact"}},
)
def export_organizations(
    session: SessionDep, principal: StaffUser, filters: Annotated[OrganizationFilter, Query()]
) -> StreamingResponse:
    """The organisations matching the filters of GET /api/organizations, as CSV in the
    import format (with a byte-order mark so that spreadsheets read it as UTF-8).
    Organisations merged into another are left out."""
    # The filters are checked here, so that a bad one is a 422 and not a broken
    # download. `session` closes when this function returns, before the body is
    # streamed: the export holds only ids and reads the rows in its own units of work.
    export = spreadsheet.export_members(session, principal, filters)
    return StreamingResponse(
        export.csv_chunks(bom=True),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )


@router.get("/organizations/{organization_id}", response_model=OrganizationRead)
def get_organization(
    session: SessionDep, principal: AnyUser, organization_id: ResourceId
) -> OrganizationRead:
    return _read(session, principal, service.get_organization(session, principal, organization_id))


@router.patch("/organizations/{organization_id}", response_model=OrganizationRead)
def update_organization(
    session: SessionDep,
    principal: StaffUser,
    organization_id: ResourceId,
    data: OrganizationUpdate,
) -> OrganizationRead:
    return _read(
        session, principal, service.update_organization(session, principal, organization_id, data)
    )


@router.delete("/organizations/{organization_id}", response_model=OrganizationRead)
def archive_organization(
    session: SessionDep, principal: StaffUser, organization_id: ResourceId
) -> OrganizationRead:
    """Archives the organisation; its contacts, history and participation are kept."""
    return _read(
        session, principal, service.archive_organization(session, principal, organization_id)
    )


@router.post("/organizations/{organization_id}/merge", response_model=OrganizationRead)
def merge_organization(
    session: SessionDep, principal: StaffUser, organization_id: ResourceId, data: MergeRequest
) -> OrganizationRead:
    """Moves contacts, tags, languages and custom values into `into`, archives this one,
    and returns the organisation that remains."""
    return _read(
        session,
        principal,
        service.merge_organizations(session, principal, organization_id, data.into),
    )


@router.get("/organizations/{organization_id}/history", response_model=list[AuditEntryRead])
def organization_history(
    session: SessionDep, principal: StaffUser, organization_id: ResourceId
) -> list[AuditEntryRead]:
    return [
        AuditEntryRead.model_validate(entry)
        for entry in service.organization_history(session, principal, organization_id)
    ]


@router.get("/organizations/{organization_id}/contacts", response_model=list[ContactRead])
def list_contacts(
    session: SessionDep, principal: AnyUser, organization_id: ResourceId
) -> list[ContactRead]:
    return [
        ContactRead.from_contact(c)
        for c in service.list_contacts(session, principal, organization_id)
    ]


@router.post(
    "/organizations/{organization_id}/contacts", response_model=ContactRead, status_code=201
)
def create_contact(
    session: SessionDep, principal: AnyUser, organization_id: ResourceId, data: ContactCreate
) -> ContactRead:
    return ContactRead.from_contact(
        service.create_contact(session, principal, organization_id, data)
    )


@router.get("/contacts/{contact_id}", response_model=ContactRead)
def get_contact(session: SessionDep, principal: AnyUser, contact_id: ResourceId) -> ContactRead:
    return ContactRead.from_contact(service.get_contact(session, principal, contact_id))


@router.patch("/contacts/{contact_id}", response_model=ContactRead)
def update_contact(
    session: SessionDep, principal: AnyUser, contact_id: ResourceId, data: ContactUpdate
) -> ContactRead:
    return ContactRead.from_contact(service.update_contact(session, principal, contact_id, data))


@router.delete("/contacts/{contact_id}", status_code=204)
def delete_contact(session: SessionDep, principal: AnyUser, contact_id: ResourceId) -> Response:
    service.delete_contact(session, principal, contact_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/custom-fields", response_model=list[CustomFieldRead])
def list_custom_fields(session: SessionDep, principal: StaffUser) -> list[CustomFieldRead]:
    return [CustomFieldRead.model_validate(d) for d in custom_fields.list_custom_fields(session)]


@router.post("/custom-fields", response_model=CustomFieldRead, status_code=201)
def create_custom_field(
    session: SessionDep, principal: AdminUser, data: CustomFieldCreate
) -> CustomFieldRead:
    return CustomFieldRead.model_validate(
        custom_fields.create_custom_field(session, principal, data)
    )


@router.delete("/custom-fields/{key}", status_code=204)
def delete_custom_field(session: SessionDep, principal: AdminUser, key: str) -> Response:
    custom_fields.delete_custom_field(session, principal, key)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me/organization", response_model=OrganizationRead)
def get_own_organization(session: SessionDep, principal: MemberUser) -> OrganizationRead:
    """The organisation the signed-in member acts for."""
    return _read(
        session, principal, service.get_organization(session, principal, _own_id(principal))
    )


@router.patch("/me/organization", response_model=OrganizationRead)
def update_own_organization(
    session: SessionDep, principal: MemberUser, data: MemberOrganizationUpdate
) -> OrganizationRead:
    """Change the member's own organisation: only its descriptive fields (name, acronym,
    website, address, type, focus areas, working languages). Anything else is a 422."""
    organization = service.get_organization(session, principal, _own_id(principal))
    service.apply_organization_changes(
        session, principal, organization, data.model_dump(exclude_unset=True)
    )
    return _read(session, principal, organization)


def _own_id(principal: Principal) -> int:
    # 0 names no organisation: a member without one gets a 404, never someone else's.
    return principal.organization_id or 0
