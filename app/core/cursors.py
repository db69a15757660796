"""Keyset cursors over a row id, for lists paged newest first: opaque to clients, and a
cursor that is not one of ours is a 422 naming `cursor`, never a database error."""

import base64
import binascii

from app.core.errors import ValidationFailed

_MAX_ID = 2_147_483_647  # an INTEGER primary key


def encode_id_cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(str(row_id).encode()).decode().rstrip("=")


def decode_id_cursor(cursor: str) -> int:
    try:
        value = int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
        if 1 <= value <= _MAX_ID:
            return value
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    raise ValidationFailed(
        "Malformed cursor: pass the next_cursor of the previous page unchanged",
        field="cursor",
        location="query",
    )
