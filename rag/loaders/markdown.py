"""Markdown: headings (ATX and setext) start sections; lists, tables and fenced code stay intact.

A line-based reader rather than a full CommonMark parser: knowledge-base Markdown is headings,
paragraphs, lists, tables and code, and a new dependency would buy nothing for those.
"""

from __future__ import annotations

import re

from rag.documents import DocumentRejected, ExtractedDocument
from rag.loaders.sections import SectionCollector
from rag.loaders.text_decoding import decode_text

_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_LIST_ITEM = re.compile(r"^([ \t]*)([-*+]|\d{1,9}[.)])[ \t]+(.*)$")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_THEMATIC_BREAK = re.compile(r"^ {0,3}([-*_])([ \t]*\1){2,}[ \t]*$")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|`)")
_FRONT_MATTER_FENCES = {"---": ("---", "..."), "+++": ("+++",)}


def _inline_text(text: str) -> str:
    """Markup out, words in: link text stays, URLs and emphasis markers go."""
    return _EMPHASIS.sub("", _LINK.sub(r"\1", _IMAGE.sub(r"\1", text)))


def _without_front_matter(lines: list[str]) -> list[str]:
    closing = _FRONT_MATTER_FENCES.get(lines[0].strip()) if lines else None
    if closing:
        for index, line in enumerate(lines[1:], start=1):
            if line.strip() in closing:
                return lines[index + 1 :]
    return lines


def _table_cells(line: str) -> list[str]:
    return [_inline_text(cell.strip()) for cell in line.strip().strip("|").split("|")]


class _MarkdownReader:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.collector = SectionCollector()
        self.first_heading: str | None = None
        self._paragraph: list[str] = []

    def read(self) -> None:
        index = 0
        while index < len(self.lines):
            index = self._read_block(index)
        self._end_paragraph()

    def _heading(self, text: str) -> None:
        self._end_paragraph()
        text = _inline_text(text)
        if self.first_heading is None and text.strip():
            self.first_heading = " ".join(text.split())
        self.collector.heading(text)

    def _end_paragraph(self) -> None:
        if self._paragraph:
            # Soft line breaks inside a Markdown paragraph are not content.
            self.collector.paragraph(_inline_text(" ".join(line.strip() for line in self._paragraph)))
            self._paragraph = []

    def _read_block(self, index: int) -> int:
        line = self.lines[index]
        if not line.strip():
            self._end_paragraph()
            return index + 1
        if fence := _FENCE.match(line):
            return self._read_fenced_code(index, fence.group(1))
        if heading := _ATX_HEADING.match(line):
            self._heading(heading.group(2) or "")
            return index + 1
        underline = _SETEXT_UNDERLINE.match(line)
        if underline and len(self._paragraph) == 1:
            self._heading(self._paragraph.pop())
            return index + 1
        if _THEMATIC_BREAK.match(line):
            self._end_paragraph()
            return index + 1
        # A list interrupts a paragraph only from the left margin, as in CommonMark.
        if (item := _LIST_ITEM.match(line)) and (not self._paragraph or not item.group(1)):
            self._end_paragraph()
            return self._read_list(index)
        if _TABLE_ROW.match(line):
            self._end_paragraph()
            return self._read_table(index)
        self._paragraph.append(line.lstrip(" >"))
        return index + 1

    def _read_fenced_code(self, index: int, fence: str) -> int:
        self._end_paragraph()
        end = index + 1
        while end < len(self.lines) and not self.lines[end].strip().startswith(fence):
            end += 1
        # Kept verbatim, fences included, so an answer quoting it can show it as code.
        self.collector.paragraph("\n".join(self.lines[index : end + 1]), verbatim=True)
        return end + 1

    def _read_list(self, index: int) -> int:
        items: list[tuple[int, str, list[str]]] = []  # indentation, marker, text lines
        while index < len(self.lines):
            line = self.lines[index]
            item = _LIST_ITEM.match(line)
            if item:
                indentation = len(item.group(1).expandtabs(4))
                items.append((indentation, item.group(2), [item.group(3)]))
            elif line.strip() and (line[:1] in " \t") and items:
                items[-1][2].append(line.strip())  # continuation of the item above
            elif not line.strip() and index + 1 < len(self.lines) and _LIST_ITEM.match(self.lines[index + 1]):
                pass  # a loose list: blank lines between items keep it one list
            else:
                break
            index += 1
        indentations = sorted({indentation for indentation, _, _ in items})
        for indentation, marker, text_lines in items:
            self.collector.list_item(
                _inline_text(" ".join(text_lines)),
                marker="-" if marker in "-*+" else marker,
                depth=indentations.index(indentation),
            )
        return index

    def _read_table(self, index: int) -> int:
        while index < len(self.lines) and _TABLE_ROW.match(self.lines[index]):
            if not _TABLE_SEPARATOR.match(self.lines[index]):
                self.collector.table_row(_table_cells(self.lines[index]))
            index += 1
        return index


def load_markdown(data: bytes) -> ExtractedDocument:
    text = _HTML_COMMENT.sub("", decode_text(data).replace("\r\n", "\n").replace("\r", "\n"))
    reader = _MarkdownReader(_without_front_matter(text.split("\n")))
    reader.read()
    sections = reader.collector.sections()
    if not sections:
        raise DocumentRejected("empty", "The Markdown file contains no text.")
    return ExtractedDocument(sections, None, reader.first_heading, "markdown")
