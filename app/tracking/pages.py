"""The recipients' pages, in the language their alert went out in.

They are reached from email by people who are not signed in, so they have a frame of
their own (templates/tracking/frame.html): the page's language and its direction
(right to left for Arabic), wording through the gettext catalogues of app/i18n (the
environment of app/web/templating.py, as every member-facing page), a language switcher
and no staff navigation. Their addresses hold a signed link, so they are never cached
and send no Referer.
"""

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from app.campaigns.topics import Topic
from app.i18n import SUPPORTED_LANGUAGES, text_direction, translations
from app.tracking.models import ReportedActionType
from app.tracking.schemas import ENGAGED_WITH_MAX_LENGTH, NOTE_MAX_LENGTH, FieldProblem
from app.tracking.service import Preferences
from app.tracking.wording import ACTION_TYPE_WORDS, TOPIC_WORDS
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


def form_problems(problems: Sequence[FieldProblem]) -> dict[str, Any]:
    """A form's problems (in the page's language) for templates/tracking/_problems.html
    and the fields they are beside."""
    return {"problems": list(problems), "problem_fields": {problem.field for problem in problems}}


def report_form(
    action: str,
    token: str,
    *,
    values: dict[str, str] | None = None,
    problems: Sequence[FieldProblem] = (),
) -> dict[str, Any]:
    """The fields of the report form (templates/tracking/_report_form.html), sent to
    `action` with the link's form `token` (empty: the session's CSRF token), and the
    words of the action types (the reports listed beside it)."""
    today = date.today()
    return {
        "form_action": action,
        "form_token": token,
        "action_types": [(kind.value, ACTION_TYPE_WORDS[kind]) for kind in ReportedActionType],
        "action_words": {kind.value: words for kind, words in ACTION_TYPE_WORDS.items()},
        "values": {
            "action_type": "",
            "action_date": today.isoformat(),
            "engaged_with": "",
            "note": "",
            **(values or {}),
        },
        "latest_date": (today + timedelta(days=1)).isoformat(),
        "engaged_with_max": ENGAGED_WITH_MAX_LENGTH,
        "note_max": NOTE_MAX_LENGTH,
        **form_problems(problems),
    }


def report_sent(values: dict[str, str]) -> dict[str, str]:
    """The report form's values for the schema: an empty field is a field not filled in."""
    return {name: value for name, value in values.items() if value.strip()}


def preferences_form(
    preferences: Preferences,
    action: str,
    token: str,
    *,
    values: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The fields of the preferences form (templates/tracking/_preferences_form.html),
    sent to `action` with the link's form `token` (empty: the session's CSRF token);
    `values` are those sent, shown again."""
    values = values or {}
    return {
        "preferences": preferences,
        "preferences_action": action,
        "preferences_token": token,
        "topics": [(topic.value, TOPIC_WORDS[topic]) for topic in Topic],
        "topics_checked": (
            set(values["topics"]) if "topics" in values else set(preferences.topics_received)
        ),
        "values": values,
    }


def preferences_sent(values: dict[str, Any]) -> dict[str, Any]:
    """The preferences form's values for the schema: an empty field is not sent, but no
    topic ticked is a choice (alerts about none)."""
    return {name: value for name, value in values.items() if value or name == "topics"}


def in_every_language(message: str) -> list[tuple[str, str, str]]:
    """(language, direction, text) of one message in each catalogue, for pages that
    cannot know whom they speak to."""
    return [
        (code, text_direction(code), translations(code).gettext(message))
        for code in SUPPORTED_LANGUAGES
    ]
