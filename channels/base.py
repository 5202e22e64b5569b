"""The seam every channel adapter implements, and the normalised message types."""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


class SignatureError(Exception):
    """The webhook was not signed by the channel: answered 401, never 200."""


class PayloadError(Exception):
    """The webhook body is not what the channel sends: answered 400 with the reason."""


def _strip_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_strip_nul(k): _strip_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_nul(v) for v in value]
    return value


@dataclass
class Attachment:
    """A file the customer sent. Channels give either an id to fetch it by (WhatsApp media id,
    Telegram file_id) or a URL (Twilio MediaUrl, Messenger attachment URL); downloading it,
    authenticated per channel, is the adapter's `fetch_media`."""

    kind: str  # image | audio | voice | video | document | sticker | file
    media_id: str | None = None
    url: str | None = None
    mime_type: str | None = None
    filename: str | None = None
    caption: str | None = None
    stored_path: str | None = None  # where our copy lies once downloaded (per tenant)


@dataclass
class Location:
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


@dataclass
class InboundMessage:
    channel: str
    channel_account_id: str
    external_id: str  # the channel's message id: the dedup key
    contact_id: str  # phone number / session id: who we answer
    # What the customer said in words: the typed text, a caption, the title of a tapped button,
    # a transcript once a voice note is transcribed; "[image]"-style markers otherwise, so the
    # history always says that something arrived.
    text: str
    kind: str = "text"  # text | image | audio | voice | video | document | sticker | location | contacts | reply | reaction | ...
    contact_name: str | None = None
    sent_at: float | None = None  # epoch seconds as the channel reported it
    attachments: list[Attachment] = field(default_factory=list)
    location: Location | None = None
    # The id behind a tapped button, list row, quick reply, postback or inline-keyboard
    # callback: what the bot offered, as opposed to `text`, what the customer saw.
    reply_payload: str | None = None
    reply_to_external_id: str | None = None  # the message this one quotes or reacts to
    # Channel-specific extras the conversation may need (a reaction's emoji, a shared contact
    # card, an Instagram story link, a Telegram callback query id).
    extra: dict[str, Any] = field(default_factory=dict)
    # "opt_out" / "opt_in": the customer used the channel's consent keywords (SMS STOP/START).
    # Recorded for the channel account; the turn does not answer such a message, and nothing
    # is sent to an opted-out contact until they opt back in.
    consent: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "InboundMessage":
        """The inverse of `dataclasses.asdict` (the inbound journal stores messages as JSON)."""
        data = dict(data)
        data["attachments"] = [Attachment(**a) for a in data.get("attachments") or []]
        location = data.get("location")
        data["location"] = Location(**location) if location else None
        return cls(**data)

    def without_nul(self) -> "InboundMessage":
        """The message with NUL characters removed everywhere: PostgreSQL's text and JSONB
        cannot hold them, and a stray control character must not make a message unstorable."""
        return InboundMessage.from_dict(_strip_nul(asdict(self)))

    def content(self) -> dict[str, Any]:
        """What the message row keeps beside its text (messages.content)."""
        content: dict[str, Any] = {}
        if self.attachments:
            content["attachments"] = [{k: v for k, v in asdict(a).items() if v is not None} for a in self.attachments]
        if self.location:
            content["location"] = {k: v for k, v in asdict(self.location).items() if v is not None}
        if self.reply_payload:
            content["reply_payload"] = self.reply_payload
        if self.reply_to_external_id:
            content["reply_to"] = self.reply_to_external_id
        if self.extra:
            content["extra"] = self.extra
        if self.consent:
            content["consent"] = self.consent
        return content


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
class Button:
    id: str  # comes back as InboundMessage.reply_payload when tapped
    title: str


@dataclass
class ListRow:
    id: str
    title: str
    description: str | None = None


@dataclass
class OutboundMedia:
    kind: str  # image | audio | voice | video | document
    path: str | None = None  # a file in our object storage, uploaded by the adapter
    url: str | None = None  # or a public URL the channel fetches itself
    mime_type: str | None = None
    filename: str | None = None


@dataclass
class Template:
    """A pre-approved message (WhatsApp templates: the only way to write first, or more than
    24 hours after the customer last wrote)."""

    name: str
    language: str = "en_US"
    body_parameters: list[str] = field(default_factory=list)


@dataclass
class OutboundMessage:
    to: str
    text: str  # always set: the caption, the list's body, and every fallback's text
    idempotency_key: str
    buttons: list[Button] = field(default_factory=list)
    list_rows: list[ListRow] = field(default_factory=list)
    list_button: str | None = None  # the label that opens the list
    media: OutboundMedia | None = None
    template: Template | None = None
    reply_to_external_id: str | None = None

    def rich_content(self) -> dict[str, Any]:
        """The parts beyond text, as the outbound message row keeps them (messages.content)."""
        content: dict[str, Any] = {}
        if self.buttons:
            content["buttons"] = [asdict(b) for b in self.buttons]
        if self.list_rows:
            content["list_rows"] = [asdict(r) for r in self.list_rows]
        if self.list_button:
            content["list_button"] = self.list_button
        if self.media:
            content["media"] = asdict(self.media)
        if self.template:
            content["template"] = asdict(self.template)
        return content

    @classmethod
    def from_row(cls, to: str, text: str, idempotency_key: str, content: dict[str, Any], reply_to: str | None = None) -> "OutboundMessage":
        """The message a stored outbound row describes (the inverse of `rich_content`)."""
        media, template = content.get("media"), content.get("template")
        return cls(
            to=to,
            text=text,
            idempotency_key=idempotency_key,
            buttons=[Button(**b) for b in content.get("buttons") or []],
            list_rows=[ListRow(**r) for r in content.get("list_rows") or []],
            list_button=content.get("list_button"),
            media=OutboundMedia(**media) if media else None,
            template=Template(**template) if template else None,
            reply_to_external_id=reply_to,
        )


@dataclass(frozen=True)
class Capabilities:
    """What a channel can show; `channels.render.fit` turns a richer reply into one it can."""

    max_text_chars: int
    max_button_text_chars: int | None = None  # text shown above buttons, when shorter (WhatsApp: 1024)
    max_buttons: int = 0  # 0: no buttons (numbered text instead)
    max_button_title_chars: int = 20
    max_list_rows: int = 0
    max_row_title_chars: int = 24
    media_kinds: frozenset[str] = frozenset()
    templates: bool = False
    # Sends per second one account may make (the channel's documented throughput; an account's
    # config may lower or raise it with `send_rate_per_s`), enforced across all workers.
    send_rate_per_s: float = 20.0


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


@dataclass(frozen=True)
class WebhookRequest:
    """One webhook delivery as the adapter needs it to verify and parse it."""

    headers: dict[str, str]  # names lower-cased
    body: bytes
    # The URL the channel called, as the channel saw it: behind a proxy the API's own view
    # differs, so it is built from the configured public URL (Twilio signs the URL).
    url: str
    query: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookAck:
    """What the channel is answered with on success (most want any 200; Twilio wants TwiML)."""

    body: bytes
    media_type: str


class TemplateRequired(ChannelError):
    """The channel only takes a pre-approved template now (WhatsApp, more than 24 hours after
    the customer last wrote): a free-form reply was refused."""


class ChannelAdapter(Protocol):
    name: str
    # True when the channel's delivery receipts echo OutboundMessage.idempotency_key, so a
    # retried send can learn that an earlier attempt got through (activities/delivery.py).
    receipts_echo_reference: bool
    capabilities: Capabilities

    def verify(self, request: WebhookRequest, secrets: dict[str, Any]) -> None:
        """Raises SignatureError unless the channel signed this delivery."""

    def parse(self, request: WebhookRequest, channel_account_id: str) -> ParsedWebhook:
        """Raises PayloadError for a body the channel would not send."""

    async def send(self, message: OutboundMessage, config: dict[str, Any], secrets: dict[str, Any]) -> SendResult:
        """Sends `message` as it is: `channels.render.fit` has already made it fit `capabilities`."""

    async def fetch_media(self, attachment: Attachment, config: dict[str, Any], secrets: dict[str, Any]) -> tuple[bytes, str | None]:
        """The attachment's bytes and MIME type, downloaded with the channel's credentials."""


class AdapterDefaults:
    """What an adapter does for the optional parts of the seam unless it says otherwise."""

    receipts_echo_reference = False
    acknowledges_inbound = False  # True when after_receive does something (read receipts, tap answers)

    def handshake(self, query: dict[str, str], secrets: dict[str, Any]) -> str | None:
        """The body to answer a subscription check with; None: the channel has none (405).
        Raises SignatureError when the check does not match the account's secrets."""
        return None

    def webhook_ack(self, parsed: ParsedWebhook) -> WebhookAck | None:
        """A channel-specific success body; None: the default JSON acknowledgement."""
        return None

    async def fetch_media(self, attachment: Attachment, config: dict[str, Any], secrets: dict[str, Any]) -> tuple[bytes, str | None]:
        raise ChannelError(f"{attachment.kind} attachments cannot be downloaded from this channel", status=None, retryable=False)

    async def after_receive(self, message: InboundMessage, config: dict[str, Any], secrets: dict[str, Any]) -> None:
        """Tells the channel the message was seen (read receipts, answering a button's callback);
        run from the turn, never from the webhook, so a slow channel API never delays an ack."""
