"""A loopback server speaking OpenAI's chat-completions wire format.

It answers `"[<model>] <last user message>"`, so a test can tell which tenant's provider
answered and to which message. Behaviour switches let tests make it fail or stall.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class OpenAIStandIn:
    url: str = ""  # set once served
    fail_with: int | None = None  # answer every call with this HTTP status
    failing_models: set[str] = field(default_factory=set)  # answer 503 for these models only
    slow_marker: str = "SLOW"  # a last user message containing this stalls...
    slow_seconds: float = 0.0  # ...this long
    calls: list[dict] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/chat/completions", self._complete, methods=["POST"])])

    def calls_for(self, model: str) -> list[dict]:
        return [c for c in self.calls if c["model"] == model]

    async def _complete(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.calls.append({"model": body.get("model"), "messages": body.get("messages"), "auth": request.headers.get("authorization")})
        status = self.fail_with or (503 if body.get("model") in self.failing_models else None)
        if status:
            return JSONResponse(
                {"error": {"message": "stand-in told to fail", "type": "server_error", "code": None}},
                status_code=status,
            )
        last_user = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
        if self.slow_seconds and self.slow_marker in last_user:
            await asyncio.sleep(self.slow_seconds)
        text = f"[{body['model']}] {last_user}"
        return JSONResponse(
            {
                "id": f"chatcmpl-{next(self._ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
            }
        )
