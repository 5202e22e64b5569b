"""Fitting what the model reads into a token budget: sections by priority, the newest turns first.

Pure and deterministic: the same sections, history and budget give the same messages, so a turn
retried by Temporal asks the model the same question.

What always stays: the required sections (the persona's system prompt, the reply-language
instruction) and the customer's current message(s). Then, highest priority first: the rolling
summary and key facts, the last few turns, knowledge passages, orders, the customer's profile,
older turns, channel capabilities... A section that does not fit whole is cut at a line boundary
(callers put the most useful lines first); turns are never cut, and the history stays one
contiguous run back from the newest message: once a turn does not fit, no older one is taken.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from llm.base import ChatMessage

# Token estimate per character, by script. No tokenizer can be downloaded here, so these were
# measured once against OpenAI's cl100k_base and o200k_base vocabularies (js-tiktoken 1.0.21) on
# customer-service messages. Latin text: English 0.23-0.28 tokens per character, Hinglish
# 0.29-0.37 (romanised Hindi words are not in the vocabularies whole). Other scripts, per
# character of the script (spaces and digits at the Latin rate): Devanagari 0.35 (o200k) to 1.21
# (cl100k: most Devanagari characters are a token each, many two), Bengali/Tamil up to 1.57,
# Arabic 0.92, CJK 0.84, Cyrillic 0.47. Each rate is above the worse vocabulary's, so the
# estimate errs towards leaving room: a context that overflows the model's window fails the turn,
# one that is a little short only leaves out an older turn.
_LATIN_RATE = 0.4
_DEVANAGARI_RATE = 1.3
_OTHER_INDIC_RATE = 1.7  # Bengali, Gurmukhi, Gujarati, Oriya, Tamil, Telugu, Kannada, Malayalam
_WIDE_RATE = 1.0  # CJK, kana, hangul
_OTHER_RATE = 1.0  # Arabic, Cyrillic, Greek, Hebrew, Thai, symbols, emoji
# Every chat message costs a few tokens of role markers in every chat template.
MESSAGE_OVERHEAD_TOKENS = 4
# A customer silent this long starts afresh: the turns before the pause leave the model's history
# (their summary and key facts stay), and a message after it is not read as a follow-up of them.
SESSION_IDLE_MINUTES = 30
TRUNCATED_MARK = "[…]"


def _rate(char: str) -> float:
    point = ord(char)
    if point < 0x0250:  # ASCII and the Latin supplements
        return _LATIN_RATE
    if 0x0900 <= point <= 0x097F:
        return _DEVANAGARI_RATE
    if 0x0980 <= point <= 0x0D7F:
        return _OTHER_INDIC_RATE
    if 0x2E80 <= point <= 0x9FFF or 0xAC00 <= point <= 0xD7AF:
        return _WIDE_RATE
    return _OTHER_RATE


def estimate_tokens(text: str) -> int:
    """A deliberately high estimate of the tokens `text` costs (see the rates above)."""
    return math.ceil(sum(_rate(c) for c in text))


def message_tokens(text: str) -> int:
    return estimate_tokens(text) + MESSAGE_OVERHEAD_TOKENS


@dataclass(frozen=True)
class ContextSection:
    """A part of the system message. Higher `priority` stays longer; `required` never leaves."""

    name: str
    text: str
    priority: int
    required: bool = False


@dataclass(frozen=True)
class Turn:
    """One stored message of the conversation."""

    seq: int
    role: Literal["user", "assistant"]
    text: str
    created_at: datetime | None = None


@dataclass(frozen=True)
class HistoryPolicy:
    """Where the history stands among the sections: the last `recent_turns` messages rank at
    `recent_priority` (above knowledge and orders: the model must follow the thread), older ones
    at `older_priority` (below them: the summary carries those)."""

    recent_turns: int = 6
    recent_priority: int = 75
    older_priority: int = 25


@dataclass
class FittedContext:
    messages: list[ChatMessage]
    # What was left out: a section's name, "<name> (truncated)", or "<n> older messages".
    dropped: list[str] = field(default_factory=list)
    # The newest turn the model does not see (None: it sees every turn it was given). A stored
    # summary through at least this seq means nothing said was lost.
    summarised_through_seq: int | None = None
    tokens: int = 0
    kept_turns: int = 0


def current_turn_start(history: Sequence[Turn]) -> int:
    """Index of the first message of the customer's current turn: the trailing run of customer
    messages (a burst answered at once), or the last customer message when the history ends
    with something else."""
    last_user = next((i for i in range(len(history) - 1, -1, -1) if history[i].role == "user"), None)
    if last_user is None:
        return len(history)
    start = last_user
    while start > 0 and history[start - 1].role == "user":
        start -= 1
    return start


def _truncate(section: ContextSection, room: int) -> str | None:
    """The section's leading lines that fit in `room` tokens with the truncation mark, or None."""
    lines = section.text.split("\n")
    kept: list[str] = []
    used = estimate_tokens(TRUNCATED_MARK) + 1
    for line in lines:
        cost = estimate_tokens(line) + 1  # the newline
        if used + cost > room:
            break
        kept.append(line)
        used += cost
    # A heading alone (or blank lines) tells the model nothing.
    if not any(line.strip() for line in kept[1:]) and len(lines) > 1:
        return None
    return "\n".join([*kept, TRUNCATED_MARK]) if kept else None


def fit_context(
    system_sections: Sequence[ContextSection],
    history: Sequence[Turn],
    budget_tokens: int,
    reserve_for_reply: int = 0,
    *,
    summary: ContextSection | None = None,
    history_complete: bool = True,
    policy: HistoryPolicy | None = None,
) -> FittedContext:
    """The system message (the kept sections, in the order given) followed by the kept turns.

    `history` is oldest first; `budget_tokens` covers the prompt and `reserve_for_reply`.
    `summary` (the rolling summary of earlier turns) joins the sections, after the others, only
    when the model does not see every turn: some are left out here, or `history_complete` is
    False (the caller loaded only the newest part of a longer conversation). Otherwise it would
    repeat, in other words, what the model reads anyway."""
    policy = policy or HistoryPolicy()
    if summary is not None and summary.text and not history_complete:
        return _fit([*system_sections, summary], history, budget_tokens - reserve_for_reply, policy)
    fitted = _fit(system_sections, history, budget_tokens - reserve_for_reply, policy)
    if summary is None or not summary.text or fitted.summarised_through_seq is None:
        return fitted
    return _fit([*system_sections, summary], history, budget_tokens - reserve_for_reply, policy)


def _fit(
    system_sections: Sequence[ContextSection], history: Sequence[Turn], available: int, policy: HistoryPolicy
) -> FittedContext:
    used = MESSAGE_OVERHEAD_TOKENS  # the system message's own markers
    texts: dict[int, str] = {}
    for index, section in enumerate(system_sections):
        if section.required and section.text:
            texts[index] = section.text
            used += estimate_tokens(section.text) + 2  # the blank line between sections
    start = current_turn_start(history)
    first_kept = start
    for turn in history[start:]:
        used += message_tokens(turn.text)

    # Optional sections and older turns compete by priority; equal priorities keep the caller's
    # order for sections, and turns come after sections of the same priority.
    candidates: list[tuple[int, int, int]] = []  # (-priority, kind, index): kind 0 section, 1 turn
    for index, section in enumerate(system_sections):
        if not section.required and section.text:
            candidates.append((-section.priority, 0, index))
    for back, index in enumerate(range(start - 1, -1, -1)):
        priority = policy.recent_priority if back < policy.recent_turns else policy.older_priority
        candidates.append((-priority, 1, -index))  # newer turns first within a priority
    candidates.sort()

    dropped: list[str] = []
    history_closed = False
    for _, kind, key in candidates:
        if kind == 1:
            index = -key
            if history_closed:
                continue
            cost = message_tokens(history[index].text)
            if used + cost <= available:
                used += cost
                first_kept = index
            else:
                history_closed = True  # keep the history contiguous back from the newest turn
            continue
        section = system_sections[key]
        cost = estimate_tokens(section.text) + 2
        if used + cost <= available:
            texts[key] = section.text
            used += cost
            continue
        cut = _truncate(section, available - used - 2)
        if cut is None:
            dropped.append(section.name)
        else:
            texts[key] = cut
            used += estimate_tokens(cut) + 2
            dropped.append(f"{section.name} (truncated)")

    left_out = history[:first_kept]
    if left_out:
        dropped.append(f"{len(left_out)} older messages")
    system = "\n\n".join(texts[i] for i in sorted(texts))
    messages = [ChatMessage("system", system)] if system else []
    messages += [ChatMessage(turn.role, turn.text) for turn in history[first_kept:]]
    tokens = sum(message_tokens(m.content) for m in messages)
    return FittedContext(
        messages=messages,
        dropped=dropped,
        summarised_through_seq=left_out[-1].seq if left_out else None,
        tokens=tokens,
        kept_turns=len(history) - first_kept,
    )
