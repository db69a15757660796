"""The suppression list: addresses that must never be mailed, kept only as hashes.

Every path that sends or lists recipients checks an address with `is_suppressed` (one
address) or `suppressed_address` (a query over many), and every path that suppresses one
goes through `suppress`, so the hash is computed one way.
"""

import hashlib
from typing import Any

from sqlalchemy import String, exists
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ColumnElement, FunctionElement
from sqlmodel import Session, col, select

from app.delivery.models import Suppression, SuppressionReason


def suppression_hash(email: str) -> str:
    """SHA-256 of the trimmed, lower-cased address."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


class sha256_hex(FunctionElement[str]):
    """`suppression_hash` computed by the database, so that audiences of a million
    contacts are checked in one query. SQLite gets the Python function itself (see
    app/core/db.py); PostgreSQL has sha256() built in."""

    type = String()
    inherit_cache = True
    name = "sha256_hex"


@compiles(sha256_hex, "postgresql")
def _sha256_hex_postgresql(element: sha256_hex, compiler: SQLCompiler, **kw: Any) -> str:
    argument = compiler.process(element.clauses, **kw)
    return f"encode(sha256(convert_to(lower(trim({argument})), 'UTF8')), 'hex')"


@compiles(sha256_hex)
def _sha256_hex_sqlite(element: sha256_hex, compiler: SQLCompiler, **kw: Any) -> str:
    return f"coalition_sha256({compiler.process(element.clauses, **kw)})"


def suppressed_address(email_column: Any) -> ColumnElement[bool]:
    """SQL condition: the address in this column is on the suppression list."""
    return exists().where(col(Suppression.email_hash) == sha256_hex(email_column))


def is_suppressed(session: Session, email: str) -> bool:
    query = select(Suppression.id).where(col(Suppression.email_hash) == suppression_hash(email))
    return session.scalar(query) is not None


def suppressed_addresses(session: Session, emails: list[str]) -> set[str]:
    """Those of these addresses that are on the suppression list."""
    if not emails:
        return set()
    by_hash = {suppression_hash(email): email for email in emails}
    query = select(Suppression.email_hash).where(col(Suppression.email_hash).in_(list(by_hash)))
    return {by_hash[email_hash] for email_hash in session.scalars(query)}


def suppress(session: Session, email: str, reason: SuppressionReason) -> None:
    """Keep the address off every list (a second call keeps the first reason)."""
    if not is_suppressed(session, email):
        session.add(Suppression(email_hash=suppression_hash(email), reason=reason))
        session.flush()
