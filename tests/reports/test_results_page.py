"""The campaign results page, server-rendered (the browser check is in
test_results_browser.py)."""

import html
import re
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.principal import Role
from app.campaigns.models import CampaignStatus
from app.core.headers import CONTENT_SECURITY_POLICY
from app.reports import tallies
from tests.factories import make_user
from tests.reports.world import ReportWorld, make_sent_campaign


def results(client: TestClient, campaign_id: Any, status: int = 200) -> str:
    response = client.get(f"/campaigns/{campaign_id}/results")
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def figure(page: str, name: str) -> str:
    found = re.search(rf'data-testid="total-{name}"[^>]*>(.*?)</dd>', page, re.S)
    assert found is not None, f"no {name} figure on the page"
    return " ".join(re.sub(r"<[^>]+>", "", found.group(1)).split())


def section(page: str, testid: str) -> str:
    found = re.search(rf'<(\w+)[^>]*data-testid="{testid}".*?</\1>', page, re.S)
    assert found is not None, f"no {testid} on the page"
    return html.unescape(found.group(0))


def test_the_secretariat_reads_every_figure_list_and_chart(
    client: TestClient, report_world: ReportWorld
) -> None:
    page = results(client, report_world.campaign.id)
    assert "<h1>Results: Ratify APIC</h1>" in page
    assert figure(page, "recipients") == "8"
    assert figure(page, "delivered") == "5"
    assert figure(page, "bounced") == "3 (38% of recipients)"
    assert figure(page, "clicked") == "3 (60%)"
    assert figure(page, "acted") == "2 (40%)"
    assert figure(page, "unsubscribed") == "1 (20%)"
    assert figure(page, "organizations-acted") == "2 (50%)"
    for heading in ("By region", "By country", "Actions reported", "Not acted yet", "Replies"):
        assert heading in page
    for name in ("Africa", "Americas", "Europe", "Kenya", "Nigeria", "Brazil", "France"):
        assert f'<th scope="row" class="cell--primary">{name}</th>' in page

    actions = section(page, "actions")
    assert "Met officials" in actions
    assert "Media" in actions
    assert "Ministry of Justice, legal adviser" in actions
    assert "They asked for our briefing paper." in actions
    assert "Amina Odhiambo" in actions

    not_acted = section(page, "not-acted")
    assert "Direitos Brasil" in not_acted
    assert "Lagos Justice Forum" in not_acted
    assert "n2@nigeria.example.org" in not_acted
    assert "Haki Kenya" not in not_acted

    replies = section(page, "replies")
    assert "We will write to the ministry next week." in replies
    assert "Nous avons écrit au ministère." in replies
    assert "Who are you? Please remove me." in replies  # tied to no delivery
    assert "550 5.1.1" not in page  # a bounce report is not a reply
    assert "out of the office" not in page  # nor is an automatic one, only counted
    assert "1 automatic reply (out of office) not listed." in page

    assert '<svg class="chart" id="chart-funnel"' in page
    assert '<svg class="chart" id="chart-regions"' in page
    campaign_id = report_world.campaign.id
    for link in (
        f"/api/reports/participation.csv?campaign_id={campaign_id}&amp;group_by=region",
        f"/api/reports/participation.csv?campaign_id={campaign_id}&amp;group_by=country",
        f"/api/reports/participation.csv?campaign_id={campaign_id}&amp;group_by=organization",
        f"/api/reports/not-acted.csv?campaign_id={campaign_id}",
    ):
        assert f'href="{link}"' in page


def test_the_page_needs_nothing_the_policy_refuses(
    client: TestClient, report_world: ReportWorld
) -> None:
    response = client.get(f"/campaigns/{report_world.campaign.id}/results")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    page = response.text
    assert "style=" not in page
    assert "<style" not in page
    assert not re.search(r"<script(?![^>]*\ssrc=\"/static/)", page)
    assert not re.search(r"\son[a-z]+=", page)
    assert not re.search(r'(src|href)="(https?:)?//(?!treaties\.un\.org)', page)


def test_what_members_wrote_is_escaped(
    session: Session, client: TestClient, report_world: ReportWorld
) -> None:
    report_world.organizations["nigeria"].name = "<script>alert('x')</script> Forum"
    report_world.contacts["n2"].name = '<img src=x onerror="alert(1)">'
    session.flush()
    page = results(client, report_world.campaign.id)
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Forum" in page


def test_a_regional_lead_sees_her_region_only(client_as: Any, report_world: ReportWorld) -> None:
    lead = client_as(Role.regional_lead)  # of Africa
    page = results(lead, report_world.campaign.id)
    assert "Figures for members in your region only: Africa." in page
    assert figure(page, "recipients") == "5"
    assert figure(page, "delivered") == "3"
    assert figure(page, "acted") == "1 (33%)"
    for elsewhere in (
        "Europe",
        "Americas",
        "France",
        "Brazil",
        "Ligue de Paris",
        "Direitos Brasil",
        "Fanny",
        "Rafael",
        "Nous avons écrit",
        "Who are you?",
    ):
        assert elsewhere not in html.unescape(page), elsewhere
    assert "Lagos Justice Forum" in section(page, "not-acted")
    assert "We will write to the ministry next week." in section(page, "replies")


def test_an_alert_the_lead_may_not_read_is_not_found(
    session: Session, client_as: Any, client: TestClient
) -> None:
    author = accounts.principal_for(make_user(session, Role.secretariat))
    europe_only = make_sent_campaign(session, author, regions=["europe"], title="Paris only")
    lead = client_as(Role.regional_lead)
    page = results(lead, europe_only.id, status=404)
    assert "Paris only" not in page
    results(client, europe_only.id)


def test_unknown_or_malformed_ids_are_not_found(client: TestClient) -> None:
    for campaign_id in ("999999", "abc", "0", "-1", str(2**31), "1e3"):
        page = results(client, campaign_id, status=404)
        assert "There is no action alert with id" in page


def test_members_may_not_open_it(client_as: Any, report_world: ReportWorld) -> None:
    member = client_as(Role.member)
    assert member.get(f"/campaigns/{report_world.campaign.id}/results").status_code == 403


def test_an_alert_not_sent_yet_says_so(session: Session, client: TestClient) -> None:
    author = accounts.principal_for(make_user(session, Role.secretariat))
    draft = make_sent_campaign(session, author, regions=["africa"], title="Not yet")
    draft.status, draft.launched_at = CampaignStatus.draft, None
    session.flush()
    page = results(client, draft.id)
    assert "This alert has not been sent yet, so there are no results." in page
    assert "<svg" not in page
    # The alert's own page offers no results link before launch.
    assert "/results" not in client.get(f"/campaigns/{draft.id}").text


def test_the_alert_page_links_to_its_results(client: TestClient, report_world: ReportWorld) -> None:
    page = client.get(f"/campaigns/{report_world.campaign.id}").text
    assert f'href="/campaigns/{report_world.campaign.id}/results"' in page


def test_an_alert_nobody_answered_has_empty_lists(
    session: Session, client: TestClient, report_world: ReportWorld
) -> None:
    author = accounts.principal_for(make_user(session, Role.secretariat))
    quiet = make_sent_campaign(session, author, regions=["africa"], title="Quiet")
    page = results(client, quiet.id)
    assert figure(page, "recipients") == "0"
    assert "No action has been reported yet." in page
    assert "No replies." in page
    assert "<svg" not in page  # nothing to draw


def test_a_large_alert_says_when_its_figures_were_counted(
    session: Session, client: TestClient, report_world: ReportWorld
) -> None:
    assert 'data-testid="counted-at"' not in results(client, report_world.campaign.id)
    counted_at = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    tallies.count_campaign(session, report_world.campaign, counted_at)
    page = results(client, report_world.campaign.id)
    note = section(page, "counted-at")
    assert 'datetime="2026-11-02T09:30:00+00:00"' in note
    assert "counted again 1 minute later" in note
    assert figure(page, "recipients") == "8"  # the count's figures, the same here
