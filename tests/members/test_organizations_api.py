"""Organisations through the API: filters, pagination, validation, archive, merge."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.factories import make_contact, make_organization


def _names(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


@pytest.fixture
def registry(session: Session) -> dict[str, int]:
    """A small registry with one distinguishing trait per organisation."""
    orgs = {
        "kenya": make_organization(
            session,
            name="Kenya Human Rights Commission",
            acronym="KHRC",
            country="KEN",
            focus_areas=["victims-rights"],
            languages=["en", "sw"],
        ),
        "senegal": make_organization(
            session,
            name="Ligue sénégalaise des droits humains",
            country="SEN",
            type="network",
            focus_areas=["rule-of-law", "victims-rights"],
            languages=["fr"],
        ),
        "peru": make_organization(
            session,
            name="Asociación Pro Derechos Humanos",
            acronym="APRODEH",
            country="PER",
            type="bar_association",
            languages=["es"],
        ),
        "usa": make_organization(
            session,
            name="American Bar Justice Network",
            country="USA",
            type="bar_association",
            membership_status="lapsed",
        ),
        "jordan": make_organization(
            session,
            name="Arab Justice Centre",
            country="JOR",
            languages=["ar", "en"],
            membership_status="applicant",
        ),
        "hungary": make_organization(
            session, name="Budapest Law Clinic", country="HUN", type="academic"
        ),
        "archived": make_organization(
            session, name="Zeta Archived Org", country="KEN", membership_status="archived"
        ),
    }
    make_contact(session, orgs["peru"], name="Gloria Cano", email="g.cano@aprodeh.example.org")
    session.flush()
    return {key: org.id or 0 for key, org in orgs.items()}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"region": "africa"},
            {"Kenya Human Rights Commission", "Ligue sénégalaise des droits humains"},
        ),
        (
            {"region": ["mena", "americas"]},
            {
                "Arab Justice Centre",
                "Asociación Pro Derechos Humanos",
                "American Bar Justice Network",
            },
        ),
        ({"country": "per"}, {"Asociación Pro Derechos Humanos"}),
        ({"q": "khrc"}, {"Kenya Human Rights Commission"}),
        ({"q": "gloria"}, {"Asociación Pro Derechos Humanos"}),  # contact name
        ({"q": "APRODEH.EXAMPLE"}, {"Asociación Pro Derechos Humanos"}),  # contact email
        ({"q": "justice"}, {"American Bar Justice Network", "Arab Justice Centre"}),
        ({"q": "100%"}, set()),  # % is literal, not a wildcard
        (
            {"focus_area": "victims-rights"},
            {"Kenya Human Rights Commission", "Ligue sénégalaise des droits humains"},
        ),
        ({"language": "es"}, {"Asociación Pro Derechos Humanos"}),
        (
            {"language": "en"},
            {
                "Kenya Human Rights Commission",
                "Arab Justice Centre",
                "American Bar Justice Network",
                "Budapest Law Clinic",
            },
        ),
        (
            {"type": "bar_association"},
            {"Asociación Pro Derechos Humanos", "American Bar Justice Network"},
        ),
        ({"membership_status": "lapsed"}, {"American Bar Justice Network"}),
        ({"membership_status": "archived"}, {"Zeta Archived Org"}),
        ({"rome_statute_status": "signatory"}, {"American Bar Justice Network"}),
        ({"rome_statute_status": "unknown"}, {"Budapest Law Clinic"}),
        ({"apic_status": "none"}, {"American Bar Justice Network"}),
        ({"apic_status": ["none", "signatory"]}, {"American Bar Justice Network"}),
        ({"apic_status": "unknown", "region": "mena"}, {"Arab Justice Centre"}),
        # combined: fields "and", lists "or"
        ({"region": "africa", "type": "network"}, {"Ligue sénégalaise des droits humains"}),
        (
            {"focus_area": "victims-rights", "language": "fr", "rome_statute_status": "party"},
            {"Ligue sénégalaise des droits humains"},
        ),
        (
            {
                "region": "americas",
                "type": "bar_association",
                "membership_status": ["active", "lapsed"],
            },
            {"Asociación Pro Derechos Humanos", "American Bar Justice Network"},
        ),
        ({"q": "justice", "region": "mena", "apic_status": "unknown"}, {"Arab Justice Centre"}),
        ({"region": "europe", "type": "ngo"}, set()),
    ],
)
def test_filters(
    client: TestClient, registry: dict[str, int], params: dict[str, Any], expected: set[str]
) -> None:
    response = client.get("/api/organizations", params=params)
    assert set(_names(response)) == expected
    assert response.json()["total"] == len(expected)


def test_archived_left_out_unless_asked(client: TestClient, registry: dict[str, int]) -> None:
    default = _names(client.get("/api/organizations"))
    assert "Zeta Archived Org" not in default
    everything = _names(client.get("/api/organizations", params={"include_archived": True}))
    assert "Zeta Archived Org" in everything
    assert len(everything) == len(default) + 1


def test_items_have_the_documented_shape(client: TestClient, registry: dict[str, int]) -> None:
    item = client.get("/api/organizations", params={"country": "KEN"}).json()["items"][0]
    for key in (
        "id",
        "name",
        "acronym",
        "country",
        "region",
        "type",
        "focus_areas",
        "languages",
        "membership_status",
        "website",
        "joined_on",
        "custom_fields",
        "created_at",
        "updated_at",
    ):
        assert key in item
    assert (item["country"], item["region"]) == ("KEN", "africa")
    assert item["languages"] == ["en", "sw"]  # order kept


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"region": "antarctica"}, "region"),
        ({"country": "XYZ"}, "country"),
        ({"country": "KENYA"}, "country"),
        ({"type": "company"}, "type"),
        ({"membership_status": "gone"}, "membership_status"),
        ({"rome_statute_status": "maybe"}, "rome_statute_status"),
        ({"apic_status": "ratified"}, "apic_status"),
        ({"language": "xx"}, "language"),
        ({"focus_area": "Not A Tag!"}, "focus_area"),
        ({"limit": 0}, "limit"),
        ({"limit": 10_000}, "limit"),
        ({"cursor": "garbage!"}, "cursor"),
        ({"sort": "name"}, "sort"),
    ],
)
def test_bad_filters_are_422_naming_the_field(
    client: TestClient, params: dict[str, Any], field: str
) -> None:
    response = client.get("/api/organizations", params=params)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert field in detail["loc"]
    assert detail["msg"]


def test_pagination_walks_every_match_exactly_once(client: TestClient, session: Session) -> None:
    # Same names on purpose: the cursor must break ties by id.
    created = [make_organization(session, name=f"Org {i % 7}", country="FRA").id for i in range(37)]
    session.flush()
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 5, "country": "FRA"}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/api/organizations", params=params).json()
        assert body["total"] == 37
        seen.extend(item["id"] for item in body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 8
    assert sorted(seen) == sorted(created)
    assert len(seen) == len(set(seen))


def test_pagination_survives_inserts_between_pages(client: TestClient, session: Session) -> None:
    for i in range(10):
        make_organization(session, name=f"Walk {i:02d}", country="CHL")
    session.flush()
    first = client.get("/api/organizations", params={"country": "CHL", "limit": 4}).json()
    make_organization(session, name="Walk 00a", country="CHL")  # sorts before the cursor
    session.flush()
    rest: list[str] = []
    cursor = first["next_cursor"]
    while cursor:
        body = client.get(
            "/api/organizations", params={"country": "CHL", "limit": 4, "cursor": cursor}
        ).json()
        rest.extend(item["name"] for item in body["items"])
        cursor = body["next_cursor"]
    names = [item["name"] for item in first["items"]] + rest
    assert names == [f"Walk {i:02d}" for i in range(10)]


def test_create_get_patch(client: TestClient) -> None:
    response = client.post(
        "/api/organizations",
        json={
            "name": "  Women's Initiatives for Gender Justice ",
            "acronym": "WIGJ",
            "country": "nld",
            "type": "ngo",
            "focus_areas": ["gender-justice"],
            "languages": ["en", "fr"],
            "website": "https://wigj.example.org",
            "joined_on": "2004-05-01",
        },
    )
    assert response.status_code == 201, response.text
    org = response.json()
    assert org["name"] == "Women's Initiatives for Gender Justice"
    assert (org["country"], org["region"]) == ("NLD", "europe")
    assert org["membership_status"] == "active"

    patched = client.patch(
        f"/api/organizations/{org['id']}",
        json={
            "languages": ["fr", "en", "es"],
            "focus_areas": ["gender-justice", "victims-rights"],
            "acronym": None,
        },
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["languages"] == ["fr", "en", "es"]
    assert body["focus_areas"] == ["gender-justice", "victims-rights"]
    assert body["acronym"] is None
    assert client.get(f"/api/organizations/{org['id']}").json() == body

    history = client.get(f"/api/organizations/{org['id']}/history").json()
    assert [h["action"] for h in history] == ["organization.update", "organization.create"]
    assert history[0]["before"]["languages"] == ["en", "fr"]
    assert history[0]["after"]["languages"] == ["fr", "en", "es"]


def test_patch_with_no_change_leaves_no_history(client: TestClient, session: Session) -> None:
    org = make_organization(session, name="Same", country="KEN")
    session.flush()
    assert client.patch(f"/api/organizations/{org.id}", json={"name": "Same"}).status_code == 200
    assert len(client.get(f"/api/organizations/{org.id}/history").json()) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"country": "KEN"}, "name"),
        ({"name": "X"}, "country"),
        ({"name": "", "country": "KEN"}, "name"),
        ({"name": "X", "country": "XYZ"}, "country"),
        ({"name": "X", "country": "Kenya"}, "country"),
        ({"name": "X", "country": "KEN", "type": "company"}, "type"),
        ({"name": "X", "country": "KEN", "languages": ["english"]}, "languages"),
        ({"name": "X", "country": "KEN", "languages": []}, "languages"),
        ({"name": "X", "country": "KEN", "languages": ["en", "en"]}, "languages"),
        ({"name": "X", "country": "KEN", "focus_areas": ["Bad Tag"]}, "focus_areas"),
        ({"name": "X", "country": "KEN", "website": "javascript:alert(1)"}, "website"),
        ({"name": "X", "country": "KEN", "joined_on": "31/12/2020"}, "joined_on"),
        ({"name": "X", "country": "KEN", "favourite": "colour"}, "favourite"),
        ({"name": "X", "country": "KEN", "custom_fields": {"nope": 1}}, "custom_fields.nope"),
        ({"name": "X" * 301, "country": "KEN"}, "name"),
    ],
)
def test_create_validation_errors_change_nothing(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    before = client.get("/api/organizations", params={"include_archived": True}).json()["total"]
    response = client.post("/api/organizations", json=body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert field in detail["loc"], detail
    assert detail["msg"]
    assert (
        client.get("/api/organizations", params={"include_archived": True}).json()["total"]
        == before
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": None}, "name"),
        ({"country": None}, "country"),
        ({"country": "ZZZ"}, "country"),
        ({"membership_status": "deleted"}, "membership_status"),
        ({"languages": None}, "languages"),
        ({"id": 5}, "id"),
    ],
)
def test_patch_validation_errors_change_nothing(
    client: TestClient, session: Session, body: dict[str, Any], field: str
) -> None:
    org = make_organization(session, name="Stable", country="KEN")
    session.flush()
    before = client.get(f"/api/organizations/{org.id}").json()
    response = client.patch(f"/api/organizations/{org.id}", json=body)
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"][0]["loc"]
    assert client.get(f"/api/organizations/{org.id}").json() == before


def test_malformed_json_and_unknown_ids(client: TestClient) -> None:
    response = client.post(
        "/api/organizations", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert client.get("/api/organizations/999999").status_code == 404
    assert client.get("/api/organizations/abc").status_code == 422
    assert client.patch("/api/organizations/999999", json={"name": "x"}).status_code == 404
    assert client.delete("/api/organizations/999999").status_code == 404


def test_delete_archives_and_keeps_contacts_and_history(
    client: TestClient, session: Session
) -> None:
    org = make_organization(session, name="To Archive", country="KEN")
    contact = make_contact(session, org)
    session.flush()
    response = client.delete(f"/api/organizations/{org.id}")
    assert response.status_code == 200
    assert response.json()["membership_status"] == "archived"
    assert client.get(f"/api/organizations/{org.id}").status_code == 200
    assert client.get(f"/api/contacts/{contact.id}").status_code == 200
    assert "To Archive" not in _names(client.get("/api/organizations"))
    actions = [h["action"] for h in client.get(f"/api/organizations/{org.id}/history").json()]
    assert actions == ["organization.update", "contact.create", "organization.create"]
    # archiving twice is harmless
    assert client.delete(f"/api/organizations/{org.id}").status_code == 200


def test_merge_moves_contacts_tags_custom_values_and_archives(
    client: TestClient, session: Session
) -> None:
    client.post(
        "/api/custom-fields",
        json={"key": "icc_liaison", "label": "ICC liaison", "field_type": "text"},
    )
    client.post(
        "/api/custom-fields", json={"key": "staff", "label": "Staff", "field_type": "number"}
    )
    keep = make_organization(
        session,
        name="Human Rights Watch Kenya",
        country="KEN",
        focus_areas=["rule-of-law"],
        languages=["en"],
        custom_fields={"staff": 12},
        notes="Main record",
    )
    dup = make_organization(
        session,
        name="HRW Kenya",
        acronym="HRWK",
        country="KEN",
        focus_areas=["victims-rights"],
        languages=["sw", "en"],
        custom_fields={"staff": 3, "icc_liaison": "Yes"},
        notes="Old record",
    )
    shared_keep = make_contact(session, keep, email="shared@hrw.example.org")
    shared_dup = make_contact(
        session, dup, email="shared@hrw.example.org", subscription_status="unsubscribed"
    )
    only_dup = make_contact(session, dup, email="only@hrw.example.org")
    session.flush()

    response = client.post(f"/api/organizations/{dup.id}/merge", json={"into": keep.id})
    assert response.status_code == 200, response.text
    merged = response.json()
    assert merged["id"] == keep.id
    assert merged["focus_areas"] == ["rule-of-law", "victims-rights"]
    assert merged["languages"] == ["en", "sw"]
    assert merged["custom_fields"] == {"staff": 12, "icc_liaison": "Yes"}
    assert merged["acronym"] == "HRWK"
    assert "Old record" in merged["notes"]
    assert "Main record" in merged["notes"]

    contacts = client.get(f"/api/organizations/{keep.id}/contacts").json()
    assert {c["email"] for c in contacts} == {"shared@hrw.example.org", "only@hrw.example.org"}
    shared = next(c for c in contacts if c["email"] == "shared@hrw.example.org")
    assert shared["id"] == shared_keep.id
    assert shared["subscription_status"] == "unsubscribed"  # an unsubscribe survives the merge
    assert client.get(f"/api/contacts/{shared_dup.id}").status_code == 404
    assert client.get(f"/api/contacts/{only_dup.id}").json()["organization_id"] == keep.id

    source = client.get(f"/api/organizations/{dup.id}").json()
    assert source["membership_status"] == "archived"
    assert source["merged_into_id"] == keep.id
    # the merged organisation's history is part of the survivor's
    history = client.get(f"/api/organizations/{keep.id}/history").json()
    targets = {(h["action"], h["target_id"]) for h in history}
    assert ("organization.create", str(dup.id)) in targets
    assert ("organization.merge", str(dup.id)) in targets
    assert ("organization.merge_received", str(keep.id)) in targets


@pytest.mark.parametrize("into", ["self", 999999, "archived"])
def test_merge_refusals(client: TestClient, session: Session, into: Any) -> None:
    org = make_organization(session, name="Merge Source", country="KEN")
    archived = make_organization(session, name="Gone", country="KEN", membership_status="archived")
    session.flush()
    target = {"self": org.id, "archived": archived.id}.get(into, into)
    response = client.post(f"/api/organizations/{org.id}/merge", json={"into": target})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "into"
    assert client.get(f"/api/organizations/{org.id}").json()["membership_status"] == "active"


def test_merge_audits_every_contact_and_field_it_changes(
    client: TestClient, session: Session
) -> None:
    client.post("/api/custom-fields", json={"key": "tier", "label": "Tier", "field_type": "text"})
    keep = make_organization(session, name="Keep Org", country="KEN")
    dup = make_organization(session, name="Dup Org", country="KEN", custom_fields={"tier": "a"})
    twin_keep = make_contact(session, keep, email="same@example.org")
    twin_dup = make_contact(
        session, dup, email="same@example.org", subscription_status="unsubscribed"
    )
    moving = make_contact(session, dup, email="moving@example.org")
    session.flush()
    assert client.post(f"/api/organizations/{dup.id}/merge", json={"into": keep.id}).is_success

    history = client.get(f"/api/organizations/{keep.id}/history").json()
    by_action = {(h["action"], h["target_id"]): h for h in history}
    received = by_action[("organization.merge_received", str(keep.id))]
    assert received["after"]["custom_fields"] == {"tier": "a"}
    assert received["after"]["merged_from_id"] == dup.id
    assert received["after"]["contacts_moved"] == 1
    twin_change = by_action[("contact.update", str(twin_keep.id))]
    assert twin_change["before"]["subscription_status"] == "subscribed"
    assert twin_change["after"]["subscription_status"] == "unsubscribed"
    assert ("contact.delete", str(twin_dup.id)) in by_action
    moved = by_action[("contact.update", str(moving.id))]
    assert moved["after"]["organization_id"] == keep.id
    merged = by_action[("organization.merge", str(dup.id))]
    assert merged["after"]["merged_into_id"] == keep.id


def test_archived_duplicate_can_be_merged_but_only_once(
    client: TestClient, session: Session
) -> None:
    keep = make_organization(session, name="Keeper", country="KEN")
    other = make_organization(session, name="Other", country="KEN")
    old = make_organization(session, name="Old", country="KEN", membership_status="archived")
    session.flush()
    assert client.post(f"/api/organizations/{old.id}/merge", json={"into": keep.id}).is_success
    again = client.post(f"/api/organizations/{old.id}/merge", json={"into": other.id})
    assert again.status_code == 409
    assert f"already merged into #{keep.id}" in again.json()["detail"][0]["msg"]


def test_a_merged_organisation_cannot_be_brought_back(client: TestClient, session: Session) -> None:
    keep = make_organization(session, name="Survivor", country="KEN")
    gone = make_organization(session, name="Merged away", country="KEN")
    session.flush()
    client.post(f"/api/organizations/{gone.id}/merge", json={"into": keep.id})
    response = client.patch(f"/api/organizations/{gone.id}", json={"membership_status": "active"})
    assert response.status_code == 409
    assert response.json()["detail"][0]["loc"][-1] == "membership_status"
    assert client.get(f"/api/organizations/{gone.id}").json()["membership_status"] == "archived"


def test_text_search_ignores_case_beyond_ascii(client: TestClient, session: Session) -> None:
    make_organization(session, name="ÉQUIPE Sénégalaise pour la Cour", country="SEN")
    session.flush()
    for text in ("équipe", "SÉNÉGALAISE", "cour"):
        names = _names(client.get("/api/organizations", params={"q": text}))
        assert names == ["ÉQUIPE Sénégalaise pour la Cour"], text
