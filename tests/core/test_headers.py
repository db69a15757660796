"""Security headers on every response, a strict CSP on pages, and /docs served from
this site only (no CDN), working under that CSP in a real browser."""

import re
from collections.abc import Iterator

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from playwright.sync_api import Page
from sqlalchemy import Connection

from app.accounts.auth import Public
from app.core.headers import CONTENT_SECURITY_POLICY
from app.main import create_app
from tests.factories import TEST_PASSWORD
from tests.web.conftest import (  # noqa: F401  (fixtures for the browser test)
    STAFF_EMAIL,
    LiveServer,
    live_database_url,
    live_server,
    page,
)

ALWAYS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


@pytest.fixture
def stranger(connection: Connection) -> Iterator[TestClient]:
    """Signed in as nobody (`anonymous_client` is the same object as `client`)."""
    with TestClient(create_app()) as test_client:
        yield test_client


def assert_security_headers(response: object, *, is_page: bool) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    for name, value in ALWAYS.items():
        assert headers.get(name) == value, (name, headers)
    if is_page:
        policy = headers["content-security-policy"]
        assert policy == CONTENT_SECURITY_POLICY
        for directive in (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
            "base-uri 'none'",
        ):
            assert directive in policy
        assert "unsafe-inline" not in policy
        assert "unsafe-eval" not in policy


def test_json_responses(client: TestClient) -> None:
    assert_security_headers(client.get("/healthz"), is_page=False)
    assert_security_headers(client.get("/api/organizations"), is_page=False)


def test_pages(client: TestClient, stranger: TestClient) -> None:
    response = stranger.get("/sign-in")
    assert response.status_code == 200
    assert_security_headers(response, is_page=True)
    response = client.get("/countries")
    assert response.status_code == 200
    assert_security_headers(response, is_page=True)


def test_static_files(anonymous_client: TestClient) -> None:
    response = anonymous_client.get("/static/app.css")
    assert response.status_code == 200
    assert_security_headers(response, is_page=False)


def test_not_found_and_errors(client: TestClient, stranger: TestClient) -> None:
    page_404 = stranger.get("/no-such-page")
    assert page_404.status_code == 404
    assert_security_headers(page_404, is_page=True)
    api_404 = client.get("/api/organizations/999999")
    assert api_404.status_code == 404
    assert_security_headers(api_404, is_page=False)
    unauthenticated = stranger.get("/api/me")
    assert unauthenticated.status_code == 401
    assert_security_headers(unauthenticated, is_page=False)
    invalid = client.get("/api/organizations", params={"limit": "lots"})
    assert invalid.status_code == 422
    assert_security_headers(invalid, is_page=False)
    redirect = stranger.get("/members", follow_redirects=False)
    assert redirect.status_code == 303
    assert_security_headers(redirect, is_page=False)


def test_streamed_responses(client: TestClient) -> None:
    response = client.get("/api/organizations/export.csv")
    assert response.status_code == 200
    assert_security_headers(response, is_page=False)


def test_even_an_unexpected_500_carries_them(connection: Connection) -> None:
    app = create_app()
    broken = APIRouter()

    @broken.get("/broken", dependencies=[Public])
    def fail() -> None:
        raise RuntimeError("boom")

    app.include_router(broken)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.get("/broken")
    assert response.status_code == 500
    assert_security_headers(response, is_page=False)


def test_a_header_a_route_sets_itself_is_kept(connection: Connection) -> None:
    from fastapi.responses import HTMLResponse

    app = create_app()
    framed = APIRouter()

    @framed.get("/framed", dependencies=[Public])
    def own_policy() -> HTMLResponse:
        return HTMLResponse("<p>x</p>", headers={"Referrer-Policy": "no-referrer"})

    app.include_router(framed)
    with TestClient(app) as test_client:
        response = test_client.get("/framed")
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"


# --- /docs without a CDN ---------------------------------------------------------------------

URL = re.compile(r"""(?:https?:)?//[^\s"'<>)]+""")


def test_docs_load_only_from_this_site(anonymous_client: TestClient) -> None:
    response = anonymous_client.get("/docs")
    assert response.status_code == 200
    assert_security_headers(response, is_page=True)
    html = response.text
    assert "<script>" not in html  # nothing inline: the strict CSP holds here too
    assert URL.findall(html) == []  # every reference is a path on this site
    sources = re.findall(r"""(?:src|href)="([^"]+)\"""", html)
    assert sources
    assert all(source.startswith("/") for source in sources)
    for source in sources:
        asset = anonymous_client.get(source)
        assert asset.status_code == 200, source
        assert_security_headers(asset, is_page=False)
    start = anonymous_client.get("/docs/start.js")
    assert start.headers["content-type"].startswith("text/javascript")
    assert URL.findall(start.text) == []
    assert '"validatorUrl": null' in start.text  # the public validator is never called


def test_the_cdn_pages_are_gone(anonymous_client: TestClient) -> None:
    assert anonymous_client.get("/redoc").status_code == 404
    assert anonymous_client.get("/docs/oauth2-redirect").status_code == 404
    # The OpenAPI document still feeds /docs and the Authorize button.
    schema = anonymous_client.get("/openapi.json").json()
    assert (
        schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]["password"][
            "tokenUrl"
        ]
        == "/api/auth/token"
    )


@pytest.fixture
def browser_console(page: Page) -> list[str]:  # noqa: F811
    messages: list[str] = []
    page.on("console", lambda message: messages.append(f"{message.type}: {message.text}"))
    return messages


@pytest.mark.browser
def test_docs_work_in_a_browser_under_the_csp(
    page: Page,  # noqa: F811
    live_server: LiveServer,  # noqa: F811
    browser_console: list[str],
) -> None:
    """Swagger UI renders, signs in through Authorize (password flow) and calls the
    API, with no request to any other host and no CSP violation."""
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(request.url.split("/")[2]))
    page.goto(f"{live_server.url}/docs")
    page.locator("#operations-accounts-me_api_me_get").wait_for()
    page.get_by_role("button", name="Authorize").first.click()
    page.locator("#oauth_username").fill(STAFF_EMAIL)
    page.locator("#oauth_password").fill(TEST_PASSWORD)
    page.locator(".auth-btn-wrapper button.authorize").click()
    page.get_by_text("Authorized", exact=True).wait_for()
    page.locator(".auth-btn-wrapper button.btn-done").click()
    page.locator("#operations-accounts-me_api_me_get").click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    status = page.locator(".live-responses-table .response .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "200"
    assert STAFF_EMAIL in page.locator(".live-responses-table .microlight").first.inner_text()
    assert hosts == {live_server.url.split("/")[2]}
    violations = [m for m in browser_console if "Content Security Policy" in m or "Refused" in m]
    assert violations == []
