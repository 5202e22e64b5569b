"""Telegram Bot API updates (messages, edits, inline-keyboard taps) read into InboundMessages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from channels.base import (
    Attachment,
    InboundMessage,
    Location,
    PayloadError,
)
from core.ids import is_valid_contact

CHANNEL = "telegram"
MAX_CALLBACK_DATA_BYTES = 64  # InlineKeyboardButton.callback_data
MAX_ID_CHARS = 200  # callback query ids are ~20 characters; the columns hold 200+


def _object(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise PayloadError(f"'{key}' must be an object")
    return value


def integer(parent: dict[str, Any], key: str, what: str) -> int:
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
    largest = max(sizes, key=lambda s: (number(s.get("width")) * number(s.get("height")), number(s.get("file_size"))))
    return _file(largest, "image", "image/jpeg")  # Telegram re-encodes every photo as JPEG


def number(value: Any) -> float:
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
    chat_id = str(integer(_object(message, "chat"), "id", "a chat"))
    if not is_valid_contact(chat_id):
        raise PayloadError("chat 'id' is not a usable contact id")
    return chat_id


def _message(update: dict[str, Any], account_id: str, key: str) -> InboundMessage | None:
    message = _object(update, key)
    message_id = integer(message, "message_id", "a message")
    chat_id = _chat_id(message)
    sent_at = integer(message, "date", "a message")
    read = next((reader for name, reader in _CONTENT.items() if name in message), None)
    if read is None:
        return None
    content = read(message)
    external_id, quoted, extra = f"{chat_id}:{message_id}", None, content.extra
    if key == "edited_message":
        edited_at = integer(message, "edit_date", "an edited message")
        external_id, quoted, sent_at = f"{external_id}:e{edited_at}", external_id, edited_at
        extra = {**extra, "edited": True}
    elif isinstance(message.get("reply_to_message"), dict):
        quoted = f"{chat_id}:{integer(message['reply_to_message'], 'message_id', 'a quoted message')}"
    sender = message.get("from") if isinstance(message.get("from"), dict) else message["chat"]
    return InboundMessage(
        channel=CHANNEL, channel_account_id=account_id, external_id=external_id, contact_id=chat_id,
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
    user_id = integer(sender, "id", "a callback query's sender")
    data = query.get("data")
    if not isinstance(data, str) or not data:
        return None
    if len(data.encode()) > MAX_CALLBACK_DATA_BYTES:
        raise PayloadError(f"callback 'data' is longer than {MAX_CALLBACK_DATA_BYTES} bytes")
    # `message` is missing when the keyboard was on an inline-mode message; a private chat's id
    # is the user's id.
    message = query.get("message") if isinstance(query.get("message"), dict) else {}
    chat_id = _chat_id(message) if message else str(user_id)
    quoted = f"{chat_id}:{integer(message, 'message_id', 'a callback query message')}" if message else None
    return InboundMessage(
        channel=CHANNEL, channel_account_id=account_id, external_id=f"cb:{query_id}", contact_id=chat_id,
        text=_button_text(message, data) or data, kind="reply", contact_name=_full_name(sender), reply_payload=data,
        reply_to_external_id=quoted, extra={"callback_query_id": query_id},
    )  # fmt: skip


UPDATE_READERS: dict[str, Callable[[dict[str, Any], str], InboundMessage | None]] = {
    "message": lambda u, a: _message(u, a, "message"),
    "edited_message": lambda u, a: _message(u, a, "edited_message"),
    "callback_query": _callback_query,
}
