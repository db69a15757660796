"""Factories that build registry data through the services, as a user would."""

import itertools
from typing import Any

from sqlmodel import Session

from app.accounts.principal import Principal, Role
from app.members import service
from app.members.models import Contact, Organization
from app.members.schemas import ContactCreate, OrganizationCreate

STAFF = Principal(actor="test:staff", role=Role.secretariat)
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
