"""DOCX: body paragraphs and tables in reading order; heading styles start sections."""

from __future__ import annotations

import io
import re
import zipfile

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from rag.documents import DocumentRejected, ExtractedDocument
from rag.loaders.sections import SectionCollector

# python-docx holds every part of the package in memory, so the declared (uncompressed) sizes are
# checked first: a few-KB zip can inflate to gigabytes. Python's zipfile never inflates an entry
# past its declared size, so the declared figures are a safe bound.
MAX_DOCX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
MAX_DOCX_PARTS = 5000

_HEADING_STYLE = re.compile(r"^(?:heading\s*(\d)|title)$", re.IGNORECASE)
_LIST_STYLE_DEPTH = re.compile(r"^list (?:bullet|number|continue|paragraph)?\s*(\d)?$", re.IGNORECASE)


def _corrupt(detail: str) -> DocumentRejected:
    return DocumentRejected("corrupt", f"The Word file is damaged and cannot be read ({detail}). Re-save it as .docx.")


def _check_package(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        raise _corrupt("not a valid zip package") from error
    if not any(entry.filename == "word/document.xml" for entry in entries):
        raise _corrupt("no document body")
    if len(entries) > MAX_DOCX_PARTS or sum(entry.file_size for entry in entries) > MAX_DOCX_UNCOMPRESSED_BYTES:
        raise DocumentRejected(
            "too_large",
            f"The Word file unpacks to more than {MAX_DOCX_UNCOMPRESSED_BYTES // (1024 * 1024)} MB; "
            "remove large embedded images or split it.",
        )


def _style_name(paragraph: Paragraph) -> str:
    try:
        style = paragraph.style
    except (KeyError, ValueError):  # a style id the styles part does not define
        return ""
    return (style.name or "") if style is not None else ""


def _list_depth(paragraph: Paragraph, style_name: str) -> int | None:
    """Nesting depth when the paragraph is a list item (list style or Word numbering), else None."""
    properties = paragraph._p.pPr
    numbering = properties.numPr if properties is not None else None
    if numbering is not None:
        level = numbering.ilvl.val if numbering.ilvl is not None else 0
        return int(level or 0)
    match = _LIST_STYLE_DEPTH.match(style_name)
    if match:
        return int(match.group(1)) - 1 if match.group(1) else 0
    return None


def _row_cells(row) -> list[str]:
    # A horizontally merged cell is returned once per grid column it spans; keep it once.
    cells, previous = [], None
    for cell in row.cells:
        if cell._tc is not previous:
            cells.append(cell.text)
        previous = cell._tc
    return cells


def _collect(document, collector: SectionCollector) -> str | None:
    """Walk the body into `collector`; returns the text of the first Title-styled paragraph."""
    title_paragraph = None
    numbers_by_depth: dict[int, int] = {}
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            numbers_by_depth.clear()
            for row in block.rows:
                collector.table_row(_row_cells(row))
            continue
        text = block.text
        if not text.strip():
            continue
        style_name = _style_name(block)
        heading = _HEADING_STYLE.match(style_name)
        depth = None if heading else _list_depth(block, style_name)
        if depth is None:
            numbers_by_depth.clear()
        if heading:
            if style_name.lower() == "title" and title_paragraph is None:
                title_paragraph = text
            collector.heading(text)
        elif depth is not None:
            marker = "-"
            if "number" in style_name.lower():
                numbers_by_depth = {level: n for level, n in numbers_by_depth.items() if level <= depth}
                numbers_by_depth[depth] = numbers_by_depth.get(depth, 0) + 1
                marker = f"{numbers_by_depth[depth]}."
            collector.list_item(text, marker=marker, depth=depth)
        else:
            collector.paragraph(text)
    return title_paragraph


def load_docx(data: bytes) -> ExtractedDocument:
    _check_package(data)
    collector = SectionCollector()
    try:
        document = docx.Document(io.BytesIO(data))
        title_paragraph = _collect(document, collector)
        core_title = document.core_properties.title
    except Exception as error:  # python-docx and lxml raise many types for damaged parts
        raise _corrupt(type(error).__name__) from error
    sections = collector.sections()
    if not sections:
        raise DocumentRejected("empty", "The Word document contains no text.")
    title = " ".join((core_title or title_paragraph or "").split()) or None
    return ExtractedDocument(sections, None, title, "docx")
