"""Provider-neutral chat types and the Provider protocol every backend implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

Role = Literal["system", "user", "assistant"]


@dataclass
class ChatMessage:
    role: Role
    content: str


@dataclass
class CompletionRequest:
    messages: list[ChatMessage]
    max_tokens: int = 512
    temperature: float = 0.3


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class Completion:
    text: str
    model: str
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)


@dataclass
class ProviderConfig:
    """What an activity needs to reach one provider; the key is decrypted inside the activity."""

    name: str
    kind: str
    base_url: str
    model: str
    api_key: str | None = None
    timeout_seconds: float = 30.0


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
    async def complete(self, request: CompletionRequest) -> Completion: ...
