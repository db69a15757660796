"""POST /api/campaigns/preview: text not yet saved, as a recipient would see it (the
preview beside the alert form's editor)."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.accounts.principal import Role
from app.campaigns.models import Campaign, CampaignVariant
from app.campaigns.rendering import compile_variant
from app.campaigns.tokens import sample_context
from app.core.audit import AuditEntry
from tests.world import World

ENDPOINT = "/api/campaigns/preview"
# Africa, with an English and a French version: A C E get English, B gets French
# (D is unsubscribed and Q suppressed: not reached).
AFRICA = {"regions": ["africa"], "variant_languages": ["en", "fr"], "default_language": "en"}
FRENCH = {
    "language": "fr",
    "subject": "{{ organization.name }} : agissez",
    "body": "Bonjour {{ contact.first_name }},\n\nÉcrivez au ministère.",
}


def preview(client: TestClient, status: int = 200, **fields: Any) -> Any:
    response = client.post(ENDPOINT, json=FRENCH | fields)
    assert response.status_code == status, response.text
    return response.json()


def test_it_renders_for_the_first_person_reached_who_gets_that_language(
    client: TestClient, world: World
) -> None:
    answer = preview(client, audience=AFRICA)
    b = world.contacts["B"]
    assert answer["contact_id"] == b.id
    assert answer["recipient"] == {
        "contact_id": b.id,
        "name": "Person B",
        "organization_name": "Kenya Rights",
        "country_name": "Kenya",
        "language": "fr",
    }
    assert answer["subject"] == "Kenya Rights : agissez"
    assert "Bonjour Person," in answer["html"]
    assert "Bonjour Person," in answer["text"]
    assert (answer["language"], answer["direction"]) == ("fr", "ltr")
    # Whom else it can be shown as: those who get French first, then the others.
    sample = [(member["contact_id"], member["language"]) for member in answer["audience_sample"]]
    ids = world.contacts
    assert sample == [(b.id, "fr"), (ids["A"].id, "en"), (ids["C"].id, "en"), (ids["E"].id, "en")]


def test_it_renders_for_a_chosen_person_the_audience_reaches(
    client: TestClient, world: World
) -> None:
    c = world.contacts["C"]
    answer = preview(client, audience=AFRICA, contact_id=c.id)
    assert answer["contact_id"] == c.id
    assert answer["recipient"]["language"] == "en"  # the version she would get
    assert answer["subject"] == "Lagos Bar : agissez"  # but the French one is shown
    assert "Bonjour Person," in answer["text"]


def test_nobody_to_render_for_means_made_up_values(client: TestClient, world: World) -> None:
    alone = preview(client)
    assert (alone["contact_id"], alone["recipient"], alone["audience_sample"]) == (None, None, [])
    assert alone["subject"] == "Justice and Accountability Network : agissez"
    nobody = preview(client, audience={"countries": ["ISL"]})
    assert nobody["recipient"] is None
    assert nobody["audience_sample"] == []
    # Nobody in Europe gets Spanish: sample values, and the people it reaches offered.
    spanish = preview(client, language="es", audience={"regions": ["europe"]})
    assert spanish["recipient"] is None
    assert [m["contact_id"] for m in spanish["audience_sample"]] == [world.contacts["I"].id]


def test_it_is_the_message_the_send_pipeline_renders(client: TestClient, world: World) -> None:
    answer = preview(client, language="ar", subject="عاجل", body="**{{ country.name }}**")
    sent = compile_variant(language="ar", subject="عاجل", body="**{{ country.name }}**").render(
        sample_context("ar")
    )
    assert (answer["subject"], answer["html"], answer["text"]) == (
        sent.subject,
        sent.html,
        sent.text,
    )
    assert answer["direction"] == "rtl"
    assert 'dir="rtl"' in answer["html"]


def test_someone_outside_the_audience_is_refused(client: TestClient, world: World) -> None:
    for letter in ("F", "D"):  # in Brazil; in Africa but unsubscribed
        answer = preview(client, 422, audience=AFRICA, contact_id=world.contacts[letter].id)
        problem = answer["detail"][0]
        assert problem["loc"] == ["body", "contact_id"]
        assert problem["msg"].startswith(f"Person {letter} is not among the people")
    # Without an audience, anyone the caller may see.
    assert preview(client, contact_id=world.contacts["F"].id)["recipient"]["name"] == "Person F"


def test_an_unknown_contact_is_not_found(client: TestClient, world: World) -> None:
    answer = preview(client, 404, contact_id=2_000_000_000)
    assert answer["detail"][0]["loc"] == ["body", "contact_id"]


@pytest.mark.parametrize(
    ("fields", "location", "start", "words"),
    [
        (
            {"body": "Bonjour,\n\nLe pays {{ country.nom }} doit agir."},
            ["body", "body"],
            "Line 3:",
            "`country.nom` is not a token you can use",
        ),
        ({"subject": "{{ contact.nmae }}"}, ["body", "subject"], "Line 1:", "contact.name"),
        ({"body": "Un\n{% if %}"}, ["body", "body"], "Line 2:", "syntax error"),
        ({"body": "{{ ''.__class__ }}"}, ["body", "body"], "Line 1:", "not allowed"),
    ],
)
def test_template_problems_are_a_422_naming_the_field_and_line(
    client: TestClient,
    session: Session,
    world: World,
    fields: dict[str, str],
    location: list[str],
    start: str,
    words: str,
) -> None:
    answer = preview(client, 422, audience=AFRICA, **fields)
    problem = answer["detail"][0]
    assert problem["loc"] == location
    assert problem["msg"].startswith(start)
    assert words in problem["msg"]


@pytest.mark.parametrize(
    ("fields", "location"),
    [
        ({"language": "xx-yy"}, ["body", "language"]),
        ({"subject": "x" * 301}, ["body", "subject"]),
        ({"body": "a\x00b"}, ["body", "body"]),
        ({"contact_id": 0}, ["body", "contact_id"]),
        ({"audience": {"countries": ["ZZZ"]}}, ["body", "audience", "countries"]),
        ({"audience": {"regions": ["atlantis"]}}, ["body", "audience", "regions", 0]),
        ({"title": "not a field"}, ["body", "title"]),
    ],
)
def test_bad_requests_are_a_422_naming_the_field(
    client: TestClient, world: World, fields: dict[str, Any], location: list[Any]
) -> None:
    answer = preview(client, 422, **fields)
    assert answer["detail"][0]["loc"] == location


def test_nothing_is_saved(client: TestClient, session: Session, world: World) -> None:
    def counts() -> tuple[int, ...]:
        return tuple(
            session.scalar(select(func.count()).select_from(table)) or 0
            for table in (Campaign, CampaignVariant, AuditEntry)
        )

    before = counts()
    preview(client, audience=AFRICA, contact_id=world.contacts["A"].id)
    preview(client, 422, body="{{ nope }}")
    assert counts() == before


def test_only_the_secretariat_previews_drafts(client_as: Any, world: World) -> None:
    for role in (Role.regional_lead, Role.member):
        assert client_as(role).post(ENDPOINT, json=FRENCH).status_code == 403


def test_it_is_documented(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"][ENDPOINT]["post"]
    assert "without saving anything" in operation["description"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DraftPreviewRequest"
    }
    assert set(operation["responses"]) >= {"200", "422"}
