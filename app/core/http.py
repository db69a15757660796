"""HTTP glue shared by every router: error handlers, the session dependency types."""

from typing import Annotated

from fastapi import Depends, FastAPI, Path, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
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
