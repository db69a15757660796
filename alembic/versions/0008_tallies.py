"""tallies: large alerts' participation counted ahead (issue 8)

Revision ID: 0008_tallies
Revises: 0007_scale
Create Date: 2026-11-28 20:55:37
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

import app.core.types
from alembic import op

revision: str = "0008_tallies"
down_revision: str | None = "0007_scale"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "participation_counts",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("counted_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("marker", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_participation_counts_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_participation_counts")),
    )
    op.create_table(
        "participation_tallies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("region", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("region_name", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True),
        sa.Column("region_position", sa.Integer(), nullable=True),
        sa.Column("country_iso3", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True),
        sa.Column("country_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column(
            "organization_name", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True
        ),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("delivered", sa.Integer(), nullable=False),
        sa.Column("bounced", sa.Integer(), nullable=False),
        sa.Column("clicked", sa.Integer(), nullable=False),
        sa.Column("acted", sa.Integer(), nullable=False),
        sa.Column("unsubscribed", sa.Integer(), nullable=False),
        sa.Column("reached", sa.Integer(), nullable=False),
        sa.Column("acted_organization", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_participation_tallies_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_participation_tallies")),
    )
    op.create_index(
        "ix_participation_tallies_campaign",
        "participation_tallies",
        ["campaign_id", "region_position", "country_name", "organization_name", "organization_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_participation_tallies_campaign", table_name="participation_tallies")
    op.drop_table("participation_tallies")
    op.drop_table("participation_counts")
