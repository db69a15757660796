"""The one place that decides which organisations a principal may see.

Every read of organisations and contacts starts from these queries; a record outside
them does not exist for the caller (404, not 403).
"""

from sqlalchemy import and_, exists, false, or_
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.accounts.principal import Principal, Role
from app.campaigns.models import Campaign, CampaignRegion, CampaignStatus
from app.countries.models import Country, Region
from app.delivery.models import Delivery
from app.inbound.models import InboundMessage
from app.members.models import Contact, Organization


def region_countries(principal: Principal) -> SelectOfScalar[str]:
    """The ISO codes of a regional lead's countries: what her scope is made of."""
    return select(col(Country.iso3)).where(col(Country.region_slug).in_(principal.regions))


def visible_organizations(principal: Principal) -> SelectOfScalar[Organization]:
    query = select(Organization)
    if principal.role is Role.secretariat:
        return query
    if principal.role is Role.regional_lead:
        return query.where(col(Organization.country_iso3).in_(region_countries(principal)))
    if principal.organization_id is not None:
        return query.where(col(Organization.id) == principal.organization_id)
    return query.where(false())


def visible_contacts(principal: Principal) -> SelectOfScalar[Contact]:
    organization_ids = visible_organizations(principal).with_only_columns(col(Organization.id))
    return select(Contact).where(col(Contact.organization_id).in_(organization_ids))


def visible_deliveries(principal: Principal) -> SelectOfScalar[Delivery]:
    """Campaign deliveries (and so the responses to them) the principal may count.

    The secretariat sees them all, including those whose contact was erased since:
    they still count in the figures. Anyone else sees the deliveries to contacts she
    may see, so a regional lead's figures hold her regions' members and no others."""
    query = select(Delivery)
    if principal.role is Role.secretariat:
        return query
    contact_ids = visible_contacts(principal).with_only_columns(col(Contact.id))
    return query.where(col(Delivery.contact_id).in_(contact_ids))


def visible_regions(principal: Principal) -> SelectOfScalar[Region]:
    """The regions whose figures the principal reads: every region for the secretariat,
    a regional lead's own, a member's organisation's."""
    query = select(Region)
    if principal.role is Role.secretariat:
        return query
    if principal.role is Role.regional_lead:
        return query.where(col(Region.slug).in_(principal.regions))
    organization_regions = (
        visible_organizations(principal)
        .join(Country, col(Country.iso3) == col(Organization.country_iso3))
        .with_only_columns(col(Country.region_slug))
    )
    return query.where(col(Region.slug).in_(organization_regions))


def visible_inbound_messages(principal: Principal) -> SelectOfScalar[InboundMessage]:
    """Mail received about alerts (replies, bounces) that the principal may read: all of
    it for the secretariat; for a regional lead, what answers a delivery to a contact
    she may see (a message that names no delivery is the secretariat's to sort out);
    nothing for members."""
    query = select(InboundMessage)
    if principal.role is Role.secretariat:
        return query
    if principal.role is Role.regional_lead:
        contact_ids = visible_contacts(principal).with_only_columns(col(Contact.id))
        return query.where(col(InboundMessage.contact_id).in_(contact_ids))
    return query.where(false())


def may_place_organization_in(principal: Principal, country: Country) -> bool:
    """Whether the principal may create an organisation in, or move one to, a country:
    it must land inside what the principal can see."""
    if principal.role is Role.secretariat:
        return True
    if principal.role is Role.regional_lead:
        return country.region_slug in principal.regions
    return False


# A campaign a regional lead may read: one that has left (or is set to leave) the
# secretariat for her region. Drafts and approvals in progress are the secretariat's.
_CAMPAIGN_STATUSES_SHOWN_TO_LEADS = (
    CampaignStatus.scheduled,
    CampaignStatus.sending,
    CampaignStatus.paused,
    CampaignStatus.sent,
)


def visible_campaigns(principal: Principal) -> SelectOfScalar[Campaign]:
    query = select(Campaign)
    if principal.role is Role.secretariat:
        return query
    if principal.role is Role.regional_lead:
        reaches_region = exists().where(
            col(CampaignRegion.campaign_id) == col(Campaign.id),
            col(CampaignRegion.region_slug).in_(principal.regions),
        )
        left_the_secretariat = or_(
            col(Campaign.status).in_(_CAMPAIGN_STATUSES_SHOWN_TO_LEADS),
            and_(
                col(Campaign.status) == CampaignStatus.cancelled,
                col(Campaign.launched_at).is_not(None),
            ),
        )
        return query.where(reaches_region, left_the_secretariat)
    return query.where(false())
