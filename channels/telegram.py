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
    OutboundMessage,
    ParsedWebhook,
    PayloadError,
    SendResult,
    SignatureError,
    WebhookRequest,
)
from channels.render import numbered_text, shorten
from channels.telegram_updates import MAX_CALLBACK_DATA_BYTES, UPDATE_READERS, integer, number
from core.logging import get_logger

DEFAULT_API_BASE_URL = "https://api.telegram.org"
MAX_TEXT_CHARS = 4096  # sendMessage text, after entity parsing (we send plain text)
MAX_CAPTION_CHARS = 1024  # photo, voice, audio, document and video captions
MAX_BUTTON_TEXT_CHARS = 64  # our own limit: longer button texts are cut by Telegram's clients
# What setWebhook asks for: everything parse() reads, nothing else (fewer deliveries to ignore).
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
SECRET_HEADER = "x-telegram-bot-api-secret-token"

log = get_logger(channel="telegram")


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
    retry_after = number(parameters.get("retry_after")) or None
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
        integer(update, "update_id", "an update")
        parsed = ParsedWebhook()
        kind = next((k for k in UPDATE_READERS if k in update), None)
        if kind is not None and (message := UPDATE_READERS[kind](update, channel_account_id)) is not None:
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
