"""The audit log for the secretariat: `GET /api/audit`, newest first, with filters.

The log never holds a secret (record_audit's callers write no password, token or link),
so reading it back shows none. Regional leads and members may not read it (403): an
organisation's own timeline is `GET /api/organizations/{id}/history`.
"""

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from app.accounts.auth import SecretariatUser
from app.core.audit import AuditEntry, AuditEntryRead
from app.core.errors import ValidationFailed
from app.core.http import IsoDateTime, SessionDep

router = APIRouter(prefix="/api", tags=["audit"])

MAX_ID = 2_147_483_647


def representable(at: datetime) -> bool:
    """Whether a time with a zone can be stored and compared in UTC: 9999-12-31T23:00-05:00
    is a valid time, but in UTC it falls past the last year a datetime holds."""
    try:
        return 1 < at.astimezone(UTC).year < 9999
    except OverflowError:
        return False


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actor: str | None = Field(default=None, max_length=200, description='e.g. "user:12"')
    action: str | None = Field(default=None, max_length=80, description='e.g. "contact.update"')
    target_type: str | None = Field(default=None, max_length=40, description='e.g. "contact"')
    target_id: str | None = Field(default=None, max_length=40)
    organization_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    since: IsoDateTime | None = Field(
        default=None, description="Entries at or after this time (with a time zone)"
    )
    until: IsoDateTime | None = Field(
        default=None, description="Entries before this time (with a time zone)"
    )
    limit: int = Field(default=50, ge=1, le=500, description="Page size")
    cursor: str | None = Field(
        default=None, max_length=200, description="`next_cursor` of the previous page"
    )

    @field_validator("since", "until")
    @classmethod
    def _in_range(cls, value: datetime | None) -> datetime | None:
        if value is not None and not representable(value):
            raise ValueError("must be a time between the years 2 and 9998")
        return value

    @field_validator("actor", "action", "target_type", "target_id")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        # PostgreSQL refuses NUL in text: say which filter is wrong rather than fail.
        if value is not None and "\x00" in value:
            raise ValueError("must not contain a NUL character")
        return value


class AuditPage(BaseModel):
    items: list[AuditEntryRead]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


def list_audit_entries(session: Session, query: AuditQuery) -> tuple[list[AuditEntry], str | None]:
    """A page of entries, newest first. The cursor is the last entry's (time, id), so
    walking the pages yields every entry once even while new ones are written."""
    if query.since and query.until and query.since >= query.until:
        raise ValidationFailed("until must be after since", field="until", location="query")
    statement = select(AuditEntry)
    for name in ("actor", "action", "target_type", "target_id", "organization_id"):
        value = getattr(query, name)
        if value is not None:
            statement = statement.where(getattr(AuditEntry, name) == value)
    if query.since is not None:
        statement = statement.where(col(AuditEntry.at) >= query.since)
    if query.until is not None:
        statement = statement.where(col(AuditEntry.at) < query.until)
    if query.cursor:
        at, entry_id = _decode_cursor(query.cursor)
        statement = statement.where(
            or_(
                col(AuditEntry.at) < at,
                and_(col(AuditEntry.at) == at, col(AuditEntry.id) < entry_id),
            )
        )
    rows = list(
        session.scalars(
            statement.order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc()).limit(
                query.limit + 1
            )
        ).all()
    )
    items = rows[: query.limit]
    next_cursor = _encode_cursor(items[-1]) if len(rows) > query.limit else None
    return items, next_cursor


def _encode_cursor(entry: AuditEntry) -> str:
    raw = json.dumps([entry.at.isoformat(), entry.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at_text, entry_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        at = datetime.fromisoformat(at_text)
        if (
            at.tzinfo is not None
            and representable(at)
            and isinstance(entry_id, int)
            and 1 <= entry_id <= MAX_ID
        ):
            return at, entry_id
    except (ValueError, TypeError, binascii.Error):
        pass
    raise ValidationFailed(
        "Malformed cursor: pass the next_cursor of the previous page unchanged",
        field="cursor",
        location="query",
    )


@router.get("/audit", response_model=AuditPage)
def read_audit_log(
    session: SessionDep, principal: SecretariatUser, query: Annotated[AuditQuery, Query()]
) -> AuditPage:
    """Who changed what, when, from what to what: every change, newest first.
    Filters combine with "and"; `since`/`until` need a time zone (e.g. `Z`)."""
    items, next_cursor = list_audit_entries(session, query)
    return AuditPage(
        items=[AuditEntryRead.model_validate(entry) for entry in items], next_cursor=next_cursor
    )
