"""WhatsApp Cloud API message bodies: every reply form as the Graph API takes it, and its limits
checked before anything is sent."""

from __future__ import annotations

import re
from typing import Any

from channels.base import (
    OutboundMedia,
    OutboundMessage,
    Template,
)

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
CAPTIONED_KINDS = frozenset({"image", "video", "document"})
HEADER_KINDS = CAPTIONED_KINDS  # media an interactive button message can carry as its header



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


def message_parts(message: OutboundMessage, ref: dict[str, str] | None) -> list[dict[str, Any]]:
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
