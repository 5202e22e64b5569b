"""The generic webhook channel: custom integrations (an in-house app, a kiosk, a CRM) talk to
Frontdesk over signed JSON.

Both directions are signed the same way: header `X-Frontdesk-Signature: sha256=<hex>`, the hex
HMAC-SHA256 of the raw body keyed with the account's `webhook_secret` (generated when the
account is created without one).

Inbound, `POST /webhooks/webhook/{channel_account_id}`, `Content-Type: application/json`:

    {
      "message_id": "msg-1001",            required, 1-200 characters; the dedup key: a redelivery
                                           with the same id is accepted and answered once
      "contact_id": "customer-42",         required, 1-128 of letters, digits and _.:+@-;
                                           replies are addressed to it
      "text": "Where is my order?",        required string; may be "" with attachments or a reply_payload
      "contact_name": "Asha",              optional
      "attachments": [                     optional, at most 10
        {"kind": "image", "url": "https://...", "mime_type": "image/jpeg"}
      ],                                   kind: image | audio | voice | video | document | sticker | file
      "reply_payload": "track-order"       optional: the id of a button or list row we offered
    }

Answered 200 `{"messages": 1, "statuses": 0}`; 401 when the signature does not match; 400 with
every reason when the body is not as above (unknown fields are refused, so a misspelt field is
noticed rather than silently dropped).

Outbound, `POST <config.callback_url>`, `Content-Type: application/json`, signed as above:

    {
      "to": "customer-42",
      "text": "Your order ships today.",     always set: the whole reply in words
      "idempotency_key": "...",              the same on every retry of one reply: dedupe on it
      "buttons": [{"id": "track", "title": "Track order"}],
      "list_rows": [{"id": "r1", "title": "Returns", "description": "30 days"}],
      "list_button": "Options",              or null
      "media": {"kind": "image", "url": "https://...", "mime_type": "image/png", "filename": null},
                                             or null; only media with a public URL is sent
      "reply_to": "msg-1001"                 the message this answers, or null
    }

A 2xx answer may be JSON `{"message_id": "..."}`: it becomes the reply's id in Frontdesk
(otherwise the idempotency key does). 429, 5xx, timeouts and refused connections are retried
with the same idempotency key; any other status is final and shown on the conversation.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, field_validator

from channels.base import (
    AdapterDefaults,
    Attachment,
    Capabilities,
    ChannelError,
    InboundMessage,
    OutboundMessage,
    ParsedWebhook,
    PayloadError,
    SendResult,
    SignatureError,
    WebhookRequest,
)
from core.ids import is_valid_contact

SIGNATURE_HEADER = "x-frontdesk-signature"
SIGNATURE_PREFIX = "sha256="
MAX_PROVIDER_ID_CHARS = 200


def sign(secret: str, body: bytes) -> str:
    """The X-Frontdesk-Signature value for `body`."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class _InboundAttachment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["image", "audio", "voice", "video", "document", "sticker", "file"]
    url: HttpUrl
    mime_type: str | None = Field(None, max_length=127)


class _InboundBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message_id: str = Field(min_length=1, max_length=200)
    contact_id: str
    text: str = Field(max_length=20_000)
    contact_name: str | None = Field(None, max_length=200)
    attachments: list[_InboundAttachment] = Field(default_factory=list, max_length=10)
    reply_payload: str | None = Field(None, min_length=1, max_length=256)

    @field_validator("contact_id")
    @classmethod
    def _contact(cls, value: str) -> str:
        if not is_valid_contact(value):
            raise ValueError("must be 1-128 characters of letters, digits and _.:+@-")
        return value


def _reasons(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())


class GenericWebhookAdapter(AdapterDefaults):
    name = "webhook"
    # The integration draws the reply itself: allow what any reasonable UI can show.
    capabilities = Capabilities(
        max_text_chars=4096,
        max_buttons=10,
        max_button_title_chars=64,
        max_list_rows=50,
        max_row_title_chars=100,
        media_kinds=frozenset({"image", "audio", "voice", "video", "document"}),
    )

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    def verify(self, request: WebhookRequest, secrets: dict[str, Any]) -> None:
        secret = secrets.get("webhook_secret")
        if not secret:
            raise SignatureError("channel account has no webhook secret configured")
        header = request.headers.get(SIGNATURE_HEADER, "")
        if not header.startswith(SIGNATURE_PREFIX):
            raise SignatureError("missing X-Frontdesk-Signature header (expected 'sha256=<hex>')")
        # Bytes, not str: compare_digest raises TypeError on non-ASCII str (a forged header).
        if not hmac.compare_digest(header.encode("utf-8", "replace"), sign(secret, request.body).encode()):
            raise SignatureError("X-Frontdesk-Signature does not match the body")

    def parse(self, request: WebhookRequest, channel_account_id: str) -> ParsedWebhook:
        try:
            payload = json.loads(request.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PayloadError(f"body is not JSON: {exc}") from exc
        except RecursionError:
            raise PayloadError("body is nested too deeply") from None
        if not isinstance(payload, dict):
            raise PayloadError("body must be a JSON object")
        try:
            body = _InboundBody.model_validate(payload)
        except ValidationError as exc:
            raise PayloadError(_reasons(exc)) from None
        if not body.text.strip() and not body.attachments and not body.reply_payload:
            raise PayloadError("text: must not be empty unless attachments or reply_payload are given")
        attachments = [Attachment(kind=a.kind, url=str(a.url), mime_type=a.mime_type) for a in body.attachments]
        kind = "reply" if body.reply_payload else attachments[0].kind if attachments else "text"
        text = body.text if body.text.strip() or kind == "reply" else f"[{kind}]"
        message = InboundMessage(
            channel=self.name,
            channel_account_id=channel_account_id,
            external_id=body.message_id,
            contact_id=body.contact_id,
            text=text,
            kind=kind,
            contact_name=body.contact_name,
            attachments=attachments,
            reply_payload=body.reply_payload,
        )
        return ParsedWebhook(messages=[message])

    async def send(self, message: OutboundMessage, config: dict[str, Any], secrets: dict[str, Any]) -> SendResult:
        callback_url, secret = config.get("callback_url"), secrets.get("webhook_secret")
        if not callback_url or not secret:
            raise ChannelError("channel account lacks callback_url or webhook_secret", status=None, retryable=False)
        media = message.media
        body = json.dumps(
            {
                "to": message.to,
                "text": message.text,
                "idempotency_key": message.idempotency_key,
                "buttons": [{"id": b.id, "title": b.title} for b in message.buttons],
                "list_rows": [{"id": r.id, "title": r.title, "description": r.description} for r in message.list_rows],
                "list_button": message.list_button,
                # A file only in our storage has no address the integration could fetch.
                "media": {"kind": media.kind, "url": media.url, "mime_type": media.mime_type, "filename": media.filename}
                if media is not None and media.url
                else None,
                "reply_to": message.reply_to_external_id,
            }
        ).encode()
        headers = {"content-type": "application/json", "x-frontdesk-signature": sign(secret, body)}
        try:
            response = await self._http.post(str(callback_url), content=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise ChannelError(f"callback unreachable: {exc!r}", status=None, retryable=True) from exc
        except httpx.HTTPError as exc:
            raise ChannelError(f"callback did not answer: {exc!r}", status=None, retryable=True, maybe_delivered=True) from exc
        if response.status_code >= 300:
            retryable = response.status_code == 429 or response.status_code >= 500
            try:
                retry_after = float(response.headers.get("retry-after", ""))
            except ValueError:
                retry_after = None
            detail = f"callback answered {response.status_code}: {response.text[:200]}"
            raise ChannelError(detail, status=response.status_code, retryable=retryable, retry_after=retry_after)
        return SendResult(provider_message_id=_answered_id(response) or _key_as_id(message.idempotency_key))


def _key_as_id(key: str) -> str:
    # Keys end with the turn id: cutting a long one could make two replies share an id.
    return key if len(key) <= MAX_PROVIDER_ID_CHARS else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _answered_id(response: httpx.Response) -> str | None:
    try:
        answer = response.json()
    except ValueError:
        return None
    value = answer.get("message_id") if isinstance(answer, dict) else None
    return value if isinstance(value, str) and 0 < len(value) <= MAX_PROVIDER_ID_CHARS else None
