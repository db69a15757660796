"""scale: indexes and statements for a registry a hundred times larger (issue 8)

Revision ID: 0007_scale
Revises: 0006_responses
Create Date: 2026-11-28 17:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0007_scale"
down_revision: str | None = "0006_responses"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    _registry_upgrade()
    _reports_upgrade()
    _tracking_upgrade()


def downgrade() -> None:
    _tracking_downgrade()
    _reports_downgrade()
    _registry_downgrade()


# --- registry and audience preview ---------------------------------------------------


# Text search of the member list (ILIKE '%text%') through trigram indexes; PostgreSQL
# only (SQLite has no pg_trgm and scans, which is quick at its sizes).
_TRIGRAM_INDEXES = (
    ("ix_organizations_name_trgm", "organizations", "name"),
    ("ix_organizations_acronym_trgm", "organizations", "acronym"),
    ("ix_contacts_name_trgm", "contacts", "name"),
    ("ix_contacts_email_trgm", "contacts", "email"),
)


def _registry_upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # Needs the database owner (PostgreSQL 13+: pg_trgm is a trusted extension).
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, column in _TRIGRAM_INDEXES:
        op.create_index(
            name,
            table,
            [column],
            postgresql_using="gin",
            postgresql_ops={column: "gin_trgm_ops"},
        )


def _registry_downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table, _column in _TRIGRAM_INDEXES:
        op.drop_index(name, table_name=table)
    # The extension stays: other objects may use it, and it costs nothing unused.


# --- launch snapshot and participation report ----------------------------------------


def _reports_upgrade() -> None:
    # The participation report folds a campaign's events into flags per delivery: this
    # index hands them over in delivery order without reading the table (an index-only
    # scan instead of 3,000,000 heap fetches at the scale of issue 8).
    op.create_index(
        "ix_response_events_campaign_delivery",
        "response_events",
        ["campaign_id", "delivery_id", "kind", "automated"],
    )


def _reports_downgrade() -> None:
    op.drop_index("ix_response_events_campaign_delivery", table_name="response_events")


# --- tracking events ------------------------------------------------------------------


def _tracking_upgrade() -> None:
    # Clicks and opens through the Redis stream: each entry stored once.
    op.add_column("response_events", sa.Column("stream_entry", sa.String(length=40), nullable=True))
    op.create_index(
        "uq_response_events_stream_entry", "response_events", ["stream_entry"], unique=True
    )


def _tracking_downgrade() -> None:
    op.drop_index("uq_response_events_stream_entry", table_name="response_events")
    with op.batch_alter_table("response_events") as batch:
        batch.drop_column("stream_entry")
