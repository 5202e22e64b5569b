"""WhatsApp Cloud API: webhook verification, parsing and sending through the Graph API."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import httpx

from channels.base import (
    ChannelError,
    InboundMessage,
    OutboundMessage,
    ParsedWebhook,
    PayloadError,
    SendResult,
    SignatureError,
    StatusUpdate,
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


def _float_or_none(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


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


class WhatsAppAdapter:
    name = "whatsapp"
    receipts_echo_reference = True

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    def verify(self, headers: dict[str, str], raw_body: bytes, secrets: dict[str, Any]) -> None:
        app_secret = secrets.get("app_secret")
        if not app_secret:
            raise SignatureError("channel account has no app secret configured")
        header = headers.get("x-hub-signature-256", "")
        if not header.startswith("sha256="):
            raise SignatureError("missing X-Hub-Signature-256 header")
        expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
        # Bytes, not str: compare_digest raises TypeError on non-ASCII str (a forged header).
        if not hmac.compare_digest(header[len("sha256=") :].encode(), expected.encode()):
            raise SignatureError("X-Hub-Signature-256 does not match the body")

    def parse(self, raw_body: bytes, channel_account_id: str) -> ParsedWebhook:
        try:
            payload = json.loads(raw_body)
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
                    sent_at=_float_or_none(message.get("timestamp")),
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
                    occurred_at=_float_or_none(status.get("timestamp")),
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
        try:
            response = await self._http.post(
                f"{base_url}/{phone_number_id}/messages",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise ChannelError(f"graph API unreachable: {exc!r}", status=None, retryable=True) from exc
        except httpx.HTTPError as exc:  # sent, but no answer: Meta may have accepted it
            raise ChannelError(f"graph API did not answer: {exc!r}", status=None, retryable=True, maybe_delivered=True) from exc
        if response.status_code >= 400:
            raise _graph_error(response)
        try:
            return SendResult(provider_message_id=str(response.json()["messages"][0]["id"]))
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ChannelError("graph API answered without a message id", status=response.status_code, retryable=True) from exc


def _graph_error(response: httpx.Response) -> ChannelError:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    detail = f"graph API {response.status_code}: {error.get('message') or response.text[:200]}"
    retry_after = _float_or_none(response.headers.get("retry-after"))
    retryable = response.status_code == 429 or response.status_code >= 500
    return ChannelError(detail, status=response.status_code, retryable=retryable, retry_after=retry_after)
