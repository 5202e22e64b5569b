"""Provider-neutral chat types and the Provider protocol every backend implements.

Every backend (OpenAI, Anthropic, OpenAI-compatible servers, the local model) takes a
`CompletionRequest` and returns a `Completion` of the same shape, so the router, the usage
ledger and the agent never look at a vendor's wire format.
"""

# No `from __future__ import annotations`: ToolCall and ChatMessage travel in workflow payloads,
# and Temporal resolves their type hints when decoding (string hints fail inside the sandbox).
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant", "tool"]
# Normalised across vendors: Anthropic's end_turn/max_tokens/tool_use map to stop/length/tool_calls.
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error"]


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]  # parsed JSON; a provider that sends invalid JSON raises ProviderHTTPError(502)


@dataclass
class ToolDefinition:
    name: str  # ^[a-zA-Z0-9_-]{1,64}$ (the strictest vendor's rule)
    description: str
    parameters: dict[str, Any]  # JSON Schema of the arguments object


@dataclass
class ChatMessage:
    role: Role
    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)  # assistant turns that called tools
    tool_call_id: str | None = None  # role "tool": the call this message answers


@dataclass
class CompletionRequest:
    messages: list[ChatMessage]
    tools: list[ToolDefinition] = field(default_factory=list)
    tool_choice: Literal["auto", "none", "required"] = "auto"
    max_tokens: int = 512
    temperature: float = 0.3


@dataclass
class Usage:
    input_tokens: int = 0  # all prompt tokens, cached ones included
    output_tokens: int = 0
    cached_tokens: int = 0  # the part of input_tokens served from the provider's prompt cache


@dataclass
class Completion:
    text: str
    model: str
    finish_reason: FinishReason | None = None
    usage: Usage = field(default_factory=Usage)
    tool_calls: list[ToolCall] = field(default_factory=list)


# Receives each text delta as it streams (the LLM activity publishes them to Redis).
TextSink = Callable[[str], Awaitable[None]]


@dataclass
class ProviderConfig:
    """What an activity needs to reach one provider; the key is decrypted inside the activity."""

    name: str
    kind: str  # a registry key: openai | anthropic | openai_compatible | local
    base_url: str
    model: str
    api_key: str | None = None
    timeout_seconds: float = 30.0
    connect_timeout_seconds: float = 3.0


class ProviderHTTPError(Exception):
    """A provider answered with an error status (or not at all: status None)."""

    def __init__(self, provider: str, status: int | None, message: str, retry_after: float | None = None):
        super().__init__(f"{provider}: {status or 'no response'}: {message}")
        self.provider = provider
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500


class Provider(Protocol):
    async def complete(self, request: CompletionRequest, on_text: TextSink | None = None) -> Completion:
        """One completion. With `on_text`, the provider streams and awaits it for every text
        delta, then returns the same assembled Completion as without it."""
        ...


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form; HTTP dates are rare from APIs)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
