"""Every table, imported in one place for Alembic and the tests."""

from app.accounts.models import Credential, SignInLink, User, UserRegion
from app.campaigns.models import Campaign, CampaignRegion, CampaignVariant
from app.core.audit import AuditEntry
from app.core.models import metadata
from app.countries.models import Country, CountryStatusChange, Region
from app.delivery.models import Delivery, OutboxMessage, Suppression
from app.inbound.models import InboundMessage
from app.members.models import (
    Contact,
    ContactTopicOptOut,
    CustomFieldDefinition,
    MembershipApplication,
    Organization,
    OrganizationFocusArea,
    OrganizationLanguage,
)
from app.reports.models import ParticipationCount, ParticipationTally
from app.tracking.models import ActionReport, ResponseEvent

__all__ = [
    "ActionReport",
    "AuditEntry",
    "Campaign",
    "CampaignRegion",
    "CampaignVariant",
    "Contact",
    "ContactTopicOptOut",
    "Country",
    "CountryStatusChange",
    "Credential",
    "CustomFieldDefinition",
    "Delivery",
    "InboundMessage",
    "MembershipApplication",
    "Organization",
    "OrganizationFocusArea",
    "OrganizationLanguage",
    "OutboxMessage",
    "ParticipationCount",
    "ParticipationTally",
    "Region",
    "ResponseEvent",
    "SignInLink",
    "Suppression",
    "User",
    "UserRegion",
    "metadata",
]
