"""A staff member's walk through the pages in a real browser (Debian's chromium)."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.factories import TEST_PASSWORD
from tests.web.conftest import STAFF_EMAIL, LiveServer, sign_in

pytestmark = pytest.mark.browser


def test_members_to_countries_journey(page: Page, live_server: LiveServer) -> None:
    # Not signed in: the home page leads to sign-in, and sign-in back home: the
    # secretariat's dashboard, whose navigation leads to the members.
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=%2F$"))
    page.get_by_label("Email").fill(STAFF_EMAIL)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Members").click()
    expect(page).to_have_url(re.compile(r"/members$"))
    expect(page).to_have_title(re.compile("^Members"))
    expect(page.get_by_test_id("total")).to_have_text("4")

    # Search by text: "justice" matches three names.
    page.get_by_label("Search", exact=True).fill("justice")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"q=justice"))
    expect(page.get_by_test_id("total")).to_have_text("3")

    # Narrow to Africa: the search stays, the Colombian organisation goes.
    page.get_by_label("Region").select_option(label="Africa")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"region=africa"))
    expect(page.get_by_test_id("total")).to_have_text("2")
    results = page.get_by_role("table")
    expect(results).not_to_contain_text("Justice Now Colombia")
    expect(page.get_by_label("Search", exact=True)).to_have_value("justice")

    # Open an organisation and see its contacts.
    results.get_by_role("link", name="Amani Justice Network").click()
    expect(page).to_have_url(f"{live_server.url}/members/{live_server.organization_ids['amani']}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Amani Justice Network")
    contacts = page.get_by_role("table")
    expect(contacts).to_contain_text("Wanjiru Otieno")
    expect(contacts).to_contain_text("peter@amani.example.org")
    expect(contacts).to_contain_text("Hard bounce")

    # To the countries, filtered by region.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Countries").click()
    expect(page).to_have_title(re.compile("^Countries"))
    expect(page.get_by_test_id("total")).to_have_text("195")
    page.get_by_label("Region").select_option("africa")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_test_id("total")).to_have_text("49")

    # Open a country and read its history: who, what, on which source.
    page.get_by_role("link", name="Senegal").click()
    expect(page).to_have_url(f"{live_server.url}/countries/SEN")
    history = page.locator(".history")
    expect(history).to_contain_text("Journal officiel 2025-01")
    expect(history).to_contain_text("test:staff")

    expect(history.locator(".history__item").first).to_contain_text("Unknown")
    expect(history.locator(".history__item").first).to_contain_text("Partial")

    # Signing out ends the session: the pages ask to sign in again.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    page.goto(f"{live_server.url}/countries")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=%2Fcountries$"))


def test_wrong_password_is_refused_on_the_page(page: Page, live_server: LiveServer) -> None:
    page.goto(f"{live_server.url}/sign-in")
    page.get_by_label("Email").fill(STAFF_EMAIL)
    page.get_by_label("Password").fill("not the password at all")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match an active account")
    expect(page.get_by_label("Email")).to_have_value(STAFF_EMAIL)


def test_bad_filter_shows_the_error_not_a_crash(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/members")
    page.get_by_label("Working language").fill("xx")
    page.get_by_role("button", name="Search").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Some filters could not be used")
    expect(alert).to_contain_text("not an ISO 639-1 language code")
    expect(page.get_by_label("Working language")).to_have_attribute("aria-invalid", "true")

    response = page.goto(f"{live_server.url}/members?region=atlantis")
    assert response is not None
    assert response.status == 422
    expect(page.get_by_role("alert")).to_contain_text("atlantis")
