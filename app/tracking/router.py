"""The public links in an alert, and the member's list of her organisation's reports.

- `/r/{signed}/{n}` counts a click and redirects to link n of the recipient's variant.
- `/o/{signed}.gif` counts an open and answers a one-pixel image.
- `/act/{signed}`: GET shows the report form, POST keeps a report.
- `/unsubscribe/{signed}`: POST with `List-Unsubscribe=One-Click` (RFC 8058, sent by
  mail providers without cookies) unsubscribes at once; GET only shows a page whose
  button (a POST with a form token) unsubscribes, with the preferences beside it.
- `/preferences/{signed}`: GET shows, POST (with a form token) saves.

No GET changes anything but the click and open counts: mail scanners follow every link.
Every link that is not valid for its purpose gets the same 404 page.
"""

import asyncio
import logging
import re
import weakref
from collections.abc import Callable, Sequence
from datetime import date
from functools import partial
from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from sqlmodel import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from app.accounts.auth import AnyUser, Public
from app.accounts.principal import Role
from app.core.errors import NotFound
from app.core.http import SessionDep
from app.i18n import N_
from app.tracking import automated, clicks, service
from app.tracking.pages import (
    PRIVATE_HEADERS,
    form_problems,
    in_every_language,
    preferences_form,
    preferences_sent,
    recipient_language,
    recipient_page,
    render_page,
    report_form,
    report_sent,
)
from app.tracking.schemas import ActionReportCreate, FieldProblem, PreferencesUpdate
from app.tracking.service import Recipient
from app.tracking.signing import Purpose, check_form_token, form_token, sign
from app.tracking.wording import ACTION_TYPE_WORDS
from app.web.forms import FormRefused, checked, shown, submit
from app.web.templating import member_page

router = APIRouter(include_in_schema=False)

# A 1x1 transparent GIF.
PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c000000000100010000020144003b"
)
_NO_STORE = {
    "Cache-Control": "no-store, no-cache, must-revalidate, private, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
    "Referrer-Policy": "no-referrer",
}
_LINK_PATH = re.compile(r"(/(?:r|o|act|unsubscribe|preferences)/)[^/?#\s]+")
FORM_NOT_CHECKED = N_(
    "This page was open too long, or could not be checked. Please send the form again."
)


class RedactTrackingLinks(logging.Filter):
    """Keeps the signed links out of the server's access log: each one can unsubscribe
    its recipient."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _LINK_PATH.sub(r"\1[redacted]", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


logging.getLogger("uvicorn.access").addFilter(RedactTrackingLinks())


def link_not_valid() -> HTMLResponse:
    """The same page for every link that is not valid, whatever was wrong with it."""
    return render_page(
        "link_not_valid.html",
        "en",
        {
            "headings": in_every_language(N_("This link is not valid")),
            "explanations": in_every_language(
                N_(
                    "Check that the whole address was copied from the email. If it was, "
                    "the link no longer works; the links in the next alert will."
                )
            ),
        },
        status_code=404,
    )


def _preview() -> HTMLResponse:
    return render_page("preview.html", "en", {})


def _recipient_or_page(
    session: Session, signed: str, purpose: Purpose, *, needs_contact: bool = False
) -> Recipient | Response:
    """Whom a page's link names, or the page to answer instead: the same 404 for every
    link that is not one of ours, the preview page for a preview's link, and the 404
    again where the page needs a contact who has since been removed."""
    try:
        recipient = service.open_link(session, signed, purpose)
    except NotFound:
        return link_not_valid()
    if recipient is None:
        return _preview()
    if needs_contact and recipient.contact is None:
        return link_not_valid()
    return recipient


# --- Clicks and opens -------------------------------------------------------------------
#
# The busiest addresses of the site (every recipient's mail client and every scanner at
# their gateways, right after a send): answered by TrackingLinksFirst below before the
# application's routing and dependency injection, on SQLAlchemy Core (clicks.py). The
# routes are there for the route table; they answer the same way.

_CLICK_PATH = re.compile(r"/r/(?P<signed>[^/]+)/(?P<number>[^/]+)")
_OPEN_PATH = re.compile(r"/o/(?P<signed>[^/]+)\.gif")


def click_answer(method: str, user_agent: str, signed: str, number: str) -> Response:
    try:
        with clicks.link_connection() as connection:
            destination = clicks.follow_click(
                connection, signed, number, automated.Request(method, user_agent)
            )
    except NotFound:
        return link_not_valid()
    return RedirectResponse(destination, status_code=303, headers=_NO_STORE)


def open_answer(method: str, user_agent: str, signed: str) -> Response:
    try:
        with clicks.link_connection() as connection:
            clicks.record_open(connection, signed, automated.Request(method, user_agent))
    except NotFound:
        return link_not_valid()
    return Response(PIXEL, media_type="image/gif", headers=_NO_STORE)


# Threads answering links at once, per server process: no more than the database pool
# keeps open (SQLAlchemy's 5). With more, the pool's overflow connections are closed as
# they come back and opened again for the next click: under load a third of a click's
# cost went to connecting. The requests beyond wait in the event loop, at no cost.
LINK_THREADS = 5
_limiters: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter]" = (
    weakref.WeakKeyDictionary()
)


async def answer_in_thread(answer: Callable[..., Response], *args: str) -> Response:
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = anyio.CapacityLimiter(LINK_THREADS)
    return await anyio.to_thread.run_sync(answer, *args, limiter=limiter)


@router.api_route("/r/{signed}/{number}", methods=["GET", "HEAD"], dependencies=[Public])
async def follow_click(request: Request, signed: str, number: str) -> Response:
    return await answer_in_thread(
        click_answer, request.method, request.headers.get("user-agent", ""), signed, number
    )


@router.api_route("/o/{signed}.gif", methods=["GET", "HEAD"], dependencies=[Public])
async def open_image(request: Request, signed: str) -> Response:
    return await answer_in_thread(
        open_answer, request.method, request.headers.get("user-agent", ""), signed
    )


class TrackingLinksFirst:
    """ASGI middleware: answers clicks and opens before routing (about 120 routes to
    match) and dependency injection; everything else goes on to the application."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            path: str = scope["path"]
            answer: Response | None = None
            if path.startswith("/r/") and (match := _CLICK_PATH.fullmatch(path)):
                answer = await answer_in_thread(
                    click_answer, scope["method"], _user_agent(scope), *match.groups()
                )
            elif path.startswith("/o/") and (match := _OPEN_PATH.fullmatch(path)):
                answer = await answer_in_thread(
                    open_answer, scope["method"], _user_agent(scope), match["signed"]
                )
            if answer is not None:
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _user_agent(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"user-agent":
            return str(value.decode("latin-1"))
    return ""


# --- Reported actions -------------------------------------------------------------------


def _act_page(
    request: Request,
    session: Session,
    recipient: Recipient,
    signed: str,
    *,
    values: dict[str, str] | None = None,
    problems: Sequence[FieldProblem] = (),
    reported: bool = False,
    status_code: int = 200,
) -> Response:
    return recipient_page(
        request,
        "act.html",
        recipient_language(request, recipient.delivery.language),
        {
            "alert_title": recipient.campaign.title,
            "organization_name": recipient.organization.name if recipient.organization else "",
            **report_form(
                f"/act/{signed}",
                form_token(recipient.delivery.token, Purpose.act),
                values=values,
                problems=problems,
            ),
            "reports": service.reports_of(session, recipient),
            "reported": reported,
            "preferences_url": (
                f"/preferences/{sign(recipient.delivery.token, Purpose.preferences)}"
            ),
        },
        status_code=status_code,
    )


@router.get("/act/{signed}", response_class=HTMLResponse, dependencies=[Public])
def act_page(request: Request, session: SessionDep, signed: str) -> Response:
    recipient = _recipient_or_page(session, signed, Purpose.act, needs_contact=True)
    if isinstance(recipient, Response):
        return recipient
    return _act_page(
        request, session, recipient, signed, reported="reported" in request.query_params
    )


@router.post("/act/{signed}", response_class=HTMLResponse, dependencies=[Public])
def report_action(
    request: Request,
    session: SessionDep,
    signed: str,
    action_type: Annotated[str, Form()] = "",
    action_date: Annotated[str, Form()] = "",
    engaged_with: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    sent_form_token: Annotated[str, Form(alias="form_token")] = "",
) -> Response:
    recipient = _recipient_or_page(session, signed, Purpose.act, needs_contact=True)
    if isinstance(recipient, Response):
        return recipient
    values = {
        "action_type": action_type,
        "action_date": action_date,
        "engaged_with": engaged_with,
        "note": note,
    }

    def keep() -> None:
        _require_form_token(sent_form_token, recipient, Purpose.act)
        data = checked(ActionReportCreate, report_sent(values))
        service.report_action(session, recipient, data)

    return submit(
        session,
        keep,
        partial(_act_page, request, session, recipient, signed, values=values),
        language=recipient_language(request, recipient.delivery.language),
        done=f"/act/{signed}?reported=1",
        headers=PRIVATE_HEADERS,
    )


def _require_form_token(sent: str, recipient: Recipient, purpose: Purpose) -> None:
    """The POST comes from the page this server gave this recipient (the CSRF check of
    pages that have no session)."""
    if check_form_token(sent, recipient.delivery.token, purpose) is not None:
        raise FormRefused([FieldProblem(None, FORM_NOT_CHECKED)], status_code=400)


# --- Unsubscribe and preferences --------------------------------------------------------


def _preferences_context(
    session: Session,
    recipient: Recipient,
    *,
    values: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return preferences_form(
        service.preferences_of(session, recipient, today=date.today()),
        f"/preferences/{sign(recipient.delivery.token, Purpose.preferences)}",
        form_token(recipient.delivery.token, Purpose.preferences),
        values=values,
    )


def _unsubscribe_page(
    request: Request,
    session: Session,
    recipient: Recipient,
    signed: str,
    *,
    problems: Sequence[FieldProblem] = (),
    status_code: int = 200,
) -> Response:
    language = recipient_language(request, recipient.delivery.language)
    context: dict[str, Any] = {
        "email": recipient.contact.email if recipient.contact else recipient.delivery.email,
        "unsubscribed": service.is_unsubscribed(session, recipient),
        "form_action": f"/unsubscribe/{signed}",
        "form_token": form_token(recipient.delivery.token, Purpose.unsubscribe),
        **form_problems(problems),
        "preferences": None,
        "values": {},
    }
    if recipient.contact is not None:
        context |= _preferences_context(session, recipient)
    return recipient_page(request, "unsubscribe.html", language, context, status_code=status_code)


@router.get("/unsubscribe/{signed}", response_class=HTMLResponse, dependencies=[Public])
def unsubscribe_page(request: Request, session: SessionDep, signed: str) -> Response:
    recipient = _recipient_or_page(session, signed, Purpose.unsubscribe)
    if isinstance(recipient, Response):
        return recipient
    return _unsubscribe_page(request, session, recipient, signed)


ONE_CLICK = "One-Click"


@router.post("/unsubscribe/{signed}", dependencies=[Public])
def unsubscribe(
    request: Request,
    session: SessionDep,
    signed: str,
    one_click: Annotated[str, Form(alias="List-Unsubscribe")] = "",
    sent_form_token: Annotated[str, Form(alias="form_token")] = "",
) -> Response:
    """RFC 8058's one-click POST (no cookies, no token but the link's own) answers in
    a few words; the page's button shows the page again."""
    recipient = _recipient_or_page(session, signed, Purpose.unsubscribe)
    if isinstance(recipient, Response):
        return recipient
    if one_click == ONE_CLICK:
        service.unsubscribe(session, recipient, via="one-click")
        return PlainTextResponse("Unsubscribed.\n", headers=PRIVATE_HEADERS)
    try:
        _require_form_token(sent_form_token, recipient, Purpose.unsubscribe)
    except FormRefused as refused:
        language = recipient_language(request, recipient.delivery.language)
        return _unsubscribe_page(
            request,
            session,
            recipient,
            signed,
            problems=shown(refused.problems, language),
            status_code=refused.status_code,
        )
    service.unsubscribe(session, recipient, via="unsubscribe page")
    return RedirectResponse(f"/unsubscribe/{signed}", status_code=303, headers=PRIVATE_HEADERS)


def _preferences_page(
    request: Request,
    session: Session,
    recipient: Recipient,
    *,
    values: dict[str, Any] | None = None,
    problems: Sequence[FieldProblem] = (),
    saved: bool = False,
    status_code: int = 200,
) -> Response:
    language = recipient_language(request, recipient.delivery.language)
    context = _preferences_context(session, recipient, values=values) | {
        **form_problems(problems),
        "saved": saved,
    }
    return recipient_page(request, "preferences.html", language, context, status_code=status_code)


@router.get("/preferences/{signed}", response_class=HTMLResponse, dependencies=[Public])
def preferences_page(request: Request, session: SessionDep, signed: str) -> Response:
    recipient = _recipient_or_page(session, signed, Purpose.preferences, needs_contact=True)
    if isinstance(recipient, Response):
        return recipient
    return _preferences_page(request, session, recipient, saved="saved" in request.query_params)


@router.post("/preferences/{signed}", response_class=HTMLResponse, dependencies=[Public])
def save_preferences(
    request: Request,
    session: SessionDep,
    signed: str,
    alerts: Annotated[str, Form()] = "",
    language: Annotated[str, Form()] = "",
    topics: Annotated[list[str], Form()] = [],  # noqa: B006  (FastAPI copies defaults)
    sent_form_token: Annotated[str, Form(alias="form_token")] = "",
) -> Response:
    recipient = _recipient_or_page(session, signed, Purpose.preferences, needs_contact=True)
    if isinstance(recipient, Response):
        return recipient
    values: dict[str, Any] = {"alerts": alerts, "language": language, "topics": topics}

    def keep() -> None:
        _require_form_token(sent_form_token, recipient, Purpose.preferences)
        data = checked(PreferencesUpdate, preferences_sent(values))
        service.update_preferences(session, recipient, data, today=date.today())

    return submit(
        session,
        keep,
        partial(_preferences_page, request, session, recipient, values=values),
        language=recipient_language(request, recipient.delivery.language),
        done=f"/preferences/{signed}?saved=1",
        headers=PRIVATE_HEADERS,
    )


# --- The member's portal ----------------------------------------------------------------


@router.get("/portal/actions", response_class=HTMLResponse)
def organization_actions(request: Request, session: SessionDep, principal: AnyUser) -> Response:
    """The actions the member's organisation reported (staff read them on the
    organisation's timeline)."""
    if principal.role is not Role.member or principal.organization_id is None:
        return RedirectResponse("/", status_code=303)
    return member_page(
        request,
        "tracking/portal_actions.html",
        {
            "section": "portal_actions",
            "reports": service.organization_reports(session, principal),
            "action_words": {kind.value: words for kind, words in ACTION_TYPE_WORDS.items()},
        },
    )
