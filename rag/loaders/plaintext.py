"""Plain text: one section of paragraphs, hard-wrapped lines joined back into sentences."""

from __future__ import annotations

from rag.cleaning import normalize_text, reflow_wrapped_lines
from rag.documents import DocumentRejected, ExtractedDocument, Section
from rag.loaders.text_decoding import decode_text


def load_txt(data: bytes) -> ExtractedDocument:
    # Hard-wrapped text (e-mails, exported manuals) wraps at 66-80 columns; shorter lines are
    # more likely laid out on purpose (hours, addresses) and stay.
    text = reflow_wrapped_lines(normalize_text(decode_text(data)), min_wrap_width=60)
    if not text.strip():
        raise DocumentRejected("empty", "The text file is empty.")
    return ExtractedDocument([Section(text, None, None, "prose")], None, None, "txt")
