"""WhatsApp Cloud API: webhook verification, parsing and sending through the Graph API."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from channels import meta
from channels.base import (
    AdapterDefaults,
    Capabilities,
    ChannelError,
    InboundMessage,
    OutboundMessage,
    ParsedWebhook,
    PayloadError,
    SendResult,
    StatusUpdate,
    WebhookRequest,
)
from core.ids import is_valid_contact

DEFAULT_GRAPH_BASE_URL = "https://graph.facebook.com/v21.0"
MAX_TEXT_CHARS = 4096  # Cloud API limit for a text message body
MAX_MESSAGE_ID_CHARS = 200  # wamids are ~60 characters; the columns hold 200+
MAX_REFERENCE_CHARS = 512  # Cloud API limit for biz_opaque_callback_data
# Delivery states we track; others Meta may add are acknowledged and ignored.
KNOWN_STATUSES = frozenset({"sent", "delivered", "read", "failed"})


def _short_text_or_none(value: Any, limit: int) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


def _object(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key) or {}
    if not isinstance(value, dict):
        raise PayloadError(f"message '{key}' must be an object")
    return value


def _interactive_title(message: dict[str, Any]) -> str:
    interactive = _object(message, "interactive")
    reply = interactive.get("button_reply") or interactive.get("list_reply") or {}
    return str(reply.get("title") or "") if isinstance(reply, dict) else ""


# What the customer said, by message type; one entry per type we read text from.
_TEXT_OF: dict[str, Callable[[dict[str, Any]], str]] = {
    "text": lambda m: str(_object(m, "text").get("body") or ""),
    "button": lambda m: str(_object(m, "button").get("text") or ""),
    "interactive": _interactive_title,
}


def _message_text(message: dict[str, Any]) -> tuple[str, str]:
    kind = str(message.get("type") or "unknown")
    if kind in _TEXT_OF:
        return kind, _TEXT_OF[kind](message)
    # Media, locations and the rest get their own handling in the channels issue; until then
    # the agent (and the history) still learn that something arrived, with its caption if any.
    media = message.get(kind)
    caption = media.get("caption") if isinstance(media, dict) else None
    return kind, f"[{kind}] {caption}" if caption else f"[{kind}]"


class WhatsAppAdapter(AdapterDefaults):
    name = "whatsapp"
    receipts_echo_reference = True
    capabilities = Capabilities(
        max_text_chars=MAX_TEXT_CHARS,
        max_buttons=3,
        max_button_title_chars=20,
        max_list_rows=10,
        max_row_title_chars=24,
        media_kinds=frozenset({"image", "audio", "voice", "video", "document"}),
        templates=True,
    )

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    def verify(self, request: WebhookRequest, secrets: dict[str, Any]) -> None:
        meta.verify_signature(request, secrets)

    def handshake(self, query: dict[str, str], secrets: dict[str, Any]) -> str | None:
        return meta.handshake(query, secrets)

    def parse(self, request: WebhookRequest, channel_account_id: str) -> ParsedWebhook:
        try:
            payload = json.loads(request.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PayloadError(f"body is not JSON: {exc}") from exc
        except RecursionError:  # a signed body can still be hostile: nesting deeper than ours
            raise PayloadError("body is nested too deeply") from None
        if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
            raise PayloadError("expected object 'whatsapp_business_account'")
        entries = payload.get("entry")
        if not isinstance(entries, list):
            raise PayloadError("expected 'entry' to be a list")
        parsed = ParsedWebhook()
        for entry in entries:
            if not isinstance(entry, dict):
                raise PayloadError("every entry must be an object")
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
            kind, text = _message_text(message)
            parsed.messages.append(
                InboundMessage(
                    channel=self.name,
                    channel_account_id=account_id,
                    external_id=str(message["id"]),
                    contact_id=str(message["from"]),
                    text=text,
                    kind=kind,
                    contact_name=names.get(message["from"]),
                    sent_at=meta.float_or_none(message.get("timestamp")),
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
                    client_reference=_short_text_or_none(status.get("biz_opaque_callback_data"), MAX_REFERENCE_CHARS),
                )
            )

    async def send(
        self, message: OutboundMessage, config: dict[str, Any], secrets: dict[str, Any]
    ) -> SendResult:
        base_url = str(config.get("graph_base_url") or DEFAULT_GRAPH_BASE_URL).rstrip("/")
        phone_number_id = config.get("phone_number_id")
        token = secrets.get("access_token")
        if not phone_number_id or not token:
            raise ChannelError("channel account lacks phone_number_id or access_token", status=None, retryable=False)
        body = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": message.to,
            "type": "text",
            "text": {"preview_url": False, "body": message.text[:MAX_TEXT_CHARS]},
            # Echoed in this message's status webhooks: lets a retried send find out that an
            # earlier attempt was accepted even though its answer never reached us.
            "biz_opaque_callback_data": message.idempotency_key[:MAX_REFERENCE_CHARS],
        }
        response = await meta.post_graph(self._http, f"{base_url}/{phone_number_id}/messages", token, json=body)
        try:
            return SendResult(provider_message_id=str(response.json()["messages"][0]["id"]))
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ChannelError("graph API answered without a message id", status=response.status_code, retryable=True) from exc
