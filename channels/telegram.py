"""Telegram Bot API: the webhook's secret-token check, Update parsing, and sends.

Decisions a reader should know:
- An edited message is a new inbound message (external id `{chat}:{message}:e{edit_date}`,
  quoting the original): a customer who corrects "order 1243" to "order 1234" means the
  correction, and `edit_date` keeps each edit's id stable when Telegram redelivers it.
- Updates other than messages, edits and callback queries (channel posts, member changes,
  inline queries...) are acknowledged and ignored, as are messages carrying nothing we read
  (service messages such as a pin, polls, dice) and callback queries without data (games).
- Telegram has no delivery receipts: nothing echoes our idempotency key.
- The bot token is part of every request URL, so no error message here ever includes a URL
  or an HTTP library's exception text.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from channels.base import (
    AdapterDefaults,
    Attachment,
    Capabilities,
    ChannelError,
    InboundMessage,
    ListRow,
    Location,
    OutboundMessage,
    ParsedWebhook,
    PayloadError,
    SendResult,
    SignatureError,
    WebhookRequest,
)
from channels.render import numbered_text, shorten
from core.ids import is_valid_contact
from core.logging import get_logger

DEFAULT_API_BASE_URL = "https://api.telegram.org"
MAX_TEXT_CHARS = 4096  # sendMessage text, after entity parsing (we send plain text)
MAX_CAPTION_CHARS = 1024  # photo, voice, audio, document and video captions
MAX_CALLBACK_DATA_BYTES = 64  # InlineKeyboardButton.callback_data
MAX_BUTTON_TEXT_CHARS = 64  # our own limit: longer button texts are cut by Telegram's clients
MAX_ID_CHARS = 200  # callback query ids are ~20 characters; the columns hold 200+
# What setWebhook asks for: everything parse() reads, nothing else (fewer deliveries to ignore).
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
SECRET_HEADER = "x-telegram-bot-api-secret-token"

log = get_logger(channel="telegram")


# --- reading updates --------------------------------------------------------------------------


def _object(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise PayloadError(f"'{key}' must be an object")
    return value


def _integer(parent: dict[str, Any], key: str, what: str) -> int:
    value = parent.get(key)
    # bool is an int in Python; a 64-bit bound keeps hostile numbers out of ids and columns.
    if not isinstance(value, int) or isinstance(value, bool) or abs(value) >= 2**63:
        raise PayloadError(f"{what} needs an integer '{key}'")
    return value


def _text_or_none(parent: dict[str, Any], key: str) -> str | None:
    value = parent.get(key)
    return value if isinstance(value, str) and value else None


def _file(media: dict[str, Any], kind: str, mime_type: str | None = None) -> Attachment:
    file_id = media.get("file_id")
    if not isinstance(file_id, str) or not file_id or len(file_id) > MAX_ID_CHARS:
        raise PayloadError(f"{kind} needs a 'file_id'")
    return Attachment(
        kind=kind, media_id=file_id, mime_type=_text_or_none(media, "mime_type") or mime_type, filename=_text_or_none(media, "file_name")
    )


def _largest_photo(message: dict[str, Any]) -> Attachment:
    sizes = [s for s in message.get("photo") or [] if isinstance(s, dict)]
    if not sizes:
        raise PayloadError("'photo' must list at least one size")
    largest = max(sizes, key=lambda s: (_number(s.get("width")) * _number(s.get("height")), _number(s.get("file_size"))))
    return _file(largest, "image", "image/jpeg")  # Telegram re-encodes every photo as JPEG


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _location(message: dict[str, Any]) -> Location:
    venue = message.get("venue") if isinstance(message.get("venue"), dict) else {}
    point = _object(venue, "location") if venue else _object(message, "location")
    latitude, longitude = point.get("latitude"), point.get("longitude")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (latitude, longitude)):
        raise PayloadError("a location needs numeric 'latitude' and 'longitude'")
    return Location(float(latitude), float(longitude), name=_text_or_none(venue, "title"), address=_text_or_none(venue, "address"))


def _full_name(person: dict[str, Any]) -> str | None:
    name = " ".join(p for p in (_text_or_none(person, "first_name"), _text_or_none(person, "last_name")) if p)
    return name or None


@dataclass
class _Content:
    kind: str
    text: str
    attachments: list[Attachment] = field(default_factory=list)
    location: Location | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _media(kind: str, read: Callable[[dict[str, Any]], Attachment]) -> Callable[[dict[str, Any]], _Content]:
    def content(message: dict[str, Any]) -> _Content:
        attachment = read(message)
        attachment.caption = _text_or_none(message, "caption")
        return _Content(kind, attachment.caption or f"[{kind}]", [attachment])

    return content


def _plain_text(message: dict[str, Any]) -> _Content:
    if not isinstance(message["text"], str):
        raise PayloadError("'text' must be a string")
    return _Content("text", message["text"])


def _sticker(message: dict[str, Any]) -> _Content:
    sticker = _object(message, "sticker")
    mime = "video/webm" if sticker.get("is_video") else "application/x-tgsticker" if sticker.get("is_animated") else "image/webp"
    emoji = _text_or_none(sticker, "emoji")
    return _Content("sticker", f"[sticker] {emoji}" if emoji else "[sticker]", [_file(sticker, "sticker", mime)])


def _contact(message: dict[str, Any]) -> _Content:
    card = _object(message, "contact")
    name = _full_name(card)
    shared = {k: v for k, v in {"name": name, "phone": _text_or_none(card, "phone_number"), "user_id": card.get("user_id")}.items() if v}
    return _Content("contacts", f"[contacts] {name}" if name else "[contacts]", extra={"contacts": [shared]})


def _place(message: dict[str, Any]) -> _Content:
    place = _location(message)
    label = ", ".join(p for p in (place.name, place.address) if p)
    return _Content("location", f"[location] {label}" if label else "[location]", location=place)


# What a message carries, by the field that says so; checked in this order (a venue also has a
# location, an animation also has a document). Other messages are ignored (module docstring).
_CONTENT: dict[str, Callable[[dict[str, Any]], _Content]] = {
    "text": _plain_text,
    "voice": _media("voice", lambda m: _file(_object(m, "voice"), "voice", "audio/ogg")),
    "audio": _media("audio", lambda m: _file(_object(m, "audio"), "audio")),
    "photo": _media("image", _largest_photo),
    "video": _media("video", lambda m: _file(_object(m, "video"), "video", "video/mp4")),
    "video_note": _media("video", lambda m: _file(_object(m, "video_note"), "video", "video/mp4")),
    "document": _media("document", lambda m: _file(_object(m, "document"), "document")),
    "sticker": _sticker,
    "venue": _place,
    "location": _place,
    "contact": _contact,
}


def _button_text(message: dict[str, Any], data: str) -> str | None:
    """The label of the inline button whose callback_data is `data`, from the message it was on."""
    markup = message.get("reply_markup")
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    for row in rows if isinstance(rows, list) else []:
        for button in row if isinstance(row, list) else []:
            if isinstance(button, dict) and button.get("callback_data") == data and isinstance(button.get("text"), str):
                return button["text"]
    return None


def _chat_id(message: dict[str, Any]) -> str:
    chat_id = str(_integer(_object(message, "chat"), "id", "a chat"))
    if not is_valid_contact(chat_id):
        raise PayloadError("chat 'id' is not a usable contact id")
    return chat_id


def _message(update: dict[str, Any], account_id: str, key: str) -> InboundMessage | None:
    message = _object(update, key)
    message_id = _integer(message, "message_id", "a message")
    chat_id = _chat_id(message)
    sent_at = _integer(message, "date", "a message")
    read = next((reader for name, reader in _CONTENT.items() if name in message), None)
    if read is None:
        return None
    content = read(message)
    external_id, quoted, extra = f"{chat_id}:{message_id}", None, content.extra
    if key == "edited_message":
        edited_at = _integer(message, "edit_date", "an edited message")
        external_id, quoted, sent_at = f"{external_id}:e{edited_at}", external_id, edited_at
        extra = {**extra, "edited": True}
    elif isinstance(message.get("reply_to_message"), dict):
        quoted = f"{chat_id}:{_integer(message['reply_to_message'], 'message_id', 'a quoted message')}"
    sender = message.get("from") if isinstance(message.get("from"), dict) else message["chat"]
    return InboundMessage(
        channel=TelegramAdapter.name, channel_account_id=account_id, external_id=external_id, contact_id=chat_id,
        text=content.text, kind=content.kind, contact_name=_full_name(sender), sent_at=float(sent_at),
        attachments=content.attachments, location=content.location, reply_to_external_id=quoted, extra=extra,
    )  # fmt: skip


def _callback_query(update: dict[str, Any], account_id: str) -> InboundMessage | None:
    """An inline-keyboard tap: what the button said, and the data we put behind it."""
    query = _object(update, "callback_query")
    query_id = query.get("id")
    if not isinstance(query_id, str) or not query_id or len(query_id) > MAX_ID_CHARS:
        raise PayloadError("a callback query needs an 'id'")
    sender = _object(query, "from")
    user_id = _integer(sender, "id", "a callback query's sender")
    data = query.get("data")
    if not isinstance(data, str) or not data:
        return None
    if len(data.encode()) > MAX_CALLBACK_DATA_BYTES:
        raise PayloadError(f"callback 'data' is longer than {MAX_CALLBACK_DATA_BYTES} bytes")
    # `message` is missing when the keyboard was on an inline-mode message; a private chat's id
    # is the user's id.
    message = query.get("message") if isinstance(query.get("message"), dict) else {}
    chat_id = _chat_id(message) if message else str(user_id)
    quoted = f"{chat_id}:{_integer(message, 'message_id', 'a callback query message')}" if message else None
    return InboundMessage(
        channel=TelegramAdapter.name, channel_account_id=account_id, external_id=f"cb:{query_id}", contact_id=chat_id,
        text=_button_text(message, data) or data, kind="reply", contact_name=_full_name(sender), reply_payload=data,
        reply_to_external_id=quoted, extra={"callback_query_id": query_id},
    )  # fmt: skip


_UPDATES: dict[str, Callable[[dict[str, Any], str], InboundMessage | None]] = {
    "message": lambda u, a: _message(u, a, "message"),
    "edited_message": lambda u, a: _message(u, a, "edited_message"),
    "callback_query": _callback_query,
}


# --- sending ----------------------------------------------------------------------------------

# Media kind -> (Bot API method, the field that carries the file)
_MEDIA_METHODS: dict[str, tuple[str, str]] = {
    "image": ("sendPhoto", "photo"),
    "voice": ("sendVoice", "voice"),  # OGG/Opus shows as a voice note; other formats as a file
    "audio": ("sendAudio", "audio"),
    "document": ("sendDocument", "document"),
    "video": ("sendVideo", "video"),
}


def _row_label(row: ListRow) -> str:
    label = f"{row.title} — {row.description}" if row.description else row.title
    return label if len(label) <= MAX_BUTTON_TEXT_CHARS else row.title


def _options(message: OutboundMessage) -> list[tuple[str, str]]:
    if message.buttons:
        return [(b.id, b.title) for b in message.buttons]
    return [(r.id, _row_label(r)) for r in message.list_rows]


def _with_keyboard(message: OutboundMessage) -> tuple[str, dict[str, Any]]:
    """The text to send and the extra fields (inline keyboard, quoted message) for it.

    Buttons and list rows both become an inline keyboard, one button per row. Ids that do not
    fit callback_data (64 bytes) cannot come back from a tap, so such options go as numbered
    text instead, like on channels without buttons (channels/render.py)."""
    fields: dict[str, Any] = {}
    text, options = message.text, _options(message)
    if any(len(option_id.encode()) > MAX_CALLBACK_DATA_BYTES for option_id, _ in options):
        text = shorten(numbered_text(text, [ListRow(i, title) for i, title in options]), MAX_TEXT_CHARS)
    elif options:
        keyboard = [[{"text": shorten(title, MAX_BUTTON_TEXT_CHARS), "callback_data": option_id}] for option_id, title in options]
        fields["reply_markup"] = {"inline_keyboard": keyboard}
    quoted = (message.reply_to_external_id or "").split(":")
    if len(quoted) >= 2 and quoted[0] == message.to and quoted[1].isdigit():
        fields["reply_parameters"] = {"message_id": int(quoted[1]), "allow_sending_without_reply": True}
    return text, fields


def _api_error(method: str, response: httpx.Response) -> ChannelError:
    try:
        body = response.json()
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    code = body.get("error_code") if isinstance(body.get("error_code"), int) else response.status_code
    description = str(body.get("description") or f"HTTP {response.status_code}")[:300]
    parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    retry_after = _number(parameters.get("retry_after")) or None
    # 429 and Telegram's own failures pass; 400 (bad request) and 403 (the bot was blocked, or
    # never started by this user) will fail the same way every time.
    retryable = code == 429 or code >= 500
    return ChannelError(f"Telegram {method} {code}: {description}", status=code, retryable=retryable, retry_after=retry_after)


class TelegramAdapter(AdapterDefaults):
    acknowledges_inbound = True  # answers button taps so they stop spinning (after_receive)
    name = "telegram"
    capabilities = Capabilities(
        max_text_chars=MAX_TEXT_CHARS,
        max_buttons=8,
        max_button_title_chars=MAX_BUTTON_TEXT_CHARS,
        max_list_rows=10,
        max_row_title_chars=MAX_BUTTON_TEXT_CHARS,
        media_kinds=frozenset(_MEDIA_METHODS),
        send_rate_per_s=30.0,  # Bot API: about 30 messages a second per bot across chats
    )

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    def verify(self, request: WebhookRequest, secrets: dict[str, Any]) -> None:
        """setWebhook's secret_token comes back in every delivery's header."""
        expected = str(secrets.get("webhook_secret") or "")
        if not expected:
            raise SignatureError("channel account has no webhook secret configured")
        given = request.headers.get(SECRET_HEADER, "")
        if not given:
            raise SignatureError("missing X-Telegram-Bot-Api-Secret-Token header")
        # Bytes, not str: compare_digest raises TypeError on non-ASCII str (a forged header).
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise SignatureError("X-Telegram-Bot-Api-Secret-Token does not match the account's webhook secret")

    def parse(self, request: WebhookRequest, channel_account_id: str) -> ParsedWebhook:
        try:
            update = json.loads(request.body)
        except (UnicodeDecodeError, ValueError) as exc:  # ValueError: also integers past Python's digit limit
            raise PayloadError(f"body is not JSON: {exc}") from None
        except RecursionError:
            raise PayloadError("body is nested too deeply") from None
        if not isinstance(update, dict):
            raise PayloadError("expected an Update object")
        _integer(update, "update_id", "an update")
        parsed = ParsedWebhook()
        kind = next((k for k in _UPDATES if k in update), None)
        if kind is not None and (message := _UPDATES[kind](update, channel_account_id)) is not None:
            parsed.messages.append(message)
        return parsed

    async def send(self, message: OutboundMessage, config: dict[str, Any], secrets: dict[str, Any]) -> SendResult:
        text, fields = _with_keyboard(message)
        if message.media is None:
            result = await self._call("sendMessage", config, secrets, json={"chat_id": message.to, "text": text, **fields})
            return SendResult(_message_ref(result))
        method, field_name = _MEDIA_METHODS[message.media.kind]
        # A text too long for a caption follows the media as its own message, keyboard and all.
        # Should that second call fail, a retry sends the media again: a rare duplicate, chosen
        # over cutting what the agent wrote.
        caption = text if len(text) <= MAX_CAPTION_CHARS else ""
        media_fields = {"chat_id": message.to, **({"caption": caption} if caption else {}), **(fields if caption else {})}
        if message.media.path:
            content = await _read_file(message.media.path)
            upload = (message.media.filename or Path(message.media.path).name, content, message.media.mime_type or "application/octet-stream")
            form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in media_fields.items()}
            result = await self._call(method, config, secrets, data=form, files={field_name: upload})
        elif message.media.url:
            result = await self._call(method, config, secrets, json={**media_fields, field_name: message.media.url})
        else:
            raise ChannelError(f"{message.media.kind} has neither a file nor a URL", status=None, retryable=False)
        if caption or not text:
            return SendResult(_message_ref(result))
        result = await self._call("sendMessage", config, secrets, json={"chat_id": message.to, "text": text, **fields})
        return SendResult(_message_ref(result))

    async def fetch_media(self, attachment: Attachment, config: dict[str, Any], secrets: dict[str, Any]) -> tuple[bytes, str | None]:
        """getFile turns a file_id into a path valid for an hour; the file is fetched from there."""
        if not attachment.media_id:
            raise ChannelError(f"{attachment.kind} attachment has no file_id", status=None, retryable=False)
        found = await self._call("getFile", config, secrets, json={"file_id": attachment.media_id})
        file_path = found.get("file_path") if isinstance(found, dict) else None
        if not isinstance(file_path, str) or not file_path:
            # The Bot API gives no path for files over its 20 MB download limit.
            raise ChannelError(f"Telegram gives no download path for this {attachment.kind}", status=None, retryable=False)
        base, token = _endpoint(config, secrets)
        response = await self._request("file download", "GET", f"{base}/file/bot{token}/{file_path}")
        return response.content, attachment.mime_type or response.headers.get("content-type")

    async def after_receive(self, message: InboundMessage, config: dict[str, Any], secrets: dict[str, Any]) -> None:
        """Answers a button tap's callback query, so the customer's button stops spinning."""
        query_id = message.extra.get("callback_query_id")
        if not query_id:
            return
        try:
            await self._call("answerCallbackQuery", config, secrets, json={"callback_query_id": query_id})
        except ChannelError as exc:
            if exc.retryable:
                raise
            # Too late ("query is too old") or otherwise refused: the spinner stops by itself after
            # a while, and the same answer would be refused again.
            log.info("callback query not answered", reason=str(exc))

    async def set_webhook(self, url: str, config: dict[str, Any], secrets: dict[str, Any]) -> None:
        """Points the bot's updates at `url`, signed with the account's webhook secret."""
        secret = secrets.get("webhook_secret")
        if not secret:
            raise ChannelError("channel account has no webhook_secret", status=None, retryable=False)
        body = {"url": url, "secret_token": secret, "allowed_updates": list(ALLOWED_UPDATES)}
        await self._call("setWebhook", config, secrets, json=body)

    async def _call(self, method: str, config: dict[str, Any], secrets: dict[str, Any], **kwargs: Any) -> Any:
        """One Bot API method; its `result` when Telegram answers ok, ChannelError otherwise."""
        base, token = _endpoint(config, secrets)
        response = await self._request(method, "POST", f"{base}/bot{token}/{method}", **kwargs)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("ok") is not True:
            raise _api_error(method, response)
        return body.get("result")

    async def _request(self, what: str, verb: str, url: str, **kwargs: Any) -> httpx.Response:
        # `from None` and the exception's class name only: an httpx error can carry the URL,
        # and the URL carries the bot token.
        try:
            response = await self._http.request(verb, url, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise ChannelError(f"Telegram {what}: unreachable ({type(exc).__name__})", status=None, retryable=True) from None
        except httpx.HTTPError as exc:
            raise ChannelError(
                f"Telegram {what}: no answer ({type(exc).__name__})", status=None, retryable=True, maybe_delivered=True
            ) from None
        if response.status_code >= 400:
            raise _api_error(what, response)
        return response


def _endpoint(config: dict[str, Any], secrets: dict[str, Any]) -> tuple[str, str]:
    token = secrets.get("bot_token")
    if not token:
        raise ChannelError("channel account lacks a bot_token", status=None, retryable=False)
    return str(config.get("api_base_url") or DEFAULT_API_BASE_URL).rstrip("/"), str(token)


def _message_ref(result: Any) -> str:
    """Our id for a sent message: message ids count per chat, so the chat is part of it."""
    try:
        return f"{result['chat']['id']}:{result['message_id']}"
    except (KeyError, TypeError) as exc:
        raise ChannelError("Telegram answered without a message id", status=None, retryable=True, maybe_delivered=True) from exc


async def _read_file(path: str) -> bytes:
    try:
        return await asyncio.to_thread(Path(path).read_bytes)
    except OSError as exc:
        raise ChannelError(f"media file cannot be read: {exc.strerror}", status=None, retryable=False) from None
