"""Custom fields that admins define for every organisation, and their validation."""

import math
from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from app.accounts.principal import Principal
from app.core.audit import record_audit
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.members.models import CustomFieldDefinition, CustomFieldType
from app.members.schemas import CustomFieldCreate


def list_custom_fields(session: Session) -> list[CustomFieldDefinition]:
    return list(
        session.scalars(
            select(CustomFieldDefinition).order_by(col(CustomFieldDefinition.key))
        ).all()
    )


def create_custom_field(
    session: Session, principal: Principal, data: CustomFieldCreate
) -> CustomFieldDefinition:
    if data.field_type is CustomFieldType.choice and not data.choices:
        raise ValidationFailed("A choice field needs at least one choice", field="choices")
    if data.field_type is not CustomFieldType.choice and data.choices:
        raise ValidationFailed("Only choice fields take choices", field="choices")
    if len(set(data.choices)) != len(data.choices):
        raise ValidationFailed("Choices must not repeat", field="choices")
    existing = session.scalars(
        select(CustomFieldDefinition).where(col(CustomFieldDefinition.key) == data.key)
    ).first()
    if existing is not None:
        raise Conflict(f"A custom field with key {data.key!r} exists already", field="key")
    definition = CustomFieldDefinition(**data.model_dump())
    session.add(definition)
    session.flush()
    record_audit(
        session,
        actor=principal.actor,
        action="custom_field.create",
        target_type="custom_field",
        target_id=definition.key,
        after=data.model_dump(),
    )
    return definition


def delete_custom_field(session: Session, principal: Principal, key: str) -> None:
    """Removes the definition; values stay on the organisations (and in exports) as they
    were, so nothing is lost if the field is defined again."""
    definition = session.scalars(
        select(CustomFieldDefinition).where(col(CustomFieldDefinition.key) == key)
    ).first()
    if definition is None:
        raise NotFound(f"No custom field with key {key!r}")
    record_audit(
        session,
        actor=principal.actor,
        action="custom_field.delete",
        target_type="custom_field",
        target_id=key,
        before={"label": definition.label, "field_type": definition.field_type},
    )
    session.delete(definition)
    session.flush()


def validate_custom_values(
    definitions: list[CustomFieldDefinition],
    values: dict[str, Any],
    *,
    current: dict[str, Any] | None = None,
    require: bool = True,
) -> dict[str, Any]:
    """The organisation's custom values after applying `values` over `current`.

    A null value removes the field. Dates are kept as ISO strings and numbers as
    numbers, so that JSON, CSV and the database agree.
    """
    by_key = {definition.key: definition for definition in definitions}
    result = dict(current or {})
    for key, raw in values.items():
        field = f"custom_fields.{key}"
        definition = by_key.get(key)
        if definition is None:
            known = ", ".join(sorted(by_key)) or "none are defined"
            raise ValidationFailed(f"Unknown custom field {key!r} (known: {known})", field=field)
        if raw is None or raw == "":
            result.pop(key, None)
            continue
        result[key] = coerce_custom_value(definition, raw, field=field)
    for definition in definitions:
        if require and definition.required and definition.key not in result:
            raise ValidationFailed(
                f"Custom field {definition.key!r} is required",
                field=f"custom_fields.{definition.key}",
            )
    return result


def coerce_custom_value(definition: CustomFieldDefinition, raw: Any, *, field: str) -> Any:
    kind = definition.field_type
    if kind is CustomFieldType.text:
        if not isinstance(raw, str):
            raise ValidationFailed("Expected text", field=field)
        if len(raw) > 2000:
            raise ValidationFailed("Text is longer than 2000 characters", field=field)
        return raw.strip()
    if kind is CustomFieldType.number:
        return _number(raw, field)
    if kind is CustomFieldType.date:
        try:
            return date.fromisoformat(str(raw).strip()).isoformat()
        except ValueError:
            raise ValidationFailed(
                f"{raw!r} is not a date in the form YYYY-MM-DD", field=field
            ) from None
    if str(raw) not in definition.choices:
        raise ValidationFailed(
            f"{raw!r} is not one of the choices: {', '.join(definition.choices)}", field=field
        )
    return str(raw)


def _number(raw: Any, field: str) -> int | float:
    if isinstance(raw, bool):
        raise ValidationFailed("Expected a number", field=field)
    number: int | float
    if isinstance(raw, int | float):
        number = raw
    else:
        try:
            text = str(raw).strip()
            number = int(text) if text.lstrip("-").isdigit() else float(text)
        except ValueError:
            raise ValidationFailed(f"{raw!r} is not a number", field=field) from None
    if not math.isfinite(number):
        raise ValidationFailed(f"{raw!r} is not a finite number", field=field)
    return number
