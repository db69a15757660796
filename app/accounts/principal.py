"""Who is acting. Every service that reads or writes takes a Principal.

Accounts and roles arrive with their own issue; until then the API acts as the
secretariat and the CLI as the operator who runs it. Both go through `scoping.py`,
so adding roles changes one place.
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


def cli_principal() -> Principal:
    """The person at the terminal: the operator of this installation."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Principal(actor=f"cli:{user}", role=Role.secretariat)


def api_principal() -> Principal:
    """FastAPI dependency for the caller; replaced by real sign-in with accounts."""
    return Principal(actor="api", role=Role.secretariat)
