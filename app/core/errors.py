"""Domain errors carry their HTTP status so routers never build HTTPException by hand."""

from typing import Any

# A field by name, or by its path inside the body, e.g. ("variants", 1, "body").
FieldPath = str | tuple[str | int, ...]


class DomainError(Exception):
    status_code = 400

    def __init__(
        self, message: str, *, field: FieldPath | None = None, location: str = "body"
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.location = location

    @property
    def field_name(self) -> str | None:
        """The field as one string ("variants.1.body"), for forms and messages."""
        if self.field is None or isinstance(self.field, str):
            return self.field
        return ".".join(str(part) for part in self.field)

    def to_detail(self) -> list[dict[str, Any]]:
        """Same shape as FastAPI's own 422 details, so clients handle one format."""
        path = (self.field,) if isinstance(self.field, str) else (self.field or ())
        return [{"loc": [self.location, *path], "msg": self.message, "type": self.error_type}]

    @property
    def error_type(self) -> str:
        return type(self).__name__


class NotFound(DomainError):
    """Also used for things outside the caller's scope: out of scope is 404, not 403."""

    status_code = 404

    def __init__(
        self, message: str, *, field: FieldPath | None = None, location: str = "path"
    ) -> None:
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
