"""Every page reachable by following links, as each kind of user: no dead link, no 500,
no unstyled page, and the member pages in each of their four languages.

A crawl, not a list of addresses: it starts where a person starts (the home page and
the navigation) and follows every link on every page it reaches, so a page added later
is toured as soon as something links to it. Addresses that differ only in their
numbers (/members/12, /members/13) are one kind of page; a few of each are visited.
"""

import re
from collections import Counter, deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.accounts.principal import Role
from app.i18n import SUPPORTED_LANGUAGES
from tests.reports.world import ReportWorld, report_world

__all__ = ["report_world"]  # the fixture, used here too

# Not pages: the API's documentation and data, the stylesheet and scripts, and sign-out
# (a form, but links must never sign anyone out).
_NOT_PAGES = re.compile(r"^/(docs|redoc|openapi\.json|static/|api/|sign-out)")
_VISITS_PER_KIND = 2
_MOST_PAGES = 250


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.html_lang: str | None = None
        self.direction: str | None = None
        self.stylesheets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.hrefs.append(values["href"] or "")
        elif tag == "html":
            self.html_lang, self.direction = values.get("lang"), values.get("dir")
        elif tag == "link" and values.get("rel") == "stylesheet":
            self.stylesheets.append(values.get("href") or "")


@dataclass
class Tour:
    visited: dict[str, int] = field(default_factory=dict)  # address → status
    problems: list[str] = field(default_factory=list)
    languages: dict[str, str | None] = field(default_factory=dict)  # address → <html lang>
    directions: dict[str, str] = field(default_factory=dict)


def _kind(address: str) -> str:
    """/members/12?region=africa&cursor=x → /members/N?cursor&region; /countries/KEN →
    /countries/ISO"""
    parts = urlsplit(address)
    keys = sorted({key for key, _ in parse_qsl(parts.query, keep_blank_values=True)})
    path = re.sub(r"/[A-Z]{3}(?=/|$)", "/ISO", re.sub(r"\d+", "N", parts.path))
    return path + ("?" + "&".join(keys) if keys else "")


def tour(client: TestClient, *starts: str) -> Tour:
    """Follows every same-site link from `starts`, breadth first."""
    result = Tour()
    seen_kinds: Counter[str] = Counter()
    queue: deque[tuple[str, str]] = deque((start, "(start)") for start in starts)
    while queue and len(result.visited) < _MOST_PAGES:
        address, linked_from = queue.popleft()
        if address in result.visited:
            continue
        kind = _kind(address)
        if seen_kinds[kind] >= _VISITS_PER_KIND:
            continue
        seen_kinds[kind] += 1
        response = client.get(address)
        result.visited[address] = response.status_code
        if response.status_code >= 500:
            result.problems.append(
                f"{address} answered {response.status_code} (from {linked_from})"
            )
            continue
        if response.status_code in (403, 404) and linked_from != "(start)":
            # A link this user may not follow is as dead, for them, as a missing page.
            result.problems.append(f"{address} answered {response.status_code} on {linked_from}")
            continue
        if "text/html" not in response.headers.get("content-type", ""):
            continue
        page = _Links()
        page.feed(response.text)
        if "/static/app.css" not in page.stylesheets:
            result.problems.append(f"{address} has no stylesheet")
        result.languages[address] = page.html_lang
        result.directions[address] = page.direction or "ltr"
        here = str(response.url)
        for href in page.hrefs:
            target = urlsplit(urljoin(here, href))
            if target.netloc not in ("", urlsplit(here).netloc) or target.scheme not in (
                "http",
                "https",
            ):
                continue
            path = target.path + (f"?{target.query}" if target.query else "")
            # The language switcher's links change the language the tour checks; its own
            # tests are in test_member_languages.py.
            switches_language = "lang" in dict(parse_qsl(target.query))
            if not _NOT_PAGES.match(target.path) and not switches_language:
                queue.append((path, address))
    return result


def _assert_clean(result: Tour, *, reaching: set[str]) -> None:
    assert not result.problems, "\n".join(result.problems)
    assert reaching <= set(result.visited), sorted(reaching - set(result.visited))


@pytest.fixture
def toured_world(report_world: ReportWorld) -> ReportWorld:
    """The report tests' world: sent alerts with clicks, bounces, reported actions and
    replies, so the results and dashboards have something to show."""
    return report_world


def test_secretariat_tour(client: TestClient, toured_world: ReportWorld) -> None:
    result = tour(client, "/")
    campaign = toured_world.campaign.id
    _assert_clean(
        result,
        reaching={
            "/dashboard",
            "/members",
            "/countries",
            "/campaigns",
            "/campaigns/new",
            f"/campaigns/{campaign}/results",
            "/applications",
            "/outbox",
            "/audit",
            "/users",
        },
    )


def test_regional_lead_tour(client_as: object, toured_world: ReportWorld) -> None:
    lead = client_as(Role.regional_lead, regions=["africa"])  # type: ignore[operator]
    result = tour(lead, "/")
    campaign = toured_world.campaign.id
    _assert_clean(
        result,
        reaching={"/region", "/members", "/campaigns", f"/campaigns/{campaign}/results"},
    )
    # Nothing of another region is linked: Ligue de Paris is in Europe.
    europe = toured_world.organizations["france"].id
    assert f"/members/{europe}" not in result.visited


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_member_tour_in_each_language(
    client_as: object, session: Session, toured_world: ReportWorld, language: str
) -> None:
    contact = toured_world.contacts["a1"]
    member = client_as(  # type: ignore[operator]
        Role.member, organization_id=contact.organization_id, contact_id=contact.id
    )
    member.cookies.set("lang", language)
    result = tour(member, "/")
    _assert_clean(
        result,
        reaching={
            "/portal",
            "/portal/profile",
            "/portal/contacts/new",
            "/portal/alerts",
            f"/portal/alerts/{toured_world.campaign.id}/report",
            "/portal/actions",
            "/portal/preferences",
        },
    )
    direction = "rtl" if language == "ar" else "ltr"
    for address, status in result.visited.items():
        if status == 200 and address in result.languages:
            assert result.languages[address] == language, address
            assert result.directions[address] == direction, address


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_public_tour_in_each_language(anonymous_client: TestClient, language: str) -> None:
    anonymous_client.cookies.set("lang", language)
    result = tour(anonymous_client, "/")
    _assert_clean(result, reaching={"/sign-in", "/sign-in/member", "/apply"})
    member_facing = [a for a in result.visited if a.startswith(("/sign-in/member", "/apply"))]
    assert member_facing
    for address in member_facing:
        if result.visited[address] == 200:
            assert result.languages[address] == language, address
