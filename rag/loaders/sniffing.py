"""Deciding which loader reads an upload: the bytes first, then the name and declared type.

Admins rename files and browsers guess content types, so neither is trusted alone: a PDF saved
as "faq.txt" is read as a PDF, and a PNG named "policy.pdf" is refused as an image.
"""

from __future__ import annotations

import io
import posixpath
import zipfile

from rag.documents import DocumentRejected

SUPPORTED_FORMATS = "PDF, Word (.docx), HTML, Markdown, plain text (.txt), or an FAQ as CSV or JSON"

_EXTENSION_FORMATS = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdown": "markdown",
    ".txt": "txt",
    ".text": "txt",
    ".csv": "csv_faq",
    ".tsv": "csv_faq",
    ".json": "json_faq",
}

_CONTENT_TYPE_FORMATS = {
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/plain": "txt",
    "text/csv": "csv_faq",
    "text/tab-separated-values": "csv_faq",
    "application/json": "json_faq",
}

# Formats people commonly try that we do not read, by extension: the reason says what to do.
_KNOWN_UNSUPPORTED_EXTENSIONS = {
    ".doc": "an old-format Word document (.doc); open it in Word and save it as .docx",
    ".rtf": "a Rich Text file (.rtf); save it as .docx or plain text",
    ".odt": "an OpenDocument text file (.odt); save it as .docx",
    ".xls": "a spreadsheet; export the FAQ sheet as CSV",
    ".xlsx": "a spreadsheet; export the FAQ sheet as CSV",
    ".ppt": "a presentation; export it as PDF",
    ".pptx": "a presentation; export it as PDF",
}

_BINARY_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "an image (PNG); text in images is not read, upload the text itself or a PDF with a text layer"),
    (b"\xff\xd8\xff", "an image (JPEG); text in images is not read, upload the text itself or a PDF with a text layer"),
    (b"GIF87a", "an image (GIF)"),
    (b"GIF89a", "an image (GIF)"),
    (b"RIFF", "a media file"),
    (b"MZ", "a program (executable)"),
    (b"\x7fELF", "a program (executable)"),
    (b"\x1f\x8b", "a compressed archive (gzip)"),
    (b"7z\xbc\xaf\x27\x1c", "a compressed archive (7z)"),
    (b"Rar!", "a compressed archive (RAR)"),
    (b"{\\rtf", "a Rich Text file (.rtf); save it as .docx or plain text"),
)

_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# A password-protected .docx is an OLE container holding these streams, not a zip.
_ENCRYPTED_OOXML_STREAM = "EncryptedPackage".encode("utf-16-le")
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")


def _unsupported(what: str) -> DocumentRejected:
    return DocumentRejected("unsupported_type", f"This file is {what}. Supported formats: {SUPPORTED_FORMATS}.")


def _claimed_format(filename: str, content_type: str | None) -> tuple[str | None, str]:
    extension = posixpath.splitext(filename.replace("\\", "/").lower())[1]
    if extension in _EXTENSION_FORMATS:
        return _EXTENSION_FORMATS[extension], extension
    media_type = (content_type or "").split(";")[0].strip().lower()
    return _CONTENT_TYPE_FORMATS.get(media_type), extension


def _zip_format(data: bytes, claimed: str | None) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        if claimed == "docx":
            raise DocumentRejected("corrupt", "The Word file is damaged (its zip structure cannot be read).") from error
        raise _unsupported("a damaged zip archive") from error
    if "word/document.xml" in names:
        return "docx"
    if claimed == "docx" and "[Content_Types].xml" in names:
        raise DocumentRejected("corrupt", "The Word file is damaged: it has no document body (word/document.xml).")
    if any(name.startswith("xl/") for name in names):
        raise _unsupported("a spreadsheet; export the FAQ sheet as CSV")
    if any(name.startswith("ppt/") for name in names):
        raise _unsupported("a presentation; export it as PDF")
    if claimed == "docx":
        raise DocumentRejected("corrupt", "The file is named as a Word document but is a zip archive without one.")
    raise _unsupported("a zip archive")


def detect_format(filename: str, content_type: str | None, data: bytes) -> str:
    """The loader name for this upload, or DocumentRejected saying why none fits."""
    claimed, extension = _claimed_format(filename, content_type)
    head = data[:1024]

    if b"%PDF-" in head:  # the PDF spec tolerates junk before the header
        return "pdf"
    if data.startswith(_ZIP_SIGNATURES):
        return _zip_format(data, claimed)
    if data.startswith(_OLE_SIGNATURE):
        if _ENCRYPTED_OOXML_STREAM in data:
            raise DocumentRejected(
                "encrypted", "The Word file is password-protected; remove the password (File > Info) and upload it again."
            )
        raise _unsupported(_KNOWN_UNSUPPORTED_EXTENSIONS.get(extension, "an old-format Office document; save it as .docx"))
    for signature, what in _BINARY_SIGNATURES:
        if data.startswith(signature):
            raise _unsupported(what)

    if claimed == "pdf":
        raise DocumentRejected("corrupt", "The file is named as a PDF but its contents are not a PDF (damaged or renamed).")
    if claimed == "docx":
        raise DocumentRejected(
            "corrupt", "The file is named as a Word document but its contents are not one (damaged or renamed)."
        )
    if claimed is not None:
        return claimed
    if extension in _KNOWN_UNSUPPORTED_EXTENSIONS:
        raise _unsupported(_KNOWN_UNSUPPORTED_EXTENSIONS[extension])
    return _text_format_by_content(head)


def _text_format_by_content(head: bytes) -> str:
    # No usable name or type: judge the text by its opening.
    opening = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if opening.startswith((b"<!doctype html", b"<html")) or b"<body" in opening:
        return "html"
    if opening.startswith((b"{", b"[")):
        return "json_faq"
    return "txt"
