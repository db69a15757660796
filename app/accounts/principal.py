"""Who is acting. Every service that reads or writes takes a Principal.

The API builds one from the signed-in user (app/accounts/auth.py); the CLI acts as the
operator of the installation. What a principal may see is decided in `scoping.py`.
"""

import getpass
from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    secretariat = "secretariat"
    regional_lead = "regional_lead"
    member = "member"


@dataclass(frozen=True)
class Principal:
    actor: str  # what the audit log records, e.g. "cli:alice" or "user:12"
    role: Role
    regions: frozenset[str] = field(default_factory=frozenset)
    organization_id: int | None = None
    user_id: int | None = None
    is_admin: bool = False
    # A member's own contact: the one person whose consent she may change.
    contact_id: int | None = None


def cli_principal() -> Principal:
    """The person at the terminal: the operator of this installation."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Principal(actor=f"cli:{user}", role=Role.secretariat, is_admin=True)
