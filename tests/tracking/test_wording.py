"""The recipients' pages are translated: every message of app/tracking and its
templates is in the French, Spanish and Arabic catalogues."""

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from app.i18n import LOCALES_DIR, SUPPORTED_LANGUAGES
from app.tracking.wording import language_name, offered_languages

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def tracking_messages() -> set[str]:
    sources = [
        *(("python", path, {}) for path in (PROJECT_ROOT / "app" / "tracking").glob("*.py")),
        *(
            ("jinja2", path, {"trimmed": "true"})
            for path in (PROJECT_ROOT / "app" / "web" / "templates" / "tracking").glob("*.html")
        ),
    ]
    return {
        message
        for method, path, options in sources
        for _line, message, _comments, _context in extract_from_file(method, path, options=options)
        if isinstance(message, str)
    }


@pytest.mark.parametrize("language", [code for code in SUPPORTED_LANGUAGES if code != "en"])
def test_the_catalogues_translate_every_page_message(language: str) -> None:
    with (LOCALES_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po_file:
        catalog = read_po(po_file, locale=language)
    messages = tracking_messages()

    assert len(messages) > 60
    untranslated = [
        message
        for message in messages
        if message not in catalog or not catalog[message].string or catalog[message].fuzzy
    ]
    assert untranslated == []
    assert list(catalog.check()) == []  # e.g. %(email)s kept in every translation


def test_languages_are_offered_in_their_own_names() -> None:
    assert language_name("fr") == "Français"
    assert language_name("ar") == "العربية"
    assert language_name("zz-not-a-language") == "zz-not-a-language"
    assert [code for code, _name in offered_languages("sw", ["pt", "en"])] == [
        "en",
        "fr",
        "es",
        "ar",
        "pt",
        "sw",
    ]
