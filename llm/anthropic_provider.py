"""Anthropic's Messages API (kind `anthropic`).

`base_url` is the API root without `/v1` (the SDK's convention): https://api.anthropic.com.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx2
from anthropic import AsyncAnthropic

from llm.base import (
    ChatMessage,
    Completion,
    CompletionRequest,
    FinishReason,
    ProviderConfig,
    ProviderHTTPError,
    TextSink,
    ToolCall,
    Usage,
    parse_retry_after,
)
from llm.sse import event_json, sse_data

DEFAULT_BASE_URL = "https://api.anthropic.com"

_STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_TOOL_CHOICES = {"auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"}}
# An error after the 200 arrives as an `error` event: give it the status the same error has before.
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


class AnthropicProvider:
    def __init__(self, config: ProviderConfig, http: httpx2.AsyncClient) -> None:
        self._config = config
        self._client = AsyncAnthropic(
            base_url=config.base_url or DEFAULT_BASE_URL,
            # Never None: the SDK would fall back to ANTHROPIC_API_KEY (or a profile on disk) and
            # send the operator's key to whatever base_url a tenant configured.
            api_key=config.api_key or "missing",
            max_retries=0,  # Temporal owns retries: the SDK must not retry behind its back.
            timeout=httpx2.Timeout(config.timeout_seconds, connect=config.connect_timeout_seconds),
            http_client=http,  # the SDK takes httpx2 clients only (see ProviderRegistry)
        )

    async def complete(self, request: CompletionRequest, on_text: TextSink | None = None) -> Completion:
        body = _request_body(self._config.model, request)
        with _mapped_errors(self._config.name):
            if on_text is None:
                # Like the OpenAI provider: the raw post skips the SDK's typed request transform
                # and response models, the dearest CPU of a turn.
                response = await self._client.post("/v1/messages", body=body, cast_to=httpx2.Response)
                try:
                    data = response.json()
                except ValueError as exc:
                    raise ProviderHTTPError(self._config.name, 502, f"response is not JSON: {exc}") from exc
                return _completion(data, self._config)
            body["stream"] = True
            response = await self._client.post("/v1/messages", body=body, cast_to=httpx2.Response, stream=True)
            try:
                return await _read_stream(response, on_text, self._config)
            finally:
                await response.aclose()


@contextmanager
def _mapped_errors(provider: str) -> Iterator[None]:
    try:
        yield
    except anthropic.APIStatusError as exc:
        retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
        raise ProviderHTTPError(provider, exc.status_code, str(exc.message)[:300], retry_after=retry_after) from exc
    except (anthropic.APIConnectionError, httpx2.TransportError) as exc:
        # APIConnectionError covers timeouts and refusals before the answer; the transport error
        # is the same failure while a stream is being read, where the SDK no longer wraps it.
        raise ProviderHTTPError(provider, None, repr(exc)[:300]) from exc


def _request_body(model: str, request: CompletionRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": _to_anthropic(request.messages),
        "max_tokens": request.max_tokens,
        "temperature": min(request.temperature, 1.0),  # Anthropic's range is 0-1, OpenAI's 0-2
    }
    system = "\n\n".join(m.content for m in request.messages if m.role == "system" and m.content)
    if system:
        body["system"] = system
    if request.tools:
        body["tools"] = [{"name": t.name, "description": t.description, "input_schema": t.parameters} for t in request.tools]
        body["tool_choice"] = _TOOL_CHOICES[request.tool_choice]
    return body


def _to_anthropic(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue  # the top-level `system` parameter carries it
        if m.role == "tool":
            block = {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content}
            previous = out[-1] if out else None
            # The API wants every result of one assistant turn in the single user message after it.
            if previous and previous["role"] == "user" and isinstance(previous["content"], list):
                previous["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
        elif m.role == "assistant" and m.tool_calls:
            blocks: list[dict[str, Any]] = [{"type": "text", "text": m.content}] if m.content else []  # no empty text blocks
            blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in m.tool_calls]
            out.append({"role": "assistant", "content": blocks})
        else:
            out.append({"role": m.role, "content": m.content})
    return out


def _completion(data: Any, config: ProviderConfig) -> Completion:
    try:
        blocks = list(data["content"])
        text = "".join(b["text"] for b in blocks if b["type"] == "text")
        calls = [ToolCall(id=b["id"], name=b["name"], arguments=b["input"]) for b in blocks if b["type"] == "tool_use"]
    except (KeyError, TypeError):
        raise ProviderHTTPError(config.name, 502, "response has no usable content blocks") from None
    if any(not isinstance(c.arguments, dict) for c in calls):
        raise ProviderHTTPError(config.name, 502, "a tool_use input is not a JSON object")
    return Completion(
        text=text.strip(),
        model=str(data.get("model") or config.model),
        finish_reason=_STOP_REASONS.get(data.get("stop_reason") or ""),
        usage=_usage(data.get("usage")),
        tool_calls=calls,
    )


@dataclass
class _Block:
    type: str
    id: str = ""
    name: str = ""
    text: list[str] = field(default_factory=list)
    json: list[str] = field(default_factory=list)  # input_json_delta pieces
    input: Any = None  # the input content_block_start came with


async def _read_stream(response: Any, on_text: TextSink, config: ProviderConfig) -> Completion:
    blocks: dict[int, _Block] = {}
    usage: dict[str, Any] = {}
    model, stop_reason, stopped = config.model, None, False
    async for data in sse_data(response):
        event = event_json(data, config.name)
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            model = message.get("model") or model
            usage.update(message.get("usage") or {})
        elif kind == "content_block_start":
            start = event.get("content_block") or {}
            block = blocks[event.get("index", 0)] = _Block(start.get("type", ""), start.get("id", ""), start.get("name", ""))
            block.input = start.get("input")
            if start.get("text"):
                block.text.append(start["text"])
                await on_text(start["text"])
        elif kind == "content_block_delta":
            block = blocks.setdefault(event.get("index", 0), _Block("text"))
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                block.text.append(delta["text"])
                await on_text(delta["text"])
            elif delta.get("type") == "input_json_delta":
                block.json.append(delta.get("partial_json") or "")
        elif kind == "message_delta":
            stop_reason = (event.get("delta") or {}).get("stop_reason") or stop_reason
            # Final counts; recent API versions repeat the input counts here too.
            usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
        elif kind == "message_stop":
            stopped = True
            break
        elif kind == "error":
            error = event.get("error") or {}
            status = _ERROR_STATUS.get(error.get("type"), 500)
            raise ProviderHTTPError(config.name, status, f"stream error: {str(error.get('message'))[:300]}")
    if not stopped:
        # A clean close before message_stop: the answer is cut short, so nothing of it may count.
        raise ProviderHTTPError(config.name, None, "stream ended before message_stop")
    ordered = [blocks[i] for i in sorted(blocks)]
    return Completion(
        text="".join(t for b in ordered if b.type == "text" for t in b.text).strip(),
        model=str(model),
        finish_reason=_STOP_REASONS.get(stop_reason or ""),
        usage=_usage(usage),
        tool_calls=[_streamed_call(b, config) for b in ordered if b.type == "tool_use"],
    )


def _streamed_call(block: _Block, config: ProviderConfig) -> ToolCall:
    raw = "".join(block.json)
    try:
        arguments = json.loads(raw) if raw else block.input or {}
    except ValueError:
        arguments = None
    if not isinstance(arguments, dict):
        raise ProviderHTTPError(config.name, 502, f"tool_use {block.name!r} input is not a JSON object")
    return ToolCall(id=block.id, name=block.name, arguments=arguments)


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    cache_read = int(raw.get("cache_read_input_tokens") or 0)
    cache_write = int(raw.get("cache_creation_input_tokens") or 0)
    return Usage(
        # Anthropic counts cached and cache-writing tokens apart from input_tokens; ours is the total.
        input_tokens=int(raw.get("input_tokens") or 0) + cache_read + cache_write,
        output_tokens=int(raw.get("output_tokens") or 0),
        cached_tokens=cache_read,
    )
