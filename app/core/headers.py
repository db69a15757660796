"""Security headers on every response.

A pure ASGI middleware (it only touches the `http.response.start` message), so that
streamed responses such as exports pass through untouched. It wraps the whole
application, outside Starlette's own error middleware, so that even the bare 500 that
Starlette writes for an unexpected error carries the headers.

Pages get a strict Content-Security-Policy: everything from this site, nothing inline,
nothing from anywhere else (the API docs are served from this site too; see
app/core/api_docs.py).
"""

from collections.abc import Callable

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "style-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
    ]
)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_security_headers(app: FastAPI) -> None:
    """Wrap the app's whole middleware stack (including the error middleware) in the
    headers middleware. `add_middleware` would put it inside the error middleware,
    where a 500 would escape it."""
    build_stack: Callable[[], ASGIApp] = app.build_middleware_stack

    def build_stack_with_headers() -> ASGIApp:
        return SecurityHeadersMiddleware(build_stack())

    app.build_middleware_stack = build_stack_with_headers  # type: ignore[method-assign]
