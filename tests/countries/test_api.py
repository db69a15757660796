from fastapi.testclient import TestClient


def test_regions_list_the_five_with_counts(client: TestClient) -> None:
    response = client.get("/api/regions")
    assert response.status_code == 200
    regions = {r["slug"]: r for r in response.json()}
    assert list(regions) == ["africa", "americas", "asia-pacific", "europe", "mena"]
    assert regions["europe"]["country_count"] == 53
    assert regions["mena"]["country_count"] == 19
    assert all(r["member_count"] == 0 for r in regions.values())


def test_country_filters(client: TestClient) -> None:
    mena_parties = client.get(
        "/api/countries", params={"region": "mena", "rome_statute_status": "party"}
    ).json()
    assert {c["iso3"] for c in mena_parties} == {"JOR", "PSE", "TUN"}
    apic_unknown = client.get("/api/countries", params={"apic_status": "unknown"}).json()
    assert len(apic_unknown) == 53


def test_bad_filter_value_is_422_naming_the_field(client: TestClient) -> None:
    response = client.get("/api/countries", params={"rome_statute_status": "maybe"})
    assert response.status_code == 422
    assert "rome_statute_status" in response.json()["detail"][0]["loc"]
    unknown_param = client.get("/api/countries", params={"colour": "blue"})
    assert unknown_param.status_code == 422


def test_patch_records_history_and_requires_source(client: TestClient) -> None:
    missing_source = client.patch("/api/countries/SEN", json={"apic_status": "party"})
    assert missing_source.status_code == 422
    assert missing_source.json()["detail"][0]["loc"][-1] == "source"

    response = client.patch(
        "/api/countries/SEN",
        json={"apic_status": "party", "apic_date": "2025-03-01", "source": "UNTC XVIII-13"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["apic_status"] == "party"

    history = client.get("/api/countries/SEN/history").json()
    assert history[0]["source"] == "UNTC XVIII-13"
    assert history[0]["changed_by"].startswith("user:")
    assert history[0]["changes"]["apic_status"] == {"from": "unknown", "to": "party"}
    assert history[0]["changes"]["apic_date"] == {"from": None, "to": "2025-03-01"}
    assert history[-1]["changed_by"] == "data:rome_statute_status.csv"  # the load


def test_patch_rejects_bad_input_and_changes_nothing(client: TestClient) -> None:
    before = client.get("/api/countries/FRA").json()
    for body in (
        {"apic_status": "ratified", "source": "x"},  # not an APIC value
        {"rome_statute_status": None, "source": "x"},  # statuses cannot be null
        {"apic_date": "yesterday", "source": "x"},
        {"colour": "red", "source": "x"},  # unknown field
        {"source": "x"},  # nothing to change
        {"apic_status": "party", "source": ""},
    ):
        response = client.patch("/api/countries/FRA", json=body)
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["msg"]
    assert client.get("/api/countries/FRA").json() == before
    assert len(client.get("/api/countries/FRA/history").json()) == 1


def test_unknown_country_is_404(client: TestClient) -> None:
    assert client.get("/api/countries/XYZ").status_code == 404
    assert (
        client.patch("/api/countries/XYZ", json={"apic_status": "party", "source": "s"}).status_code
        == 404
    )


def test_malformed_country_code_in_path_is_422(client: TestClient) -> None:
    for code in ("K%00N", "KENYA", "12A"):
        response = client.get(f"/api/countries/{code}")
        assert response.status_code == 422, code
        assert "iso3" in response.json()["detail"][0]["loc"]
    assert client.get("/api/countries/ken").json()["iso3"] == "KEN"
