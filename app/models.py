"""Every table, imported in one place for Alembic and the tests."""

from app.core.audit import AuditEntry
from app.core.models import metadata
from app.countries.models import Country, CountryStatusChange, Region
from app.members.models import (
    Contact,
    CustomFieldDefinition,
    Organization,
    OrganizationFocusArea,
    OrganizationLanguage,
)

__all__ = [
    "AuditEntry",
    "Contact",
    "Country",
    "CountryStatusChange",
    "CustomFieldDefinition",
    "Organization",
    "OrganizationFocusArea",
    "OrganizationLanguage",
    "Region",
    "metadata",
]
