"""Member-facing pages in English, French, Spanish and Arabic: the language is the
visitor's choice (switcher, remembered), else her contact's, else her browser's; the
wording, errors included, comes from catalogues that translate every message."""

import html
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect
from sqlmodel import Session

from app.accounts.principal import Role
from app.i18n import LOCALES_DIR, SUPPORTED_LANGUAGES, translations
from app.members.models import Contact
from app.tracking.signing import Purpose
from app.web.templating import LANGUAGE_COOKIE, LANGUAGE_COOKIE_MAX_AGE
from tests.accounts.test_magic_links import AMINA, emails_to, link_secret
from tests.factories import bearer_headers, make_contact, make_organization, make_user
from tests.tracking.conftest import link, make_campaign, make_delivery
from tests.web.conftest import LiveServer, screenshot

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = PROJECT_ROOT / "app" / "web" / "templates"
TRANSLATED = [code for code in SUPPORTED_LANGUAGES if code != "en"]


def text_of(response_text: str) -> str:
    return html.unescape(response_text)


def html_tag(page: str) -> str:
    found = re.search(r"<html[^>]*>", page)
    assert found, "no <html> tag"
    return found.group(0)


def assert_in_language(page: str, language: str) -> None:
    tag = html_tag(page)
    assert f'lang="{language}"' in tag
    assert ('dir="rtl"' in tag) is (language == "ar")


def translated(language: str, message: str) -> str:
    text = translations(language).gettext(message)
    assert text != message or language == "en", f"{message!r} has no {language} translation"
    return text


@pytest.fixture
def member(anonymous_client: TestClient, session: Session) -> tuple[TestClient, Contact]:
    """A client signed in as a member (her organisation in Kenya), and her contact."""
    user = make_user(session, Role.member)
    anonymous_client.headers.update(bearer_headers(session, user))
    session.flush()
    contact = session.get(Contact, user.contact_id)
    assert contact is not None
    return anonymous_client, contact


# --- every page, in every language ------------------------------------------------------

PUBLIC_PAGES = {
    "/sign-in/member": "Sign in for your organisation",
    "/apply": "Apply for membership",
    "/apply/thank-you": "Thank you for applying",
    "/sign-in/link/not-a-link": "This sign-in link does not work",
    "/no/such/page": "There is no page at this address.",
}


@pytest.mark.parametrize("language", TRANSLATED)
@pytest.mark.parametrize("path", list(PUBLIC_PAGES))
def test_public_pages_speak_the_chosen_language(
    anonymous_client: TestClient, language: str, path: str
) -> None:
    response = anonymous_client.get(path, params={"lang": language})
    assert response.status_code in (200, 404)
    page = text_of(response.text)
    assert_in_language(page, language)
    assert translated(language, PUBLIC_PAGES[path]) in page
    assert PUBLIC_PAGES[path] not in page
    # The frame too: skip link, header, footer.
    assert translated(language, "Skip to main content") in page
    assert translated(language, "Coalition for the ICC") in page


def test_specific_wording_in_each_language(anonymous_client: TestClient) -> None:
    french = text_of(anonymous_client.get("/apply?lang=fr").text)
    assert "<h1>Demander à devenir membre</h1>" in french
    assert "Nom de l'organisation" in french
    assert '<option value="KEN">Kenya</option>' in french
    assert '<option value="SEN">Sénégal</option>' in french  # CLDR names, not English
    spanish = text_of(anonymous_client.get("/sign-in/member?lang=es").text)
    assert "Inicie sesión en nombre de su organización" in spanish
    arabic = text_of(anonymous_client.get("/apply?lang=ar").text)
    assert "<h1>طلب العضوية</h1>" in arabic
    assert '<option value="KEN">كينيا</option>' in arabic


def test_the_sign_in_journey_pages_are_translated(
    anonymous_client: TestClient, session: Session
) -> None:
    organization = make_organization(session, name="Haki Women's Forum", country="KEN")
    make_contact(session, organization, name="Amina Njeri", email=AMINA)
    session.flush()
    anonymous_client.cookies.set(LANGUAGE_COOKIE, "ar")
    inbox = anonymous_client.post("/sign-in/member", data={"email": AMINA})
    assert inbox.status_code == 200
    assert_in_language(inbox.text, "ar")
    assert translated("ar", "Check your inbox") in text_of(inbox.text)

    secret = link_secret(emails_to(session, AMINA)[-1])
    opened = text_of(anonymous_client.get(f"/sign-in/link/{secret}").text)
    assert_in_language(opened, "ar")
    assert "تسجيل الدخول باسم Amina Njeri (Haki Women's Forum)" in opened


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_portal_pages_are_translated(member: tuple[TestClient, Contact], language: str) -> None:
    member_client, _contact = member
    portal = member_client.get("/portal", params={"lang": language})
    assert portal.status_code == 200
    page = text_of(portal.text)
    assert_in_language(page, language)
    assert translated(language, "Your organisation") in page
    assert translated(language, "Sign out") in page
    actions = text_of(member_client.get("/portal/actions", params={"lang": language}).text)
    assert_in_language(actions, language)
    assert translated(language, "Your organisation has not reported any action yet.") in actions


def test_values_languages_and_dates_read_in_the_page_language(
    member: tuple[TestClient, Contact],
) -> None:
    member_client, _contact = member
    page = text_of(member_client.get("/portal?lang=ar").text)
    assert "منظمة غير حكومية" in page  # the organisation's type, "NGO"
    assert "كينيا" in page  # Kenya
    french = text_of(member_client.get("/portal?lang=fr").text)
    assert "anglais" in french  # the contact's language, as French names it


# --- how the language is chosen -----------------------------------------------------------


def test_the_switcher_links_each_language_and_remembers_the_choice(
    anonymous_client: TestClient,
) -> None:
    english = anonymous_client.get("/apply?x=1")
    assert LANGUAGE_COOKIE not in english.cookies
    nav = re.search(r'<nav class="language-switcher"[^>]*>.*?</nav>', english.text, re.S)
    assert nav, "no language switcher"
    assert 'aria-label="Language"' in nav.group(0)
    assert '<a href="?x=1&amp;lang=fr" lang="fr" hreflang="fr">Français</a>' in nav.group(0)
    assert 'hreflang="ar">العربية</a>' in nav.group(0)
    assert 'hreflang="en" aria-current="true">English</a>' in nav.group(0)

    chosen = anonymous_client.get("/apply?lang=fr")
    assert 'aria-label="Langue"' in chosen.text
    assert 'hreflang="fr" aria-current="true"' in chosen.text
    cookie = chosen.headers["set-cookie"]
    assert cookie.startswith(f"{LANGUAGE_COOKIE}=fr;")
    assert f"Max-Age={LANGUAGE_COOKIE_MAX_AGE}" in cookie
    assert LANGUAGE_COOKIE_MAX_AGE == 365 * 24 * 60 * 60
    assert "samesite=lax" in cookie.lower()
    # Remembered: the next page, without ?lang=, is in French.
    assert_in_language(anonymous_client.get("/sign-in/member").text, "fr")
    assert "Accept-Language" in chosen.headers["vary"]


def test_staff_pages_stay_in_english(client: TestClient) -> None:
    client.cookies.set(LANGUAGE_COOKIE, "fr")
    members = client.get("/members", headers={"Accept-Language": "fr"})
    assert members.status_code == 200
    assert '<html lang="en">' in members.text
    assert "language-switcher" not in members.text
    missing = client.get("/members/999999", headers={"Accept-Language": "fr"})
    assert missing.status_code == 404
    assert "There is no organisation with id" in missing.text


def test_a_signed_in_member_reads_her_contact_language(
    member: tuple[TestClient, Contact], session: Session
) -> None:
    member_client, contact = member
    contact.language = "es"
    session.flush()
    page = text_of(member_client.get("/portal").text)
    assert_in_language(page, "es")
    assert "Su organización" in page
    # Her own choice wins over her contact's language.
    member_client.cookies.set(LANGUAGE_COOKIE, "fr")
    assert_in_language(member_client.get("/portal").text, "fr")


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("ar-EG,ar;q=0.9,en;q=0.5", "ar"),
        ("de-DE,de;q=0.9,es;q=0.8,en;q=0.5", "es"),
        ("en;q=0.2, fr-CA;q=0.8", "fr"),
        ("de", "en"),
        ("*", "en"),
        ("fr;q=nonsense, ,;;", "en"),
    ],
)
def test_the_browser_language_is_honoured(
    anonymous_client: TestClient, header: str, language: str
) -> None:
    page = anonymous_client.get("/sign-in/member", headers={"Accept-Language": header})
    assert page.status_code == 200
    assert_in_language(page.text, language)


@pytest.mark.parametrize("value", ["de", "xx", "", "fr\x00", "<script>", "f" * 500])
def test_an_unsupported_choice_falls_back_without_error(
    anonymous_client: TestClient, value: str
) -> None:
    page = anonymous_client.get("/apply", params={"lang": value})
    assert page.status_code == 200
    assert_in_language(page.text, "en")
    assert LANGUAGE_COOKIE not in page.cookies
    anonymous_client.cookies.set(LANGUAGE_COOKIE, "klingon")
    assert_in_language(anonymous_client.get("/sign-in/member").text, "en")


def test_an_alert_page_follows_the_alert_unless_the_reader_chose(
    anonymous_client: TestClient, session: Session
) -> None:
    organization = make_organization(session, name="Kenya Rights Network", country="KEN")
    contact = make_contact(session, organization, name="Amina Diallo", email="amina@example.org")
    delivery = make_delivery(session, make_campaign(session), contact, language="fr")
    act = link(delivery, Purpose.act)

    french = anonymous_client.get(act)
    assert_in_language(french.text, "fr")
    assert 'hreflang="fr" aria-current="true"' in french.text
    arabic = anonymous_client.get(act, params={"lang": "ar"})
    assert_in_language(arabic.text, "ar")
    assert translated("ar", "Report your action") in text_of(arabic.text)
    assert arabic.headers["cache-control"] == "no-store"
    unsubscribe = anonymous_client.get(link(delivery, Purpose.unsubscribe))
    assert_in_language(unsubscribe.text, "ar")  # remembered


# --- errors in the page's language --------------------------------------------------------


def apply_form(**changes: object) -> dict[str, object]:
    values: dict[str, object] = {
        "organization_name": "Association Dakaroise pour la Justice",
        "country": "SEN",
        "type": "ngo",
        "languages": ["fr"],
        "contact_name": "Awa Ndiaye",
        "contact_email": "awa@adj.example.org",
        "contact_role": "focal_point",
        "contact_language": "fr",
    }
    values.update(changes)
    return values


def error_beside(page: str, field: str) -> str:
    found = re.search(rf'<p class="field__error" id="{field}-error">([^<]*)</p>', page)
    assert found, f"no error beside {field}"
    return html.unescape(found.group(1))


@pytest.mark.parametrize(
    ("field", "value", "french"),
    [
        ("organization_name", "", "Ce champ est obligatoire."),
        ("website", "adj.example.org", "Saisissez une adresse commençant par https:// ou http://."),
        ("contact_email", "awa-at-adj", "Saisissez une adresse électronique"),
        ("focus_areas", "droits des victimes; (justice)", "Écrivez les domaines d'action"),
        ("languages", [], "Choisissez au moins une langue de travail."),
        ("motivation", "x" * 5001, "5000 caractères au plus"),
        ("country", "ZZQ", "Choisissez le pays dans la liste."),
    ],
)
def test_form_errors_are_shown_beside_the_field_in_french(
    anonymous_client: TestClient, field: str, value: object, french: str
) -> None:
    anonymous_client.cookies.set(LANGUAGE_COOKIE, "fr")
    response = anonymous_client.post("/apply", data=apply_form(**{field: value}))
    assert response.status_code == 422
    page = response.text
    assert_in_language(page, "fr")
    assert "Votre demande n'a pas encore pu être envoyée" in text_of(page)
    assert french in error_beside(page, field)


def test_a_duplicate_application_is_refused_in_arabic(
    anonymous_client: TestClient, session: Session
) -> None:
    make_organization(session, name="Association Dakaroise pour la Justice", country="SEN")
    session.flush()
    anonymous_client.cookies.set(LANGUAGE_COOKIE, "ar")
    response = anonymous_client.post("/apply", data=apply_form())
    assert response.status_code == 409
    assert "توجد منظمة بهذا الاسم" in error_beside(response.text, "organization_name")


def test_the_sign_in_email_error_is_in_spanish(anonymous_client: TestClient) -> None:
    anonymous_client.cookies.set(LANGUAGE_COOKIE, "es")
    response = anonymous_client.post("/sign-in/member", data={"email": "not an address"})
    assert response.status_code == 422
    assert "Introduzca su dirección de correo electrónico" in text_of(response.text)


# --- the catalogues -----------------------------------------------------------------------

MEMBER_TEMPLATES = [
    "base.html",
    "_language_switcher.html",
    "macros.html",
    "not_found.html",
    "applications/apply.html",
    "applications/thank_you.html",
    "members_signin/*.html",
    "tracking/*.html",
    "portal/*.html",
]
MEMBER_PYTHON = [
    "app/web/templating.py",
    "app/web/member_pages.py",
    "app/web/application_pages.py",
    "app/web/portal_pages.py",
    "app/web/router.py",
    "app/members/applications.py",
    "app/tracking/*.py",
]


def member_facing_messages() -> set[str]:
    sources = [
        *(
            ("jinja2", path, {"trimmed": "true"})
            for pattern in MEMBER_TEMPLATES
            for path in TEMPLATES.glob(pattern)
        ),
        *(("python", path, {}) for pattern in MEMBER_PYTHON for path in PROJECT_ROOT.glob(pattern)),
    ]
    messages: set[str] = set()
    for method, path, options in sources:
        for _line, message, _comments, _context in extract_from_file(method, path, options=options):
            if isinstance(message, tuple):  # ngettext: singular and plural
                messages.update(part for part in message if part)
            elif message:
                messages.add(message)
    return messages


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_member_facing_message_is_translated(language: str) -> None:
    with (LOCALES_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po_file:
        catalog = read_po(po_file, locale=language)
    messages = member_facing_messages()

    assert len(messages) > 200
    missing = sorted(
        message
        for message in messages
        if message not in catalog or not catalog[message].string or catalog[message].fuzzy
    )
    assert missing == []
    assert list(catalog.check()) == []  # placeholders kept in every translation


# --- in a browser ---------------------------------------------------------------------------


def test_a_visitor_switches_to_arabic_and_the_page_turns_right_to_left(
    live_server: LiveServer, page: Page
) -> None:
    page.goto(f"{live_server.url}/apply")
    switcher = page.get_by_role("navigation", name="Language")
    switcher.get_by_role("link", name="العربية").click()
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.get_by_role("heading", level=1)).to_have_text("طلب العضوية")
    # Mirrored, and nothing pushed off to the side (the form's hidden trap field
    # sits off-screen on the start side, whichever side that is).
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    # The form (48rem wide) hugs the right edge; left to right it starts at about 20px.
    label_box = page.locator('label[for="f-organization_name"]').bounding_box()
    assert label_box is not None
    assert label_box["x"] > 400
    screenshot(page, "member-apply-ar")

    # Remembered on the next page; the error beside the field is in Arabic too.
    page.get_by_role("button", name="إرسال الطلب").click()
    expect(page.locator("#organization_name-error")).to_have_text("هذا الحقل إلزامي.")
    page.goto(f"{live_server.url}/sign-in/member")
    expect(page.get_by_role("heading", level=1)).to_have_text("سجّلوا الدخول باسم منظمتكم")
    screenshot(page, "member-sign-in-ar")

    page.get_by_role("navigation", name="اللغة").get_by_role("link", name="Français").click()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Connectez-vous pour votre organisation"
    )
    screenshot(page, "member-sign-in-fr")


def test_a_phone_reads_the_arabic_form_without_sideways_scrolling(
    live_server: LiveServer, page: Page
) -> None:
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(f"{live_server.url}/apply?lang=ar")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    screenshot(page, "member-apply-ar-phone")


def test_the_switcher_never_links_off_the_site(anonymous_client: TestClient) -> None:
    # An address that begins like another site's is answered by the not-found page, which
    # has the switcher: its links stay on this page.
    for address in ("//evil.example/x", "/%2Fevil.example/x", "/\\evil.example/x"):
        page = anonymous_client.get(address)
        assert page.status_code == 404
        links = re.findall(r'<a href="([^"]*)"[^>]*hreflang', page.text)
        assert links, address
        assert all(link.startswith("?") for link in links), links
        assert "evil.example" not in "".join(links)


def test_a_browser_language_in_capitals_is_ours_in_small_letters(
    anonymous_client: TestClient,
) -> None:
    page = anonymous_client.get("/apply", headers={"Accept-Language": "FR"})
    assert '<html lang="fr"' in page.text
    assert 'hreflang="fr" aria-current="true"' in page.text
