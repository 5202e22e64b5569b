"""HTML: the readable content of a page, without scripts, styles, navigation and footers.

Uses the standard library parser: it tolerates the broken markup real pages have, and saved help
pages need nothing a full browser engine would add.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from rag.documents import DocumentRejected, ExtractedDocument
from rag.loaders.sections import SectionCollector
from rag.loaders.text_decoding import decode_text

# Chrome around the content: indexing it would make every page answer "Home | Contact | Login".
_SKIPPED_TAGS = {"script", "style", "nav", "footer", "head", "noscript", "template", "svg", "iframe", "select", "button"}
_HEADING_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_BLOCK_TAGS = {
    "p", "div", "section", "article", "main", "header", "aside", "blockquote", "hr", "dl", "dt", "dd",
    "figure", "figcaption", "address", "center", "form", "fieldset", "table", "caption", "body",
}  # fmt: skip
_WHITESPACE = re.compile(r"\s+")


class _ContentParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.collector = SectionCollector()
        self.title_parts: list[str] = []
        self._in_title = False
        self._skipping: list[str] = []  # open skipped elements, innermost last
        self._paragraph: list[str] = []
        self._preformatted: list[str] | None = None
        self._heading: list[str] | None = None
        self._item: list[str] | None = None
        self._lists: list[list] = []  # [tag, items so far] per open ul/ol
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
            return
        attributes = dict(attrs)
        if self._skipping:
            if tag == self._skipping[-1]:
                self._skipping.append(tag)
            return
        if tag in _SKIPPED_TAGS or attributes.get("role") == "navigation" or "hidden" in attributes:
            self._skipping.append(tag)
            return
        if tag in _HEADING_TAGS:
            self._end_paragraph()
            self._heading = []
        elif tag in ("ul", "ol"):
            self._end_item()
            self._end_paragraph()
            self._lists.append([tag, 0])
        elif tag == "li":
            self._end_item()
            self._end_paragraph()
            self._item = []
            if self._lists:
                self._lists[-1][1] += 1
        elif tag == "tr":
            self._end_paragraph()
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "pre":
            self._end_paragraph()
            self._preformatted = []
        elif tag == "br":
            self._text_target().append("\n" if self._text_target() is self._paragraph else " ")
        elif tag in _BLOCK_TAGS:
            if self._item is not None:
                self._item.append(" ")
            else:
                self._end_paragraph()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
            return
        if self._skipping:
            if tag == self._skipping[-1]:
                self._skipping.pop()
            return
        if tag in _HEADING_TAGS and self._heading is not None:
            self.collector.heading("".join(self._heading))
            self._heading = None
        elif tag == "li":
            self._end_item()
        elif tag in ("ul", "ol"):
            self._end_item()
            if self._lists:
                self._lists.pop()
            # Text after a nested list still belongs to the outer item.
            self._item = [] if self._lists else None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.collector.table_row(self._row)
            self._row = None
        elif tag == "pre" and self._preformatted is not None:
            self.collector.paragraph("".join(self._preformatted), verbatim=True)
            self._preformatted = None
        elif tag in _BLOCK_TAGS:
            self._end_paragraph()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
        elif not self._skipping:
            target = self._text_target()
            target.append(data if target is self._preformatted else _WHITESPACE.sub(" ", data))

    def close(self) -> None:
        super().close()
        self._end_item()
        self._end_paragraph()

    def _text_target(self) -> list[str]:
        for target in (self._heading, self._cell, self._item, self._preformatted):
            if target is not None:
                return target
        if self._row is not None:
            return []  # whitespace between cells
        return self._paragraph

    def _end_item(self) -> None:
        if self._item is None:
            return
        depth = max(len(self._lists) - 1, 0)
        marker = "-"
        if self._lists and self._lists[-1][0] == "ol":
            marker = f"{max(self._lists[-1][1], 1)}."
        self.collector.list_item("".join(self._item), marker=marker, depth=depth)
        self._item = None

    def _end_paragraph(self) -> None:
        text = "".join(self._paragraph)
        self._paragraph = []
        lines = [" ".join(line.split()) for line in text.split("\n")]
        self.collector.paragraph("\n".join(line for line in lines if line))


def load_html(data: bytes) -> ExtractedDocument:
    parser = _ContentParser()
    parser.feed(decode_text(data))
    parser.close()
    sections = parser.collector.sections()
    if not sections:
        raise DocumentRejected("empty", "The web page has no readable text (only scripts, navigation or images).")
    title = " ".join("".join(parser.title_parts).split()) or None
    return ExtractedDocument(sections, None, title, "html")
