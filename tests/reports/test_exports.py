"""The CSV versions of the reports: same figures, scoped, streamed, and safe to open in a
spreadsheet."""

import csv
import io
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.accounts.principal import Role
from app.reports.exports import csv_text, spreadsheet_safe
from tests.reports.world import ReportWorld


def download(client: TestClient, path: str, **params: Any) -> list[dict[str, str]]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(response.text.removeprefix("\ufeff"))))


def test_participation_csv_has_the_api_figures_and_a_total_row(
    client: TestClient, report_world: ReportWorld
) -> None:
    campaign_id = report_world.campaign.id
    response = client.get(
        "/api/reports/participation.csv", params={"campaign_id": campaign_id, "group_by": "country"}
    )
    today = date.today().isoformat()
    assert response.headers["content-disposition"] == (
        f'attachment; filename="participation-{campaign_id}-by-country-{today}.csv"'
    )
    rows = download(
        client, "/api/reports/participation.csv", campaign_id=campaign_id, group_by="country"
    )
    assert [row["country"] for row in rows] == ["KEN", "NGA", "BRA", "FRA", ""]
    kenya = rows[0]
    assert (kenya["region"], kenya["country_name"]) == ("africa", "Kenya")
    assert (kenya["recipients"], kenya["delivered"], kenya["bounced"]) == ("3", "2", "1")
    assert (kenya["click_rate"], kenya["act_rate"], kenya["bounce_rate"]) == (
        "0.5000",
        "0.5000",
        "0.3333",
    )
    total = rows[-1]
    assert total["region_name"] == "Total"
    assert [
        total[name] for name in ("recipients", "delivered", "acted", "organizations_acted")
    ] == [
        "8",
        "5",
        "2",
        "2",
    ]
    assert total["act_rate"] == "0.4000"


def test_a_rate_with_nothing_to_divide_is_an_empty_cell(
    client: TestClient, report_world: ReportWorld
) -> None:
    rows = download(
        client,
        "/api/reports/participation.csv",
        campaign_id=report_world.campaign.id,
        group_by="organization",
    )
    nairobi = next(row for row in rows if row["organization_name"] == "Nairobi Legal Aid")
    assert nairobi["delivered"] == "0"
    assert nairobi["click_rate"] == ""
    assert nairobi["bounce_rate"] == "1.0000"


def test_not_acted_csv_has_one_row_per_contact_reached(
    client: TestClient, report_world: ReportWorld
) -> None:
    campaign_id = report_world.campaign.id
    response = client.get("/api/reports/not-acted.csv", params={"campaign_id": campaign_id})
    assert (
        f'filename="not-acted-{campaign_id}-{date.today().isoformat()}.csv"'
        in (response.headers["content-disposition"])
    )
    rows = download(client, "/api/reports/not-acted.csv", campaign_id=campaign_id)
    assert [(row["organization_name"], row["contact_email"]) for row in rows] == [
        ("Direitos Brasil", "r1@brazil.example.org"),
        ("Lagos Justice Forum", "n2@nigeria.example.org"),
    ]
    assert (rows[1]["clicked"], rows[1]["unsubscribed"], rows[1]["region"]) == (
        "yes",
        "yes",
        "africa",
    )


def test_a_regional_lead_exports_her_region_only(client_as: Any, report_world: ReportWorld) -> None:
    lead = client_as(Role.regional_lead)
    campaign_id = report_world.campaign.id
    figures = download(
        lead, "/api/reports/participation.csv", campaign_id=campaign_id, group_by="organization"
    )
    assert {row["organization_name"] for row in figures} == {
        "Haki Kenya",
        "Nairobi Legal Aid",
        "Lagos Justice Forum",
        "",
    }
    assert figures[-1]["recipients"] == "5"
    chase = download(lead, "/api/reports/not-acted.csv", campaign_id=campaign_id)
    assert [row["organization_name"] for row in chase] == ["Lagos Justice Forum"]
    text = lead.get("/api/reports/not-acted.csv", params={"campaign_id": campaign_id}).text
    assert "brazil" not in text.lower()
    europe = download(lead, "/api/reports/not-acted.csv", campaign_id=campaign_id, region="europe")
    assert europe == []


def test_the_not_acted_csv_reads_every_page(
    client: TestClient, report_world: ReportWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written a page at a time: with pages of one organisation, nobody is lost."""
    monkeypatch.setattr("app.reports.exports.NOT_ACTED_CHUNK", 1)
    rows = download(client, "/api/reports/not-acted.csv", campaign_id=report_world.campaign.id)
    assert [row["organization_name"] for row in rows] == ["Direitos Brasil", "Lagos Justice Forum"]


def test_cells_that_a_spreadsheet_would_run_are_made_text(
    session: Session, client: TestClient, report_world: ReportWorld
) -> None:
    nigeria = report_world.organizations["nigeria"]
    nigeria.name = '=HYPERLINK("http://evil.example","Lagos")'
    nigeria.acronym = "+LJF"
    contact = report_world.contacts["n2"]
    contact.name = "@SUM(1+1)*cmd|' /C calc'!A0"
    brazil_contact = report_world.contacts["r1"]
    brazil_contact.name = "-2+3"
    session.flush()
    campaign_id = report_world.campaign.id
    chase = download(client, "/api/reports/not-acted.csv", campaign_id=campaign_id)
    lagos = next(row for row in chase if row["country"] == "NGA")
    assert lagos["organization_name"] == "'" + '=HYPERLINK("http://evil.example","Lagos")'
    assert lagos["acronym"] == "'+LJF"
    assert lagos["contact_name"] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    assert next(row for row in chase if row["country"] == "BRA")["contact_name"] == "'-2+3"
    figures = download(
        client, "/api/reports/participation.csv", campaign_id=campaign_id, group_by="organization"
    )
    names = {row["organization_name"] for row in figures}
    assert "'" + '=HYPERLINK("http://evil.example","Lagos")' in names
    assert not any(name.startswith(("=", "+", "-", "@")) for name in names)


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("'=1", "''=1"),  # a quote already there does not protect it on its own
        ("Lagos", "Lagos"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_spreadsheet_safe(cell: str, written: str) -> None:
    assert spreadsheet_safe(cell) == written


def test_csv_text_streams_in_chunks() -> None:
    rows = [["name"], *([["x" * 100]] * 50)]
    chunks = list(csv_text(iter(rows), flush_every=1000))
    assert len(chunks) > 3
    text = "".join(chunks)
    assert text.startswith("\ufeffname\r\n")
    assert text.count("x" * 100) == 50


def test_csv_errors_come_before_any_byte(client: TestClient, client_as: Any) -> None:
    response = client.get("/api/reports/not-acted.csv", params={"campaign_id": "x"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "campaign_id"]
    response = client.get("/api/reports/not-acted.csv", params={"campaign_id": "1", "limit": "5"})
    assert response.status_code == 422  # the file has no pages
    assert (
        client.get("/api/reports/not-acted.csv", params={"campaign_id": 99999}).status_code == 404
    )
    member = client_as(Role.member)
    assert member.get("/api/reports/not-acted.csv", params={"campaign_id": 1}).status_code == 403
