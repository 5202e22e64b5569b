"""OpenAI's chat-completions API and every server that copies it: vLLM, Ollama, llama.cpp server,
Together, Groq, Gemini's OpenAI endpoint (kind `openai_compatible`), and OpenAI itself (kind `openai`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import httpx2
import openai
from openai import AsyncOpenAI

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

_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",  # the pre-tools name some servers still send
    "content_filter": "content_filter",
    "error": "error",
}


class OpenAICompatibleProvider:
    default_base_url = ""  # self-hosted servers have no default address
    # Older vLLM, Ollama and llama.cpp builds only know `max_tokens`.
    max_tokens_field = "max_tokens"

    def __init__(self, config: ProviderConfig, http: httpx.AsyncClient) -> None:
        self._config = config
        self._client = AsyncOpenAI(
            base_url=config.base_url or self.default_base_url,
            # Never None: the SDK would fall back to OPENAI_API_KEY and send the operator's key
            # to whatever base_url a tenant configured.
            api_key=config.api_key or "not-needed",
            max_retries=0,  # Temporal owns retries: the SDK must not retry behind its back.
            timeout=httpx.Timeout(config.timeout_seconds, connect=config.connect_timeout_seconds),
            http_client=http,
        )

    async def complete(self, request: CompletionRequest, on_text: TextSink | None = None) -> Completion:
        body = _request_body(self._config.model, request, self.max_tokens_field)
        if on_text is None:
            return _completion(await self._post_json("/chat/completions", body), self._config)
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        with _mapped_errors(self._config.name):
            response = await self._client.post("/chat/completions", body=body, cast_to=httpx.Response, stream=True)
            try:
                return await _read_stream(response, on_text, self._config)
            finally:
                await response.aclose()

    async def embed(self, texts: list[str]) -> list[list[float]]:
        data = await self._post_json("/embeddings", {"model": self._config.model, "input": texts, "encoding_format": "float"})
        try:
            rows = sorted(data["data"], key=lambda row: row["index"])  # the wire allows any order
            vectors = [[float(x) for x in row["embedding"]] for row in rows]
        except (KeyError, TypeError, ValueError) as exc:
            raise ProviderHTTPError(self._config.name, 502, f"malformed embeddings response: {exc!r}") from None
        if len(vectors) != len(texts):
            raise ProviderHTTPError(self._config.name, 502, f"{len(vectors)} embeddings for {len(texts)} texts")
        return vectors

    async def _post_json(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        with _mapped_errors(self._config.name):
            # The SDK's low-level post keeps its auth, base URL and typed errors but skips the
            # typed-dict request transform and response models, which cost more CPU per turn
            # than everything else in the worker (measured with py-spy under bench/turns.py).
            response = await self._client.post(path, body=body, cast_to=httpx.Response)
            try:
                data = response.json()
            except ValueError as exc:
                raise ProviderHTTPError(self._config.name, 502, f"response is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ProviderHTTPError(self._config.name, 502, "response is not a JSON object")
        return data


class OpenAIProvider(OpenAICompatibleProvider):
    """OpenAI's own API: the same wire format with a default address."""

    default_base_url = "https://api.openai.com/v1"
    # OpenAI's reasoning models refuse `max_tokens`; every OpenAI model takes this one.
    max_tokens_field = "max_completion_tokens"


@contextmanager
def _mapped_errors(provider: str) -> Iterator[None]:
    try:
        yield
    except openai.APIStatusError as exc:
        retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
        raise ProviderHTTPError(provider, exc.status_code, str(exc.message)[:300], retry_after=retry_after) from exc
    except (openai.APIConnectionError, httpx.TransportError, httpx2.TransportError) as exc:
        # APIConnectionError covers timeouts and refusals before the answer; the transport errors
        # are the same failures while a stream is being read, where the SDK no longer wraps them.
        raise ProviderHTTPError(provider, None, repr(exc)[:300]) from exc


def _request_body(model: str, request: CompletionRequest, max_tokens_field: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [_to_openai(m) for m in request.messages],
        max_tokens_field: request.max_tokens,
        "temperature": request.temperature,
    }
    if request.tools:  # some servers refuse tool_choice without tools
        body["tools"] = [
            {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
            for t in request.tools
        ]
        body["tool_choice"] = request.tool_choice
    return body


def _to_openai(message: ChatMessage) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.role == "assistant" and message.tool_calls:
        return {
            "role": "assistant",
            "content": message.content or None,
            "tool_calls": [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                for c in message.tool_calls
            ],
        }
    return {"role": message.role, "content": message.content}


def _completion(data: dict[str, Any], config: ProviderConfig) -> Completion:
    try:
        choice = data["choices"][0]
        message = choice["message"]
        text = message.get("content") or ""
        raw_calls = [(c["id"], c["function"]["name"], c["function"].get("arguments")) for c in message.get("tool_calls") or []]
    except (KeyError, IndexError, TypeError, AttributeError):
        raise ProviderHTTPError(config.name, 502, "response has no usable choices[0].message") from None
    calls = [_tool_call(config, *raw) for raw in raw_calls]
    return Completion(
        text=text.strip(),
        model=str(data.get("model") or config.model),
        finish_reason=_finish_reason(choice.get("finish_reason"), calls),
        usage=_usage(data.get("usage")),
        tool_calls=calls,
    )


async def _read_stream(response: Any, on_text: TextSink, config: ProviderConfig) -> Completion:
    text: list[str] = []
    calls: dict[int, dict[str, Any]] = {}  # tool calls arrive in pieces keyed by their index
    finish: str | None = None
    usage: Any = None
    model = config.model
    done = False
    async for data in sse_data(response):
        if data.strip() == "[DONE]":
            done = True
            break
        chunk = event_json(data, config.name)
        if chunk.get("error"):  # a failure after the 200 was sent arrives as a chunk
            raise ProviderHTTPError(config.name, 502, f"stream error: {str(chunk['error'])[:300]}")
        model = chunk.get("model") or model
        usage = chunk.get("usage") or usage  # the last chunk, with include_usage
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                text.append(delta["content"])
                await on_text(delta["content"])
            for piece in delta.get("tool_calls") or []:
                call = calls.setdefault(piece.get("index", 0), {"id": "", "name": "", "arguments": []})
                call["id"] = piece.get("id") or call["id"]
                function = piece.get("function") or {}
                call["name"] = function.get("name") or call["name"]
                call["arguments"].append(function.get("arguments") or "")
            finish = choice.get("finish_reason") or finish
    if not done and finish is None:
        # A clean close before the end: the answer is cut short, so nothing of it may count.
        raise ProviderHTTPError(config.name, None, "stream ended before the answer was complete")
    tool_calls = [_tool_call(config, c["id"], c["name"], "".join(c["arguments"])) for _, c in sorted(calls.items())]
    return Completion(
        text="".join(text).strip(),
        model=str(model),
        finish_reason=_finish_reason(finish, tool_calls),
        usage=_usage(usage),
        tool_calls=tool_calls,
    )


def _tool_call(config: ProviderConfig, call_id: str, name: str, arguments: str | None) -> ToolCall:
    try:
        parsed = json.loads(arguments) if arguments else {}  # some servers send "" for no arguments
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ProviderHTTPError(config.name, 502, f"tool call {name!r} has arguments that are not a JSON object")
    return ToolCall(id=call_id, name=name, arguments=parsed)


def _finish_reason(raw: str | None, calls: list[ToolCall]) -> FinishReason | None:
    reason = _FINISH_REASONS.get(raw or "")
    # Ollama and some vLLM parsers say "stop" on a turn that called tools.
    return "tool_calls" if calls and reason == "stop" else reason


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    details = raw.get("prompt_tokens_details") or {}
    return Usage(
        input_tokens=int(raw.get("prompt_tokens") or 0),
        output_tokens=int(raw.get("completion_tokens") or 0),
        cached_tokens=int(details.get("cached_tokens") or 0),
    )
