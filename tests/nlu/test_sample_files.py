"""Sample CSV files: what an admin's spreadsheet becomes, row by row, and an export that reads
back exactly as it was written."""

from __future__ import annotations

import codecs
import csv
import io

import pytest

from nlu.sample_files import (
    MAX_IMPORT_ROWS,
    ExportRow,
    SampleFileRejected,
    export_csv,
    export_lines,
    parse_sample_csv,
)

HINDI = "मेरा ऑर्डर कहाँ है?"
HINGLISH = "mera order kab tak aayega, bhai?"


def _parsed(text: str, encoding: str = "utf-8"):
    rows, problems = parse_sample_csv(text.encode(encoding))
    return [(r.row, r.text, r.intent, r.status) for r in rows], [(p.row, p.reason) for p in problems]


def test_rows_become_samples_and_bad_rows_say_why():
    rows, problems = _parsed(
        "text,intent,status\n"
        f"{HINDI},track_order,\n"
        f'"{HINGLISH}",Track_Order,pending\n'
        "\n"
        ",track_order,\n"
        "refund please,,\n"
        "just browsing,,pending\n"
        "where is my ORDER???,track_order,approved\n"
        "cancel it,cancel order,\n"
        "cancel it now,cancel_order,maybe\n"
        "!!!,track_order,\n"
    )
    assert rows == [
        (2, HINDI, "track_order", "approved"),
        (3, HINGLISH, "track_order", "pending"),  # names are compared lower-case
        (7, "just browsing", None, "pending"),  # a pending sample may wait for its label
        (8, "where is my ORDER???", "track_order", "approved"),
    ]
    assert problems == [
        (5, "the text is empty"),
        (6, "an approved sample needs an intent"),
        (9, "'cancel order' is not an intent name (lower-case letters, digits and _, at most 64)"),
        (10, "unknown status 'maybe'; use approved, pending, rejected"),
        (11, "the text has no letters or digits"),
    ]


def test_the_same_message_twice_in_a_file_is_imported_once():
    _, problems = _parsed("text,intent\nWhere is my order?,track_order\nwhere is my order,track_order\n  WHERE  is my order!! ,refund\n")
    assert problems == [(3, "the same text as row 2; only the first is imported"), (4, "the same text as row 2; only the first is imported")]


def test_quoted_commas_quotes_and_line_breaks_survive_and_rows_count_as_a_sheet_shows_them():
    rows, problems = _parsed('text,intent\n"first line\nsecond, with ""quotes""",faq\nnext,faq\n')
    assert rows == [(2, 'first line\nsecond, with "quotes"', "faq", "approved"), (3, "next", "faq", "approved")]
    assert problems == []


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (f"text;intent\n{HINDI};track_order\n", "utf-8"),  # a spreadsheet that separates with ;
        (f"Text\tIntent\tSource\n{HINDI}\ttrack_order\tmanual\n", "utf-8"),  # tabs, header case, extra column
        (f"text,intent\n{HINDI},track_order\n", "utf-8-sig"),  # Excel's "CSV UTF-8"
        (f"text,intent\r\n{HINDI},track_order\r\n", "utf-16"),  # Excel's "Unicode text" (with a BOM)
    ],
)
def test_spreadsheet_flavours_are_read(data, encoding):
    rows, problems = _parsed(data, encoding)
    assert rows == [(2, HINDI, "track_order", "approved")] and problems == []


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "the file is empty"),
        (b" \n\n", "the file is empty"),
        ("text,intent\ncafé,faq\n".encode("cp1252"), "not UTF-8"),
        (codecs.BOM_UTF8 + b"text,intent\n\xff\xfe,faq\n", "not valid UTF-8-SIG"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8"),
        (b"text,intent\nhello\x00,faq\n", "NUL"),
        (b"question,answer\nhi,hello\n", "missing: text, intent"),
        (b"text,label\nhi,greet\n", "missing: intent"),
        (b'{"text": "hi", "intent": "greet"}', "missing: text, intent"),
        (b'text,intent\n"unterminated,faq\n', "not valid CSV"),
        (b'text,intent\n"quoted"trailing,faq\n', "not valid CSV"),
    ],
)
def test_files_that_cannot_be_read_are_refused_with_a_reason(data, reason):
    with pytest.raises(SampleFileRejected) as refused:
        parse_sample_csv(data)
    assert reason in refused.value.reason


def test_a_file_over_the_row_limit_is_refused_whole():
    ok = "text,intent\n" + "".join(f"message {i},faq\n" for i in range(MAX_IMPORT_ROWS))
    assert len(parse_sample_csv(ok.encode())[0]) == MAX_IMPORT_ROWS
    with pytest.raises(SampleFileRejected, match="more than 20000 rows"):
        parse_sample_csv((ok + "one too many,faq\n").encode())


def test_an_export_reads_back_exactly():
    rows = [
        ExportRow(HINDI, "track_order", "approved", "manual"),
        ExportRow(HINGLISH, "track_order", "pending", "conversation"),
        ExportRow('He said "refund", then left', "refund", "rejected", "import"),
        ExportRow("line one\nline two, with a comma", None, "pending", "conversation"),
        ExportRow("=SUM(A1:A2)", "out_of_scope", "approved", "manual"),
    ]
    text = export_csv(rows)
    assert text.startswith("text,intent,status,source\r\n")
    back = list(csv.reader(io.StringIO(text, newline="")))
    assert back[1:] == [[r.text, r.intent or "", r.status, r.source] for r in rows]
    assert "".join(export_lines(rows)) == text
    # And it is an import file: every row comes back with its intent and status.
    parsed, problems = parse_sample_csv(text.encode())
    assert [(r.text, r.intent, r.status) for r in parsed] == [(r.text, r.intent, r.status) for r in rows]
    assert problems == []
