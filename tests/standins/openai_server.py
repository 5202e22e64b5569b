"""A loopback server speaking OpenAI's chat-completions (and embeddings) wire format.

It answers `"[<model>] <last user message>"`, so a test can tell which tenant's provider
answered and to which message. Behaviour switches let tests make it fail, stall or hang up.

Tools, decided by `decide_reply` (the Anthropic stand-in shares it, so both answer alike):
- if tools are offered (and tool_choice isn't "none") and the last message is the user's, it
  calls the first tool all of whose name's words (`track_order` -> track, order; `handoff_to_human`
  -> handoff, human) appear in that message, or the first tool when tool_choice is "required"; the
  call's only argument is the tool's first parameter, set to the message's last word without its
  punctuation ("Please track my order A-1001" -> track_order(order_id="A-1001")). All words, not
  any: an agent offers many tools on every turn, and "my order" alone must not call one;
- if the last message is a tool result, it answers `"[<model>] <that result>"`.
A reply longer than max_tokens words is cut there with finish_reason "length". `stream: true`
answers in server-sent chunks, one per word, in OpenAI's chunk format.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import math
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

# Usage every answer reports: 4 of the 12 prompt tokens "came from the prompt cache".
PROMPT_TOKENS, COMPLETION_TOKENS, CACHED_TOKENS = 12, 7, 4


class ConnectionDropped(Exception):
    """Raised inside a started response: uvicorn then closes the socket mid-body."""


@dataclass
class Reply:
    text: str = ""
    tool_name: str | None = None
    tool_arguments: dict[str, Any] = field(default_factory=dict)
    truncated: bool = False
    raw_arguments: str | None = None  # overrides the JSON of tool_arguments on the wire

    def arguments_json(self) -> str:
        return self.raw_arguments if self.raw_arguments is not None else json.dumps(self.tool_arguments)


def decide_reply(model: str, turns: list[tuple[str, str]], tools: list[dict], tool_choice: str, max_tokens: int) -> Reply:
    """The stand-ins' whole "model". `turns` are (role, text) with role user|assistant|tool;
    `tools` are {"name", "parameters"} (JSON Schema); tool_choice is auto|none|required|<name>."""
    last_role, last_text = turns[-1] if turns else ("user", "")
    if last_role == "user" and tools and tool_choice != "none":
        tool = _pick_tool(last_text, tools, tool_choice)
        if tool is not None:
            return Reply(tool_name=tool["name"], tool_arguments=_tool_arguments(last_text, tool.get("parameters") or {}))
    said = last_text if last_role == "tool" else next((t for r, t in reversed(turns) if r == "user"), "")
    words = re.findall(r"\S+\s*", f"[{model}] {said}")
    text = "".join(words[:max_tokens]).strip()
    return Reply(text=text, truncated=len(words) > max_tokens)


def _pick_tool(message: str, tools: list[dict], tool_choice: str) -> dict | None:
    named = [t for t in tools if t["name"] == tool_choice]
    if named:
        return named[0]
    said = set(re.findall(r"[a-z0-9]+", message.lower()))
    mentioned = [t for t in tools if _name_words(t["name"]) <= said]
    if mentioned:
        return mentioned[0]
    return tools[0] if tool_choice == "required" else None


def _name_words(tool_name: str) -> set[str]:
    return set(re.split(r"[_\-]", tool_name.lower())) - {"to", "a", "the", "of", "for", "by"}


def _tool_arguments(message: str, schema: dict) -> dict[str, Any]:
    names = list(schema.get("required") or []) or list(schema.get("properties") or {})
    words = message.split()
    return {names[0]: words[-1].strip(".,!?;:") if words else ""} if names else {}


def stream_pieces(text: str) -> list[str]:
    """A reply as streamed: one piece per word, its trailing space included."""
    return re.findall(r"\S+\s*|\s+", text)


def fake_embedding(text: str, dimensions: int) -> list[float]:
    """Hashed bag of words, unit length: equal texts get equal vectors, shared words raise the cosine."""
    vector = [0.0] * dimensions
    for word in re.findall(r"\w+", text.lower()):
        vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % dimensions] += 1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


@dataclass
class OpenAIStandIn:
    url: str = ""  # set once served
    fail_with: int | None = None  # answer every call with this HTTP status
    retry_after: str | None = None  # ...and this retry-after header
    failing_models: set[str] = field(default_factory=set)  # answer 503 for these models only
    slow_marker: str = "SLOW"  # a last user message containing this stalls...
    slow_seconds: float = 0.0  # ...this long (streamed: after the first chunk)
    word_seconds: float = 0.0  # streamed: the gap between words, as a model writes them
    drop_marker: str = "DROP"  # a last user message containing this gets its connection cut mid-answer
    cut_marker: str = "CUT"  # ...this ends a streamed answer cleanly after one word, with no [DONE] (a proxy giving up)
    raw_tool_arguments: str | None = None  # sent as a tool call's arguments instead of the JSON (a model's broken output)
    # Calls a test scripts: each request that offers tools takes the next (name, arguments), in
    # place of decide_reply's pick (a model that keeps calling tools, or calls one wrongly).
    scripted_tool_calls: list[tuple[str, dict]] = field(default_factory=list)
    embedding_dimensions: int = 16  # when the request names no `dimensions`
    embed_delay_seconds: float = 0.0  # every embeddings call takes this long (ingestion tests)
    calls: list[dict] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._complete, methods=["POST"]),
                Route("/v1/embeddings", self._embed, methods=["POST"]),
            ]
        )

    def reset(self) -> None:
        self.fail_with = self.retry_after = self.raw_tool_arguments = None
        self.scripted_tool_calls.clear()
        self.slow_seconds = self.embed_delay_seconds = self.word_seconds = 0.0

    def calls_for(self, model: str) -> list[dict]:
        return [c for c in self.calls if c["model"] == model]

    def _failure(self, model: str | None) -> Response | None:
        status = self.fail_with or (503 if model in self.failing_models else None)
        if not status:
            return None
        headers = {"retry-after": self.retry_after} if self.retry_after else None
        return JSONResponse(
            {"error": {"message": "stand-in told to fail", "type": "server_error", "code": None}},
            status_code=status,
            headers=headers,
        )

    async def _complete(self, request: Request) -> Response:
        body = await request.json()
        self.calls.append(
            {
                "model": body.get("model"),
                "messages": body.get("messages"),
                "auth": request.headers.get("authorization"),
                "tools": body.get("tools"),
                "tool_choice": body.get("tool_choice"),
                "stream": bool(body.get("stream")),
                "max_tokens": body.get("max_completion_tokens", body.get("max_tokens")),
            }
        )
        failure = self._failure(body.get("model"))
        if failure:
            return failure
        turns, problem = _turns(body["messages"])
        if problem:
            return JSONResponse(
                {"error": {"message": problem, "type": "invalid_request_error", "param": "messages", "code": None}}, 400
            )
        last_user = next((t for r, t in reversed(turns) if r == "user"), "")
        tools = [{"name": t["function"]["name"], "parameters": t["function"].get("parameters")} for t in body.get("tools") or []]
        choice = body.get("tool_choice") or "auto"
        if isinstance(choice, dict):
            choice = choice.get("function", {}).get("name", "required")
        max_tokens = int(body.get("max_completion_tokens") or body.get("max_tokens") or 4096)
        if tools and choice != "none" and self.scripted_tool_calls:
            name, arguments = self.scripted_tool_calls.pop(0)
            reply = Reply(tool_name=name, tool_arguments=arguments)
        else:
            reply = decide_reply(body["model"], turns, tools, choice, max_tokens)
        reply.raw_arguments = self.raw_tool_arguments
        call_id = f"call_{next(self._ids)}"
        stall = self.slow_seconds if self.slow_seconds and self.slow_marker in last_user else 0.0
        drop = self.drop_marker in last_user
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            cut = self.cut_marker in last_user
            chunks = self._chunks(body["model"], call_id, reply, include_usage, stall, drop, cut)
            return StreamingResponse(chunks, media_type="text/event-stream")
        if stall:
            await asyncio.sleep(stall)
        if drop:
            return StreamingResponse(_dropped(), media_type="application/json")
        return JSONResponse(_completion_json(body["model"], call_id, reply))

    async def _chunks(
        self, model: str, call_id: str, reply: Reply, include_usage: bool, stall: float, drop: bool, cut: bool
    ) -> AsyncIterator[str]:
        base = {
            "id": f"chatcmpl-{call_id}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": None,
        }
        extra = {"usage": None} if include_usage else {}

        def chunk(delta: dict, finish: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return f"data: {json.dumps({**base, 'choices': [choice], **extra})}\n\n"

        yield chunk({"role": "assistant", "content": "" if reply.tool_name is None else None})
        if stall:
            await asyncio.sleep(stall)
        if reply.tool_name is not None:
            arguments = reply.arguments_json()
            half = len(arguments) // 2
            first = {"index": 0, "id": call_id, "type": "function", "function": {"name": reply.tool_name, "arguments": ""}}
            yield chunk({"tool_calls": [first]})
            for part in (arguments[:half], arguments[half:]):
                yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
        for n, piece in enumerate(stream_pieces(reply.text)):
            if drop and n == 1:
                raise ConnectionDropped
            if cut and n == 1:
                return
            if n and self.word_seconds:
                await asyncio.sleep(self.word_seconds)
            yield chunk({"content": piece})
        yield chunk({}, _finish(reply))
        if include_usage:
            yield f"data: {json.dumps({**base, 'choices': [], 'usage': _usage_json()})}\n\n"
        yield "data: [DONE]\n\n"

    async def _embed(self, request: Request) -> Response:
        body = await request.json()
        texts = body["input"] if isinstance(body.get("input"), list) else [body.get("input", "")]
        dimensions = int(body.get("dimensions") or self.embedding_dimensions)  # text-embedding-3-* shorten on request
        self.calls.append(
            {"model": body.get("model"), "input": texts, "dimensions": body.get("dimensions"), "auth": request.headers.get("authorization")}
        )
        failure = self._failure(body.get("model"))
        if failure:
            return failure
        if self.embed_delay_seconds:
            await asyncio.sleep(self.embed_delay_seconds)
        rows = [{"object": "embedding", "index": i, "embedding": fake_embedding(t, dimensions)} for i, t in enumerate(texts)]
        # Reversed, as the wire allows: a client that ignores `index` scrambles them.
        return JSONResponse(
            {
                "object": "list",
                "data": rows[::-1],
                "model": body.get("model"),
                "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)},
            }
        )


def _turns(messages: list[dict]) -> tuple[list[tuple[str, str]], str | None]:
    """(role, text) turns, or why OpenAI would refuse the messages with a 400."""
    turns, open_calls = [], set()
    for i, m in enumerate(messages):
        content = m.get("content") if isinstance(m.get("content"), str) else ""
        if m.get("role") == "assistant":
            for call in m.get("tool_calls") or []:
                if not isinstance(call.get("function", {}).get("arguments"), str):
                    return [], f"messages[{i}].tool_calls: function.arguments must be a JSON string"
                open_calls.add(call.get("id"))
        if m.get("role") == "tool" and m.get("tool_call_id") not in open_calls:
            return [], f"messages[{i}]: messages with role 'tool' must be a response to a preceding message with 'tool_calls'"
        if m.get("role") in ("user", "assistant", "tool"):
            turns.append((m["role"], content))
    return turns, None


def _finish(reply: Reply) -> str:
    return "tool_calls" if reply.tool_name is not None else "length" if reply.truncated else "stop"


def _usage_json() -> dict:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        "prompt_tokens_details": {"cached_tokens": CACHED_TOKENS, "audio_tokens": 0},
    }


def _completion_json(model: str, call_id: str, reply: Reply) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text if reply.tool_name is None else None}
    if reply.tool_name is not None:
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": reply.tool_name, "arguments": reply.arguments_json()}}
        ]
    return {
        "id": f"chatcmpl-{call_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": _finish(reply)}],
        "usage": _usage_json(),
    }


async def _dropped() -> AsyncIterator[bytes]:
    raise ConnectionDropped
    yield b""  # unreachable: makes this an async generator
