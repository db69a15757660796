"""The reports as CSV files for spreadsheets.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (after
any number of ``'``) is written with a ``'`` in front, so that a spreadsheet shows it
as text instead of running it as a formula: organisation and contact names are typed
by members and applicants.

The files start with a byte-order mark so that spreadsheets read them as UTF-8. The
not-acted list is read a page at a time in short read-only units of work of its own
while it is written, so that no connection is held while a slow client downloads.
"""

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from app.accounts.principal import Principal
from app.core.db import session_scope
from app.reports import service
from app.reports.schemas import (
    CampaignReportQuery,
    Figures,
    GroupBy,
    NotActedQuery,
    ParticipationGroup,
    ParticipationReport,
)

_FORMULA_START = re.compile(r"^'*[=+\-@\t\r]")
# Organisations per unit of work while the not-acted list is written.
NOT_ACTED_CHUNK = 500


def spreadsheet_safe(cell: str) -> str:
    return "'" + cell if _FORMULA_START.match(cell) else cell


def csv_text(rows: Iterable[list[str]], *, flush_every: int = 64 * 1024) -> Iterator[str]:
    """Rows as CSV text (escaped, with a byte-order mark first), a chunk at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    for row in rows:
        writer.writerow([spreadsheet_safe(cell) for cell in row])
        if buffer.tell() > flush_every:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _filename(kind: str, campaign_id: int, regions: list[str], extra: str = "") -> str:
    # Only digits, slugs and dashes: nothing a header or a file system could misread.
    parts = [kind, str(campaign_id), *([extra] if extra else []), *regions]
    return "-".join([*parts, date.today().isoformat()]) + ".csv"


# --- participation ------------------------------------------------------------------------

_GROUP_COLUMNS = {
    GroupBy.region: ["region", "region_name"],
    GroupBy.country: ["region", "region_name", "country", "country_name"],
    GroupBy.organization: [
        "region",
        "region_name",
        "country",
        "country_name",
        "organization_id",
        "organization_name",
    ],
}
_COUNT_COLUMNS = [
    "recipients",
    "delivered",
    "bounced",
    "clicked",
    "acted",
    "unsubscribed",
    "organizations_reached",
    "organizations_acted",
]
_RATE_COLUMNS = [
    "click_rate",
    "act_rate",
    "unsubscribe_rate",
    "bounce_rate",
    "organization_act_rate",
]


def _rate_cell(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _figure_cells(figures: Figures) -> list[str]:
    return [str(getattr(figures, name)) for name in _COUNT_COLUMNS] + [
        _rate_cell(getattr(figures, name)) for name in _RATE_COLUMNS
    ]


def _group_cell(group: ParticipationGroup, name: str) -> str:
    value = getattr(group, name)
    if value is None:
        # Deliveries whose contact was erased since: no region, country or organisation.
        return "(contact erased)" if name == "region_name" else ""
    return str(value)


@dataclass(frozen=True)
class CsvFile:
    filename: str
    chunks: Iterator[str]


def participation_csv(report: ParticipationReport) -> CsvFile:
    """One row per group, then a row of totals (its region name says "Total")."""
    group_columns = _GROUP_COLUMNS[report.group_by]

    def rows() -> Iterator[list[str]]:
        yield [*group_columns, *_COUNT_COLUMNS, *_RATE_COLUMNS]
        for group in report.groups:
            yield [_group_cell(group, name) for name in group_columns] + _figure_cells(group)
        total_cells = ["" for _ in group_columns]
        total_cells[1] = "Total"
        yield total_cells + _figure_cells(report.total)

    return CsvFile(
        filename=_filename(
            "participation",
            report.campaign_id,
            [str(region) for region in report.region],
            f"by-{report.group_by.value}",
        ),
        chunks=csv_text(rows()),
    )


# --- who has not acted -------------------------------------------------------------------------

NOT_ACTED_COLUMNS = [
    "organization_id",
    "organization_name",
    "acronym",
    "country",
    "country_name",
    "region",
    "region_name",
    "contact_name",
    "contact_email",
    "contact_language",
    "clicked",
    "unsubscribed",
]


def not_acted_csv(session: Session, principal: Principal, query: CampaignReportQuery) -> CsvFile:
    """One row per contact reached at each organisation that has not acted, in the
    order of the API's pages. The campaign is checked now, so that an alert out of
    scope is a 404 and not a broken download; `session` is not used afterwards."""
    service.campaign_in_scope(session, principal, query.campaign_id)
    paging = NotActedQuery(
        campaign_id=query.campaign_id, region=query.region, limit=NOT_ACTED_CHUNK
    )

    def rows() -> Iterator[list[str]]:
        yield NOT_ACTED_COLUMNS
        cursor: str | None = None
        while True:
            with session_scope(writes=False) as unit:
                page = service.not_acted(unit, principal, paging, cursor=cursor)
            for organization in page.items:
                for contact in organization.contacts:
                    yield [
                        str(organization.organization_id),
                        organization.name,
                        organization.acronym or "",
                        organization.country,
                        organization.country_name,
                        organization.region,
                        organization.region_name,
                        contact.name,
                        contact.email,
                        contact.language,
                        "yes" if contact.clicked else "no",
                        "yes" if contact.unsubscribed else "no",
                    ]
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    return CsvFile(
        filename=_filename(
            "not-acted", query.campaign_id, [str(region) for region in query.region]
        ),
        chunks=csv_text(rows()),
    )
