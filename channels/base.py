"""The seam every channel adapter implements, and the normalised message types."""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
from dataclasses import dataclass, field
from typing import Any, Protocol


class SignatureError(Exception):
    """The webhook was not signed by the channel: answered 401, never 200."""


class PayloadError(Exception):
    """The webhook body is not what the channel sends: answered 400 with the reason."""


@dataclass
class InboundMessage:
    channel: str
    channel_account_id: str
    external_id: str  # the channel's message id: the dedup key
    contact_id: str  # phone number / session id: who we answer
    text: str
    kind: str = "text"
    contact_name: str | None = None
    sent_at: float | None = None  # epoch seconds as the channel reported it


@dataclass
class StatusUpdate:
    """A delivery receipt for one of our outbound messages."""

    provider_message_id: str
    status: str  # sent | delivered | read | failed
    recipient_id: str | None = None
    occurred_at: float | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    # Our outbound idempotency key, echoed back by channels that carry one (WhatsApp's
    # biz_opaque_callback_data): it proves a send happened even if we never saw its answer.
    client_reference: str | None = None


@dataclass
class ParsedWebhook:
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)


@dataclass
class OutboundMessage:
    to: str
    text: str
    idempotency_key: str


@dataclass
class SendResult:
    provider_message_id: str


class ChannelError(Exception):
    """A channel API call failed. `retryable` follows the HTTP status (429/5xx/network).
    `maybe_delivered`: the request may have reached the channel (no answer came back), so a
    retry must first find out whether it did."""

    def __init__(
        self, message: str, *, status: int | None, retryable: bool, retry_after: float | None = None, maybe_delivered: bool = False
    ):
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.maybe_delivered = maybe_delivered


class ChannelAdapter(Protocol):
    name: str
    # True when the channel's delivery receipts echo OutboundMessage.idempotency_key, so a
    # retried send can learn that an earlier attempt got through (activities/delivery.py).
    receipts_echo_reference: bool

    def verify(self, headers: dict[str, str], raw_body: bytes, secrets: dict[str, Any]) -> None: ...

    def parse(self, raw_body: bytes, channel_account_id: str) -> ParsedWebhook: ...

    async def send(
        self, message: OutboundMessage, config: dict[str, Any], secrets: dict[str, Any]
    ) -> SendResult: ...
