"""Translations of the project's own wording (email layout, status words, region names).

The catalogues are plain `.po` files under `locales/<lang>/LC_MESSAGES/messages.po`,
the format translators and their tools work with. They are compiled in memory the first
time a language is asked for, so a fresh clone needs no `pybabel compile` step.

Updating the catalogues after changing wording, from the project root::

    .venv/bin/pybabel extract -F app/i18n/babel.cfg -o /tmp/messages.pot .
    .venv/bin/pybabel update -i /tmp/messages.pot -d app/i18n/locales -N

then translate the new or changed entries (and clear their `fuzzy` flags).
"""

import gettext
import io
from functools import lru_cache
from pathlib import Path
from typing import Literal

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "messages"

# English is the source language: its wording is the message ids themselves.
SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "fr", "es", "ar")

RIGHT_TO_LEFT_LANGUAGES = frozenset({"ar", "he", "fa", "ur"})

TextDirection = Literal["ltr", "rtl"]


def N_(message: str) -> str:
    """Mark wording for extraction without translating it yet (it is translated at use)."""
    return message


def base_language(language: str) -> str:
    """`fr-CA` and `fr_CA` are read as `fr`: the catalogues are per language, not region."""
    return language.replace("_", "-").split("-", 1)[0].lower()


def text_direction(language: str) -> TextDirection:
    return "rtl" if base_language(language) in RIGHT_TO_LEFT_LANGUAGES else "ltr"


@lru_cache(maxsize=16)
def translations(language: str) -> gettext.NullTranslations:
    """The catalogue for a language; English and languages without one get the source text."""
    code = base_language(language)
    po_path = LOCALES_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"
    if code == "en" or not po_path.is_file():
        return gettext.NullTranslations()
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=code, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out, as msgfmt does
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)
