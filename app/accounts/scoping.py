"""The one place that decides which organisations a principal may see.

Every read of organisations and contacts starts from these queries; a record outside
them does not exist for the caller (404, not 403).
"""

from sqlalchemy import false
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.accounts.principal import Principal, Role
from app.countries.models import Country
from app.members.models import Contact, Organization


def visible_organizations(principal: Principal) -> SelectOfScalar[Organization]:
    query = select(Organization)
    if principal.role is Role.secretariat:
        return query
    if principal.role is Role.regional_lead:
        region_countries = select(Country.iso3).where(
            col(Country.region_slug).in_(principal.regions)
        )
        return query.where(col(Organization.country_iso3).in_(region_countries))
    if principal.organization_id is not None:
        return query.where(col(Organization.id) == principal.organization_id)
    return query.where(false())


def visible_contacts(principal: Principal) -> SelectOfScalar[Contact]:
    organization_ids = visible_organizations(principal).with_only_columns(col(Organization.id))
    return select(Contact).where(col(Contact.organization_id).in_(organization_ids))


def may_place_organization_in(principal: Principal, country: Country) -> bool:
    """Whether the principal may create an organisation in, or move one to, a country:
    it must land inside what the principal can see."""
    if principal.role is Role.secretariat:
        return True
    if principal.role is Role.regional_lead:
        return country.region_slug in principal.regions
    return False
