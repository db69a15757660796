"""What the audit log page needs beside the entries themselves (app/core/audit_router.py
pages them): the names of the people and records a page of entries points at, read in
one query per kind, and the actions the log holds, for the filter's suggestions.

Names come through the scoping queries like every read, so a record the reader may not
see stays a bare id; a record deleted since (the log outlives rows) has no name.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from app.accounts.models import User
from app.accounts.principal import Principal
from app.accounts.scoping import visible_campaigns, visible_organizations
from app.campaigns.models import Campaign
from app.core.audit import AuditEntry
from app.countries.models import Country
from app.members.models import Organization


@dataclass(frozen=True)
class AuditNames:
    users: dict[int, str] = field(default_factory=dict)  # user id: name, else email
    organizations: dict[int, str] = field(default_factory=dict)
    campaigns: dict[int, str] = field(default_factory=dict)
    countries: dict[str, str] = field(default_factory=dict)  # iso3: name


def user_id_of(actor: str) -> int | None:
    """The user an actor string names ("user:12"), if it names one."""
    kind, _, identifier = actor.partition(":")
    return int(identifier) if kind == "user" and identifier.isdecimal() else None


def _ids(values: Sequence[str | int | None]) -> set[int]:
    return {int(value) for value in values if value is not None and str(value).isdecimal()}


def audit_names(
    session: Session, principal: Principal, entries: Sequence[AuditEntry]
) -> AuditNames:
    users = _ids([user_id_of(entry.actor) for entry in entries])
    users |= _ids([entry.target_id for entry in entries if entry.target_type == "user"])
    organizations = _ids([entry.organization_id for entry in entries])
    organizations |= _ids([e.target_id for e in entries if e.target_type == "organization"])
    campaigns = _ids([entry.target_id for entry in entries if entry.target_type == "campaign"])
    countries = {entry.target_id for entry in entries if entry.target_type == "country"}
    return AuditNames(
        users={
            user.id or 0: user.full_name or user.email
            for user in session.scalars(select(User).where(col(User.id).in_(users)))
        },
        organizations={
            organization.id or 0: organization.name
            for organization in session.scalars(
                visible_organizations(principal).where(col(Organization.id).in_(organizations))
            )
        },
        campaigns={
            campaign.id or 0: campaign.title
            for campaign in session.scalars(
                visible_campaigns(principal).where(col(Campaign.id).in_(campaigns))
            )
        },
        countries={
            country.iso3: country.name
            for country in session.scalars(select(Country).where(col(Country.iso3).in_(countries)))
        },
    )


def audit_actions(session: Session) -> list[str]:
    """Every action the log holds (an indexed column: read from the index)."""
    return list(
        session.scalars(select(col(AuditEntry.action)).distinct().order_by(col(AuditEntry.action)))
    )
