"""FAQ files: question/answer pairs from a CSV sheet or a JSON list; one section per pair."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

from rag.cleaning import normalize_text
from rag.documents import DocumentRejected, ExtractedDocument, Section
from rag.loaders.text_decoding import decode_text

# Header names accepted for each field, compared case-insensitively with spaces/underscores removed.
_QUESTION_NAMES = ("question", "questions", "q", "title", "faq", "query", "prompt")
_ANSWER_NAMES = ("answer", "answers", "a", "content", "response", "reply", "body", "text")
_CATEGORY_NAMES = ("category", "topic", "section", "group", "tag")
_EXPECTED_COLUMNS = "a question column (question, q or title) and an answer column (answer, a or content)"
_JSON_LIST_KEYS = ("faqs", "faq", "questions", "items", "entries", "data")

# csv's default field limit (128 KB) would fail a long answer; past 4 MB it is not an FAQ answer.
_MAX_FIELD_CHARACTERS = 4 * 1024 * 1024


@dataclass(frozen=True)
class FaqPair:
    question: str
    answer: str
    category: str | None = None

    def section(self) -> Section:
        # The question goes into the text too: it is what a customer's words will match.
        text = f"Q: {self.question}\nA: {self.answer}"
        if self.category:
            text += f"\nCategory: {self.category}"
        return Section(text, self.question, None, "faq")


def _key(name: str) -> str:
    return "".join(name.lower().replace("_", " ").replace("-", " ").split()).lstrip("\ufeff")


def _find(names: list[str], candidates: tuple[str, ...]) -> int | None:
    keys = [_key(name) for name in names]
    for candidate in candidates:  # earlier candidates win: "question" over "title"
        if candidate in keys:
            return keys.index(candidate)
    return None


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):  # an answer given as a list of lines or steps
        return "\n".join(_as_text(item) for item in value)
    return str(value)


def _pair(question: object, answer: object, category: object = None) -> FaqPair | None:
    question_text = " ".join(normalize_text(_as_text(question)).split())
    answer_text = normalize_text(_as_text(answer))
    category_text = " ".join(_as_text(category).split()) or None
    if not question_text or not answer_text:
        return None  # half-filled rows are common in spreadsheets; skip them
    return FaqPair(question_text, answer_text, category_text)


def _document(pairs: list[FaqPair], format_name: str) -> ExtractedDocument:
    if not pairs:
        raise DocumentRejected("empty", "The FAQ file has no rows with both a question and an answer.")
    return ExtractedDocument([pair.section() for pair in pairs], None, None, format_name)


def _delimiter(text: str) -> str:
    # The header row names columns and rarely contains a separator of another kind, unlike answers
    # full of commas: it decides, as the sniffers in spreadsheet apps do.
    header = text.split("\n", 1)[0]
    return max(",;\t|", key=header.count) if any(mark in header for mark in ",;\t|") else ","


def _cell(row: list[str], column: int | None) -> str | None:
    return row[column] if column is not None and column < len(row) else None


# Why a row made no pair, for an importer that reports rows one by one.
HALF_FILLED = "needs both a question and an answer"
NOT_AN_OBJECT = "is not an object with a question and an answer"

# A row's number in the file (CSV: its record, header included; JSON: its place in the list, from
# 1) and its pair, or why it has none.
FaqRow = tuple[int, "FaqPair | str"]


def csv_faq_rows(data: bytes) -> list[FaqRow]:
    """Every non-blank row under the header, with its pair or the reason it has none. Raises
    DocumentRejected when the file as a whole cannot be read as an FAQ sheet."""
    text = decode_text(data).lstrip("\ufeff")
    if not text.strip():
        raise DocumentRejected("empty", "The FAQ file is empty.")
    csv.field_size_limit(max(csv.field_size_limit(), _MAX_FIELD_CHARACTERS))
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text)))
    except csv.Error as error:
        raise DocumentRejected("corrupt", f"The CSV file cannot be read ({error}). Check its quoting.") from error
    header_index = next((index for index, row in enumerate(rows) if any(cell.strip() for cell in row)), None)
    header = rows[header_index] if header_index is not None else []
    question_column = _find(header, _QUESTION_NAMES)
    answer_column = _find(header, _ANSWER_NAMES)
    if question_column is None or answer_column is None:
        found = ", ".join(cell.strip() for cell in header if cell.strip()) or "none"
        raise DocumentRejected("bad_faq", f"The FAQ sheet needs {_EXPECTED_COLUMNS} in its first row; found: {found}.")
    category_column = _find(header, _CATEGORY_NAMES)
    outcomes: list[FaqRow] = []
    for index in range(header_index + 1, len(rows)):
        row = rows[index]
        if not any(cell.strip() for cell in row):
            continue  # blank lines between rows are not rows
        pair = _pair(_cell(row, question_column), _cell(row, answer_column), _cell(row, category_column))
        outcomes.append((index + 1, pair or HALF_FILLED))
    return outcomes


def read_csv_faq(data: bytes) -> list[FaqPair]:
    """The sheet's pairs; half-filled rows (common in spreadsheets) are skipped."""
    return [outcome for _, outcome in csv_faq_rows(data) if isinstance(outcome, FaqPair)]


def _json_items(data: bytes) -> list:
    try:
        payload = json.loads(decode_text(data).lstrip("\ufeff"))
    except (json.JSONDecodeError, RecursionError) as error:
        raise DocumentRejected("corrupt", "The JSON file is not valid JSON.") from error
    if isinstance(payload, dict):
        keys = {key.lower(): key for key in payload if isinstance(key, str)}
        list_key = next((keys[name] for name in _JSON_LIST_KEYS if name in keys), None)
        payload = payload[list_key] if list_key else None
    if not isinstance(payload, list):
        raise DocumentRejected("bad_faq", _JSON_SHAPE)
    return payload


_JSON_SHAPE = 'The JSON FAQ must be a list of objects with "question" and "answer", or {"faqs": [...]} holding such a list.'


def _json_outcome(item: object) -> FaqPair | str:
    if not isinstance(item, dict):
        return NOT_AN_OBJECT
    names = [str(name) for name in item]
    question_key, answer_key = _find(names, _QUESTION_NAMES), _find(names, _ANSWER_NAMES)
    if question_key is None or answer_key is None:
        return f"needs {_EXPECTED_COLUMNS}; it has: {', '.join(names)}"
    category_key = _find(names, _CATEGORY_NAMES)
    values = list(item.values())
    pair = _pair(values[question_key], values[answer_key], values[category_key] if category_key is not None else None)
    return pair or HALF_FILLED


def json_faq_rows(data: bytes) -> list[FaqRow]:
    """Every item of the FAQ list, with its pair or the reason it has none. Raises
    DocumentRejected when the file as a whole is not an FAQ list."""
    return [(index, _json_outcome(item)) for index, item in enumerate(_json_items(data), start=1)]


def read_json_faq(data: bytes) -> list[FaqPair]:
    """The list's pairs. As a document, an item that is not a question/answer object rejects
    the file (it is probably not an FAQ); a half-filled one is skipped."""
    items = _json_items(data)
    if not all(isinstance(item, dict) for item in items):
        raise DocumentRejected("bad_faq", _JSON_SHAPE)
    pairs = []
    for item in items:
        outcome = _json_outcome(item)
        if isinstance(outcome, FaqPair):
            pairs.append(outcome)
        elif outcome != HALF_FILLED:
            raise DocumentRejected("bad_faq", f"Every JSON FAQ entry {outcome}.")
    return pairs


def load_csv_faq(data: bytes) -> ExtractedDocument:
    return _document(read_csv_faq(data), "csv_faq")


def load_json_faq(data: bytes) -> ExtractedDocument:
    return _document(read_json_faq(data), "json_faq")
