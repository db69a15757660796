"""The member list's changes for large registries (issue 8): counts that stop at
COUNT_LIMIT and say so, and text search that PostgreSQL answers from trigram indexes
with the same results as the scan it replaces."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from app.accounts.principal import Principal, Role
from app.members import service
from app.members.schemas import OrganizationFilter
from tests.factories import make_contact, make_organization


def _names(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


def test_count_stops_at_the_limit_and_says_so(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in range(5):
        make_organization(session, name=f"Counted {number}", country="KEN")
    session.flush()
    monkeypatch.setattr(service, "COUNT_LIMIT", 3)

    capped = client.get("/api/organizations", params={"q": "Counted", "limit": 2}).json()
    assert (capped["total"], capped["total_exact"]) == (3, False)
    # Paging is not limited by the count: every match is reachable.
    second = client.get(
        "/api/organizations", params={"q": "Counted", "limit": 2, "cursor": capped["next_cursor"]}
    ).json()
    third = client.get(
        "/api/organizations", params={"q": "Counted", "limit": 2, "cursor": second["next_cursor"]}
    ).json()
    assert len(capped["items"]) + len(second["items"]) + len(third["items"]) == 5

    exact = client.get("/api/organizations", params={"q": "Counted 1"}).json()
    assert (exact["total"], exact["total_exact"]) == (1, True)
    monkeypatch.setattr(service, "COUNT_LIMIT", 5)
    at_limit = client.get("/api/organizations", params={"q": "Counted"}).json()
    assert (at_limit["total"], at_limit["total_exact"]) == (5, True)


@pytest.fixture
def searchable(session: Session) -> None:
    make_organization(session, name="Fund for 100% Rights", country="KEN", acronym="F100")
    make_organization(session, name="Fund for 1000 Rights", country="KEN")
    make_organization(session, name="Rights_Watch Kenya", country="KEN")
    make_organization(session, name="RightsXWatch Kenya", country="KEN")
    make_organization(session, name=r"Back\slash Society", country="KEN")
    make_organization(session, name="Backslash Society", country="KEN")
    people = make_organization(session, name="People Only", country="SEN")
    make_contact(session, people, name="Aminata Diallo", email="a.diallo@example.org")
    session.flush()


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("100%", {"Fund for 100% Rights"}),  # % literal
        ("100", {"Fund for 100% Rights", "Fund for 1000 Rights"}),
        ("s_w", {"Rights_Watch Kenya"}),  # _ literal
        ("S_W", {"Rights_Watch Kenya"}),
        (r"k\s", {r"Back\slash Society"}),  # backslash literal
        ("f100", {"Fund for 100% Rights"}),  # acronym
        ("DIALLO", {"People Only"}),  # contact name
        ("diallo@exa", {"People Only"}),  # contact email
        ("a.d", {"People Only"}),
        ("xw", {"RightsXWatch Kenya"}),  # two characters: the scan
        ("%", {"Fund for 100% Rights"}),
        ("_", {"Rights_Watch Kenya"}),
        ("nothing like it", set()),
    ],
)
def test_text_search_is_literal_on_every_path(
    client: TestClient, searchable: None, q: str, expected: set[str]
) -> None:
    response = client.get("/api/organizations", params={"q": q})
    assert set(_names(response)) == expected
    assert response.json()["total"] == len(expected)


def test_text_search_reads_the_trigram_indexes_on_postgresql(
    session: Session, searchable: None
) -> None:
    """The query shape PostgreSQL can answer from the pg_trgm indexes of alembic 0007
    (an OR over a correlated EXISTS cannot use them). Sequential scans are priced out
    so that the plan shows whether the indexes are usable at all on a small table."""
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("trigram indexes exist on PostgreSQL only")
    query = service.filtered_organizations(
        session, Principal(actor="test", role=Role.secretariat), OrganizationFilter(q="diallo")
    )
    compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    session.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(session.execute(text(f"EXPLAIN {compiled}")).scalars())
    for index in (
        "ix_organizations_name_trgm",
        "ix_organizations_acronym_trgm",
        "ix_contacts_name_trgm",
        "ix_contacts_email_trgm",
    ):
        assert index in plan, plan


def test_the_members_page_says_more_than_when_the_count_stopped(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in range(5):
        make_organization(session, name=f"Counted {number}", country="KEN")
    session.flush()
    monkeypatch.setattr(service, "COUNT_LIMIT", 3)
    html = client.get("/members", params={"q": "Counted"}).text
    assert 'More than <span data-testid="total">3</span> organisations' in html
    assert "Export all of them as CSV" in html
    monkeypatch.setattr(service, "COUNT_LIMIT", 10)
    html = client.get("/members", params={"q": "Counted"}).text
    assert '<h2 id="results-title"><span data-testid="total">5</span> organisations' in html
    assert "Export these 5 as CSV" in html
