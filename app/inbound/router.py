"""Mail that comes back, over HTTP: the mail server posts bounces, complaints and
replies as raw messages (the body is the message, exactly as received); staff read the
replies."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from app.accounts.auth import Allow, StaffUser, bearer_scheme, csrf_token_sent, current_principal
from app.accounts.principal import Role
from app.accounts.security import same_token
from app.core.errors import DomainError
from app.core.http import SessionDep, error_responses
from app.core.settings import get_settings
from app.inbound import service
from app.inbound.models import InboundSource
from app.inbound.parsing import Expectation
from app.inbound.schemas import InboundReceipt, ReplyListQuery, ReplyPage

router = APIRouter(prefix="/api/inbound", tags=["inbound mail"])


class MailServerOrSecretariat(Allow):
    """Gate: the mail server, with INBOUND_TOKEN as its bearer token, or a secretariat
    login. Answers with the actor the audit log records."""

    def __init__(self) -> None:
        super().__init__(Role.secretariat)

    def __call__(  # type: ignore[override]  # the token needs the request itself
        self,
        request: Request,
        session: SessionDep,
        bearer: Annotated[str | None, Depends(bearer_scheme)],
        csrf_sent: Annotated[str, Depends(csrf_token_sent)],
    ) -> str:
        expected = get_settings().inbound_token
        if expected and bearer and same_token(bearer, expected):
            return service.MAIL_SERVER_ACTOR
        principal = current_principal(request, session, bearer, csrf_sent)
        return Allow.__call__(self, principal).actor


MailServer = Annotated[str, Depends(MailServerOrSecretariat())]


class MessageTooLarge(DomainError):
    status_code = 413


async def raw_message(request: Request) -> bytes:
    """The request body, refused past INBOUND_MAX_BYTES without reading it all."""
    limit = get_settings().inbound_max_bytes
    too_large = MessageTooLarge(
        f"The message is larger than {limit} bytes (INBOUND_MAX_BYTES)", field="message"
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


RawMessage = Annotated[bytes, Depends(raw_message)]

# The body is the message itself, not JSON: say so in the API documentation.
_RAW_MESSAGE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
    }
}
_RECEIPT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Received before: nothing changed", "model": InboundReceipt},
    413: {"description": "Larger than INBOUND_MAX_BYTES"},
    422: {"description": "Not an email message (empty, JSON, binary...)"},
}


@router.post(
    "/bounces",
    response_model=InboundReceipt,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_RAW_MESSAGE_BODY,
    responses=_RECEIPT_RESPONSES,
)
def receive_bounce(
    session: SessionDep, actor: MailServer, raw: RawMessage, response: Response
) -> InboundReceipt:
    """A message sent to a bounce address (`bounces+<token>@MAIL_DOMAIN`) or a feedback
    loop: a DSN or other bounce, or an ARF spam complaint. Anything else is kept as
    unrecognised. Authenticate with `Authorization: Bearer <INBOUND_TOKEN>`."""
    receipt = service.receive_message(
        session, raw, InboundSource.api, actor=actor, expect=Expectation.bounces
    )
    if receipt.duplicate:
        response.status_code = status.HTTP_200_OK
    return receipt


@router.post(
    "/replies",
    response_model=InboundReceipt,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_RAW_MESSAGE_BODY,
    responses=_RECEIPT_RESPONSES,
)
def receive_reply(
    session: SessionDep, actor: MailServer, raw: RawMessage, response: Response
) -> InboundReceipt:
    """A message sent to the alerts' From address: a reply, tied to the alert its
    In-Reply-To or References name. A bounce or complaint that arrives here is still
    recognised as one."""
    receipt = service.receive_message(
        session, raw, InboundSource.api, actor=actor, expect=Expectation.auto
    )
    if receipt.duplicate:
        response.status_code = status.HTTP_200_OK
    return receipt


# 404: the campaign_id filter names no campaign.
@router.get("/replies", response_model=ReplyPage, responses=error_responses(404))
def list_replies(
    session: SessionDep, principal: StaffUser, query: Annotated[ReplyListQuery, Query()]
) -> ReplyPage:
    """Replies to alerts, newest first, with the alert, contact and organisation they
    answer. Regional leads see the replies of their regions' contacts only."""
    return service.list_replies(session, principal, query)
