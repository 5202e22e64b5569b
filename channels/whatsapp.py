"""WhatsApp Cloud API: webhook verification, parsing every message type, sending every
message form through the Graph API, media download and read receipts.

Sending, in short (the details are where they are done):
- Limits are checked before anything goes out (`unsendable_reason`): `channels.render.fit`
  already reshapes replies to the channel's Capabilities, so whatever still breaks a Cloud
  API limit is a bug upstream and is refused (non-retryable ChannelError) with the reason.
- A reply that WhatsApp cannot carry in one message goes as two, the words first: audio has
  no caption and captions stop at 1024 characters, so the text goes as a text message and
  the media follows it. Only the first carries our idempotency key (biz_opaque_callback_data),
  so a retried send learns of it from its receipt; a follow-up that fails after the words got
  through is logged, not raised, since raising would make the retry send the words again.
- Media that cannot be uploaded (unreadable file, type Meta refuses) is dropped and the text
  goes alone: the customer always gets the words.
- The 24-hour window: WhatsApp refuses free-form messages more than 24 hours after the
  customer last wrote (Graph error 131047). That is raised as a non-retryable ChannelError
  saying a template is needed (`TemplateRequired`); choosing and filling a template is the
  caller's decision, never the adapter's.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from channels import meta
from channels.base import (
    Attachment,
    Capabilities,
    ChannelError,
    InboundMessage,
    OutboundMedia,
    OutboundMessage,
    ParsedWebhook,
    PayloadError,
    SendResult,
    StatusUpdate,
    TemplateRequired,
    WebhookRequest,
)
from channels.whatsapp_inbound import MAX_MESSAGE_ID_CHARS, message_fields, short_text_or_none
from channels.whatsapp_outbound import (
    MAX_BUTTON_BODY_CHARS,
    MAX_BUTTON_TITLE_CHARS,
    MAX_BUTTONS,
    MAX_ROW_TITLE_CHARS,
    MAX_ROWS,
    MAX_TEXT_CHARS,
    message_parts,
    unsendable_reason,
)
from core.ids import is_valid_contact
from core.logging import get_logger

log = get_logger()

DEFAULT_GRAPH_BASE_URL = "https://graph.facebook.com/v21.0"
MAX_REFERENCE_CHARS = 512  # biz_opaque_callback_data
MEDIA_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")  # goes into a URL path: no dots, no slashes
REENGAGEMENT_ERROR = 131047  # more than 24 hours since the customer last wrote
# Delivery states we track; others Meta may add are acknowledged and ignored.
KNOWN_STATUSES = frozenset({"sent", "delivered", "read", "failed"})

# --- the adapter -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Account:
    base_url: str
    phone_number_id: str
    token: str

    @classmethod
    def of(cls, config: dict[str, Any], secrets: dict[str, Any]) -> _Account:
        phone_number_id, token = config.get("phone_number_id"), secrets.get("access_token")
        if not phone_number_id or not token:
            raise ChannelError("channel account lacks phone_number_id or access_token", status=None, retryable=False)
        return cls(str(config.get("graph_base_url") or DEFAULT_GRAPH_BASE_URL).rstrip("/"), str(phone_number_id), str(token))

    @property
    def messages_url(self) -> str:
        return f"{self.base_url}/{self.phone_number_id}/messages"


class WhatsAppAdapter(meta.MetaAdapter):
    acknowledges_inbound = True  # marks messages read (after_receive)
    name = "whatsapp"
    receipts_echo_reference = True
    capabilities = Capabilities(
        max_text_chars=MAX_TEXT_CHARS,
        max_button_text_chars=MAX_BUTTON_BODY_CHARS,
        max_buttons=MAX_BUTTONS,
        max_button_title_chars=MAX_BUTTON_TITLE_CHARS,
        max_list_rows=MAX_ROWS,
        max_row_title_chars=MAX_ROW_TITLE_CHARS,
        media_kinds=frozenset({"image", "audio", "voice", "video", "document"}),
        templates=True,
        send_rate_per_s=80.0,  # Cloud API's default throughput per business phone number
    )

    def parse(self, request: WebhookRequest, channel_account_id: str) -> ParsedWebhook:
        entries = meta.webhook_entries(request, "whatsapp_business_account")
        parsed = ParsedWebhook()
        for entry in entries:
            for change in entry.get("changes") or []:
                if not isinstance(change, dict) or change.get("field") != "messages":
                    continue
                value = change.get("value")
                if not isinstance(value, dict):
                    raise PayloadError("expected 'value' to be an object")
                self._parse_value(value, channel_account_id, parsed)
        return parsed

    def _parse_value(self, value: dict[str, Any], account_id: str, parsed: ParsedWebhook) -> None:
        names = {
            c.get("wa_id"): (c.get("profile") or {}).get("name")
            for c in value.get("contacts") or []
            if isinstance(c, dict)
        }
        for message in value.get("messages") or []:
            if not isinstance(message, dict) or not message.get("id") or not message.get("from"):
                raise PayloadError("every message needs 'id' and 'from'")
            if not is_valid_contact(str(message["from"])):
                raise PayloadError("message 'from' is not a phone number")
            if len(str(message["id"])) > MAX_MESSAGE_ID_CHARS:
                raise PayloadError(f"message 'id' is longer than {MAX_MESSAGE_ID_CHARS} characters")
            parsed.messages.append(
                InboundMessage(
                    channel=self.name,
                    channel_account_id=account_id,
                    external_id=str(message["id"]),
                    contact_id=str(message["from"]),
                    contact_name=names.get(message["from"]),
                    sent_at=meta.float_or_none(message.get("timestamp")),
                    **message_fields(message),
                )
            )
        for status in value.get("statuses") or []:
            if not isinstance(status, dict) or not status.get("id") or not status.get("status"):
                raise PayloadError("every status needs 'id' and 'status'")
            if len(str(status["id"])) > MAX_MESSAGE_ID_CHARS:
                raise PayloadError(f"status 'id' is longer than {MAX_MESSAGE_ID_CHARS} characters")
            if status["status"] not in KNOWN_STATUSES:
                continue
            parsed.statuses.append(
                StatusUpdate(
                    provider_message_id=str(status["id"]),
                    status=str(status["status"]),
                    recipient_id=status.get("recipient_id"),
                    occurred_at=meta.float_or_none(status.get("timestamp")),
                    errors=[e for e in status.get("errors") or [] if isinstance(e, dict)],
                    client_reference=short_text_or_none(status.get("biz_opaque_callback_data"), MAX_REFERENCE_CHARS),
                )
            )

    async def send(self, message: OutboundMessage, config: dict[str, Any], secrets: dict[str, Any]) -> SendResult:
        account = _Account.of(config, secrets)
        reason = unsendable_reason(message)
        if reason:
            raise ChannelError(f"WhatsApp cannot send this message: {reason}", status=None, retryable=False)
        ref = await self._media_ref(message, account)
        first, *follow_ups = message_parts(message, ref)
        sent = await self._post_message(account, message, first, first_part=True)
        for part in follow_ups:
            try:
                await self._post_message(account, message, part, first_part=False)
            except ChannelError as exc:
                log.warning("whatsapp follow-up part not sent; the words already were", part=part["type"], error=str(exc))
        return SendResult(provider_message_id=sent)

    async def _media_ref(self, message: OutboundMessage, account: _Account) -> dict[str, str] | None:
        media = message.media
        if media is None or message.template is not None:
            return None
        if media.url:
            return {"link": media.url}
        try:
            return {"id": await self._upload(media, account)}
        except ChannelError as exc:
            if exc.retryable or not message.text.strip():
                raise
            log.warning("whatsapp media not uploaded; sending the text alone", kind=media.kind, error=str(exc))
            return None

    async def _upload(self, media: OutboundMedia, account: _Account) -> str:
        path = Path(media.path or "")
        mime_type = media.mime_type or mimetypes.guess_type(path.name)[0]
        if not mime_type:
            raise ChannelError(f"no MIME type known for {path.name}", status=None, retryable=False)
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            raise ChannelError(f"media file unreadable: {exc}", status=None, retryable=False) from exc
        response = await self._graph(
            "POST",
            f"{account.base_url}/{account.phone_number_id}/media",
            account.token,
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (media.filename or path.name, data, mime_type)},
        )
        try:
            media_id = response.json()["id"]
        except (ValueError, KeyError, TypeError):
            media_id = None
        if not isinstance(media_id, str) or not media_id:
            raise ChannelError("graph API answered the upload without a media id", status=response.status_code, retryable=True)
        return media_id

    async def _post_message(self, account: _Account, message: OutboundMessage, part: dict[str, Any], *, first_part: bool) -> str:
        body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": message.to, **part}
        if first_part:
            if message.reply_to_external_id:
                body["context"] = {"message_id": message.reply_to_external_id}
            # Echoed in this message's status webhooks: lets a retried send find out that an
            # earlier attempt was accepted even though its answer never reached us.
            body["biz_opaque_callback_data"] = message.idempotency_key[:MAX_REFERENCE_CHARS]
        response = await self._graph("POST", account.messages_url, account.token, may_deliver=True, json=body)
        try:
            return str(response.json()["messages"][0]["id"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ChannelError("graph API answered without a message id", status=response.status_code, retryable=True) from exc

    async def fetch_media(self, attachment: Attachment, config: dict[str, Any], secrets: dict[str, Any]) -> tuple[bytes, str | None]:
        """Two authenticated GETs: the media id gives a short-lived URL, the URL gives the bytes."""
        account = _Account.of(config, secrets)
        if not attachment.media_id or not MEDIA_ID.fullmatch(attachment.media_id):
            raise ChannelError(f"{attachment.kind} attachment has no WhatsApp media id", status=None, retryable=False)
        described = await self._graph(
            "GET", f"{account.base_url}/{attachment.media_id}", account.token, params={"phone_number_id": account.phone_number_id}
        )
        try:
            info = described.json()
            url = info["url"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ChannelError("graph API described the media without a URL", status=described.status_code, retryable=True) from exc
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ChannelError("graph API gave a media URL that is not http(s)", status=described.status_code, retryable=False)
        downloaded = await self._graph("GET", url, account.token)
        mime_type = downloaded.headers.get("content-type") or info.get("mime_type") or attachment.mime_type
        return downloaded.content, mime_type.split(";")[0].strip() if mime_type else None

    async def after_receive(self, message: InboundMessage, config: dict[str, Any], secrets: dict[str, Any]) -> None:
        """Blue ticks: marks the message (and every earlier one) read."""
        account = _Account.of(config, secrets)
        body = {"messaging_product": "whatsapp", "status": "read", "message_id": message.external_id}
        await self._graph("POST", account.messages_url, account.token, json=body)

    async def _graph(self, method: str, url: str, token: str, *, may_deliver: bool = False, **kwargs: Any) -> httpx.Response:
        response = await meta.graph_request(self._http, method, url, token, may_deliver=may_deliver, **kwargs)
        if response.status_code < 400:
            return response
        if meta.graph_error_code(response) == REENGAGEMENT_ERROR:
            raise TemplateRequired(
                "more than 24 hours since the customer last wrote: WhatsApp only takes a template message now (error 131047)",
                status=response.status_code,
                retryable=False,
            )
        raise meta.graph_error(response)

