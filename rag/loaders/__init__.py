"""Reading an uploaded file into an `ExtractedDocument`, whatever format it arrived in."""

from __future__ import annotations

from collections.abc import Callable

from rag.documents import DocumentRejected, ExtractedDocument
from rag.loaders.faq import FaqPair, load_csv_faq, load_json_faq, read_csv_faq, read_json_faq
from rag.loaders.markdown import load_markdown
from rag.loaders.pdf import load_pdf
from rag.loaders.plaintext import load_txt
from rag.loaders.sniffing import SUPPORTED_FORMATS, detect_format
from rag.loaders.webpage import load_html
from rag.loaders.word import load_docx

# Uploads past this are refused before any parsing: extraction holds the whole file in memory.
MAX_UPLOAD_BYTES = 25 * 1024 * 1024

_LOADERS: dict[str, Callable[[bytes], ExtractedDocument]] = {
    "pdf": load_pdf,
    "docx": load_docx,
    "html": load_html,
    "markdown": load_markdown,
    "txt": load_txt,
    "csv_faq": load_csv_faq,
    "json_faq": load_json_faq,
}


def extract_document(filename: str, content_type: str | None, data: bytes) -> ExtractedDocument:
    """Sections of cleaned text from an upload, or DocumentRejected with a reason for the admin.

    The format is decided from the bytes as well as the name and declared type (see sniffing).
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise DocumentRejected(
            "too_large", f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; split it into smaller files."
        )
    if not data.strip():
        raise DocumentRejected("empty", "The file is empty.")
    document = _LOADERS[detect_format(filename, content_type, data)](data)
    if not any(section.text.strip() for section in document.sections):
        raise DocumentRejected("empty", "No text could be found in the file.")
    return document


__all__ = [
    "MAX_UPLOAD_BYTES",
    "SUPPORTED_FORMATS",
    "FaqPair",
    "extract_document",
    "read_csv_faq",
    "read_json_faq",
]
