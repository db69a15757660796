"""registry: regions, countries, organisations, contacts, audit

Revision ID: 0001_registry
Revises:
Create Date: 2026-11-28 01:53:44.235039
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.core.types

# The five CICC regions are fixed; they are data the schema depends on.
REGIONS = [
    {"slug": "africa", "name": "Africa", "position": 1},
    {"slug": "americas", "name": "Americas", "position": 2},
    {"slug": "asia-pacific", "name": "Asia-Pacific", "position": 3},
    {"slug": "europe", "name": "Europe", "position": 4},
    {"slug": "mena", "name": "Middle East and North Africa", "position": 5},
]

revision: str = "0001_registry"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("target_type", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("target_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entries")),
    )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_entries_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entries_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_entries_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "custom_field_definitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column(
            "field_type",
            sa.Enum(
                "text",
                "number",
                "date",
                "choice",
                name="custom_field_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("created_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_field_definitions")),
        sa.UniqueConstraint("key", name=op.f("uq_custom_field_definitions_key")),
    )
    op.create_table(
        "regions",
        sa.Column("slug", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("slug", name=op.f("pk_regions")),
    )
    regions = sa.table(
        "regions",
        sa.column("slug", sa.String),
        sa.column("name", sa.String),
        sa.column("position", sa.Integer),
    )
    op.bulk_insert(regions, REGIONS)
    op.create_table(
        "countries",
        sa.Column("iso3", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("region_slug", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column(
            "rome_statute_status",
            sa.Enum(
                "party",
                "signatory",
                "withdrawn",
                "non_signatory",
                "unknown",
                name="rome_statute_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("rome_statute_date", sa.Date(), nullable=True),
        sa.Column("withdrawal_notified_on", sa.Date(), nullable=True),
        sa.Column("withdrawal_effective_on", sa.Date(), nullable=True),
        sa.Column("signature_withdrawn", sa.Boolean(), nullable=False),
        sa.Column(
            "apic_status",
            sa.Enum(
                "party",
                "signatory",
                "none",
                "unknown",
                name="apic_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("apic_date", sa.Date(), nullable=True),
        sa.Column(
            "kampala_status",
            sa.Enum(
                "ratified",
                "not_ratified",
                "not_applicable",
                "unknown",
                name="kampala_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("kampala_date", sa.Date(), nullable=True),
        sa.Column(
            "implementing_legislation",
            sa.Enum(
                "none",
                "draft",
                "partial",
                "complete",
                "unknown",
                name="implementing_legislation",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("updated_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_slug"], ["regions.slug"], name=op.f("fk_countries_region_slug_regions")
        ),
        sa.PrimaryKeyConstraint("iso3", name=op.f("pk_countries")),
    )
    with op.batch_alter_table("countries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_countries_apic_status"), ["apic_status"], unique=False)
        batch_op.create_index(batch_op.f("ix_countries_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_countries_region_slug"), ["region_slug"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_countries_rome_statute_status"), ["rome_statute_status"], unique=False
        )

    op.create_table(
        "country_status_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("country_iso3", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("changed_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["country_iso3"],
            ["countries.iso3"],
            name=op.f("fk_country_status_changes_country_iso3_countries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_country_status_changes")),
    )
    with op.batch_alter_table("country_status_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_country_status_changes_country_iso3"), ["country_iso3"], unique=False
        )

    op.create_table(
        "organizations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("acronym", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("country_iso3", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "ngo",
                "bar_association",
                "academic",
                "faith_based",
                "network",
                "media",
                "other",
                name="organization_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "membership_status",
            sa.Enum(
                "applicant",
                "active",
                "lapsed",
                "suspended",
                "archived",
                name="membership_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("joined_on", sa.Date(), nullable=True),
        sa.Column("website", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("custom_fields", sa.JSON(), nullable=False),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("created_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["country_iso3"],
            ["countries.iso3"],
            name=op.f("fk_organizations_country_iso3_countries"),
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_id"],
            ["organizations.id"],
            name=op.f("fk_organizations_merged_into_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
    )
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_organizations_country_iso3"), ["country_iso3"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_organizations_membership_status"), ["membership_status"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_organizations_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_organizations_type"), ["type"], unique=False)

    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "focal_point",
                "director",
                "communications",
                "legal",
                "other",
                name="contact_role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column(
            "subscription_status",
            sa.Enum(
                "subscribed",
                "unsubscribed",
                "paused",
                name="subscription_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("paused_until", sa.Date(), nullable=True),
        sa.Column("consent_at", app.core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("consent_method", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column(
            "bounce_status",
            sa.Enum(
                "ok",
                "soft",
                "hard",
                name="bounce_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("hard_bounce_count", sa.Integer(), nullable=False),
        sa.Column("soft_bounce_count", sa.Integer(), nullable=False),
        sa.Column("last_bounced_at", app.core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_contacts_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint(
            "organization_id", "email", name=op.f("uq_contacts_organization_id_email")
        ),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contacts_email"), ["email"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_contacts_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "organization_focus_areas",
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("focus_area", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_organization_focus_areas_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "organization_id", "focus_area", name=op.f("pk_organization_focus_areas")
        ),
    )
    with op.batch_alter_table("organization_focus_areas", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_organization_focus_areas_focus_area"), ["focus_area"], unique=False
        )

    op.create_table(
        "organization_languages",
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_organization_languages_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "organization_id", "position", name=op.f("pk_organization_languages")
        ),
        sa.UniqueConstraint(
            "organization_id",
            "language",
            name=op.f("uq_organization_languages_organization_id_language"),
        ),
    )
    with op.batch_alter_table("organization_languages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_organization_languages_language"), ["language"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("organization_languages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organization_languages_language"))

    op.drop_table("organization_languages")
    with op.batch_alter_table("organization_focus_areas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organization_focus_areas_focus_area"))

    op.drop_table("organization_focus_areas")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contacts_organization_id"))
        batch_op.drop_index(batch_op.f("ix_contacts_email"))

    op.drop_table("contacts")
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organizations_type"))
        batch_op.drop_index(batch_op.f("ix_organizations_name"))
        batch_op.drop_index(batch_op.f("ix_organizations_membership_status"))
        batch_op.drop_index(batch_op.f("ix_organizations_country_iso3"))

    op.drop_table("organizations")
    with op.batch_alter_table("country_status_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_country_status_changes_country_iso3"))

    op.drop_table("country_status_changes")
    with op.batch_alter_table("countries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_countries_rome_statute_status"))
        batch_op.drop_index(batch_op.f("ix_countries_region_slug"))
        batch_op.drop_index(batch_op.f("ix_countries_name"))
        batch_op.drop_index(batch_op.f("ix_countries_apic_status"))

    op.drop_table("countries")
    op.drop_table("regions")
    op.drop_table("custom_field_definitions")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entries_organization_id"))
        batch_op.drop_index(batch_op.f("ix_audit_entries_at"))
        batch_op.drop_index(batch_op.f("ix_audit_entries_action"))

    op.drop_table("audit_entries")
