"""Turning a stream of blocks (headings, paragraphs, list items, table rows) into sections.

The structured loaders (DOCX, HTML, Markdown) walk their documents in reading order and report
blocks here; this keeps one definition of what a section is and how its text is laid out.
"""

from __future__ import annotations

from rag.cleaning import normalize_text
from rag.documents import Section, SectionKind


def _one_line(text: str) -> str:
    return " ".join(normalize_text(text).split())


class SectionCollector:
    """Collects blocks under the current heading; a change of heading or of block kind closes the
    current section, so every section holds one kind of content under one title."""

    def __init__(self) -> None:
        self.title: str | None = None
        self._kind: SectionKind | None = None
        self._parts: list[str] = []
        self._sections: list[Section] = []

    def heading(self, text: str) -> None:
        title = _one_line(text)
        if not title:
            return
        self._close()
        self.title = title

    def paragraph(self, text: str, *, verbatim: bool = False) -> None:
        # Code keeps its spacing and inner blank lines; prose is normalised.
        cleaned = normalize_text(text, keep_spacing=verbatim)
        if cleaned.strip():
            self._add("prose", cleaned)

    def list_item(self, text: str, *, marker: str = "-", depth: int = 0) -> None:
        item = _one_line(text)
        if item:
            self._add("list", f"{'  ' * depth}{marker} {item}")

    def table_row(self, cells: list[str]) -> None:
        values = [_one_line(cell) for cell in cells]
        if any(values):
            self._add("table", " | ".join(values))

    def sections(self) -> list[Section]:
        self._close()
        return list(self._sections)

    def _add(self, kind: SectionKind, part: str) -> None:
        if kind != self._kind:
            self._close()
            self._kind = kind
        self._parts.append(part)

    def _close(self) -> None:
        if self._kind is not None and self._parts:
            separator = "\n\n" if self._kind == "prose" else "\n"
            self._sections.append(Section(separator.join(self._parts), self.title, None, self._kind))
        self._kind = None
        self._parts = []
