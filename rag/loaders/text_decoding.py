"""Bytes to text for the text formats (TXT, Markdown, HTML, CSV, JSON).

Uploads come from Windows editors (UTF-16 with a BOM, cp1252), spreadsheets and web pages, so a
strict UTF-8 decode would reject files an admin sees as ordinary text.
"""

from __future__ import annotations

import codecs

from rag.documents import DocumentRejected

# UTF-32 first: its little-endian BOM starts with UTF-16's.
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

_SAMPLE_BYTES = 4096


def _bomless_utf16_encoding(data: bytes) -> str | None:
    """UTF-16 without a BOM shows as NUL bytes on every other position for Latin text."""
    sample = data[:_SAMPLE_BYTES]
    if len(sample) < 4:
        return None
    even_zeros = sample[0::2].count(0) / len(sample[0::2])
    odd_zeros = sample[1::2].count(0) / len(sample[1::2])
    if odd_zeros > 0.4 and even_zeros < 0.05:
        return "utf-16-le"
    if even_zeros > 0.4 and odd_zeros < 0.05:
        return "utf-16-be"
    return None


def _looks_binary(text: str) -> bool:
    sample = text[:_SAMPLE_BYTES]
    if "\x00" in sample:
        return True
    control = sum(1 for character in sample if ord(character) < 32 and character not in "\n\r\t\f\v")
    return control > max(8, len(sample) // 50)


def decode_text(data: bytes) -> str:
    """Decode by BOM, then UTF-8, then BOM-less UTF-16, then cp1252 (latin-1 for the five bytes
    cp1252 leaves undefined). Binary data is rejected rather than decoded into noise."""
    for mark, encoding in _BYTE_ORDER_MARKS:
        if data.startswith(mark):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as error:
                raise DocumentRejected(
                    "corrupt", f"The file starts like {encoding.upper()} text but is not valid {encoding.upper()}."
                ) from error

    utf16 = _bomless_utf16_encoding(data)
    for encoding in (utf16, "utf-8", "cp1252"):
        if encoding is None:
            continue
        try:
            return _reject_binary(data.decode(encoding))
        except UnicodeDecodeError:
            continue
    return _reject_binary(data.decode("latin-1"))


def _reject_binary(text: str) -> str:
    if _looks_binary(text):
        raise DocumentRejected(
            "unsupported_type",
            "The file contains binary data, not text. Upload it as PDF, DOCX, HTML, Markdown, TXT or a CSV/JSON FAQ.",
        )
    return text
