"""The audit log: who changed what, when, from what to what. Never holds a secret."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, Text
from sqlmodel import Field, Session, SQLModel

from app.core import models as _naming  # noqa: F401  (constraint names)
from app.core.types import UTCDateTime, jsonable, utcnow


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entries"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=200)
    action: str = Field(max_length=80, index=True)
    target_type: str = Field(max_length=40)
    target_id: str = Field(max_length=40)
    # The organisation a change concerns (its own or one of its contacts'), so that an
    # organisation's timeline is one indexed query. No foreign key: the log outlives rows.
    organization_id: int | None = Field(default=None, index=True)
    before: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    after: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    note: str | None = Field(default=None, sa_type=Text)


class AuditEntryRead(BaseModel):
    """An audit entry as the API shows it (the log, a timeline, a personal-data export)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str
    organization_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    note: str | None


def record_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    target_type: str,
    target_id: Any,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    note: str | None = None,
    organization_id: int | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        organization_id=organization_id,
        before=jsonable(before) if before is not None else None,
        after=jsonable(after) if after is not None else None,
        note=note,
    )
    session.add(entry)
    return entry


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict, dict]:
    """Only the keys whose value changed, as (before, after) for the audit record."""
    keys = [k for k in after if jsonable(before.get(k)) != jsonable(after.get(k))]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


def record_changes(
    session: Session,
    *,
    actor: str,
    action: str,
    target_type: str,
    target_id: Any,
    before: dict[str, Any],
    after: dict[str, Any],
    organization_id: int | None = None,
    note: str | None = None,
) -> bool:
    """Audit what differs between two snapshots; return whether anything did."""
    old, new = changed_fields(before, after)
    if not new:
        return False
    record_audit(
        session,
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        before=old,
        after=new,
        organization_id=organization_id,
        note=note,
    )
    return True
