"""The results page in a real browser: its SVG charts draw under the site's
Content-Security-Policy, with no console error and nothing fetched from elsewhere."""

import pytest
from playwright.sync_api import ConsoleMessage, Page, Request, expect
from sqlalchemy import Engine
from sqlmodel import Session

from app.core.db import create_db_engine
from tests.reports.world import build_report_world
from tests.web.conftest import (  # noqa: F401  (fixtures: the live server and a browser page)
    LiveServer,
    live_database_url,
    live_server,
    page,
    sign_in,
)


@pytest.fixture(scope="module")
def live_campaign_id(
    live_server: LiveServer,  # noqa: F811
    live_database_url: str,  # noqa: F811
) -> int:
    """The hand-counted responses, committed in the live server's database."""
    engine: Engine = create_db_engine(live_database_url)
    try:
        with Session(engine) as session:
            campaign_id = build_report_world(session).campaign.id or 0
            session.commit()
    finally:
        engine.dispose()
    return campaign_id


@pytest.mark.browser
def test_the_results_page_draws_its_charts_under_the_policy(
    page: Page,  # noqa: F811
    live_server: LiveServer,  # noqa: F811
    live_campaign_id: int,
) -> None:
    problems: list[str] = []
    elsewhere: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # The browser asks for /favicon.ico on its own; the site has none (not this page's).
        if message.location.get("url", "").endswith("/favicon.ico"):
            return
        if message.type in ("error", "warning"):
            problems.append(f"{message.type}: {message.text} at {message.location}")

    def on_request(request: Request) -> None:
        if not request.url.startswith((live_server.url, "data:")):
            elsewhere.append(request.url)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("request", on_request)

    sign_in(page, live_server.url)
    response = page.goto(f"{live_server.url}/campaigns/{live_campaign_id}/results")
    assert response is not None
    assert response.status == 200
    assert "script-src 'self'" in (response.headers.get("content-security-policy") or "")

    expect(page.get_by_role("heading", name="Results: Ratify APIC")).to_be_visible()
    expect(page.get_by_test_id("total-delivered")).to_have_text("5")
    for chart, title in [
        ("chart-funnel", "From delivered to acted"),
        ("chart-regions", "Clicks and actions per region, as a share of messages delivered"),
    ]:
        svg = page.locator(f"svg#{chart}")
        expect(svg).to_be_visible()
        box = svg.bounding_box()
        assert box is not None
        assert box["width"] > 200, (chart, box)
        assert box["height"] > 80, (chart, box)
        # Drawn bars, not an empty frame: the rectangles have their size and colour.
        assert svg.locator("rect").count() >= 6
        expect(page.get_by_role("img", name=title)).to_be_visible()
    widths = page.locator("svg#chart-funnel rect").evaluate_all(
        "rects => rects.map(r => r.getBoundingClientRect().width)"
    )
    assert max(widths) > 100

    expect(page.get_by_test_id("not-acted")).to_contain_text("Lagos Justice Forum")
    expect(page.get_by_test_id("replies")).to_contain_text("We will write to the ministry")
    assert problems == []
    assert elsewhere == []
