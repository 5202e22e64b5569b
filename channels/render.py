"""Fitting a reply to what its channel can show, so that adapters only ever send what fits.

The agent writes one reply (text, maybe buttons, a list, media or a template); each channel
shows a different subset. `fit` degrades it step by step instead of failing the send:
- too many buttons for the channel (or text too long to stand above them), but a list fits:
  the buttons become list rows;
- buttons or rows the channel cannot show (SMS, or titles too long to cut without changing
  their meaning): they become numbered lines of text, and `match_numbered_reply` turns the
  customer's "2" back into the option's id;
- media of a kind the channel does not take: the text goes alone, with the media's URL when
  it has a public one;
- a template on a channel without templates: its text goes as a plain message;
- text longer than the channel allows: cut at a word boundary with an ellipsis.
"""

from __future__ import annotations

import re
from dataclasses import replace

from channels.base import Button, Capabilities, ListRow, OutboundMessage

ELLIPSIS = "…"


def shorten(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, cut at a word boundary when one is near."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - len(ELLIPSIS))]
    space = cut.rfind(" ")
    if space >= len(cut) * 0.6:  # a word boundary near the end; otherwise cut mid-word
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS


def _options(message: OutboundMessage) -> list[ListRow]:
    if message.buttons:
        return [ListRow(b.id, b.title) for b in message.buttons]
    return list(message.list_rows)


def numbered_text(text: str, options: list[ListRow]) -> str:
    lines = [text.rstrip(), ""] if text.strip() else []
    for number, option in enumerate(options, start=1):
        detail = f" ({option.description})" if option.description else ""
        lines.append(f"{number}. {option.title}{detail}")
    lines.append("")
    lines.append("Reply with a number.")
    return "\n".join(lines)


def _buttons_fit(buttons: list[Button], caps: Capabilities) -> bool:
    return 0 < len(buttons) <= caps.max_buttons and all(len(b.title) <= caps.max_button_title_chars for b in buttons)


def _rows_fit(rows: list[ListRow], caps: Capabilities) -> bool:
    return 0 < len(rows) <= caps.max_list_rows and all(len(r.title) <= caps.max_row_title_chars for r in rows)


def fit(message: OutboundMessage, caps: Capabilities) -> OutboundMessage:
    """`message` reshaped to what `caps` allows (see the module's docstring)."""
    fitted = replace(message, buttons=list(message.buttons), list_rows=list(message.list_rows))
    if fitted.template is not None and not caps.templates:
        fitted.template = None
    if fitted.media is not None and fitted.media.kind not in caps.media_kinds:
        if fitted.media.url:
            fitted.text = f"{fitted.text}\n{fitted.media.url}".strip()
        fitted.media = None

    options = _options(fitted)
    if options:
        text_fits_buttons = caps.max_button_text_chars is None or len(fitted.text) <= caps.max_button_text_chars
        if fitted.buttons and text_fits_buttons and _buttons_fit(fitted.buttons, caps):
            fitted.list_rows = []
        elif _rows_fit(options, caps):
            fitted.buttons, fitted.list_rows = [], options
        else:
            fitted.text = numbered_text(fitted.text, options)
            fitted.buttons, fitted.list_rows, fitted.list_button = [], [], None
    fitted.text = shorten(fitted.text, caps.max_text_chars)
    return fitted


_CHOICE = re.compile(r"^\s*(?:option\s*)?#?(\d{1,2})\s*[.)]?\s*$", re.IGNORECASE)


def match_numbered_reply(text: str, options: list[ListRow]) -> ListRow | None:
    """The option a customer picked by number ("2", "2.", "#2", "option 2") or by its exact
    title; None when the reply is something else."""
    match = _CHOICE.match(text)
    if match:
        number = int(match.group(1))
        return options[number - 1] if 1 <= number <= len(options) else None
    wanted = text.strip().casefold()
    return next((o for o in options if o.title.strip().casefold() == wanted), None)
