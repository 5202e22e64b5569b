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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from channels import meta
from channels.base import (
    AdapterDefaults,
    Attachment,
    Capabilities,
    ChannelError,
    InboundMessage,
    Location,
    OutboundMedia,
    OutboundMessage,
    ParsedWebhook,
    PayloadError,
    SendResult,
    StatusUpdate,
    Template,
    TemplateRequired,
    WebhookRequest,
)
from core.ids import is_valid_contact
from core.logging import get_logger

log = get_logger()

DEFAULT_GRAPH_BASE_URL = "https://graph.facebook.com/v21.0"
MAX_MESSAGE_ID_CHARS = 200  # wamids are ~60 characters; the columns hold 200+
MAX_REFERENCE_CHARS = 512  # biz_opaque_callback_data
# Cloud API limits (messages reference: text, media, interactive buttons and lists, templates).
MAX_TEXT_CHARS = 4096
MAX_CAPTION_CHARS = 1024
MAX_BUTTONS, MAX_BUTTON_TITLE_CHARS, MAX_BUTTON_ID_CHARS, MAX_BUTTON_BODY_CHARS = 3, 20, 256, 1024
MAX_ROWS, MAX_ROW_TITLE_CHARS, MAX_ROW_ID_CHARS, MAX_ROW_DESCRIPTION_CHARS = 10, 24, 200, 72
MAX_LIST_BUTTON_CHARS, MAX_SECTION_TITLE_CHARS = 20, 24
DEFAULT_LIST_BUTTON = "Options"
TEMPLATE_NAME = re.compile(r"[a-z0-9_]{1,512}")
TEMPLATE_LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Za-z0-9]{2,4})?")
# Meta refuses a template parameter with a newline, a tab or more than 4 spaces in a row (132018).
BAD_TEMPLATE_PARAMETER = re.compile(r"[\n\t]| {5,}")
MEDIA_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")  # goes into a URL path: no dots, no slashes
REENGAGEMENT_ERROR = 131047  # more than 24 hours since the customer last wrote
CAPTIONED_KINDS = frozenset({"image", "video", "document"})
HEADER_KINDS = CAPTIONED_KINDS  # media an interactive button message can carry as its header
# Delivery states we track; others Meta may add are acknowledged and ignored.
KNOWN_STATUSES = frozenset({"sent", "delivered", "read", "failed"})
_KIND = re.compile(r"[a-z_]{1,32}")


# --- inbound ---------------------------------------------------------------------------------------


def _short_text_or_none(value: Any, limit: int) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _object(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key) or {}
    if not isinstance(value, dict):
        raise PayloadError(f"message '{key}' must be an object")
    return value


def _marker(kind: str, detail: str | None = None, said: str | None = None) -> str:
    """`[image] caption`, `[document: invoice.pdf]`: the history says what arrived, in words."""
    head = f"[{kind}: {detail}]" if detail else f"[{kind}]"
    return f"{head} {said}" if said else head


def _media(kind: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def parse(message: dict[str, Any]) -> dict[str, Any]:
        media = _object(message, kind)
        attachment = Attachment(
            kind="voice" if kind == "audio" and media.get("voice") is True else kind,
            media_id=_short_text_or_none(media.get("id"), 128),
            mime_type=_text_or_none(media.get("mime_type")),
            filename=_text_or_none(media.get("filename")),
            caption=_text_or_none(media.get("caption")),
        )
        text = _marker(attachment.kind, attachment.filename, attachment.caption)
        return {"kind": attachment.kind, "text": text, "attachments": [attachment]}

    return parse


def _location(message: dict[str, Any]) -> dict[str, Any]:
    place = _object(message, "location")
    latitude, longitude = meta.float_or_none(place.get("latitude")), meta.float_or_none(place.get("longitude"))
    if latitude is None or longitude is None or not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise PayloadError("a location message needs a latitude and a longitude")
    name, address = _text_or_none(place.get("name")), _text_or_none(place.get("address"))
    label = ", ".join(p for p in (name, address) if p) or f"{latitude}, {longitude}"
    return {"text": f"[location] {label}", "location": Location(latitude, longitude, name, address)}


def _card_words(card: dict[str, Any]) -> str:
    name = card.get("name") if isinstance(card.get("name"), dict) else {}
    phones = [p for p in card.get("phones") or [] if isinstance(p, dict)]
    words = [_text_or_none(name.get("formatted_name"))] + [_text_or_none(p.get("phone") or p.get("wa_id")) for p in phones]
    return " ".join(w for w in words if w)


def _contacts(message: dict[str, Any]) -> dict[str, Any]:
    cards = message.get("contacts")
    if not isinstance(cards, list):
        raise PayloadError("a contacts message needs a 'contacts' list")
    cards = [c for c in cards if isinstance(c, dict)]
    described = "; ".join(w for w in map(_card_words, cards) if w)
    return {"text": _marker("contacts", said=described or None), "extra": {"contacts": cards}}


def _reaction(message: dict[str, Any]) -> dict[str, Any]:
    reaction = _object(message, "reaction")
    emoji = _text_or_none(reaction.get("emoji"))  # absent: the customer took the reaction back
    return {
        "text": f"[reaction] {emoji}" if emoji else "[reaction removed]",
        "extra": {"emoji": emoji} if emoji else {"reaction_removed": True},
        "reply_to_external_id": _short_text_or_none(reaction.get("message_id"), MAX_MESSAGE_ID_CHARS),
    }


def _interactive(message: dict[str, Any]) -> dict[str, Any]:
    interactive = _object(message, "interactive")
    reply = interactive.get("button_reply") or interactive.get("list_reply")
    if isinstance(reply, dict) and _text_or_none(reply.get("id")):
        return {"kind": "reply", "text": str(reply.get("title") or reply["id"]), "reply_payload": reply["id"]}
    return {"kind": "interactive", "text": _marker("interactive", _text_or_none(interactive.get("type")))}


def _template_button(message: dict[str, Any]) -> dict[str, Any]:
    button = _object(message, "button")  # a quick-reply button of a template we sent
    text = str(button.get("text") or button.get("payload") or "")
    return {"kind": "reply", "text": text, "reply_payload": _text_or_none(button.get("payload"))}


def _other(message: dict[str, Any], kind: str) -> dict[str, Any]:
    """Types we do not read (unsupported, system, order...): the history still says what came."""
    body = message.get(kind) if isinstance(message.get(kind), dict) else {}
    said = _text_or_none(body.get("caption")) or _text_or_none(body.get("body"))
    extra: dict[str, Any] = {}
    errors = [{k: e[k] for k in ("code", "title") if k in e} for e in message.get("errors") or [] if isinstance(e, dict)]
    if errors:
        extra["errors"] = errors
    return {"text": _marker(kind, _text_or_none(body.get("type")), said), "extra": extra}


# What each message type contributes to the InboundMessage beside its ids; the rest: `_other`.
_PARSERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "text": lambda m: {"text": str(_object(m, "text").get("body") or "")},
    **{kind: _media(kind) for kind in ("image", "audio", "video", "document", "sticker")},
    "location": _location,
    "contacts": _contacts,
    "reaction": _reaction,
    "interactive": _interactive,
    "button": _template_button,
}


def _message_fields(message: dict[str, Any]) -> dict[str, Any]:
    kind = str(message.get("type") or "unknown")
    kind = kind if _KIND.fullmatch(kind) else "unknown"
    fields = {"kind": kind, **(_PARSERS[kind](message) if kind in _PARSERS else _other(message, kind))}
    context = message.get("context")
    if isinstance(context, dict) and "reply_to_external_id" not in fields:
        fields["reply_to_external_id"] = _short_text_or_none(context.get("id"), MAX_MESSAGE_ID_CHARS)
    return fields


# --- outbound --------------------------------------------------------------------------------------


def _media_problem(media: OutboundMedia) -> str | None:
    if media.kind not in {"image", "audio", "voice", "video", "document"}:
        return f"WhatsApp does not send {media.kind!r} media"
    if bool(media.path) == bool(media.url):
        return "media needs exactly one of a file path or a URL"
    if media.url and not media.url.startswith(("https://", "http://")):
        return "a media URL must be http(s)"
    return None


def _options_problem(message: OutboundMessage) -> str | None:
    if message.buttons:
        if len(message.buttons) > MAX_BUTTONS:
            return f"{len(message.buttons)} buttons (WhatsApp shows at most {MAX_BUTTONS})"
        if any(not 0 < len(b.title) <= MAX_BUTTON_TITLE_CHARS for b in message.buttons):
            return f"a button title is empty or longer than {MAX_BUTTON_TITLE_CHARS} characters"
        if any(not 0 < len(b.id) <= MAX_BUTTON_ID_CHARS for b in message.buttons):
            return f"a button id is empty or longer than {MAX_BUTTON_ID_CHARS} characters"
        if len({b.title for b in message.buttons}) < len(message.buttons):
            return "two buttons have the same title"
        if not 0 < len(message.text) <= MAX_BUTTON_BODY_CHARS:
            return f"the text above buttons must be 1 to {MAX_BUTTON_BODY_CHARS} characters"
    if message.list_rows:
        if len(message.list_rows) > MAX_ROWS:
            return f"{len(message.list_rows)} list rows (WhatsApp shows at most {MAX_ROWS})"
        if any(not 0 < len(r.title) <= MAX_ROW_TITLE_CHARS for r in message.list_rows):
            return f"a list row title is empty or longer than {MAX_ROW_TITLE_CHARS} characters"
        if any(not 0 < len(r.id) <= MAX_ROW_ID_CHARS for r in message.list_rows):
            return f"a list row id is empty or longer than {MAX_ROW_ID_CHARS} characters"
        if any(len(r.description or "") > MAX_ROW_DESCRIPTION_CHARS for r in message.list_rows):
            return f"a list row description is longer than {MAX_ROW_DESCRIPTION_CHARS} characters"
        if len({r.id for r in message.list_rows}) < len(message.list_rows):
            return "two list rows have the same id"
        if message.list_button is not None and not 0 < len(message.list_button) <= MAX_LIST_BUTTON_CHARS:
            return f"the list button label must be 1 to {MAX_LIST_BUTTON_CHARS} characters"
        if not message.text:
            return "a list needs text above it"
    return None


def unsendable_reason(message: OutboundMessage) -> str | None:
    """Why WhatsApp would refuse `message` as it is; None when it can go."""
    if message.template is not None:
        template = message.template
        if not TEMPLATE_NAME.fullmatch(template.name):
            return "a template name is 1 to 512 lowercase letters, digits and underscores"
        if not TEMPLATE_LANGUAGE.fullmatch(template.language):
            return f"{template.language!r} is not a template language code (like en_US)"
        if any(not p or BAD_TEMPLATE_PARAMETER.search(p) for p in template.body_parameters):
            return "a template parameter is empty or has a newline, a tab or more than 4 spaces in a row"
        return None
    if message.buttons and message.list_rows:
        return "a message has either buttons or a list, not both"
    if len(message.text) > MAX_TEXT_CHARS:
        return f"text longer than {MAX_TEXT_CHARS} characters"
    if message.media is None and not message.text.strip():
        return "nothing to send: no text, media or template"
    if message.media is not None and (problem := _media_problem(message.media)):
        return problem
    return _options_problem(message)


def _media_object(media: OutboundMedia, ref: dict[str, str], caption: str | None) -> dict[str, Any]:
    kind = "audio" if media.kind == "voice" else media.kind
    payload: dict[str, Any] = dict(ref)
    if caption:
        payload["caption"] = caption
    if media.kind == "document" and media.filename:
        payload["filename"] = media.filename
    if media.kind == "voice":
        payload["voice"] = True  # shown as a voice note (needs OGG/Opus), not as an audio file
    return {"type": kind, kind: payload}


def _interactive_part(message: OutboundMessage, header: dict[str, Any] | None) -> dict[str, Any]:
    if message.buttons:
        buttons = [{"type": "reply", "reply": {"id": b.id, "title": b.title}} for b in message.buttons]
        interactive: dict[str, Any] = {"type": "button", "body": {"text": message.text}, "action": {"buttons": buttons}}
        if header:
            interactive["header"] = header
        return {"type": "interactive", "interactive": interactive}
    label = message.list_button or DEFAULT_LIST_BUTTON
    rows = [{"id": r.id, "title": r.title, **({"description": r.description} if r.description else {})} for r in message.list_rows]
    section = {"title": label[:MAX_SECTION_TITLE_CHARS], "rows": rows}
    action = {"button": label, "sections": [section]}
    return {"type": "interactive", "interactive": {"type": "list", "body": {"text": message.text}, "action": action}}


def _template_part(template: Template) -> dict[str, Any]:
    body: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
    if template.body_parameters:
        parameters = [{"type": "text", "text": p} for p in template.body_parameters]
        body["components"] = [{"type": "body", "parameters": parameters}]
    return {"type": "template", "template": body}


def _parts(message: OutboundMessage, ref: dict[str, str] | None) -> list[dict[str, Any]]:
    """The Graph message bodies (less the envelope) that carry `message`, words first.
    `ref`: the media's uploaded {"id"} or its {"link"}; None: no media goes (none, or dropped)."""
    if message.template is not None:
        return [_template_part(message.template)]
    media = message.media if ref is not None else None
    text_part = {"type": "text", "text": {"preview_url": False, "body": message.text}}
    if media is None or ref is None:
        return [_interactive_part(message, None) if message.buttons or message.list_rows else text_part]
    if message.buttons and media.kind in HEADER_KINDS:
        return [_interactive_part(message, {"type": media.kind, media.kind: dict(ref)})]
    if message.buttons or message.list_rows:
        return [_interactive_part(message, None), _media_object(media, ref, None)]
    if not message.text.strip():
        return [_media_object(media, ref, None)]
    if media.kind in CAPTIONED_KINDS and len(message.text) <= MAX_CAPTION_CHARS:
        return [_media_object(media, ref, message.text)]
    return [text_part, _media_object(media, ref, None)]


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


class WhatsAppAdapter(AdapterDefaults):
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
    )

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    def verify(self, request: WebhookRequest, secrets: dict[str, Any]) -> None:
        meta.verify_signature(request, secrets)

    def handshake(self, query: dict[str, str], secrets: dict[str, Any]) -> str | None:
        return meta.handshake(query, secrets)

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
                    **_message_fields(message),
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

    async def send(self, message: OutboundMessage, config: dict[str, Any], secrets: dict[str, Any]) -> SendResult:
        account = _Account.of(config, secrets)
        reason = unsendable_reason(message)
        if reason:
            raise ChannelError(f"WhatsApp cannot send this message: {reason}", status=None, retryable=False)
        ref = await self._media_ref(message, account)
        first, *follow_ups = _parts(message, ref)
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

