"""A large alert's participation figures, counted ahead of the request.

Counting an alert's figures folds every delivery and every response: 6 to 35 seconds
at a million deliveries, where a report page has 200 ms. So for an alert larger than
REPORT_LIVE_LIMIT recipients the workers count them every REPORT_REFRESH_SECONDS
(app/reports/tallies.py), one row per organisation, with the same statement the
live report runs, and the report sums those rows. Smaller alerts (all of the
coalition's today) are counted live at every request and have no rows here.
"""

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.campaigns import models as _campaigns  # noqa: F401  (tables the keys point to)
from app.core import models as _naming  # noqa: F401  (constraint names)
from app.core.types import UTCDateTime


class ParticipationTally(SQLModel, table=True):
    """One organisation's figures for one alert, as of the campaign's last count: the
    live report's per-organisation row (app/reports/service.py), stored."""

    __tablename__ = "participation_tallies"
    __table_args__ = (
        # A campaign's rows in the report's order by organisation.
        Index(
            "ix_participation_tallies_campaign",
            "campaign_id",
            "region_position",
            "country_name",
            "organization_name",
            "organization_id",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaigns.id", ondelete="CASCADE")
    # None: deliveries whose contact was erased since (they still count, for the
    # secretariat). No foreign key: the figures outlive an organisation's deletion.
    organization_id: int | None = None
    # Where it is and what it is called, as counted: a report by region or country
    # sums the rows per country without a join, and one by organisation reads a page
    # in the order of the index below.
    region: str | None = Field(default=None, max_length=20)
    region_name: str | None = Field(default=None, max_length=60)
    region_position: int | None = None
    country_iso3: str | None = Field(default=None, max_length=3)
    country_name: str | None = Field(default=None, max_length=100)
    organization_name: str | None = Field(default=None, max_length=300)
    recipients: int
    delivered: int
    bounced: int
    clicked: int
    acted: int
    unsubscribed: int
    # 1 when a message to one of its contacts was delivered.
    reached: int
    # 1 when it reported an action, or one of its people acted.
    acted_organization: int


class ParticipationCount(SQLModel, table=True):
    """When an alert's tallies were last counted, and what it cost."""

    __tablename__ = "participation_counts"

    campaign_id: int = Field(foreign_key="campaigns.id", primary_key=True, ondelete="CASCADE")
    counted_at: datetime = Field(sa_type=UTCDateTime)
    seconds: float
    recipients: int
    # What had happened by then (the newest response and action report, the campaign's
    # status): a finished alert whose marker has not moved is not counted again.
    marker: str = Field(max_length=200)
