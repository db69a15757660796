"""Factories that build registry data through the services, as a user would."""

import itertools
from typing import Any

from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.models import CredentialKind, User
from app.accounts.principal import Principal, Role
from app.accounts.schemas import UserCreate
from app.members import service
from app.members.models import Contact, Organization
from app.members.schemas import ContactCreate, OrganizationCreate

STAFF = Principal(actor="test:staff", role=Role.secretariat, is_admin=True)
TEST_PASSWORD = "correct horse battery staple"
_sequence = itertools.count(1)


def make_organization(session: Session, **fields: Any) -> Organization:
    number = next(_sequence)
    values: dict[str, Any] = {"name": f"Organisation {number:04d}", "country": "KEN"}
    values.update(fields)
    return service.create_organization(session, STAFF, OrganizationCreate(**values))


def make_contact(session: Session, organization: Organization, **fields: Any) -> Contact:
    number = next(_sequence)
    values: dict[str, Any] = {"name": f"Person {number}", "email": f"person{number}@example.org"}
    values.update(fields)
    return service.create_contact(session, STAFF, organization.id or 0, ContactCreate(**values))


def make_user(session: Session, role: Role = Role.secretariat, **fields: Any) -> User:
    """A user of the given role; regional leads default to Africa, members to a new
    organisation of their own with one contact."""
    number = next(_sequence)
    values: dict[str, Any] = {"email": f"user{number}@example.org", "role": role}
    if role is Role.regional_lead:
        values["regions"] = ["africa"]
    if role is Role.member and "organization_id" not in fields:
        organization = make_organization(session, name=f"Member Org {number}", country="KEN")
        contact = make_contact(session, organization, email=values["email"])
        values |= {"organization_id": organization.id, "contact_id": contact.id}
    if role is not Role.member:
        values["password"] = TEST_PASSWORD
    values.update(fields)
    return accounts.create_user(session, STAFF, UserCreate(**values))


def bearer_headers(session: Session, user: User) -> dict[str, str]:
    token, _ = accounts.issue_credential(session, user, CredentialKind.bearer)
    return {"Authorization": f"Bearer {token}"}
