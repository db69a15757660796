"""What recipients send from the pages their alert links to, and how problems are told.

The pages are in the recipient's language, so a problem is a message id of the
catalogues (marked with N_) with its values, translated when the page is shown.
"""

import dataclasses
import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic import ValidationError as PydanticValidationError

from app.campaigns.topics import Topic
from app.i18n import N_
from app.tracking.models import ReportedActionType

ENGAGED_WITH_MAX_LENGTH = 300
NOTE_MAX_LENGTH = 5000
# Before the Rome Statute was adopted nothing was done about it: such a date is a typo.
EARLIEST_ACTION_DATE = date(1998, 7, 17)

# Text people type may hold line breaks and tabs, nothing else below a space.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _printable(text: str) -> str:
    if _CONTROL_CHARACTERS.search(text):
        raise ValueError(N_("Remove the invisible control characters from this text."))
    return text.replace("\r\n", "\n")


def _each_once(topics: list[Topic]) -> list[Topic]:
    if len(set(topics)) != len(topics):
        raise ValueError(N_("Choose each topic once."))
    return topics


def _not_in_the_future(day: date) -> date:
    # Tomorrow is allowed: a member east of the server may already be there.
    if day > date.today() + timedelta(days=1):
        raise ValueError(N_("The date cannot be in the future."))
    if day < EARLIEST_ACTION_DATE:
        raise ValueError(N_("Enter a date after 17 July 1998."))
    return day


class ActionReportCreate(BaseModel):
    """What a member reports having done about an alert."""

    model_config = ConfigDict(extra="forbid")

    action_type: ReportedActionType
    action_date: Annotated[date, AfterValidator(_not_in_the_future)]
    engaged_with: Annotated[
        str,
        StringConstraints(strip_whitespace=True, max_length=ENGAGED_WITH_MAX_LENGTH),
        AfterValidator(_printable),
    ] = ""
    note: Annotated[
        str,
        StringConstraints(strip_whitespace=True, max_length=NOTE_MAX_LENGTH),
        AfterValidator(_printable),
    ] = ""


class AlertsChoice(StrEnum):
    """What the recipient wants from now on."""

    receive = "receive"  # subscribed (also: subscribe again, end a pause)
    keep_pause = "keep_pause"  # a pause already running goes on unchanged
    pause_1 = "pause_1"
    pause_3 = "pause_3"
    pause_6 = "pause_6"
    stop = "stop"  # unsubscribe


PAUSE_MONTHS: dict[AlertsChoice, int] = {
    AlertsChoice.pause_1: 1,
    AlertsChoice.pause_3: 3,
    AlertsChoice.pause_6: 6,
}


class PreferencesUpdate(BaseModel):
    """The preferences form: language, the topics to receive alerts about (the others
    are opted out of), and whether to receive alerts."""

    model_config = ConfigDict(extra="forbid")

    language: Annotated[str, StringConstraints(max_length=8)]
    topics: Annotated[list[Topic], AfterValidator(_each_once)] = Field(
        default_factory=list, max_length=len(Topic)
    )
    alerts: AlertsChoice


# --- Problems, in words the page translates ---------------------------------------------


@dataclass(frozen=True)
class FieldProblem:
    field: str | None  # the form field, None for the form as a whole
    message: str  # a message id of the catalogues
    values: dict[str, Any] = dataclasses.field(default_factory=dict)


_MESSAGES_BY_ERROR_TYPE: dict[str, str] = {
    "missing": N_("Fill in this field."),
    "enum": N_("Choose one of the options."),
    "literal_error": N_("Choose one of the options."),
    "date_parsing": N_("Enter a date as year-month-day, for example 2026-03-31."),
    "date_from_datetime_parsing": N_("Enter a date as year-month-day, for example 2026-03-31."),
    "date_from_datetime_inexact": N_("Enter a date as year-month-day, for example 2026-03-31."),
    "date_type": N_("Enter a date as year-month-day, for example 2026-03-31."),
    "string_too_long": N_("This text is too long: at most %(max_length)s characters."),
    "too_long": N_("Choose fewer options."),
    "extra_forbidden": N_("This field is not part of the form."),
    "string_type": N_("This value is not valid."),
    "list_type": N_("This value is not valid."),
}
_NOT_VALID = N_("This value is not valid.")


def problems_of(error: PydanticValidationError) -> list[FieldProblem]:
    """A validation error as the form's problems, one per field."""
    problems: list[FieldProblem] = []
    seen: set[str | None] = set()
    for detail in error.errors():
        name = str(detail["loc"][0]) if detail["loc"] else None
        if name in seen:
            continue
        seen.add(name)
        context = detail.get("ctx") or {}
        if detail["type"] == "value_error" and isinstance(context.get("error"), ValueError):
            message = str(context["error"])
        else:
            message = _MESSAGES_BY_ERROR_TYPE.get(detail["type"], _NOT_VALID)
        values = {"max_length": context["max_length"]} if "max_length" in context else {}
        problems.append(FieldProblem(name, message, values))
    return problems
