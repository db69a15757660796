"""The recipients' pages, in the language their alert went out in.

They are reached from email by people who are not signed in, so they have a frame of
their own (templates/tracking/frame.html): the page's language and its direction
(right to left for Arabic), wording through the gettext catalogues of app/i18n (the
environment of app/web/templating.py, as every member-facing page), a language switcher
and no staff navigation. Their addresses hold a signed link, so they are never cached
and send no Referer.
"""

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from app.i18n import SUPPORTED_LANGUAGES, text_direction, translations
from app.tracking.schemas import FieldProblem
from app.web.templating import environment_for, member_page, page_language

PRIVATE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def recipient_language(request: Request, alert_language: str) -> str:
    """The page's language: the visitor's own choice (the switcher), else the
    language the alert went out in."""
    return page_language(request, usual=alert_language)


def recipient_page(
    request: Request,
    template: str,
    language: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> Response:
    """A page of a recipient's link, in `language` (see `recipient_language`)."""
    return member_page(
        request,
        f"tracking/{template}",
        context,
        language=language,
        status_code=status_code,
        headers=PRIVATE_HEADERS,
    )


def render_page(
    template: str,
    language: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """A page that cannot know whom it speaks to (a link that is not valid, a preview):
    no language switcher."""
    html = (
        environment_for(language)
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
