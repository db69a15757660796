"""Regions, countries and treaty status: reads, status changes with history."""

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.accounts.principal import Principal
from app.accounts.scoping import visible_organizations
from app.core.audit import record_audit
from app.core.errors import NotFound, ValidationFailed
from app.core.types import jsonable, utcnow
from app.countries.models import STATUS_FIELDS, Country, CountryStatusChange, Region
from app.countries.schemas import CountryFilter, CountryStatusUpdate, RegionRead
from app.members.models import MembershipStatus, Organization


def list_regions(session: Session, principal: Principal) -> list[RegionRead]:
    country_counts = dict(
        session.execute(
            select(Country.region_slug, func.count()).group_by(Country.region_slug)
        ).all()
    )
    members = (
        visible_organizations(principal)
        .where(col(Organization.membership_status) != MembershipStatus.archived)
        .subquery()
    )
    member_counts = dict(
        session.execute(
            select(Country.region_slug, func.count())
            .select_from(members)
            .join(Country, col(Country.iso3) == members.c.country_iso3)
            .group_by(Country.region_slug)
        ).all()
    )
    regions = session.scalars(select(Region).order_by(col(Region.position))).all()
    return [
        RegionRead(
            slug=region.slug,
            name=region.name,
            country_count=country_counts.get(region.slug, 0),
            member_count=member_counts.get(region.slug, 0),
        )
        for region in regions
    ]


def list_countries(session: Session, filters: CountryFilter) -> list[Country]:
    query = select(Country).order_by(Country.name)
    if filters.region:
        query = query.where(col(Country.region_slug).in_(filters.region))
    if filters.rome_statute_status:
        query = query.where(col(Country.rome_statute_status).in_(filters.rome_statute_status))
    if filters.apic_status:
        query = query.where(col(Country.apic_status).in_(filters.apic_status))
    if filters.kampala_status:
        query = query.where(col(Country.kampala_status).in_(filters.kampala_status))
    return list(session.scalars(query).all())


def get_country(session: Session, iso3: str) -> Country:
    country = session.get(Country, iso3.upper())
    if country is None:
        raise NotFound(f"No country with ISO 3166-1 alpha-3 code {iso3!r}", field="iso3")
    return country


def require_country(
    session: Session, iso3: str, *, field: str = "country", location: str = "body"
) -> Country:
    """A country a client named in its input: unknown codes are a 422 on that field."""
    country = session.get(Country, iso3.upper())
    if country is None:
        raise ValidationFailed(
            f"Unknown country code {iso3!r}: expected an ISO 3166-1 alpha-3 code such as 'KEN'",
            field=field,
            location=location,
        )
    return country


def apply_status_change(
    session: Session,
    country: Country,
    changes: Mapping[str, Any],
    *,
    actor: str,
    source: str,
) -> CountryStatusChange | None:
    """Set status fields and keep the change as history; no-op changes leave no trace."""
    diff = {
        name: {"from": jsonable(getattr(country, name)), "to": jsonable(value)}
        for name, value in changes.items()
        if getattr(country, name) != value
    }
    if not diff:
        return None
    for name in diff:
        setattr(country, name, changes[name])
    country.updated_at = utcnow()
    entry = CountryStatusChange(
        country_iso3=country.iso3, changed_by=actor, source=source, changes=diff
    )
    session.add(entry)
    return entry


def update_country_status(
    session: Session, principal: Principal, iso3: str, update: CountryStatusUpdate
) -> Country:
    country = get_country(session, iso3)
    changes = update.status_changes()
    if not changes:
        raise ValidationFailed(
            f"Name at least one status field to change ({', '.join(STATUS_FIELDS)})"
        )
    entry = apply_status_change(
        session, country, changes, actor=principal.actor, source=update.source.strip()
    )
    if entry is not None:
        record_audit(
            session,
            actor=principal.actor,
            action="country.status_change",
            target_type="country",
            target_id=country.iso3,
            before={name: change["from"] for name, change in entry.changes.items()},
            after={name: change["to"] for name, change in entry.changes.items()},
            note=entry.source,
        )
    session.flush()
    return country


def country_history(session: Session, iso3: str) -> list[CountryStatusChange]:
    country = get_country(session, iso3)
    return list(
        session.scalars(
            select(CountryStatusChange)
            .where(col(CountryStatusChange.country_iso3) == country.iso3)
            .order_by(
                col(CountryStatusChange.changed_at).desc(), col(CountryStatusChange.id).desc()
            )
        ).all()
    )
