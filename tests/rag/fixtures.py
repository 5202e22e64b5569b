"""Small documents of every supported format, built in code so the tests carry no binary files."""

from __future__ import annotations

import csv
import io
import zipfile

import docx
from pypdf import PdfReader, PdfWriter


def _pdf_string(text: str) -> str:
    return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def pdf_document(pages: list[list[str]], *, title: str | None = None) -> bytes:
    """A PDF whose pages hold the given lines of text."""
    streams = []
    for lines in pages:
        operations = ["BT", "/F1 11 Tf", "72 740 Td"]
        for line in lines:
            operations += [f"{_pdf_string(line)} Tj", "0 -16 Td"]
        streams.append("\n".join([*operations, "ET"]))
    return _pdf_from_content_streams(streams, title)


def _pdf_from_content_streams(streams: list[str], title: str | None) -> bytes:
    """Written object by object as the spec lays out: catalog, page tree, a standard font, then a
    page and its content stream per page, the cross-reference table and the trailer."""
    page_count = len(streams)
    first_page_object = 4
    kids = " ".join(f"{first_page_object + 2 * index} 0 R" for index in range(page_count))
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {page_count} >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    for index, stream in enumerate(streams):
        content_object = first_page_object + 2 * index + 1
        objects.append(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {content_object} 0 R >>"
        )
        objects.append(f"<< /Length {len(stream.encode('latin-1'))} >>\nstream\n{stream}\nendstream")
    if title is not None:
        objects.append(f"<< /Title {_pdf_string(title)} >>")

    output = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(output))
        output += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref_offset = len(output)
    output += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        output += f"{offset:010d} 00000 n \n".encode()
    info = f" /Info {len(objects)} 0 R" if title is not None else ""
    output += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info} >>\nstartxref\n{xref_offset}\n%%EOF\n".encode()
    return bytes(output)


def encrypted_pdf(source: bytes, *, user_password: str, algorithm: str = "AES-256") -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(source)))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm=algorithm)
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def scanned_pdf() -> bytes:
    """A page with a drawing and no text, as a scanner's output looks to a text extractor."""
    return _pdf_from_content_streams(["0 0 m 100 100 l S"], None)


def docx_document() -> bytes:
    document = docx.Document()
    document.core_properties.title = "Customer Handbook"
    document.add_heading("Returns", level=1)
    document.add_paragraph("You can return any item within 30 days of delivery.")
    document.add_paragraph("Keep the original packaging.", style="List Bullet")
    document.add_paragraph("Include the order number.", style="List Bullet")
    document.add_paragraph("Print the return label.", style="List Number")
    document.add_paragraph("Drop the parcel at a courier office.", style="List Number")
    document.add_heading("Shipping fees", level=2)
    table = document.add_table(rows=3, cols=2)
    for row, (zone, fee) in zip(table.rows, [("Zone", "Fee"), ("Domestic", "Free"), ("International", "15 EUR")], strict=True):
        row.cells[0].text, row.cells[1].text = zone, fee
    output = io.BytesIO()
    document.save(output)
    return output.getvalue()


def zip_bomb_docx(uncompressed_bytes: int) -> bytes:
    """A small .docx whose document part inflates past `uncompressed_bytes`."""
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as part:
            block = b" " * (1024 * 1024)
            for _ in range(uncompressed_bytes // len(block) + 1):
                part.write(block)
    return output.getvalue()


def encrypted_docx() -> bytes:
    """What Word writes for a password-protected .docx: an OLE compound file, not a zip, whose
    directory names an EncryptedPackage stream."""
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    directory = "EncryptionInfo".encode("utf-16-le").ljust(128, b"\x00") + "EncryptedPackage".encode("utf-16-le").ljust(
        128, b"\x00"
    )
    return header + directory + b"\x00" * 1024


HTML_PAGE = """<!DOCTYPE html>
<html><head><title>Help &amp; Support</title><style>body { color: red }</style>
<script>var tracking = "do not index";</script></head>
<body>
<nav><a href="/">Home</a> | <a href="/login">Login</a></nav>
<h1>Delivery</h1>
<p>Orders ship within <b>two</b> working days.<br>Tracking links arrive by e-mail.</p>
<h2>Delivery areas</h2>
<ul><li>India &ndash; all pin codes</li><li>Nepal</li></ul>
<div>We do not deliver to P.O. boxes.</div>
<footer>&copy; 2024 Example Store. All rights reserved.</footer>
<script>console.log("noise")</script>
</body></html>
"""

MARKDOWN_PAGE = """---
title: Internal front matter
owner: support-team
---
# Account help

Reset your password from the login page.
The link is valid for one hour.

Payments
--------

We accept:

- Credit cards
- UPI
  - Google Pay
  - PhonePe
- Cash on delivery

```bash
curl -X POST https://example.com/api/reset   # keep   spacing
```

| Plan | Price |
|------|-------|
| Basic | 99 |
"""

HINDI_TEXT = "नमस्ते! आपका ऑर्डर कल भेजा जाएगा। डिलीवरी में तीन दिन लगते हैं।\n\nधन्यवाद।"


def faq_csv(delimiter: str) -> bytes:
    """An FAQ sheet as a spreadsheet exports it, with a half-filled row at the end."""
    output = io.StringIO()
    writer = csv.writer(output, delimiter=delimiter)
    writer.writerow(["Question", "Answer", "Category"])
    writer.writerow(["How do I track my order?", "Use the link in your e-mail, or the app.", "Shipping"])
    writer.writerow(["Can I pay by UPI?", "Yes.", "Payments"])
    writer.writerow(["", "Orphan answer without a question", ""])
    return output.getvalue().encode()


FAQ_CSV_SEMICOLON = "q;a\nWhere is my refund?;Refunds take 5-7 days, after we receive the item.\n"

FAQ_JSON = '{"faqs": [{"question": "Do you ship abroad?", "answer": "Yes, to 20 countries."}, {"q": "Is COD available?", "a": ["Yes,", "up to 5000 INR."]}]}'

PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
