"""HTTP glue shared by every router: error handlers, the session dependency types."""

import re
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, BeforeValidator
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session

from app.core.db import get_session
from app.core.errors import DomainError
from app.core.throttle import TooManyRequests

# scope="function": the transaction commits when the endpoint returns, before the
# response goes out, so a client never sees success for a change that did not commit.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
# Ids in paths fit the database's integer column; larger numbers are a 422, not a 500.
ResourceId = Annotated[int, Path(ge=1, le=2_147_483_647)]

_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _not_a_timestamp(value: Any) -> Any:
    # Pydantic reads a bare number as seconds since 1970 ("until=0.5" is 1970-01-01):
    # the API documents ISO 8601 only, so a number is a mistake to report.
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("must be an ISO 8601 date-time with a time zone, e.g. 2026-12-07T09:00Z")
    return value


IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_not_a_timestamp)]


class ErrorDetail(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every error the API answers: the shape of FastAPI's own 422."""

    detail: list[ErrorDetail]


ERROR_MEANINGS = {
    400: "The body could not be read (not UTF-8 JSON or form data)",
    401: "Not signed in, or the token is invalid, expired or revoked",
    403: "This role may not do this",
    404: "No such record, or it is outside what the caller may see",
    409: "Conflicts with the record's current state or with a concurrent change",
    429: "Too many attempts; try again after Retry-After seconds",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route's OpenAPI entry: the errors it may answer, documented."""
    return {code: {"model": ErrorBody, "description": ERROR_MEANINGS[code]} for code in codes}


async def domain_error_response(_request: Request, error: DomainError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if error.status_code == 401 else None
    if isinstance(error, TooManyRequests):
        headers = {"Retry-After": str(error.retry_after)}
    return JSONResponse(
        status_code=error.status_code, content={"detail": error.to_detail()}, headers=headers
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error_response)  # type: ignore[arg-type]

    @app.exception_handler(RequestValidationError)
    async def request_validation_error(
        _request: Request, error: RequestValidationError
    ) -> JSONResponse:
        # Pydantic's context may hold exception objects: keep only what serialises.
        errors = [
            {key: value for key, value in item.items() if key in {"loc", "msg", "type"}}
            for item in error.errors()
        ]
        return JSONResponse(status_code=422, content={"detail": jsonable_encoder(errors)})

    @app.exception_handler(DataError)
    async def data_error(_request: Request, _error: DataError) -> JSONResponse:
        # A value the database refuses (e.g. a NUL byte in text) that validation let by.
        return JSONResponse(
            status_code=422,
            content={
                "detail": [
                    {
                        "loc": ["body"],
                        "msg": "A value is not acceptable to the database",
                        "type": "DataError",
                    }
                ]
            },
        )

    @app.exception_handler(IntegrityError)
    async def integrity_error(_request: Request, _error: IntegrityError) -> JSONResponse:
        # Two requests raced past the same check: tell the client, do not 500.
        return JSONResponse(
            status_code=409,
            content={
                "detail": [
                    {
                        "loc": ["body"],
                        "msg": "Conflicts with a concurrent change; retry",
                        "type": "Conflict",
                    }
                ]
            },
        )
