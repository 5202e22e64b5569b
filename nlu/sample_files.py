"""Training samples as CSV: reading an import and writing an export.

An import has a header row naming a `text` and an `intent` column, and optionally `status`
(approved when absent or empty); other columns are ignored, so an export imports back as is.
The file must be Unicode (UTF-8, with or without a BOM, or UTF-16 with a BOM): training texts
are often Hindi, which no single-byte code page holds, and guessing one would store gibberish
as training data instead of refusing the file.

Rows are numbered as a spreadsheet shows them: the header is row 1. A row that cannot become a
sample is reported with its reason; the other rows are imported.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from nlu.samples import MAX_SAMPLE_CHARS, text_key

MAX_IMPORT_ROWS = 20_000
MAX_IMPORT_BYTES = 5 * 1024 * 1024
EXPORT_COLUMNS = ("text", "intent", "status", "source")
IMPORT_STATUSES = ("approved", "pending", "rejected")
INTENT_NAME = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")  # the intents table's check constraint

_DELIMITERS = ",;\t"
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


class SampleFileRejected(ValueError):
    """The file as a whole cannot be read; `reason` says why, for the person who sent it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SampleRow:
    row: int
    text: str
    key: str  # nlu.samples.text_key(text)
    intent: str | None
    status: str


@dataclass(frozen=True)
class RowProblem:
    row: int
    reason: str


@dataclass(frozen=True)
class ExportRow:
    text: str
    intent: str | None
    status: str
    source: str


def decode_sample_file(data: bytes) -> str:
    for mark, encoding in _BOMS:
        if data.startswith(mark):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                raise SampleFileRejected(f"the file starts like {encoding.upper()} text but is not valid {encoding.upper()}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SampleFileRejected(
            f"the file is not UTF-8 text (byte {exc.start + 1} cannot be read); save it as 'CSV UTF-8'"
        ) from None


def _delimiter(header: str) -> str:
    # The header names columns and holds no commas of its own, unlike the texts: it decides.
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=counts.__getitem__)
    return best if counts[best] else ","


def _columns(header: list[str]) -> dict[str, int]:
    names = [h.strip().lstrip("\ufeff").strip().lower() for h in header]
    missing = [c for c in ("text", "intent") if c not in names]
    if missing:
        found = ", ".join(repr(n) for n in names if n) or "none"
        raise SampleFileRejected(f"the header row needs the columns text and intent (missing: {', '.join(missing)}; found: {found})")
    return {c: names.index(c) for c in ("text", "intent", "status") if c in names}


def _cell(record: list[str], columns: dict[str, int], name: str) -> str:
    at = columns.get(name)
    return record[at].strip() if at is not None and at < len(record) else ""


def _sample(row: int, record: list[str], columns: dict[str, int]) -> SampleRow | str:
    """The row as a sample, or why it cannot be one."""
    text = _cell(record, columns, "text")
    intent = _cell(record, columns, "intent").lower() or None
    status = _cell(record, columns, "status").lower() or "approved"
    if not text:
        return "the text is empty"
    if "\x00" in text:
        return "the text contains a NUL character"
    if len(text) > MAX_SAMPLE_CHARS:
        return f"the text is longer than {MAX_SAMPLE_CHARS} characters"
    key = text_key(text)
    if not key:
        return "the text has no letters or digits"
    if status not in IMPORT_STATUSES:
        return f"unknown status {status!r}; use {', '.join(IMPORT_STATUSES)}"
    if intent is not None and not INTENT_NAME.match(intent):
        return f"{intent[:80]!r} is not an intent name (lower-case letters, digits and _, at most 64)"
    if intent is None and status == "approved":
        return "an approved sample needs an intent"
    return SampleRow(row, text, key, intent, status)


def parse_sample_csv(data: bytes) -> tuple[list[SampleRow], list[RowProblem]]:
    """The rows that can become samples, and the problem with each row that cannot. Raises
    SampleFileRejected when the file cannot be read at all, or has more than MAX_IMPORT_ROWS."""
    if len(data) > MAX_IMPORT_BYTES:
        raise SampleFileRejected(f"the file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB; split it")
    text = decode_sample_file(data)
    if "\x00" in text:
        raise SampleFileRejected("the file contains NUL bytes: it is not a CSV text file")
    if not text.strip():
        raise SampleFileRejected("the file is empty")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text.lstrip("\ufeff").split("\n", 1)[0]), strict=True)
    rows: list[SampleRow] = []
    problems: list[RowProblem] = []
    first_row: dict[str, int] = {}
    try:
        columns = _columns(next(reader))
        for row, record in enumerate(reader, start=2):
            if not any(cell.strip() for cell in record):
                continue  # blank lines between blocks of a sheet
            if len(rows) + len(problems) >= MAX_IMPORT_ROWS:
                raise SampleFileRejected(f"the file has more than {MAX_IMPORT_ROWS} rows; import at most {MAX_IMPORT_ROWS} at a time")
            outcome = _sample(row, record, columns)
            if isinstance(outcome, str):
                problems.append(RowProblem(row, outcome))
            elif (earlier := first_row.setdefault(outcome.key, row)) != row:
                problems.append(RowProblem(row, f"the same text as row {earlier}; only the first is imported"))
            else:
                rows.append(outcome)
    except csv.Error as exc:
        raise SampleFileRejected(f"the file is not valid CSV near line {reader.line_num}: {exc}") from None
    return rows, problems


def export_lines(rows: Iterable[ExportRow], *, header: bool = True) -> Iterator[str]:
    """CSV text, a line (record) at a time: RFC 4180 quoting, so texts with commas, quotes and
    line breaks come back as they were."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def take() -> str:
        line = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return line

    if header:
        writer.writerow(EXPORT_COLUMNS)
        yield take()
    for r in rows:
        writer.writerow((r.text, r.intent or "", r.status, r.source))
        yield take()


def export_csv(rows: Iterable[ExportRow]) -> str:
    return "".join(export_lines(rows))
