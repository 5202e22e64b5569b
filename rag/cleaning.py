"""Normalising extracted text before it is chunked and embedded.

Loaders call these on what they extract, so every format reaches the chunker in the same shape:
NFC Unicode, no control characters, single spaces, paragraphs separated by one blank line.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from itertools import pairwise

# Zero-width joiner/non-joiner stay: they change how Devanagari and other Indic scripts render
# (and what a word is). Other invisible format characters only get in the way of search.
_KEPT_FORMAT_CHARACTERS = {"\u200c", "\u200d"}
_SPACE_LIKE = re.compile(r"[\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_SPACE_RUN_AFTER_TEXT = re.compile(r"(?<=\S) {2,}")
_BLANK_LINE_RUN = re.compile(r"\n{3,}")


def _is_unwanted_character(character: str) -> bool:
    if character == "\n":
        return False
    category = unicodedata.category(character)
    if category == "Cc":
        return True
    return category == "Cf" and character not in _KEPT_FORMAT_CHARACTERS


def normalize_text(text: str, *, keep_spacing: bool = False) -> str:
    """NFC, Unix newlines, no control or invisible characters, at most one blank line in a row.

    Unless `keep_spacing` (code blocks), runs of spaces inside a line collapse to one; leading
    indentation is kept either way because nested list items are told apart by it.
    """
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = text.replace("\u00ad", "")  # a soft hyphen is a line-breaking hint, not content
    if not keep_spacing:
        text = _SPACE_LIKE.sub(" ", text)
    text = "".join(character for character in text if not _is_unwanted_character(character))
    lines = [line.rstrip() for line in text.split("\n")]
    if not keep_spacing:
        lines = [_SPACE_RUN_AFTER_TEXT.sub(" ", line) for line in lines]
    return _BLANK_LINE_RUN.sub("\n\n", "\n".join(lines)).strip("\n")


# A word broken across lines by the typesetter: "custo-\nmer". Only joined when the next line
# starts in lower case, so "Wi-\nFi" style proper compounds and list dashes are left alone.
_HYPHENATED_LINE_BREAK = re.compile(r"([^\W\d_])-\n[ \t]*([^\W\d_])")


def join_hyphenated_line_breaks(text: str) -> str:
    def join(match: re.Match[str]) -> str:
        if match.group(2).islower():
            return match.group(1) + match.group(2)
        return match.group(0)

    return _HYPHENATED_LINE_BREAK.sub(join, text)


_DIGITS = re.compile(r"\d+")
# Running headers and footers sit in the first or last few lines of a page.
_EDGE_LINES = 3
# Page numbers change from page to page, so short lines are compared with their digits masked
# ("Page 3 of 12" = "Page 4 of 12"); longer ones must repeat exactly, so numbered content
# ("Step 3: scan the label") is not mistaken for a footer.
_SHORT_LINE = 40


def _page_line_signature(line: str) -> str:
    collapsed = " ".join(line.split()).casefold()
    return _DIGITS.sub("#", collapsed) if len(collapsed) <= _SHORT_LINE else collapsed


def _edge_lines(lines: list[str]) -> list[tuple[int, str]]:
    """(index, "top"/"bottom" signature) of the first and last few non-blank lines of a page."""
    content = [index for index, line in enumerate(lines) if line.strip()]
    edges = [(index, "top:" + _page_line_signature(lines[index])) for index in content[:_EDGE_LINES]]
    return edges + [(index, "bottom:" + _page_line_signature(lines[index])) for index in content[-_EDGE_LINES:]]


def drop_repeated_page_lines(pages: list[str], *, min_share: float = 0.6) -> list[str]:
    """Remove running headers/footers: lines repeated at the top (or bottom) of most pages.

    Needs at least three pages; with fewer, a repeated line is as likely to be content.
    """
    if len(pages) < 3:
        return pages
    page_lines = [page.split("\n") for page in pages]
    pages_with_line: Counter[str] = Counter()
    for lines in page_lines:
        pages_with_line.update({signature for _, signature in _edge_lines(lines)})
    threshold = max(2, math.ceil(len(pages) * min_share))
    repeated = {signature for signature, count in pages_with_line.items() if count >= threshold}
    if not repeated:
        return pages
    cleaned = []
    for lines in page_lines:
        dropped = {index for index, signature in _edge_lines(lines) if signature in repeated}
        cleaned.append("\n".join(line for index, line in enumerate(lines) if index not in dropped))
    return cleaned


_SENTENCE_END = re.compile(r"[.!?:;।॥\"'”’)]$")
_LIST_MARKER = re.compile(r"^\s*(?:[-*+•▪◦–]|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)])\s")


def reflow_wrapped_lines(text: str, *, min_wrap_width: int = 30) -> str:
    """Join lines that a fixed page width wrapped mid-sentence back into one line per paragraph.

    PDF (and some plain-text) extraction gives one line per printed line; left as is, the chunker
    would treat each printed line as a unit and cut sentences in half. A line continues the
    previous one when the previous one is nearly full width, does not end a sentence, and the new
    line is not a list item. Short lines (addresses, headings, table rows) stay as they are, and
    so do paragraphs whose longest line is under `min_wrap_width` (nothing wrapped them).
    """
    paragraphs = []
    for paragraph in text.split("\n\n"):
        lines = [line.strip() for line in paragraph.split("\n") if line.strip()]
        if not lines:
            continue
        full_width = max(len(line) for line in lines)
        reflowed = lines[0]
        for previous, line in pairwise(lines):
            wrapped = (
                full_width >= min_wrap_width
                and len(previous) >= 0.6 * full_width
                and not _SENTENCE_END.search(previous)
                and not _LIST_MARKER.match(line)
            )
            reflowed += (" " if wrapped else "\n") + line
        paragraphs.append(reflowed)
    return "\n\n".join(paragraphs)
