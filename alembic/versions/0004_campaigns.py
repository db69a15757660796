"""campaigns, variants, regions, topic opt-outs

Revision ID: 0004_campaigns
Revises: 0003_outbox_applications
Create Date: 2026-11-28 05:01:02.570573
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.core.types


revision: str = "0004_campaigns"
down_revision: str | None = "0003_outbox_applications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contact_topic_opt_outs",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_topic_opt_outs_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", "topic", name=op.f("pk_contact_topic_opt_outs")),
    )
    with op.batch_alter_table("contact_topic_opt_outs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_topic_opt_outs_topic"), ["topic"], unique=False
        )

    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column(
            "action_type",
            sa.Enum(
                "contact_officials",
                "parliamentary_engagement",
                "public_statement",
                "media",
                "event",
                "sign_on",
                "other",
                name="action_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "approved",
                "scheduled",
                "sending",
                "paused",
                "sent",
                "cancelled",
                name="campaign_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("default_language", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("track_clicks", sa.Boolean(), nullable=False),
        sa.Column("track_opens", sa.Boolean(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        sa.Column("approved_at", app.core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("send_at", app.core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("send_timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("launched_at", app.core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", app.core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", app.core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["approved_by_id"], ["users.id"], name=op.f("fk_campaigns_approved_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_campaigns_author_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaigns_author_id"), ["author_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_campaigns_send_at"), ["send_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_campaigns_status"), ["status"], unique=False)

    op.create_table(
        "campaign_regions",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("region_slug", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_regions_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["region_slug"], ["regions.slug"], name=op.f("fk_campaign_regions_region_slug_regions")
        ),
        sa.PrimaryKeyConstraint("campaign_id", "region_slug", name=op.f("pk_campaign_regions")),
    )
    op.create_table(
        "campaign_variants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_variants_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_variants")),
        sa.UniqueConstraint(
            "campaign_id", "language", name=op.f("uq_campaign_variants_campaign_id_language")
        ),
    )
    with op.batch_alter_table("campaign_variants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campaign_variants_campaign_id"), ["campaign_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("campaign_variants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_variants_campaign_id"))

    op.drop_table("campaign_variants")
    op.drop_table("campaign_regions")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaigns_status"))
        batch_op.drop_index(batch_op.f("ix_campaigns_send_at"))
        batch_op.drop_index(batch_op.f("ix_campaigns_author_id"))

    op.drop_table("campaigns")
    with op.batch_alter_table("contact_topic_opt_outs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_topic_opt_outs_topic"))

    op.drop_table("contact_topic_opt_outs")
