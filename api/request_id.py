"""X-Request-ID: taken from the caller when it is a sane token, else generated; bound to every
log line of the request (and, through core/request_context.py, of the turn it starts) and
echoed in the response.

Pure ASGI rather than BaseHTTPMiddleware: it sits on the webhook hot path, and a
BaseHTTPMiddleware runs the app in a separate task behind memory streams."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.request_context import bind_request_id, current_request_id, new_request_id, sane_request_id, unbind_request_id

_HEADER = b"x-request-id"


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Not HTTP, or an outer layer (an app mounting this one) already gave the request its id.
        if scope["type"] not in ("http", "websocket") or current_request_id() is not None:
            await self.app(scope, receive, send)
            return
        given = next((value for name, value in scope["headers"] if name == _HEADER), None)
        request_id = sane_request_id(given.decode("latin-1")) if given is not None else None
        request_id = request_id or new_request_id()
        echoed = (_HEADER, request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        tokens = bind_request_id(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            unbind_request_id(tokens)
