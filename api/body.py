"""A size cap on every request body, enforced before any route reads or parses it."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from api.problems import problem_response

_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


class BodyLimitMiddleware:
    """Bodies must declare their Content-Length (channels and browsers do) and stay within the
    limit; the server then delivers at most that many bytes, so nothing downstream can be fed
    an unbounded body."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _WITH_BODY:
            refusal = self._refusal(dict(scope["headers"]))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, headers: dict[bytes, bytes]):
        declared = headers.get(b"content-length")
        if declared is None:
            if headers.get(b"transfer-encoding"):
                return problem_response(411, "Length Required", "send the body with a Content-Length header")
            return None  # no body at all
        if not declared.isdigit():
            return problem_response(400, "Invalid Content-Length header")
        if int(declared) > self.max_bytes:
            return problem_response(413, "Request body too large", f"the limit is {self.max_bytes} bytes")
        return None
