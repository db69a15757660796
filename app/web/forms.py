"""What the member-facing forms share: reading what was typed, checking it with the
API's schemas, and showing what was refused beside the field.

Every form goes one way (`submit`): the schema checks the values, the service keeps
them; whatever either refuses shows the form again with the message beside its field
(422, or the service's status) and nothing is kept; else the browser is sent on (303).
"""

import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlmodel import Session

from app.core.errors import DomainError
from app.i18n import N_
from app.tracking.schemas import FieldProblem, problems_of
from app.web.templating import in_language

# Offered as checkboxes and choices on the forms (the API takes any ISO 639-1 code).
FORM_LANGUAGES = ("en", "fr", "es", "ar", "pt", "ru", "zh", "sw")
_MAX_ID = 2**31 - 1

NOT_VALID = N_("This value is not valid.")
NO_LANGUAGE = N_("Choose at least one working language.")
# The schemas' and services' messages quote values and codes in English: in other
# languages a form says what to do instead, field by field (an organisation's and a
# contact's fields, by their names in the API).
ADVICE = {
    "name": N_("Write the name on one line, without special characters."),
    "acronym": N_("Write the acronym on one line, without special characters."),
    "country": N_("Choose the country from the list."),
    "languages": N_("Choose the languages from the list."),
    "focus_areas": N_(
        "Write the focus areas in letters and numbers, separated by commas, "
        "e.g. victims rights, universal jurisdiction."
    ),
    "website": N_("Enter an address starting with https:// or http://."),
    "address": N_("Remove the invisible control characters from this text."),
    "email": N_("Enter an email address, like name@example.org."),
    "role": N_("Choose one of the options."),
    "language": N_("Choose a language from the list."),
}

Model = TypeVar("Model", bound=BaseModel)


def parse_id(text: str) -> int | None:
    """An id typed in an address, or None for anything that cannot be one."""
    if not re.fullmatch(r"[0-9]{1,10}", text):
        return None
    return int(text) if 0 < int(text) <= _MAX_ID else None


def focus_area_tags(text: str) -> list[str]:
    """ "Victims' rights, Rule of law" → the words the tag validator then checks."""
    tags = []
    for part in text.split(","):
        tag = re.sub(r"\s+", "-", part.strip().lower())
        if tag and tag not in tags:
            tags.append(tag)
    return tags


class FormRefused(Exception):
    """What was typed cannot be kept: the problems to show beside the fields."""

    def __init__(self, problems: list[FieldProblem], status_code: int = 422) -> None:
        super().__init__(problems)
        self.problems = problems
        self.status_code = status_code


def checked(
    schema: type[Model], data: dict[str, Any], problems: list[FieldProblem] | None = None
) -> Model:
    """`data` as the API's schema takes it; raises FormRefused with the schema's
    problems and those the form found first (`problems`), all shown at once."""
    found = list(problems or [])
    try:
        model = schema.model_validate(data)
    except ValidationError as error:
        raise FormRefused([*found, *problems_of(error)]) from None
    if found:
        raise FormRefused(found)
    return model


def shown(
    problems: list[FieldProblem], language: str, advice: Mapping[str, str] | None = None
) -> list[FieldProblem]:
    """The problems in the page's language, each a sentence. With `advice`, a message
    the catalogue lacks (one quoting a value in English) gives way to the field's own."""
    result = []
    for problem in problems:
        instead = None if advice is None else advice.get(problem.field or "", NOT_VALID)
        # "Not valid" says less than the field's own advice.
        message = instead if instead and problem.message == NOT_VALID else problem.message
        text = in_language(message, language, instead=instead)
        if problem.values:
            text = text % problem.values
        result.append(FieldProblem(problem.field, text[:1].upper() + text[1:]))
    return result


class ShowForm(Protocol):
    """The form's page again, with `problems` (in the page's language) beside the fields."""

    def __call__(self, *, problems: list[FieldProblem], status_code: int) -> Response: ...


def submit(
    session: Session,
    keep: Callable[[], object],
    show: ShowForm,
    *,
    language: str,
    done: str,
    advice: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Runs `keep` (the form's checks, then the service) and answers: the form again
    with what either refused, or on to `done`."""
    try:
        keep()
    except FormRefused as refused:
        return show(
            problems=shown(refused.problems, language, advice), status_code=refused.status_code
        )
    except DomainError as error:
        session.rollback()  # nothing of a refused change is kept
        refusal = [FieldProblem(error.field_name, error.message)]
        return show(problems=shown(refusal, language), status_code=error.status_code)
    return RedirectResponse(done, status_code=303, headers=headers)
