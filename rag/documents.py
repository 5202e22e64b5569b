"""What the ingestion pipeline passes between stages: extracted sections, chunks, and rejections."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SectionKind = Literal["prose", "list", "faq", "table"]


@dataclass(frozen=True)
class Section:
    """A run of one kind of content under one heading.

    `title` is the nearest heading (or, for an FAQ pair, the question); `page` is 1-based and only
    known for paginated formats (PDF). A list's text is one item per line, each with its marker
    ("- ", "1. "), nested items indented; a table's text is one row per line, cells joined by " | ",
    header row first; an FAQ pair's text is "Q: <question>\\nA: <answer>".
    """

    text: str
    title: str | None
    page: int | None
    kind: SectionKind


@dataclass(frozen=True)
class ExtractedDocument:
    sections: list[Section]
    page_count: int | None
    title: str | None
    format: str  # "pdf", "docx", "html", "markdown", "txt", "csv_faq", "json_faq"


@dataclass(frozen=True)
class Chunk:
    """One retrievable passage. `token_count` counts the embedder's tokens for `text` alone (the
    embedder adds its own prefix and two special tokens on top)."""

    text: str
    section_title: str | None
    position: int  # 0-based order within the document
    page: int | None  # page where the chunk's text starts
    token_count: int


RejectionCode = Literal["unsupported_type", "encrypted", "empty", "corrupt", "too_large", "bad_faq"]


class DocumentRejected(Exception):
    """The upload cannot be indexed. `reason` is shown to the tenant's admin as is, so it says what
    to do about it; `code` is for machines (metrics, API clients)."""

    def __init__(self, code: RejectionCode, reason: str) -> None:
        # Both in args so the exception survives pickling (process pools, Temporal's converters).
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"
