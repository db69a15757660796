"""A contact's personal data: export it (staff, in scope) or erase it (secretariat)."""

from fastapi import APIRouter

from app.accounts.auth import SecretariatUser, StaffUser
from app.core.http import ResourceId, SessionDep
from app.members import personal_data
from app.members.personal_data import ContactExport, ErasureReport

router = APIRouter(prefix="/api", tags=["personal data"])


@router.get("/contacts/{contact_id}/export", response_model=ContactExport)
def export_contact(
    session: SessionDep, principal: StaffUser, contact_id: ResourceId
) -> ContactExport:
    """Everything held about a contact, as JSON: the contact, their organisation, their
    member account and sign-in history, the links and messages sent to them, and every
    audit entry about them. The export itself is audited."""
    return personal_data.export_contact(session, principal, contact_id)


@router.post("/contacts/{contact_id}/erase", response_model=ErasureReport)
def erase_contact(
    session: SessionDep, principal: SecretariatUser, contact_id: ResourceId
) -> ErasureReport:
    """Erase a contact's personal data everywhere it is held. The contact stays,
    anonymised, so that counts do not change; their address goes on the suppression
    list as a hash, so it is never mailed again. Cannot be undone."""
    return personal_data.erase_contact(session, principal, contact_id)
