"""WhatsApp Cloud API webhook messages, each type read into the fields of an InboundMessage."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from channels import meta
from channels.base import (
    Attachment,
    Location,
    PayloadError,
)

MAX_MESSAGE_ID_CHARS = 200  # wamids are ~60 characters; the columns hold 200+
_KIND = re.compile(r"[a-z_]{1,32}")



def short_text_or_none(value: Any, limit: int) -> str | None:
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
            media_id=short_text_or_none(media.get("id"), 128),
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
        "reply_to_external_id": short_text_or_none(reaction.get("message_id"), MAX_MESSAGE_ID_CHARS),
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


def message_fields(message: dict[str, Any]) -> dict[str, Any]:
    kind = str(message.get("type") or "unknown")
    kind = kind if _KIND.fullmatch(kind) else "unknown"
    fields = {"kind": kind, **(_PARSERS[kind](message) if kind in _PARSERS else _other(message, kind))}
    context = message.get("context")
    if isinstance(context, dict) and "reply_to_external_id" not in fields:
        fields["reply_to_external_id"] = short_text_or_none(context.get("id"), MAX_MESSAGE_ID_CHARS)
    return fields
