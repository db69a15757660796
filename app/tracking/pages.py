"""The recipients' pages, in the language their alert went out in.

They are reached from email by people who are not signed in, so they have a frame of
their own (templates/tracking/frame.html): the alert's language and its direction
(right to left for Arabic), wording through the gettext catalogues of app/i18n, and no
staff navigation. Their addresses hold a signed link, so they are never cached and
send no Referer.
"""

from datetime import date
from functools import lru_cache
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from app.i18n import SUPPORTED_LANGUAGES, base_language, text_direction, translations
from app.tracking.schemas import FieldProblem
from app.web.templating import TEMPLATES_DIR

PRIVATE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@lru_cache(maxsize=16)
def page_environment(language: str) -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
        auto_reload=False,
    )
    environment.policies["ext.i18n.trimmed"] = True
    environment.install_gettext_translations(  # type: ignore[attr-defined]
        translations(language), newstyle=True
    )
    environment.filters["date"] = lambda day: local_date(day, language)
    return environment


def local_date(day: date, language: str) -> str:
    """A date as people write it in the language ("3 mars 2026")."""
    try:
        locale = Locale.parse(base_language(language))
    except (UnknownLocaleError, ValueError):
        locale = Locale("en")
    return format_date(day, format="long", locale=locale)


def render_page(
    template: str,
    language: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    code = base_language(language)
    html = (
        page_environment(code)
        .get_template(f"tracking/{template}")
        .render(language=language, direction=text_direction(language), **context)
    )
    return HTMLResponse(html, status_code=status_code, headers=PRIVATE_HEADERS)


def translated_problems(problems: list[FieldProblem], language: str) -> list[FieldProblem]:
    """The problems with their messages in the page's language."""
    gettext = translations(language).gettext
    return [
        FieldProblem(p.field, gettext(p.message) % p.values if p.values else gettext(p.message))
        for p in problems
    ]


def in_every_language(message: str) -> list[tuple[str, str, str]]:
    """(language, direction, text) of one message in each catalogue, for pages that
    cannot know whom they speak to."""
    return [
        (code, text_direction(code), translations(code).gettext(message))
        for code in SUPPORTED_LANGUAGES
    ]
