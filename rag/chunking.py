"""Splitting an extracted document into retrievable chunks that fit the embedder.

Sections are chunked on their own, so a chunk never mixes text from under two headings. Inside a
section the text is cut into small pieces (sentences, list items, table rows; words or characters
only when a sentence alone is too long), each remembering how strong the break before it is.
Pieces are then packed greedily up to the token budget; when a chunk is full, it ends at the
strongest break that still leaves it at least half full, so chunks end between paragraphs or
items rather than mid-thought. Consecutive prose chunks share their last sentences (overlap), so
a fact straddling a cut is whole in at least one chunk.

Everything here is a pure function of its input: re-indexing a document yields the same chunks.
"""

from __future__ import annotations

import re
import unicodedata
from collections import deque
from dataclasses import dataclass, replace
from itertools import accumulate

from rag.documents import Chunk, ExtractedDocument, Section
from rag.tokens import count_tokens

# Break strengths, weakest first: the packer prefers to cut at the strongest one available.
_INSIDE_WORD, _WORD, _SENTENCE, _LINE, _PARAGRAPH, _ITEM, _SECTION = range(7)

# A chunk may end at a stronger break only if it keeps at least this share of the budget.
_MIN_FILL_FOR_BETTER_BREAK = 0.5
# Sections below this share of the budget join the next section under the same heading.
_TINY_SECTION_SHARE = 0.25

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# Sentence ends: Latin punctuation needs a following space ("3.5", "example.com" stay whole);
# the Devanagari danda and full-width CJK stops do not.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*\s+|[।॥。！？]+[\"'”’)\]]*\s*")
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "no", "nos", "vs", "rs", "e.g", "i.e", "inc", "ltd", "jr", "sr", "fig", "approx", "incl"}  # fmt: skip
_MAX_CHARACTERS_PER_TOKEN = 64
_VIRAMA_CLASS = 9  # canonical combining class of the virama (halant) in Indic scripts
_LIST_ITEM_LINE = re.compile(r"^(\s*)(?:[-*+•]|\d{1,9}[.)])\s")


@dataclass(frozen=True)
class _Piece:
    text: str
    page: int | None
    tokens: int
    separator: str  # what joins it to the piece before
    strength: int  # how good a place to cut the break before it is


def _sentences(line: str) -> list[str]:
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(line):
        before = line[start : match.start()].split()
        last_word = before[-1].lower().lstrip("([\"'") if before else ""
        is_abbreviation = match.group().startswith(".") and (
            last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha())
        )
        if not is_abbreviation:
            sentences.append(line[start : match.end()].strip())
            start = match.end()
    sentences.append(line[start:].strip())
    return [sentence for sentence in sentences if sentence]


def _split_characters(word: str, budget: int) -> list[str]:
    """Cut a "word" longer than the budget (a URL, a code, unspaced script) into fitting parts,
    never inside a character cluster: a vowel sign stays with its consonant and a virama with the
    consonant it joins."""
    parts = []
    while word:
        # Start from a window that surely holds more than the budget, then shrink it in
        # proportion to the overshoot: a few counts per part instead of a search over the word.
        cut = min(len(word), budget * 8)
        while cut > 1 and (tokens := count_tokens(word[:cut])) > budget:
            cut = max(1, min(cut - 1, int(cut * budget / tokens * 0.95)))
        while 1 < cut < len(word) and (
            unicodedata.category(word[cut]).startswith("M") or unicodedata.combining(word[cut - 1]) == _VIRAMA_CLASS
        ):
            cut -= 1
        parts.append(word[:cut])
        word = word[cut:]
    return parts


def _counted(text: str, budget: int) -> int:
    """Tokens of `text`, or budget + 1 without counting when it is far too long to fit (no token is
    that long, and counting a huge string at once costs the tokenizer memory in proportion)."""
    return count_tokens(text) if len(text) <= budget * _MAX_CHARACTERS_PER_TOKEN else budget + 1


def _fitting_pieces(text: str, page: int | None, budget: int, separator: str, strength: int) -> list[_Piece]:
    """`text` as one piece, or as word pieces (words cut into characters when one alone is too
    long) when it exceeds the budget."""
    if (tokens := _counted(text, budget)) <= budget:
        return [_Piece(text, page, tokens, separator, strength)]
    pieces: list[_Piece] = []
    # Counted word by word: the tokenizer's cost is per character, so this reads each character
    # once, where halving the text until parts fit would read it once per level.
    for word in text.split():
        tokens = _counted(word, budget)
        parts = [(word, tokens)] if tokens <= budget else [(part, count_tokens(part)) for part in _split_characters(word, budget)]
        for part_index, (part, part_tokens) in enumerate(parts):
            if not pieces:
                joint = (separator, strength)
            else:
                joint = ("", _INSIDE_WORD) if part_index else (" ", _WORD)
            pieces.append(_Piece(part, page, part_tokens, *joint))
    return pieces


def _prose_pieces(text: str, page: int | None, budget: int, separator: str, strength: int) -> list[_Piece]:
    pieces: list[_Piece] = []
    for paragraph in _PARAGRAPH_BREAK.split(text):
        for line in paragraph.split("\n"):
            indentation = line[: len(line) - len(line.lstrip())]  # nested items and code keep their shape
            for index, sentence in enumerate(_sentences(line)):
                pieces.extend(
                    _fitting_pieces(indentation + sentence if index == 0 else sentence, page, budget, separator, strength)
                )
                separator, strength = " ", _SENTENCE
            separator, strength = "\n", _LINE
        separator, strength = "\n\n", _PARAGRAPH
    return pieces


def _line_pieces(text: str, page: int | None, budget: int, separator: str, strength: int) -> list[_Piece]:
    """List items and table rows: one piece per line, so a cut falls between them; a top-level
    item is a better place to cut than a nested one."""
    pieces: list[_Piece] = []
    for line in text.split("\n"):
        if not line.strip():
            continue
        if pieces:
            nested = (match := _LIST_ITEM_LINE.match(line)) is not None and bool(match.group(1))
            separator, strength = "\n", _PARAGRAPH if nested else _ITEM
        line = line.rstrip()
        if (tokens := _counted(line, budget)) <= budget:
            pieces.append(_Piece(line, page, tokens, separator, strength))
        else:  # only an item too long for any chunk is cut, and then between its sentences first
            pieces.extend(_prose_pieces(line, page, budget, separator, strength))
    return pieces


def _section_pieces(section: Section, budget: int, separator: str = "", strength: int = _SECTION) -> list[_Piece]:
    split = _line_pieces if section.kind in ("list", "table") else _prose_pieces
    return split(section.text, section.page, budget, separator, strength)


def _pack(pieces: list[_Piece], budget: int, overlap: int) -> list[list[_Piece]]:
    """Group pieces into chunks of at most `budget` tokens (each piece alone fits)."""
    if not pieces:
        return []
    totals = [0, *accumulate(piece.tokens for piece in pieces)]  # tokens of pieces[a:b] = totals[b] - totals[a]
    groups, start = [], 0
    while True:
        end = start + 1
        while end < len(pieces) and totals[end + 1] - totals[start] <= budget:
            end += 1
        if end < len(pieces):
            end = _best_cut(pieces, totals, start, end, budget)
        groups.append(pieces[start:end])
        if end == len(pieces):
            return groups
        # Carry trailing pieces into the next chunk, as long as the piece that did not fit still does.
        next_start = end
        while (
            next_start - 1 > start
            and totals[end] - totals[next_start - 1] <= overlap
            and totals[end + 1] - totals[next_start - 1] <= budget
        ):
            next_start -= 1
        start = next_start


def _best_cut(pieces: list[_Piece], totals: list[int], start: int, end: int, budget: int) -> int:
    """Where to end the chunk pieces[start:end]: the strongest break that keeps it half full."""
    best = end
    for cut in range(end - 1, start, -1):
        if totals[cut] - totals[start] < budget * _MIN_FILL_FOR_BETTER_BREAK:
            break
        if pieces[cut].strength > pieces[best].strength:
            best = cut
    return best


def _joined(pieces: list[_Piece]) -> str:
    return "".join((piece.separator if index else "") + piece.text for index, piece in enumerate(pieces)).strip()


@dataclass(frozen=True)
class _Block:
    """Sections chunked together: one section, or tiny ones joined to the next under its title."""

    sections: list[Section]
    pieces: list[_Piece]

    @property
    def title(self) -> str | None:
        return self.sections[0].title

    @property
    def tokens(self) -> int:
        return sum(piece.tokens for piece in self.pieces)

    def followed_by(self, other: _Block) -> _Block:
        first, *rest = other.pieces
        return _Block(self.sections + other.sections, [*self.pieces, replace(first, separator="\n\n", strength=_SECTION), *rest])


def _blocks(sections: list[Section], max_tokens: int) -> list[_Block]:
    tiny = max_tokens * _TINY_SECTION_SHARE
    blocks: list[_Block] = []
    waiting: _Block | None = None  # a tiny block that may join the next section
    for section in sections:
        pieces = _section_pieces(section, max_tokens)
        if not pieces:
            continue
        block = _Block([section], pieces)
        if waiting is not None:
            joinable = (
                section.kind != "faq"
                and section.title == waiting.title
                and (section.kind == "prose" or waiting.tokens + block.tokens <= max_tokens)
            )
            if joinable:
                block = waiting.followed_by(block)
            else:
                blocks.append(waiting)
            waiting = None
        if block.tokens < tiny and section.kind != "faq":
            waiting = block
        else:
            blocks.append(block)
    if waiting is not None:
        blocks.append(waiting)
    return blocks


def _lead_and_body(section: Section) -> tuple[str, str] | None:
    """The line to repeat on every piece when the section must be split: an FAQ's question, a
    table's header row."""
    if section.kind == "faq":
        question, found, answer = section.text.partition("\nA:")
        return (question, "A:" + answer) if found else (f"Q: {section.title}", section.text)
    if section.kind == "table" and "\n" in section.text:
        header, _, rows = section.text.partition("\n")
        return header, rows
    return None


def _exceeds(block: _Block, max_tokens: int) -> bool:
    # Piece counts may undercount the joined text by a token or two; near the limit, count exactly.
    if block.tokens > max_tokens:
        return True
    return block.tokens > max_tokens - 8 and count_tokens(_joined(block.pieces)) > max_tokens


def _split_with_lead(section: Section, max_tokens: int, overlap_tokens: int) -> list[tuple[str, int | None, int]] | None:
    """Chunks that each start with the section's lead line, or None when it has none worth repeating."""
    lead_and_body = _lead_and_body(section)
    if lead_and_body is None:
        return None
    lead, body = lead_and_body
    budget = max_tokens - count_tokens(lead) - 1
    # A lead taking most of the budget would leave room for almost nothing: split plainly instead.
    if budget < max_tokens // 2:
        return None
    body_kind = "table" if section.kind == "table" else "prose"
    pieces = _section_pieces(Section(body, section.title, section.page, body_kind), budget)
    overlap = overlap_tokens if section.kind == "faq" else 0
    return _fitted(_pack(pieces, budget, overlap), max_tokens, lead)


def _block_texts(block: _Block, max_tokens: int, overlap_tokens: int) -> list[tuple[str, int | None, int]]:
    """(text, page, tokens) of each chunk of one block."""
    if len(block.sections) == 1 and _exceeds(block, max_tokens):
        with_lead = _split_with_lead(block.sections[0], max_tokens, overlap_tokens)
        if with_lead is not None:
            return with_lead
    # Lists and tables are cut between items; repeating the last item in the next chunk adds noise.
    overlap = overlap_tokens if block.sections[-1].kind in ("prose", "faq") else 0
    return _fitted(_pack(block.pieces, max_tokens, overlap), max_tokens)


def _fitted(groups: list[list[_Piece]], max_tokens: int, lead: str | None = None) -> list[tuple[str, int | None, int]]:
    """(text, page, tokens) per group. Piece counts add up to the joined text's count give or take
    a token; where joining pushed a chunk over the limit, its last piece moves to a chunk of its own."""
    fitted = []
    pending = deque(groups)
    while pending:
        group = pending.popleft()
        text = _joined(group) if lead is None else f"{lead}\n{_joined(group)}"
        tokens = count_tokens(text)
        if len(group) > 1 and tokens > max_tokens:
            pending.extendleft([group[-1:], group[:-1]])  # extendleft reverses: group[:-1] comes first
        elif text:
            fitted.append((text, group[0].page, tokens))
    return fitted


def chunk_document(doc: ExtractedDocument, *, max_tokens: int = 350, overlap_tokens: int = 50) -> list[Chunk]:
    """Chunks of at most `max_tokens` embedder tokens, in document order, positions from 0."""
    if max_tokens < 16 or not 0 <= overlap_tokens <= max_tokens // 2:
        raise ValueError("max_tokens must be at least 16 and overlap_tokens between 0 and half of max_tokens")
    chunks: list[Chunk] = []
    for block in _blocks(doc.sections, max_tokens):
        for text, page, tokens in _block_texts(block, max_tokens, overlap_tokens):
            chunks.append(Chunk(text, block.title, len(chunks), page, tokens))
    return chunks
