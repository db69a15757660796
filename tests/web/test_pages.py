"""The server-rendered pages, through the app in-process (no browser)."""

import html
import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.members import spreadsheet
from app.members.models import BounceStatus
from app.web import router as web_router
from tests.factories import STAFF, make_contact, make_organization


class _FormFields(HTMLParser):
    """Collects form controls and the ids that labels point at."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.labelled: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in {"input", "select", "textarea"} and attributes.get("type") not in {
            "hidden",
            "submit",
        }:
            self.controls.append(attributes)
        if tag == "label" and attributes.get("for"):
            self.labelled.add(attributes["for"] or "")


def assert_every_control_labelled(html: str) -> None:
    parser = _FormFields()
    parser.feed(html)
    assert parser.controls
    for control in parser.controls:
        assert control.get("id") in parser.labelled, f"no <label for> for {control}"


def assert_html_page(response, status: int = 200) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<html lang="en">' in html
    assert 'href="#main"' in html  # skip link
    return html


@pytest.fixture
def registry(session: Session) -> dict[str, int]:
    """Two Kenyan members, one Colombian, one archived; the first with contacts."""
    amani = make_organization(
        session,
        name="Amani Justice Network",
        acronym="AJN",
        country="KEN",
        type="network",
        languages=["sw", "en"],
        focus_areas=["victims-rights"],
        website="https://amani.example.org",
    )
    make_contact(session, amani, name="Wanjiru Otieno", email="wanjiru@amani.example.org")
    bounced = make_contact(session, amani, name="Peter Kamau", email="peter@amani.example.org")
    bounced.bounce_status = BounceStatus.hard
    bounced.hard_bounce_count = 2
    session.flush()
    colombia = make_organization(
        session, name="Colectivo de Abogados", country="COL", languages=["es"]
    )
    nairobi = make_organization(session, name="Nairobi Law Clinic", country="KEN")
    archived = make_organization(
        session, name="Old Archived Forum", country="KEN", membership_status="archived"
    )
    return {
        "amani": amani.id or 0,
        "colombia": colombia.id or 0,
        "nairobi": nairobi.id or 0,
        "archived": archived.id or 0,
    }


def test_root_sends_the_secretariat_to_its_dashboard(client: TestClient) -> None:
    # Each role's home: tests/web/test_dashboard_pages.py has the others.
    response = client.get("/", follow_redirects=False)
    assert response.status_code in {302, 303, 307}
    assert response.headers["location"].endswith("/dashboard")


def test_member_list_shows_members_with_layout(
    client: TestClient, registry: dict[str, int]
) -> None:
    html = assert_html_page(client.get("/members"))
    assert "<title>Members · Coalition for the ICC</title>" in html
    for link in ('href="/members"', 'href="/countries"', 'href="/docs"'):
        assert link in html
    assert f'href="/members/{registry["amani"]}"' in html
    assert "Amani Justice Network" in html
    assert "AJN" in html
    assert "Colombia" in html
    assert "Americas" in html
    assert "Swahili, English" in html
    assert "Old Archived Forum" not in html
    assert '<span data-testid="total">3</span>' in html
    assert_every_control_labelled(html)


def test_member_list_filters_by_text_region_and_more(
    client: TestClient, registry: dict[str, int]
) -> None:
    by_contact_email = client.get("/members", params={"q": "peter@amani"}).text
    assert "Amani Justice Network" in by_contact_email
    assert "Nairobi Law Clinic" not in by_contact_email

    americas = client.get("/members", params={"region": "americas"}).text
    assert "Colectivo de Abogados" in americas
    assert "Amani Justice Network" not in americas
    assert '<option value="americas" selected>' in americas  # the form remembers

    combined = client.get(
        "/members",
        params={"region": "africa", "language": "sw", "focus_area": "victims-rights"},
    ).text
    assert '<span data-testid="total">1</span>' in combined
    assert "Amani Justice Network" in combined

    archived = client.get("/members", params={"include_archived": "true"}).text
    assert "Old Archived Forum" in archived
    assert '<span data-testid="total">4</span>' in archived


def test_empty_form_values_mean_not_set(client: TestClient, registry: dict[str, int]) -> None:
    """What the browser sends when the form is submitted untouched."""
    params = dict.fromkeys(
        (
            "q",
            "region",
            "country",
            "type",
            "membership_status",
            "focus_area",
            "language",
            "rome_statute_status",
            "apic_status",
        ),
        "",
    )
    html = assert_html_page(client.get("/members", params=params))
    assert '<span data-testid="total">3</span>' in html
    assert "error-summary" not in html
    countries = client.get(
        "/countries",
        params={"region": "", "rome_statute_status": "", "apic_status": "", "kampala_status": ""},
    )
    assert '<span data-testid="total">195</span>' in assert_html_page(countries)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"region": "atlantis"}, "&#39;atlantis&#39;"),
        ({"country": "ZZZ"}, "Unknown country code"),  # raised by the service
        ({"country": "12"}, "not an ISO 3166-1 alpha-3 code"),
        ({"language": "xx"}, "not an ISO 639-1 language code"),
        ({"membership_status": "sleeping"}, "Membership status"),
        ({"include_archived": "perhaps"}, "Include archived"),
        ({"q": "x" * 201}, "at most 200 characters"),
        ({"cursor": "not-a-cursor"}, "Malformed cursor"),
        ({"colour": "blue"}, "&#39;colour&#39; is not a filter on this page"),
    ],
)
def test_bad_member_filter_renders_the_form_with_the_error(
    client: TestClient, params: dict[str, str], expected: str
) -> None:
    html = assert_html_page(client.get("/members", params=params), status=422)
    assert "Some filters could not be used" in html
    assert expected in html
    assert "<title>Error: Members" in html
    assert 'action="/members"' in html  # the form is there to correct it


def test_pagination_next_link_keeps_filters(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web_router, "PAGE_SIZE", 2)
    for number in range(5):
        make_organization(session, name=f"Paging Test {number}", country="SEN")
    make_organization(session, name="Paging Test elsewhere", country="FRA")

    seen: list[str] = []
    url: str | None = "/members?q=paging+test&country=SEN"
    pages = 0
    while url:
        html = assert_html_page(client.get(url))
        assert '<span data-testid="total">5</span>' in html
        seen += [line for line in html.split(">") if line.startswith("Paging Test")]
        url = None
        if 'rel="next"' in html:
            href = html.split('rel="next"')[0].rsplit('href="', 1)[1].split('"', 1)[0]
            url = href.replace("&amp;", "&")
            assert "q=paging+test" in url
            assert "country=SEN" in url
            assert "cursor=" in url
        pages += 1
    assert pages == 3
    assert sorted(seen) == [f"Paging Test {n}</a" for n in range(5)]


def test_organization_page(client: TestClient, registry: dict[str, int]) -> None:
    html = assert_html_page(client.get(f"/members/{registry['amani']}"))
    assert "<title>Amani Justice Network · Coalition for the ICC</title>" in html
    assert 'href="https://amani.example.org" rel="noopener noreferrer"' in html
    assert 'href="/countries/KEN"' in html
    assert "Swahili" in html
    assert "victims-rights" in html
    assert "Network" in html
    # contacts, with the bounce state shown as a badge
    assert "Wanjiru Otieno" in html
    assert "wanjiru@amani.example.org" in html
    assert "Peter Kamau" in html
    assert '<span class="badge badge--bad">Hard bounce \u00d72</span>' in html
    assert "No bounces" in html
    # history
    assert "Created" in html
    assert "test:staff" in html


def test_organization_history_shows_changes(client: TestClient, registry: dict[str, int]) -> None:
    response = client.patch(
        f"/api/organizations/{registry['nairobi']}", json={"membership_status": "lapsed"}
    )
    assert response.status_code == 200
    html = assert_html_page(client.get(f"/members/{registry['nairobi']}"))
    assert "Changed" in html
    assert '<span class="changes__from">Active</span>' in html
    assert '<span class="changes__to">Lapsed</span>' in html


def as_text(markup: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", markup)).split())


def history_titles(page: str) -> list[str]:
    """The history entries' headlines, newest first, as text."""
    return [
        as_text(title) for title in re.findall(r'<p class="history__action">(.*?)</p>', page, re.S)
    ]


def merged_organisation_mentions(page: str) -> list[str]:
    """The ids of "on merged organisation #id" in the history, as read."""
    return re.findall(r"on merged organisation #(\d+)", as_text(page))


def test_organization_history_tells_contact_changes(client: TestClient, session: Session) -> None:
    organization = make_organization(session, name="Haki Centre", country="KEN")
    amina = make_contact(session, organization, name="Amina Yusuf", email="amina@haki.example.org")
    otieno = make_contact(
        session, organization, name="Otieno Odhiambo", email="otieno@haki.example.org", role="legal"
    )
    session.flush()
    renamed = client.patch(
        f"/api/contacts/{amina.id}",
        json={"name": "Amina Yusuf-Ali", "subscription_status": "paused"},
    )
    assert renamed.status_code == 200, renamed.text
    assert client.delete(f"/api/contacts/{otieno.id}").status_code == 204
    report = spreadsheet.import_members(
        session,
        STAFF,
        b"organization_name,country,contact_email,contact_bounce_status,contact_soft_bounce_count\n"
        b"Haki Centre,KEN,amina@haki.example.org,soft,2\n",
    )
    assert report.contacts.updated == 1

    html = assert_html_page(client.get(f"/members/{organization.id}"))
    # Contact entries are this organisation's own: none is "on a merged organisation"
    # (their target is the contact, not an organisation).
    assert "on merged organisation" not in html
    assert history_titles(html) == [
        "Bounce state raised (import): Amina Yusuf-Ali",
        "Contact removed: Otieno Odhiambo <otieno@haki.example.org>",
        "Contact changed: Amina Yusuf-Ali",
        # Named as they were then, before the rename.
        "Contact added: Otieno Odhiambo <otieno@haki.example.org>",
        "Contact added: Amina Yusuf <amina@haki.example.org>",
        "Created",
    ]
    # Escaped, not markup.
    assert "Contact removed: Otieno Odhiambo &lt;otieno@haki.example.org&gt;" in html
    assert "<otieno@" not in html
    # What changed, from and to.
    for field, before, after in (
        ("Name", "Amina Yusuf", "Amina Yusuf-Ali"),
        ("Subscription", "Subscribed", "Paused"),
        ("Bounce status", "OK", "Soft"),
        ("Soft bounces", "0", "2"),
    ):
        assert re.search(
            rf"<dt>{field}</dt>\s*<dd><span class=\"changes__from\">{before}</span>"
            rf".*?<span class=\"changes__to\">{after}</span></dd>",
            html,
        ), field
    # An addition lists what the contact was added with, without repeating who.
    assert '<dt>Role</dt>\n          <dd><span class="changes__to">Legal</span></dd>' in html
    assert "<dt>Organisation</dt>" not in html
    assert "<dt>Hard bounces</dt>" not in html  # zero, as for every new contact
    assert '<dt>Name</dt>\n          <dd><span class="changes__to">Haki Centre</span>' in html


def test_organization_history_tells_merges(client: TestClient, session: Session) -> None:
    survivor = make_organization(session, name="Haki Network", country="KEN")
    make_contact(session, survivor, name="Amina Yusuf", email="amina@haki.example.org")
    merged = make_organization(
        session, name="Haki Net", country="KEN", focus_areas=["victims-rights"]
    )
    make_contact(session, merged, name="Amina Y.", email="amina@haki.example.org")
    make_contact(session, merged, name="Baraka Mwangi", email="baraka@haki.example.org")
    session.flush()
    response = client.post(f"/api/organizations/{merged.id}/merge", json={"into": survivor.id})
    assert response.status_code == 200, response.text

    html = assert_html_page(client.get(f"/members/{survivor.id}"))
    titles = history_titles(html)
    assert titles[0] == f"Merged in organisation #{merged.id} (1 contact moved, 1 combined)"
    assert f'Merged in <a href="/members/{merged.id}">' in html
    assert f"Merged into organisation #{survivor.id}" in titles
    assert "Contact changed: Baraka Mwangi" in titles  # moved in
    assert "Contact removed: Amina Y. <amina@haki.example.org>" in titles  # combined
    assert "Contact added: Baraka Mwangi <baraka@haki.example.org>" in titles
    assert titles[-2:] == ["Contact added: Amina Yusuf <amina@haki.example.org>", "Created"]
    # Entries of the merged organisation say so, by the organisation's id, never a
    # contact's.
    mentions = merged_organisation_mentions(html)
    assert mentions
    assert set(mentions) == {str(merged.id)}
    assert f'on merged organisation <a href="/members/{merged.id}">#{merged.id}</a>' in html
    assert '<dt>Focus areas</dt>\n          <dd><span class="changes__from">—</span>' in html

    merged_html = assert_html_page(client.get(f"/members/{merged.id}"))
    merged_titles = history_titles(merged_html)
    assert merged_titles[0] == f"Merged into organisation #{survivor.id}"
    assert f'Merged into <a href="/members/{survivor.id}">' in merged_html
    assert merged_organisation_mentions(merged_html) == []
    assert re.search(
        r'<dt>Membership status</dt>\s*<dd><span class="changes__from">Active</span>'
        r'.*?<span class="changes__to">Archived</span>',
        merged_html,
    )


def test_organization_history_names_an_archiving(client: TestClient, session: Session) -> None:
    organization = make_organization(session, name="Closing Down Forum", country="KEN")
    session.flush()
    assert client.delete(f"/api/organizations/{organization.id}").status_code == 200
    html = assert_html_page(client.get(f"/members/{organization.id}"))
    assert history_titles(html) == ["Archived", "Created"]


def test_organization_page_escapes_what_users_typed(client: TestClient, session: Session) -> None:
    organization = make_organization(
        session, name="<script>alert(1)</script> Org", notes="<b>bold</b>"
    )
    html = assert_html_page(client.get(f"/members/{organization.id}"))
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Org" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


@pytest.mark.parametrize(
    "identifier", ["999999", "abc", "0", "-1", "2147483648", "99999999999999999999", "\u00b2"]
)
def test_unknown_organization_is_an_html_404(client: TestClient, identifier: str) -> None:
    html = assert_html_page(client.get(f"/members/{identifier}"), status=404)
    assert "Not found" in html
    assert "There is no organisation" in html


def test_country_table(client: TestClient) -> None:
    html = assert_html_page(client.get("/countries"))
    assert "<title>Countries · Coalition for the ICC</title>" in html
    assert '<span data-testid="total">195</span>' in html
    assert 'href="/countries/HUN"' in html
    assert '<span class="badge badge--unknown">Unknown</span>' in html
    assert '<span class="badge badge--good">Party</span>' in html
    assert '<span class="badge badge--bad">Withdrawn</span>' in html  # Burundi, Philippines
    assert "Signature withdrawn" in html  # e.g. the United States
    assert_every_control_labelled(html)


def test_country_table_filters(client: TestClient) -> None:
    html = assert_html_page(
        client.get("/countries", params={"region": "mena", "rome_statute_status": "party"})
    )
    assert '<span data-testid="total">3</span>' in html
    for iso3 in ("JOR", "PSE", "TUN"):
        assert f'href="/countries/{iso3}"' in html
    assert '<option value="mena" selected>' in html


@pytest.mark.parametrize(
    "params", [{"region": "atlantis"}, {"apic_status": "ratified"}, {"colour": "red"}]
)
def test_bad_country_filter_is_a_422_page(client: TestClient, params: dict[str, str]) -> None:
    html = assert_html_page(client.get("/countries", params=params), status=422)
    assert "Some filters could not be used" in html


def test_country_page_with_history(client: TestClient) -> None:
    response = client.patch(
        "/api/countries/SEN",
        json={"implementing_legislation": "partial", "source": "Journal officiel 2025-01"},
    )
    assert response.status_code == 200
    html = assert_html_page(client.get("/countries/SEN"))
    assert "<title>Senegal · Coalition for the ICC</title>" in html
    assert "Journal officiel 2025-01" in html
    assert "Implementing legislation" in html
    assert '<span class="changes__from">Unknown</span>' in html
    assert '<span class="changes__to">Partial</span>' in html
    assert "data:rome_statute_status.csv" in html  # the load is the first entry
    assert 'href="/members?country=SEN"' in html


def test_country_page_flags(client: TestClient) -> None:
    usa = assert_html_page(client.get("/countries/USA"))
    assert "Signature withdrawn" in usa
    hungary = assert_html_page(client.get("/countries/HUN"))
    assert '<span class="badge badge--unknown">Unknown</span>' in hungary
    assert "Withdrawal notified" in hungary


def test_country_codes_are_canonical(client: TestClient) -> None:
    response = client.get("/countries/ken", follow_redirects=False)
    assert response.status_code == 301
    assert response.headers["location"] == "/countries/KEN"


@pytest.mark.parametrize("code", ["QQQ", "KENYA", "K%00N", "12"])
def test_unknown_country_is_an_html_404(client: TestClient, code: str) -> None:
    html = assert_html_page(client.get(f"/countries/{code}"), status=404)
    assert "There is no country" in html


def test_stylesheet_is_served(client: TestClient) -> None:
    response = client.get("/static/app.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert "@import" not in response.text
    assert "http" not in response.text.split("*/", 1)[1]


def test_pages_stay_out_of_the_api_docs(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if not path.startswith(("/api", "/healthz"))]


def test_unknown_page_address_is_an_html_404_but_api_stays_json(client: TestClient) -> None:
    page = client.get("/no-such-page")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "There is no page at this address." in page.text
    api = client.get("/api/no-such-thing")
    assert api.status_code == 404
    assert api.json() == {"detail": "Not Found"}


def test_member_list_offers_an_export_of_the_same_filters(
    client: TestClient, session: Session
) -> None:
    make_organization(session, name="Exported Kenya", country="KEN")
    make_organization(session, name="Not exported France", country="FRA")
    session.flush()
    page = client.get("/members", params={"region": "africa", "country": ""})
    link = re.search(r'href="(/api/organizations/export\.csv\?[^"]*)"', page.text)
    assert link is not None
    export = client.get(html.unescape(link.group(1)))
    assert export.status_code == 200
    assert "Exported Kenya" in export.text
    assert "Not exported France" not in export.text
