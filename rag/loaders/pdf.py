"""PDF: the text layer of each page, cleaned of running headers, footers and typesetting breaks."""

from __future__ import annotations

import io

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

from rag.cleaning import drop_repeated_page_lines, join_hyphenated_line_breaks, normalize_text, reflow_wrapped_lines
from rag.documents import DocumentRejected, ExtractedDocument, Section

# Past this a "document" is a book scan or an export gone wrong, and one upload would hold the
# ingest queue for a long time.
MAX_PDF_PAGES = 2000


def _encrypted() -> DocumentRejected:
    return DocumentRejected("encrypted", "The PDF is password-protected; upload an unprotected copy.")


def _corrupt(detail: str) -> DocumentRejected:
    return DocumentRejected("corrupt", f"The PDF is damaged and cannot be read ({detail}). Re-export or re-download it.")


def _open(data: bytes) -> PdfReader:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # Many "protected" PDFs only restrict printing or copying and open with an empty user
            # password; only a real user password stops us.
            if reader.decrypt("") == PasswordType.NOT_DECRYPTED:
                raise _encrypted()
        page_count = len(reader.pages)
    except DocumentRejected:
        raise
    except (FileNotDecryptedError, DependencyError) as error:
        raise _encrypted() from error
    except PdfReadError as error:
        raise _corrupt(str(error) or type(error).__name__) from error
    except Exception as error:  # pypdf raises whatever a damaged file trips (KeyError, ValueError, ...)
        raise _corrupt(type(error).__name__) from error
    if page_count == 0:
        raise DocumentRejected("empty", "The PDF has no pages.")
    if page_count > MAX_PDF_PAGES:
        raise DocumentRejected("too_large", f"The PDF has {page_count} pages; split it into parts of at most {MAX_PDF_PAGES}.")
    return reader


def _page_texts(reader: PdfReader) -> list[str]:
    texts = []
    unreadable = 0
    for page in reader.pages:
        try:
            texts.append(normalize_text(page.extract_text() or ""))
        except Exception:  # one damaged page should not lose the rest of the document
            unreadable += 1
            texts.append("")
    if unreadable == len(texts):
        raise _corrupt("no page could be read")
    return texts


def _title(reader: PdfReader) -> str | None:
    try:
        title = reader.metadata.title if reader.metadata else None
    except Exception:  # metadata is optional; a damaged info dictionary must not fail the upload
        return None
    title = " ".join(str(title).split()) if title else ""
    return title or None


def load_pdf(data: bytes) -> ExtractedDocument:
    reader = _open(data)
    pages = drop_repeated_page_lines(_page_texts(reader))
    sections = []
    for number, text in enumerate(pages, start=1):
        text = reflow_wrapped_lines(join_hyphenated_line_breaks(text))
        if text.strip():
            sections.append(Section(text, None, number, "prose"))
    if not sections:
        raise DocumentRejected(
            "empty",
            "The PDF has no text layer (it is probably scanned images); run it through OCR or upload the text itself.",
        )
    return ExtractedDocument(sections, len(pages), _title(reader), "pdf")
