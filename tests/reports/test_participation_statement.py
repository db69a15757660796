"""The participation report is one aggregate statement (issue 8: at a million
deliveries each scan costs seconds), and its total is still every group's figures
added up, with the erased contacts' row and an organisation counted once."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import Session

from app.reports import service
from app.reports.schemas import GroupBy, ParticipationQuery
from tests.reports.world import AFRICA_LEAD, SECRETARIAT, ReportWorld


@contextmanager
def selects(session: Session) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.mark.parametrize("group_by", list(GroupBy))
@pytest.mark.parametrize("principal", [SECRETARIAT, AFRICA_LEAD], ids=["secretariat", "lead"])
def test_the_report_is_one_statement_after_the_campaign_lookup(
    session: Session, report_world: ReportWorld, group_by: GroupBy, principal: Any
) -> None:
    query = ParticipationQuery(campaign_id=report_world.campaign.id or 0, group_by=group_by)
    with selects(session) as statements:
        report = service.participation(session, principal, query)
    # The campaign in scope (with its variants and regions), then the figures: no
    # second scan of the deliveries for the total.
    assert len([s for s in statements if "deliveries" in s]) == 1
    for name in ("recipients", "delivered", "bounced", "clicked", "acted", "unsubscribed"):
        assert getattr(report.total, name) == sum(getattr(g, name) for g in report.groups)
    assert report.total.organizations_reached == sum(g.organizations_reached for g in report.groups)
    assert report.total.organizations_acted == sum(g.organizations_acted for g in report.groups)
