"""A loopback server speaking Anthropic's Messages API wire format (`POST /v1/messages`).

It answers exactly like the OpenAI stand-in (`decide_reply`: `"[<model>] <last user message>"`,
the same tool rule, the same token counts), so one request sent to both must come back as the
same normalised Completion. Like the real API it refuses what a careless mapping would send:
no key or `anthropic-version` header, a "system" or "tool" role in `messages`, empty text
blocks, and tool_use blocks whose tool_result is not in the very next message.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.standins.openai_server import (
    CACHED_TOKENS,
    COMPLETION_TOKENS,
    PROMPT_TOKENS,
    ConnectionDropped,
    Reply,
    decide_reply,
    stream_pieces,
)

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
# Anthropic reports cache reads and cache writes apart from input_tokens; together they make
# the OpenAI stand-in's prompt_tokens.
CACHE_WRITE_TOKENS = 2
USAGE = {
    "input_tokens": PROMPT_TOKENS - CACHED_TOKENS - CACHE_WRITE_TOKENS,
    "cache_creation_input_tokens": CACHE_WRITE_TOKENS,
    "cache_read_input_tokens": CACHED_TOKENS,
    "output_tokens": COMPLETION_TOKENS,
}
_STOP_REASONS = {"tool": "tool_use", "length": "max_tokens", "stop": "end_turn"}


def error_json(status: int, message: str, request_id: str) -> dict:
    return {
        "type": "error",
        "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message},
        "request_id": request_id,
    }


@dataclass
class AnthropicStandIn:
    url: str = ""  # set once served
    api_key: str = "sk-ant-standin"  # the one key it accepts
    fail_with: int | None = None  # answer every call with this HTTP status
    retry_after: str | None = None  # ...and this retry-after header
    stream_error: str | None = None  # streamed answers break off after one word with this error event type
    slow_marker: str = "SLOW"  # a last user message containing this stalls...
    slow_seconds: float = 0.0  # ...this long (streamed: after message_start)
    drop_marker: str = "DROP"  # a last user message containing this gets its connection cut mid-answer
    cut_marker: str = "CUT"  # ...this ends a streamed answer cleanly after one word, with no message_stop
    calls: list[dict] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/messages", self._messages, methods=["POST"])])

    def reset(self) -> None:
        self.fail_with = self.retry_after = self.stream_error = None
        self.slow_seconds = 0.0

    def _error(self, status: int, message: str, headers: dict | None = None) -> JSONResponse:
        request_id = f"req_standin{next(self._ids)}"
        return JSONResponse(
            error_json(status, message, request_id), status, headers={"request-id": request_id, **(headers or {})}
        )

    async def _messages(self, request: Request) -> Response:
        key = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix("Bearer ")
        if key != self.api_key:
            return self._error(401, "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return self._error(400, "anthropic-version: header is required")
        body = await request.json()
        self.calls.append({"model": body.get("model"), "body": body, "stream": bool(body.get("stream"))})
        if self.fail_with:
            headers = {"retry-after": self.retry_after} if self.retry_after else None
            return self._error(self.fail_with, "stand-in told to fail", headers)
        try:
            turns = _turns(body)
        except ValueError as exc:
            return self._error(400, str(exc))
        tools = [{"name": t["name"], "parameters": t.get("input_schema")} for t in body.get("tools") or []]
        choice = body.get("tool_choice") or {"type": "auto"}
        tool_choice = {"any": "required", "tool": choice.get("name", "")}.get(choice.get("type"), choice.get("type", "auto"))
        reply = decide_reply(body["model"], turns, tools, tool_choice, int(body["max_tokens"]))
        message_id, tool_id = f"msg_standin{next(self._ids)}", f"toolu_standin{next(self._ids)}"
        last_user = next((t for r, t in reversed(turns) if r == "user"), "")
        stall = self.slow_seconds if self.slow_seconds and self.slow_marker in last_user else 0.0
        drop = self.drop_marker in last_user
        if body.get("stream"):
            events = self._events(body["model"], message_id, tool_id, reply, stall, drop, self.cut_marker in last_user)
            return StreamingResponse(events, media_type="text/event-stream", headers={"request-id": f"req_{message_id}"})
        if stall:
            await asyncio.sleep(stall)
        if drop:
            return StreamingResponse(_dropped(), media_type="application/json")
        content = [_tool_block(tool_id, reply)] if reply.tool_name is not None else [{"type": "text", "text": reply.text}]
        return JSONResponse(
            {**_message(body["model"], message_id, content, _stop_reason(reply)), "usage": USAGE},
            headers={"request-id": f"req_{message_id}"},
        )

    async def _events(
        self, model: str, message_id: str, tool_id: str, reply: Reply, stall: float, drop: bool, cut: bool
    ) -> AsyncIterator[str]:
        yield _event(
            "message_start", {"message": {**_message(model, message_id, [], None), "usage": {**USAGE, "output_tokens": 1}}}
        )
        if stall:
            await asyncio.sleep(stall)
        if reply.tool_name is not None:
            yield _event("content_block_start", {"index": 0, "content_block": {**_tool_block(tool_id, reply), "input": {}}})
            yield _event("ping", {})
            arguments = json.dumps(reply.tool_arguments)
            half = len(arguments) // 2
            for part in ("", arguments[:half], arguments[half:]):
                yield _event("content_block_delta", {"index": 0, "delta": {"type": "input_json_delta", "partial_json": part}})
        else:
            yield _event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
            yield _event("ping", {})
            for n, piece in enumerate(stream_pieces(reply.text)):
                if n == 1 and drop:
                    raise ConnectionDropped
                if n == 1 and cut:
                    return
                if n == 1 and self.stream_error:
                    yield _event("error", {"error": {"type": self.stream_error, "message": "stand-in told to break off"}})
                    return
                yield _event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}})
        yield _event("content_block_stop", {"index": 0})
        yield _event("message_delta", {"delta": {"stop_reason": _stop_reason(reply), "stop_sequence": None}, "usage": USAGE})
        yield _event("message_stop", {})


def _turns(body: dict) -> list[tuple[str, str]]:
    """(role, text) turns for decide_reply; raises ValueError with the API's reason for a 400."""
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        raise ValueError("max_tokens: Field required")
    messages = body.get("messages") or []
    if not messages:
        raise ValueError("messages: at least one message is required")
    turns: list[tuple[str, str]] = []
    pending: set[str] = set()  # tool_use ids the next message must answer
    for i, m in enumerate(messages):
        role, content = m.get("role"), m.get("content")
        if role not in ("user", "assistant"):
            raise ValueError(
                f"messages.{i}.role: Input should be 'user' or 'assistant' (got \"{role}\"; system goes in the top-level `system`)"
            )
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])
        if any(b.get("type") == "text" and not b.get("text") for b in blocks):
            raise ValueError(f"messages.{i}: text content blocks must be non-empty")
        answered = {b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"}
        if role == "user" and answered - pending:
            raise ValueError(
                f"messages.{i}: unexpected `tool_use_id` found in `tool_result` blocks: {sorted(answered - pending)}"
            )
        if pending - answered:
            raise ValueError(
                f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: {sorted(pending - answered)}"
            )
        pending = {b.get("id") for b in blocks if b.get("type") == "tool_use"} if role == "assistant" else set()
        for b in blocks:
            if b.get("type") == "tool_result":
                result = b.get("content")
                turns.append(("tool", result if isinstance(result, str) else "".join(x.get("text", "") for x in result or [])))
        text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
        if text or role == "assistant":
            turns.append((role, text))
    return turns


def _message(model: str, message_id: str, content: list, stop_reason: str | None) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
    }


def _tool_block(tool_id: str, reply: Reply) -> dict:
    return {"type": "tool_use", "id": tool_id, "name": reply.tool_name, "input": reply.tool_arguments}


def _stop_reason(reply: Reply) -> str:
    return _STOP_REASONS["tool" if reply.tool_name is not None else "length" if reply.truncated else "stop"]


def _event(name: str, payload: dict) -> str:
    return f"event: {name}\ndata: {json.dumps({'type': name, **payload})}\n\n"


async def _dropped() -> AsyncIterator[bytes]:
    raise ConnectionDropped
    yield b""  # unreachable: makes this an async generator
