"""Domain errors carry their HTTP status so routers never build HTTPException by hand."""

from typing import Any


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str, *, field: str | None = None, location: str = "body") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.location = location

    def to_detail(self) -> list[dict[str, Any]]:
        """Same shape as FastAPI's own 422 details, so clients handle one format."""
        loc = [self.location, self.field] if self.field else [self.location]
        return [{"loc": loc, "msg": self.message, "type": self.error_type}]

    @property
    def error_type(self) -> str:
        return type(self).__name__


class NotFound(DomainError):
    """Also used for things outside the caller's scope: out of scope is 404, not 403."""

    status_code = 404

    def __init__(self, message: str, *, field: str | None = None, location: str = "path") -> None:
        super().__init__(message, field=field, location=location)


class ValidationFailed(DomainError):
    """Input that is well-formed JSON but wrong for the domain (unknown country, ...)."""

    status_code = 422


class Conflict(DomainError):
    status_code = 409


class NotAuthenticated(DomainError):
    """No valid sign-in. Pages answer with the sign-in page, the API with 401."""

    status_code = 401


class Forbidden(DomainError):
    """A route this role may never use (a record out of scope is NotFound instead)."""

    status_code = 403
