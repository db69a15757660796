"""The region dashboard (/region): a lead's own region only, its figures and lists right
for a small hand-made registry, and the same in a real browser.

The registry (`build_region_world`):

| organisation        | country | contacts                      | alerts received (acted)     |
|---------------------|---------|-------------------------------|-----------------------------|
| Haki Kenya          | KEN     | focal point                   | 2, 3 (3)                    |
| Nairobi Legal Aid   | KEN     | director; other, hard bounced | 0, 1, 2, 3 (0)              |
| Lagos Justice Forum | NGA     | focal point                   | 1, 3 (1)                    |
| Dakar Rights Centre | SEN     | none                          | none                        |
| Old Archived Forum  | KEN     | none (archived)               | none                        |
| Teranga Lawyers     | SEN     | focal point (applicant)       | none                        |
| Ligue de Paris      | FRA     | other, hard bounced           | 3, Europe's own (none)      |
| Union de Lyon       | FRA     | focal point (applicant)       | none                        |

Alerts 0 to 3 went to Africa and Europe, a month apart, 3 the latest; after them an alert
to Europe only. Africa's latest three are 3, 2, 1: Nairobi acted on 0 only, so it has
gone quiet; Haki and Lagos each acted on one of the three.
"""

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect
from sqlalchemy import Engine, event
from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.principal import Role
from app.campaigns.models import Campaign, CampaignStatus
from app.core.db import create_db_engine
from app.core.types import utcnow
from app.members import applications
from app.members.models import BounceStatus, Contact, Organization
from app.members.schemas import ApplicationCreate
from app.reports import region as region_figures
from tests.factories import make_contact, make_organization, make_user
from tests.reports.world import make_action_report, make_delivery, make_sent_campaign
from tests.web.conftest import (  # noqa: F401  (fixtures: the live server and a browser page)
    LiveServer,
    live_database_url,
    live_server,
    page,
    screenshot,
    sign_in,
)


@dataclass
class RegionWorld:
    organizations: dict[str, Organization]
    alerts: list[Campaign]  # 0 to 3, oldest first
    europe_only: Campaign


def _hard_bounced(contact: Contact) -> None:
    contact.bounce_status = BounceStatus.hard
    contact.hard_bounce_count = 1


def build_region_world(session: Session) -> RegionWorld:
    author = accounts.principal_for(make_user(session, Role.secretariat))
    organization = make_organization
    orgs = {
        "haki": organization(session, name="Haki Kenya", country="KEN"),
        "nairobi": organization(session, name="Nairobi Legal Aid", country="KEN"),
        "lagos": organization(session, name="Lagos Justice Forum", country="NGA"),
        "dakar": organization(session, name="Dakar Rights Centre", country="SEN"),
        "archived": organization(
            session, name="Old Archived Forum", country="KEN", membership_status="archived"
        ),
        "paris": organization(session, name="Ligue de Paris", country="FRA"),
    }
    haki = make_contact(session, orgs["haki"], name="Amina Odhiambo", role="focal_point")
    nairobi = make_contact(session, orgs["nairobi"], name="Beatrice Njeri", role="director")
    _hard_bounced(make_contact(session, orgs["nairobi"], name="Old Address"))
    lagos = make_contact(
        session,
        orgs["lagos"],
        name="Ngozi Adeyemi",
        email="ngozi@lagos.example.org",
        role="focal_point",
    )
    paris = make_contact(session, orgs["paris"], name="Fanny Lefèvre", email="fanny@paris.example")
    _hard_bounced(paris)
    for name, country, email in (
        ("Teranga Lawyers", "SEN", "awa@teranga.example.org"),
        ("Union de Lyon", "FRA", "luc@lyon.example.org"),
    ):
        applications.submit_application(
            session,
            ApplicationCreate(
                organization_name=name,
                country=country,
                contact_name="Applicant",
                contact_email=email,
            ),
        )

    now = utcnow()
    alerts = []
    for number in range(4):
        alert = make_sent_campaign(
            session, author, regions=["africa", "europe"], title=f"Alert {number}"
        )
        alert.launched_at = now - timedelta(days=40 - 10 * number)
        alerts.append(alert)
    europe_only = make_sent_campaign(session, author, regions=["europe"], title="Europe only")
    europe_only.launched_at = now - timedelta(days=5)
    draft = make_sent_campaign(session, author, regions=["africa"], title="Still a draft")
    draft.status, draft.launched_at, draft.finished_at = CampaignStatus.draft, None, None
    session.flush()

    received = {
        0: [(nairobi, True)],
        1: [(nairobi, False), (lagos, True)],
        2: [(nairobi, False), (haki, False)],
        3: [(haki, True), (nairobi, False), (lagos, False), (paris, False)],
    }
    for number, recipients in received.items():
        for contact, acted in recipients:
            delivery = make_delivery(session, alerts[number], contact)
            if acted:
                make_action_report(session, delivery, contact.organization)
    make_delivery(session, europe_only, paris)
    session.flush()
    return RegionWorld(organizations=orgs, alerts=alerts, europe_only=europe_only)


@pytest.fixture
def world(session: Session) -> RegionWorld:
    return build_region_world(session)


@pytest.fixture
def lead(client_as: Callable[..., TestClient]) -> TestClient:
    return client_as(Role.regional_lead, regions=["africa"])


def dashboard(client: TestClient, status: int = 200, **params: str) -> str:
    response = client.get("/region", params=params)
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def block(body: str, testid: str) -> str:
    """The text of the element with that test id (tags dropped)."""
    found = re.search(rf'<(\w+)[^>]*data-testid="{testid}"[^>]*>(.*?)</\1>', body, re.S)
    assert found is not None, f"no {testid} on the body"
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", found.group(2))).split())


def names_in(body: str, testid: str) -> list[str]:
    found = re.search(rf'<ul[^>]*data-testid="{testid}"[^>]*>(.*?)</ul>', body, re.S)
    if found is None:
        return []
    return [unescape(name) for name in re.findall(r'<a href="[^"]*">([^<]*)</a>', found.group(1))]


def test_a_lead_sees_her_region_and_nothing_of_another(
    lead: TestClient, world: RegionWorld
) -> None:
    body = dashboard(lead)
    assert "<h1>Africa</h1>" in body
    assert block(body, "member-count") == "5"  # the archived forum is no member
    titles = re.findall(r'<h3 id="alert-\d+-title"><a href="([^"]+)">([^<]+)</a>', body)
    assert titles == [
        (f"/campaigns/{alert.id}/results", alert.title) for alert in reversed(world.alerts[1:])
    ]
    for alert in world.alerts[1:]:
        assert f'<svg class="chart" id="chart-alert-{alert.id}"' in body
    assert "Europe only" not in body
    assert "Alert 0" not in body
    assert "Still a draft" not in body
    for other_region in ("Ligue de Paris", "Union de Lyon", "France", "fanny@paris.example"):
        assert other_region not in body
    assert 'id="f-region"' not in body  # one region: no chooser

    # Alert 3 reached Haki (acted), Nairobi and Lagos in Africa: one of three acted.
    assert block(body, f"alert-{world.alerts[3].id}").count("1 of 3 organisations acted") == 1
    assert "3 recipients in Africa" in body


@pytest.mark.parametrize("region", ["europe", "atlantis", "africa\x00", ""])
def test_a_region_not_hers_is_a_404_page(lead: TestClient, world: RegionWorld, region: str) -> None:
    if not region:  # an empty choice means "the first of hers"
        assert "<h1>Africa</h1>" in dashboard(lead, region=region)
        return
    body = dashboard(lead, 404, region=region)
    assert "Not found" in body
    assert "Ligue de Paris" not in body


def test_the_lists_hold_whom_to_chase_and_the_registry_gaps(
    lead: TestClient, world: RegionWorld
) -> None:
    body = dashboard(lead)
    orgs = world.organizations

    assert block(body, "not-acted-total") == "2"
    not_acted = block(body, "not-acted")
    assert "Lagos Justice Forum" in not_acted
    assert "ngozi@lagos.example.org" in not_acted
    assert "Nairobi Legal Aid" in not_acted
    assert "Haki Kenya" not in not_acted

    # By country, then name: Kenya before Senegal.
    assert names_in(body, "no-focal-point") == ["Nairobi Legal Aid", "Dakar Rights Centre"]
    assert block(body, "no-focal-point-total") == "2"
    gaps = block(body, "no-focal-point")
    assert "Senegal · no contacts at all" in gaps
    assert "Kenya · 2 contacts, none a focal point" in gaps
    assert f'href="/members/{orgs["dakar"].id}"' in body

    assert names_in(body, "hard-bounced") == ["Nairobi Legal Aid"]
    assert "Kenya · 1 address bounced" in block(body, "hard-bounced")

    # Nairobi acted on alert 0 only, older than the latest three; Haki and Lagos acted
    # on one of them; Dakar received none.
    assert names_in(body, "quiet") == ["Nairobi Legal Aid"]
    assert block(body, "quiet-total") == "1"

    assert block(body, "applications-total") == "1"
    assert names_in(body, "applications") == ["Teranga Lawyers"]
    assert "Senegal · applied" in block(body, "applications")


def _csv_link(body: str) -> str:
    found = re.search(r'<a href="([^"]+)" download data-testid="not-acted-csv"', body)
    assert found is not None
    return unescape(found.group(1))


def _csv_organizations(client: TestClient, link: str) -> set[str]:
    response = client.get(link)
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text.removeprefix("\ufeff"))))
    return {row["organization_name"] for row in rows}


def test_the_csv_link_downloads_the_regions_not_acted_list(
    lead: TestClient, client: TestClient, world: RegionWorld
) -> None:
    link = _csv_link(dashboard(lead))
    assert link == f"/api/reports/not-acted.csv?campaign_id={world.alerts[3].id}&region=africa"
    assert _csv_organizations(lead, link) == {"Lagos Justice Forum", "Nairobi Legal Aid"}
    # The secretariat, who sees Europe too, gets the same list through the region's link.
    assert _csv_organizations(client, _csv_link(dashboard(client))) == {
        "Lagos Justice Forum",
        "Nairobi Legal Aid",
    }
    assert _csv_organizations(client, _csv_link(dashboard(client, region="europe"))) == {
        "Ligue de Paris"
    }


def test_the_secretariat_chooses_any_region(client: TestClient, world: RegionWorld) -> None:
    africa = dashboard(client)
    assert "<h1>Africa</h1>" in africa
    options = re.findall(r'<option value="([a-z-]+)"( selected)?>', africa)
    assert options == [
        ("africa", " selected"),
        ("americas", ""),
        ("asia-pacific", ""),
        ("europe", ""),
        ("mena", ""),
    ]
    assert "Ligue de Paris" not in africa
    assert 'href="/campaigns/new"' not in africa  # figures, not the empty state

    europe = dashboard(client, region="europe")
    assert "<h1>Europe</h1>" in europe
    titles = re.findall(r'<h3 id="alert-\d+-title"><a href="[^"]+">([^<]+)</a>', europe)
    assert titles == ["Europe only", "Alert 3", "Alert 2"]
    assert block(europe, "not-acted-total") == "1"
    assert "Ligue de Paris" in block(europe, "not-acted")
    assert names_in(europe, "hard-bounced") == ["Ligue de Paris"]
    assert names_in(europe, "applications") == ["Union de Lyon"]
    assert "Nairobi Legal Aid" not in europe

    empty = dashboard(client, region="mena")
    assert "No alert has been sent to Middle East and North Africa yet" in empty
    assert 'href="/campaigns/new"' in empty
    assert "No application from Middle East and North Africa is waiting" in empty
    assert "Every member has a focal point." in empty


def test_a_lead_of_two_regions_reads_one_at_a_time(
    client_as: Callable[..., TestClient], world: RegionWorld
) -> None:
    lead = client_as(Role.regional_lead, regions=["europe", "africa"])
    africa = dashboard(lead)
    assert "<h1>Africa</h1>" in africa  # the first in the usual order
    assert re.findall(r'<option value="([a-z-]+)"', africa) == ["africa", "europe"]
    assert "Ligue de Paris" not in africa
    assert "Ligue de Paris" in dashboard(lead, region="europe")
    dashboard(lead, 404, region="americas")


def test_a_lead_of_a_quiet_region_is_told_what_comes_next(
    client_as: Callable[..., TestClient], world: RegionWorld
) -> None:
    body = dashboard(client_as(Role.regional_lead, regions=["asia-pacific"]))
    assert "No alert has been sent to Asia-Pacific yet" in body
    assert 'href="/campaigns/new"' not in body  # leads do not compose
    assert "Not acted on the latest alert" not in body
    assert "Every member has a focal point." in body
    assert "No member has an address that bounced for good." in body


def test_members_go_to_their_portal_and_strangers_sign_in(
    client_as: Callable[..., TestClient], anonymous_client: TestClient
) -> None:
    member = client_as(Role.member)
    response = member.get("/region", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/portal"
    response = anonymous_client.get("/region", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/sign-in")


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_the_figures_take_as_many_queries_for_many_members_as_for_few(
    session: Session, world: RegionWorld, statements: list[str]
) -> None:
    lead = accounts.principal_for(make_user(session, Role.regional_lead, regions=["africa"]))
    africa = region_figures.choose_region(region_figures.regions_in_view(session, lead), None)
    assert africa is not None

    def count() -> int:
        session.expire_all()
        statements.clear()
        region_figures.region_dashboard(session, lead, africa)
        return len(statements)

    few = count()
    for number in range(30):
        gone_quiet = make_organization(session, name=f"Quiet {number}", country="NGA")
        contact = make_contact(session, gone_quiet, role="director")
        _hard_bounced(contact)
        make_delivery(session, world.alerts[3], contact)
    session.flush()
    assert count() == few
    dashboard_now = region_figures.region_dashboard(session, lead, africa)
    assert dashboard_now.quiet.total == 31
    assert len(dashboard_now.quiet.rows) == region_figures.LIST_ROWS
    assert dashboard_now.no_focal_point.total == 32
    assert dashboard_now.hard_bounced.total == 31


# --- in a browser -------------------------------------------------------------------------

LEAD_EMAIL = "lead.africa@example.org"


@pytest.fixture(scope="module")
def live_world(
    live_server: LiveServer,  # noqa: F811
    live_database_url: str,  # noqa: F811
) -> RegionWorld:
    """The registry above and an Africa lead, committed in the live server's database."""
    engine = create_db_engine(live_database_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            world = build_region_world(session)
            make_user(session, Role.regional_lead, email=LEAD_EMAIL, regions=["africa"])
            session.commit()
    finally:
        engine.dispose()
    return world


@pytest.mark.browser
def test_a_lead_reads_her_region_downloads_whom_to_chase_and_cannot_open_another(
    page: Page,  # noqa: F811
    live_server: LiveServer,  # noqa: F811
    live_world: RegionWorld,
) -> None:
    sign_in(page, live_server.url, LEAD_EMAIL)
    page.goto(f"{live_server.url}/region")
    expect(page.get_by_role("heading", name="Africa", exact=True)).to_be_visible()
    chart = page.locator(f"svg#chart-alert-{live_world.alerts[3].id}")
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box is not None
    assert box["width"] > 200
    expect(
        page.get_by_role("img", name="Alert 3: reached, clicked and acted per country")
    ).to_be_visible()
    expect(page.get_by_test_id("not-acted")).to_contain_text("Lagos Justice Forum")
    screenshot(page, "lead-region")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the list (CSV)").click()
    download = download_info.value
    assert download.suggested_filename.startswith(f"not-acted-{live_world.alerts[3].id}-africa-")
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    assert "Lagos Justice Forum" in text
    assert "Nairobi Legal Aid" in text
    assert "Ligue de Paris" not in text

    response = page.goto(f"{live_server.url}/members/{live_world.organizations['paris'].id}")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()

    # Readable on a phone: a look for a person (artefacts/screenshots).
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/region")
    expect(chart).to_be_visible()
    screenshot(page, "lead-region-phone")
