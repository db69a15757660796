"""create_app(): routers, middleware, error handlers."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.accounts.auth import Public
from app.accounts.magic_router import router as magic_link_router
from app.accounts.router import router as accounts_router
from app.campaigns.router import router as campaigns_router
from app.core import jobs
from app.core.api_docs import document_error_responses, install_api_docs
from app.core.audit_router import router as audit_router
from app.core.db import session_scope
from app.core.errors import NotAuthenticated
from app.core.headers import install_security_headers
from app.core.http import domain_error_response, install_error_handlers
from app.countries.router import router as countries_router
from app.inbound.router import router as inbound_router
from app.members.applications_router import router as applications_router
from app.members.personal_data_router import router as personal_data_router
from app.members.router import router as members_router
from app.reports.router import router as reports_router
from app.tracking.router import TrackingLinksFirst
from app.tracking.router import router as tracking_router
from app.web.account_pages import router as account_pages_router
from app.web.account_pages import sign_in_url
from app.web.admin_pages import router as admin_pages_router
from app.web.application_pages import router as application_pages_router
from app.web.campaign_pages import router as campaign_pages_router
from app.web.dashboard_pages import router as dashboard_pages_router
from app.web.member_pages import router as member_pages_router
from app.web.portal_pages import router as portal_pages_router
from app.web.region_pages import router as region_pages_router
from app.web.report_pages import router as report_pages_router
from app.web.router import not_found_page
from app.web.router import router as web_router
from app.web.templating import STATIC_DIR


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    jobs.warm_up()
    yield


def create_app() -> FastAPI:
    app = FastAPI(
        lifespan=_lifespan,
        title="Coalition for the ICC: member registry and action alerts",
        version="0.1.0",
        # FastAPI's own /docs and /redoc load from a CDN; install_api_docs serves /docs
        # from this site instead.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    install_error_handlers(app)
    install_security_headers(app)
    install_api_docs(app)
    # Clicks and opens are answered before routing: see app/tracking/router.py.
    app.add_middleware(TrackingLinksFirst)
    app.include_router(accounts_router)
    app.include_router(magic_link_router)
    app.include_router(countries_router)
    app.include_router(members_router)
    app.include_router(applications_router)
    app.include_router(personal_data_router)
    app.include_router(campaigns_router)
    app.include_router(inbound_router)
    app.include_router(reports_router)
    app.include_router(audit_router)
    app.include_router(web_router)
    app.include_router(account_pages_router)
    app.include_router(member_pages_router)
    app.include_router(portal_pages_router)
    app.include_router(application_pages_router)
    app.include_router(admin_pages_router)
    app.include_router(campaign_pages_router)
    app.include_router(dashboard_pages_router)
    app.include_router(tracking_router)
    app.include_router(report_pages_router)
    app.include_router(region_pages_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    document_error_responses(app)

    @app.exception_handler(NotAuthenticated)
    async def sign_in_first(request: Request, error: NotAuthenticated) -> Response:
        # A person on a page is sent to sign in and brought back; API clients get 401.
        if request.url.path.startswith("/api/"):
            return await domain_error_response(request, error)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(sign_in_url(target), status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def not_found_as_page(request: Request, error: StarletteHTTPException) -> Response:
        # People who mistype a page address get a page; API clients keep JSON.
        if error.status_code == 404 and not request.url.path.startswith(("/api/", "/static/")):
            return not_found_page(request, "There is no page at this address.")
        if error.status_code == 400 and request.url.path.startswith("/api/"):
            # FastAPI's "There was an error parsing the body" (e.g. bytes that are not
            # UTF-8), in the shape of every other API error and naming the body.
            return JSONResponse(
                status_code=400,
                content={
                    "detail": [
                        {
                            "loc": ["body"],
                            "msg": "The body could not be read: send UTF-8 JSON, "
                            "or form data where the route takes a form",
                            "type": "BodyNotReadable",
                        }
                    ]
                },
            )
        return await http_exception_handler(request, error)

    @app.get("/healthz", tags=["health"], dependencies=[Public])
    def healthz() -> JSONResponse:
        try:
            with session_scope() as session:
                session.execute(text("SELECT 1"))
            database = "ok"
        except Exception as error:  # report, never raise: this is what monitors poll
            database = f"error: {type(error).__name__}"
        healthy = database == "ok"
        return JSONResponse(
            status_code=200 if healthy else 503,
            content={"status": "ok" if healthy else "degraded", "database": database},
        )

    return app
