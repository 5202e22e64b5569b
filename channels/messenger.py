"""Messenger and Instagram messaging (Meta's Messenger Platform): webhook verification and
parsing, and sends through the Send API.

Both platforms deliver `entry[].messaging[]` events in one format (`object: "page"` for a
Facebook Page, `object: "instagram"` for an Instagram professional account) and take the same
Send API body; they differ in limits and in a few event types, which the two adapter classes
at the bottom state.

What each event becomes:
- a message: an InboundMessage (text, attachments, location, quick-reply payload, the message
  or Instagram story it answers); an unsent (`is_deleted`) message is dropped;
- a postback (a tapped button or ice-breaker): an InboundMessage, text = its title,
  reply_payload = its payload;
- a reaction: an InboundMessage of kind "reaction" pointing at the message reacted to;
- `delivery`: a "delivered" StatusUpdate per listed message id;
- `read`: on Instagram (`messaging_seen`) it names the message: a "read" StatusUpdate. On
  Messenger it only carries a watermark (everything before this time was read), which one
  StatusUpdate cannot say, so it is ignored;
- an echo of our own send (`is_echo`): never a message. On Messenger it carries back the
  `metadata` we sent (our idempotency key): a "sent" StatusUpdate with that reference, which
  lets a retried send learn that an earlier attempt got through (activities/delivery.py);
- referrals, opt-ins, standby (another app holds the thread) and the rest: ignored.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
from pathlib import Path
from typing import Any

import httpx

from channels import meta
from channels.base import (
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
    WebhookRequest,
)
from channels.render import shorten
from core.ids import is_valid_contact

DEFAULT_GRAPH_BASE_URL = "https://graph.facebook.com/v21.0"
MAX_MESSAGE_ID_CHARS = 200  # mids are ~100-150 characters; provider_message_id holds 200
MAX_QUICK_REPLIES = 13
MAX_QUICK_REPLY_TITLE_CHARS = 20
MAX_PAYLOAD_CHARS = 1000  # quick-reply payload and message metadata
MAX_MEDIA_BYTES = 25 * 1024 * 1024  # the largest attachment either platform takes

# Inbound attachment type -> (message kind, Attachment kind); files we may download.
_MEDIA = {"image": "image", "audio": "audio", "video": "video", "file": "document", "sticker": "sticker"}
# Shared content: the agent needs its link and title, not a copy of someone else's post.
_SHARES = frozenset({"share", "ig_post", "post", "ig_reel", "reel", "fallback"})
# OutboundMedia kind -> Send API attachment type.
_SEND_TYPE = {"image": "image", "audio": "audio", "voice": "audio", "video": "video", "document": "file"}


def _object(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"'{key}' must be an object")
    return value


def _ms_to_seconds(value: Any) -> float | None:
    millis = meta.float_or_none(value)
    return millis / 1000 if millis is not None else None


def _message_id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{what} needs a message id")
    if len(value) > MAX_MESSAGE_ID_CHARS:
        raise PayloadError(f"{what} id is longer than {MAX_MESSAGE_ID_CHARS} characters")
    return value


def _text_or_none(value: Any, limit: int = MAX_PAYLOAD_CHARS) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


def _shorten_to_bytes(text: str, max_bytes: int) -> str:
    """`text` cut (at a word, with an ellipsis) until its UTF-8 encoding fits `max_bytes`."""
    fitted, limit = text, len(text)
    while len(fitted.encode()) > max_bytes:
        limit -= max(1, (len(fitted.encode()) - max_bytes) // 4)  # a character is at most 4 bytes
        fitted = shorten(text, limit)
    return fitted


class _Content:
    """What a message's attachments add to it, gathered in one pass."""

    def __init__(self) -> None:
        self.attachments: list[Attachment] = []
        self.location: Location | None = None
        self.markers: list[str] = []  # "[image]", "[share] Title https://..."
        self.shared: list[dict[str, Any]] = []
        self.first_kind: str | None = None

    def add(self, item: dict[str, Any]) -> None:
        kind = str(item.get("type") or "unknown")
        payload = item.get("payload") if isinstance(item.get("payload"), dict) else {}
        url = _text_or_none(payload.get("url") or item.get("url") or item.get("URL"), 4096)
        if kind == "image" and payload.get("sticker_id"):
            kind = "sticker"  # Messenger's older sticker form: an image with a sticker_id
        if kind in _MEDIA:
            if any(a.url == url and a.kind == _MEDIA[kind] for a in self.attachments):
                return  # the sticker transition sends one sticker as both image and sticker
            self.attachments.append(Attachment(kind=_MEDIA[kind], url=url))
            self.mark(_MEDIA[kind], f"[{_MEDIA[kind]}]")
        elif kind == "location":
            coordinates = _object(payload, "coordinates")
            lat, long = meta.float_or_none(coordinates.get("lat")), meta.float_or_none(coordinates.get("long"))
            if lat is None or long is None:
                raise PayloadError("a location attachment needs coordinates.lat and coordinates.long")
            title = _text_or_none(item.get("title"))
            self.location = Location(latitude=lat, longitude=long, name=title)
            self.mark("location", f"[location] {title}" if title else "[location]")
        elif kind in _SHARES:
            title = _text_or_none(payload.get("title") or item.get("title"))
            self.shared.append({k: v for k, v in {"type": kind, "url": url, "title": title}.items() if v})
            self.mark("share", " ".join(p for p in (f"[{kind}]", title, url) if p))
        else:  # story_mention is handled by the caller; anything newer still says something arrived
            self.mark(kind, f"[{kind}]")

    def mark(self, kind: str, marker: str) -> None:
        self.first_kind = self.first_kind or kind
        self.markers.append(marker)


class _MessagingAdapter(meta.MetaAdapter):
    """What Messenger and Instagram share; subclasses name the platform and its limits."""

    name: str
    webhook_object: str
    capabilities: Capabilities
    text_limit_bytes: int | None = None
    # Messenger requires messaging_type; Instagram's Send API documents no such field.
    sends_messaging_type: bool = True
    # The Attachment Upload API is the Page's for both; Instagram uploads say so.
    upload_platform: str | None = None

    # --- webhooks -----------------------------------------------------------------------------

    def parse(self, request: WebhookRequest, channel_account_id: str) -> ParsedWebhook:
        entries = meta.webhook_entries(request, self.webhook_object)
        parsed = ParsedWebhook()
        for entry in entries:
            events = entry.get("messaging", [])  # `changes` (comments, feed) and `standby` are not ours
            if not isinstance(events, list):
                raise PayloadError("expected 'messaging' to be a list")
            for event in events:
                if not isinstance(event, dict):
                    raise PayloadError("every messaging event must be an object")
                self._parse_event(event, channel_account_id, parsed)
        return parsed

    def _parse_event(self, event: dict[str, Any], account_id: str, parsed: ParsedWebhook) -> None:
        message = _object(event, "message")
        if message.get("is_echo"):
            self._parse_echo(event, message, parsed)
            return
        sender = str(_object(event, "sender").get("id") or "")
        occurred_at = _ms_to_seconds(event.get("timestamp"))
        if "delivery" in event:
            delivery = _object(event, "delivery")
            at = _ms_to_seconds(delivery.get("watermark")) or occurred_at
            mids = delivery.get("mids") or []  # absent from some older clients' receipts
            if not isinstance(mids, list):
                raise PayloadError("delivery 'mids' must be a list")
            for mid in mids:
                parsed.statuses.append(StatusUpdate(_message_id(mid, "a delivery"), "delivered", sender or None, at))
            return
        if "read" in event:
            mid = _object(event, "read").get("mid")
            if mid:  # Instagram names the message; Messenger's watermark-only reads are ignored
                parsed.statuses.append(StatusUpdate(_message_id(mid, "a read receipt"), "read", sender or None, occurred_at))
            return
        if not any(key in event for key in ("message", "postback", "reaction")):
            return  # referral, optin, account linking...: nothing the customer said
        if not is_valid_contact(sender):
            raise PayloadError("a messaging event needs a sender id")
        base = InboundMessage(
            channel=self.name, channel_account_id=account_id, external_id="", contact_id=sender, text="", sent_at=occurred_at
        )
        if "message" in event:
            inbound = self._message(message, base)
        elif "postback" in event:
            inbound = self._postback(_object(event, "postback"), base, event.get("timestamp"))
        else:
            inbound = self._reaction(_object(event, "reaction"), base, event.get("timestamp"))
        if inbound is not None:
            parsed.messages.append(inbound)

    def _parse_echo(self, event: dict[str, Any], message: dict[str, Any], parsed: ParsedWebhook) -> None:
        reference = _text_or_none(message.get("metadata"))
        if reference:  # one of our sends: its receipt; a person's reply from the inbox says nothing
            recipient = str(_object(event, "recipient").get("id") or "") or None
            mid = _message_id(message.get("mid"), "an echo")
            parsed.statuses.append(
                StatusUpdate(mid, "sent", recipient, _ms_to_seconds(event.get("timestamp")), client_reference=reference)
            )

    def _message(self, message: dict[str, Any], inbound: InboundMessage) -> InboundMessage | None:
        if message.get("is_deleted"):
            return None  # the customer unsent it; what they said before still stands
        inbound.external_id = _message_id(message.get("mid"), "a message")
        content = _Content()
        attachments = message.get("attachments") or []
        if not isinstance(attachments, list):
            raise PayloadError("message 'attachments' must be a list")
        for item in attachments:
            if not isinstance(item, dict):
                raise PayloadError("every attachment must be an object")
            if item.get("type") == "story_mention":
                # The customer mentioned us in their story. Meta forbids keeping story media,
                # so the link goes along for the agent to see, never to download.
                url = _text_or_none(_object(item, "payload").get("url"), 4096)
                inbound.extra["story_mention"] = {"url": url} if url else {}
                content.mark("story_mention", "[story mention]")
            else:
                content.add(item)
        inbound.attachments, inbound.location = content.attachments, content.location
        if content.shared:
            inbound.extra["shared"] = content.shared
        text = message.get("text") if isinstance(message.get("text"), str) else ""
        inbound.kind = "text" if text else content.first_kind or "text"
        inbound.text = text or " ".join(content.markers)
        if message.get("is_unsupported"):
            inbound.kind, inbound.text = "unsupported", inbound.text or "[unsupported message]"
        quick_reply = _object(message, "quick_reply")
        if quick_reply.get("payload"):
            inbound.kind, inbound.reply_payload = "reply", _text_or_none(quick_reply["payload"])
        reply_to = _object(message, "reply_to")
        if reply_to.get("mid"):
            inbound.reply_to_external_id = _message_id(reply_to["mid"], "a reply's quoted message")
        story = _object(reply_to, "story")
        if story:  # an Instagram reply to the business's story
            inbound.extra["story_reply"] = {k: v for k, v in {"id": story.get("id"), "url": story.get("url")}.items() if v}
        if isinstance(message.get("referral"), dict):  # e.g. sent from an Instagram Shop product
            inbound.extra["referral"] = message["referral"]
        if not inbound.text:
            raise PayloadError("a message needs text or attachments")
        return inbound

    def _postback(self, postback: dict[str, Any], inbound: InboundMessage, timestamp: Any) -> InboundMessage:
        payload = _text_or_none(postback.get("payload"))
        title = postback.get("title") if isinstance(postback.get("title"), str) else ""
        if not payload and not title:
            raise PayloadError("a postback needs a title or a payload")
        # Postbacks before Graph v11 carry no mid; the same tap redelivered keeps its sender
        # and timestamp, so those make its dedup key.
        mid = postback.get("mid")
        inbound.external_id = _message_id(mid, "a postback") if mid else f"postback:{inbound.contact_id}:{timestamp or ''}"
        inbound.kind, inbound.text, inbound.reply_payload = "reply", title or payload or "", payload
        if isinstance(postback.get("referral"), dict):
            inbound.extra["referral"] = postback["referral"]
        return inbound

    def _reaction(self, reaction: dict[str, Any], inbound: InboundMessage, timestamp: Any) -> InboundMessage:
        mid = _message_id(reaction.get("mid"), "a reaction's message")
        action = "unreact" if reaction.get("action") == "unreact" else "react"
        emoji = _text_or_none(reaction.get("emoji"), 32)
        inbound.external_id = f"reaction:{action}:{timestamp or ''}:{mid}"
        inbound.kind, inbound.reply_to_external_id = "reaction", mid
        inbound.text = (
            f"[{'removed reaction' if action == 'unreact' else 'reaction'}] {emoji or reaction.get('reaction') or ''}".strip()
        )
        inbound.extra.update(
            {k: v for k, v in {"emoji": emoji, "reaction": reaction.get("reaction"), "action": action}.items() if v}
        )
        return inbound

    # --- media --------------------------------------------------------------------------------

    async def fetch_media(
        self, attachment: Attachment, config: dict[str, Any], secrets: dict[str, Any]
    ) -> tuple[bytes, str | None]:
        """Attachment URLs are signed CDN links: no token needed, and they expire."""
        if not attachment.url or not attachment.url.startswith(("https://", "http://")):
            raise ChannelError(f"the {attachment.kind} has no URL to download", status=None, retryable=False)
        try:
            async with self._http.stream("GET", attachment.url, follow_redirects=True) as response:
                if response.status_code >= 400:
                    retryable = response.status_code == 429 or response.status_code >= 500
                    # 403/404/410: the link expired or the customer unsent the message.
                    raise ChannelError(
                        f"attachment download answered {response.status_code}", status=response.status_code, retryable=retryable
                    )
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > MAX_MEDIA_BYTES:
                        raise ChannelError("attachment is larger than 25 MB", status=response.status_code, retryable=False)
                mime = response.headers.get("content-type", "").split(";")[0].strip() or None
        except httpx.HTTPError as exc:
            raise ChannelError(f"attachment download failed: {exc!r}", status=None, retryable=True) from exc
        return bytes(body), mime

    # --- sending ------------------------------------------------------------------------------

    async def send(self, message: OutboundMessage, config: dict[str, Any], secrets: dict[str, Any]) -> SendResult:
        """The media first (when there is any), then the text carrying the quick replies, so the
        options sit under the last thing the customer sees."""
        base_url = str(config.get("graph_base_url") or DEFAULT_GRAPH_BASE_URL).rstrip("/")
        node = str(config.get("page_id") or "me")  # a Page token's own Page
        token = secrets.get("page_access_token")
        if not token:
            raise ChannelError("channel account lacks page_access_token", status=None, retryable=False)
        text = self._fit_text(message.text)
        quick_replies = [
            {"content_type": "text", "title": b.title[:MAX_QUICK_REPLY_TITLE_CHARS], "payload": b.id[:MAX_PAYLOAD_CHARS]}
            for b in message.buttons[:MAX_QUICK_REPLIES]
        ]
        parts: list[dict[str, Any]] = []
        if message.media is not None:
            parts.append({"attachment": await self._attachment(message.media, base_url, node, token)})
        if text.strip():
            parts.append({"text": text})
        if not parts:
            raise ChannelError("the reply has neither text nor media", status=None, retryable=False)
        if quick_replies:
            parts[-1]["quick_replies"] = quick_replies
        url = f"{base_url}/{node}/messages"
        for part in parts[:-1]:
            await self._send_one(message, part, is_last=False, url=url, token=token)
        return await self._send_one(message, parts[-1], is_last=True, url=url, token=token)

    def _fit_text(self, text: str) -> str:
        text = text[: self.capabilities.max_text_chars]
        return _shorten_to_bytes(text, self.text_limit_bytes) if self.text_limit_bytes else text

    async def _send_one(
        self, message: OutboundMessage, part: dict[str, Any], *, is_last: bool, url: str, token: str
    ) -> SendResult:
        body: dict[str, Any] = {"recipient": {"id": message.to}}
        if self.sends_messaging_type:
            body["messaging_type"] = "RESPONSE"
        if is_last and self.receipts_echo_reference and message.idempotency_key:
            # Echoed back in this message's echo webhook: proof it was accepted (see parse).
            part = {**part, "metadata": message.idempotency_key[:MAX_PAYLOAD_CHARS]}
        body["message"] = part
        response = await meta.post_graph(self._http, url, token, json=body)
        try:
            return SendResult(provider_message_id=str(response.json()["message_id"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ChannelError("graph API answered without a message id", status=response.status_code, retryable=True) from exc

    async def _attachment(self, media: OutboundMedia, base_url: str, node: str, token: str) -> dict[str, Any]:
        kind = _SEND_TYPE.get(media.kind)
        if kind is None:
            raise ChannelError(f"{self.name} cannot send {media.kind} media", status=None, retryable=False)
        if media.path:
            return {"type": kind, "payload": {"attachment_id": await self._upload(media, kind, base_url, node, token)}}
        if media.url:
            return {"type": kind, "payload": {"url": media.url}}
        raise ChannelError("media has neither a path nor a URL", status=None, retryable=False)

    async def _upload(self, media: OutboundMedia, kind: str, base_url: str, node: str, token: str) -> str:
        """The Attachment Upload API: our file as multipart `filedata`, answered with an id."""
        path = Path(str(media.path))
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            raise ChannelError(f"media file cannot be read: {exc}", status=None, retryable=False) from exc
        filename = media.filename or path.name
        mime = media.mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        form = {"message": json.dumps({"attachment": {"type": kind, "payload": {"is_reusable": True}}})}
        if self.upload_platform:
            form["platform"] = self.upload_platform
        response = await meta.post_graph(
            self._http, f"{base_url}/{node}/message_attachments", token, data=form, files={"filedata": (filename, data, mime)}
        )
        try:
            return str(response.json()["attachment_id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ChannelError(
                "graph API answered the upload without an attachment id", status=response.status_code, retryable=True
            ) from exc


class MessengerAdapter(_MessagingAdapter):
    name = "messenger"
    webhook_object = "page"
    receipts_echo_reference = True  # echoes carry our `metadata` (subscribe to message_echoes)
    capabilities = Capabilities(
        max_text_chars=2000,
        max_buttons=MAX_QUICK_REPLIES,
        max_button_title_chars=MAX_QUICK_REPLY_TITLE_CHARS,
        media_kinds=frozenset({"image", "audio", "voice", "video", "document"}),
    )


class InstagramAdapter(_MessagingAdapter):
    name = "instagram"
    webhook_object = "instagram"
    sends_messaging_type = False
    upload_platform = "instagram"
    text_limit_bytes = 1000  # Instagram counts UTF-8 bytes, not characters
    capabilities = Capabilities(
        max_text_chars=1000,
        max_buttons=MAX_QUICK_REPLIES,
        max_button_title_chars=MAX_QUICK_REPLY_TITLE_CHARS,
        # No "voice": our voice notes are OGG/Opus, which Instagram does not take (aac, m4a,
        # wav, mp4); they go as text instead. Files are PDFs only.
        media_kinds=frozenset({"image", "audio", "video", "document"}),
    )
