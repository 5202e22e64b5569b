"""The rolling summary of a conversation's older turns: asking the model for it, reading its answer,
and deciding when it is due.

The summary is written in the background after a turn (the reply never waits for it), from the
previous summary, the known key facts and the messages that left the context window since. The
model answers JSON; small local models wrap it in code fences, add a sentence after it, forget a
field or write no JSON at all, and `parse_summary` takes whatever is usable from each of those.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from agent.context import Turn
from agent.memory import FACT_LABELS, merge_facts
from llm.base import ChatMessage, CompletionRequest

# Messages that left the window without being summarised before a refresh is worth a model call.
REFRESH_AFTER_MESSAGES = 6
SUMMARY_MAX_TOKENS = 400
MAX_SUMMARY_CHARS = 2_000
MAX_TOPIC_CHARS = 200
# A pasted e-mail need not be summarised whole: its start says what it is about.
MAX_MESSAGE_CHARS = 1_000

SUMMARY_INSTRUCTIONS = (
    "You keep the notes of a customer-service conversation. Update the notes with the new messages.\n"
    "Answer with one JSON object and nothing else, in this form:\n"
    '{"summary": "...", "key_facts": {...}, "last_topic": "..."}\n'
    "- summary: at most 5 short sentences, in English whatever language the conversation is in: what the "
    "customer wanted, what was done or promised, and what is still open. Keep the important points of the "
    "summary so far.\n"
    "- key_facts: an object with these keys when known: "
    + ", ".join(FACT_LABELS)
    + ". order_numbers is a list, copied exactly as written. preferred_language is the language the customer "
    "writes in (English, Hindi, Hinglish...). open_question is the customer's question that is not answered "
    "yet, or null when none is.\n"
    '- last_topic: a few words naming what the customer last talked about, e.g. "late delivery of order #1042".\n'
    "Never invent facts that the messages do not state."
)

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def _role_label(turn: Turn) -> str:
    return "Customer" if turn.role == "user" else "Assistant"


def summary_request(previous_summary: str | None, key_facts: Mapping[str, Any], messages: Sequence[Turn]) -> CompletionRequest:
    """The request that asks the model for the updated summary, key facts and topic as JSON."""
    lines = [
        "Summary so far:",
        (previous_summary or "").strip() or "(none yet)",
        "",
        "Key facts so far:",
        json.dumps(dict(key_facts), ensure_ascii=False) if key_facts else "{}",
        "",
        "New messages:",
    ]
    for turn in messages:
        text = turn.text.strip()
        if len(text) > MAX_MESSAGE_CHARS:
            text = text[:MAX_MESSAGE_CHARS] + " […]"
        lines.append(f"{_role_label(turn)}: {text}")
    return CompletionRequest(
        messages=[ChatMessage("system", SUMMARY_INSTRUCTIONS), ChatMessage("user", "\n".join(lines))],
        max_tokens=SUMMARY_MAX_TOKENS,
        # Notes, not prose: the same messages should give the same notes.
        temperature=0.0,
    )


def _first_object(text: str) -> dict[str, Any] | None:
    """The first JSON-ish object that starts at a "{" in `text`; what follows it is ignored."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        candidate = text[match.start() :]
        try:
            obj, _ = decoder.raw_decode(_TRAILING_COMMA.sub(r"\1", candidate))
        except json.JSONDecodeError:
            obj = _python_literal(candidate)
        if isinstance(obj, dict):
            return obj
    return None


def _python_literal(candidate: str) -> Any:
    """A dict written Python-style ({'summary': 'x', 'open_question': None}), which small models
    produce now and then: read as a literal, never evaluated."""
    end = candidate.rfind("}")
    if end < 0:
        return None
    try:
        return ast.literal_eval(candidate[: end + 1])
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def _text(value: Any, limit: int) -> str:
    if value is None:
        return ""
    return (value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)).strip()[:limit]


def parse_summary(text: str) -> tuple[str, dict[str, Any], str | None]:
    """(summary, key_facts, last_topic) from the model's answer; never raises.

    Without a usable JSON object, the answer's text itself is the summary (a model that ignored
    the format still wrote notes worth keeping)."""
    raw = (text or "").strip()
    fenced = _FENCE.search(raw)
    body = fenced.group(1).strip() if fenced else raw
    obj = _first_object(body)
    if obj is None:
        return _text(body.replace("```", ""), MAX_SUMMARY_CHARS), {}, None
    summary = _text(obj.get("summary") or obj.get("notes"), MAX_SUMMARY_CHARS)
    if not summary:
        # The object held facts only: any prose around it is the summary.
        start, end = body.find("{"), body.rfind("}")
        outside = (body[:start] + " " + body[end + 1 :]).strip() if 0 <= start < end else ""
        summary = _text(outside, MAX_SUMMARY_CHARS)
    facts_raw = obj.get("key_facts", obj.get("facts"))
    facts = merge_facts({}, facts_raw) if isinstance(facts_raw, dict) else {}
    # An open question the model marked as answered (null) must reach the merge with the stored facts.
    if isinstance(facts_raw, dict) and "open_question" in facts_raw and not facts_raw["open_question"]:
        facts["open_question"] = None
    topic = _text(obj.get("last_topic") or obj.get("topic"), MAX_TOPIC_CHARS) or None
    return summary, facts, topic


def needs_summary(
    out_of_window_seqs: Sequence[int],
    summarised_through_seq: int | None,
    *,
    earlier_seq: int | None = None,
    min_new: int = REFRESH_AFTER_MESSAGES,
) -> bool:
    """Whether to refresh the summary after this turn: at least `min_new` messages the model no
    longer sees (`out_of_window_seqs`: left out for the budget, or expired) are not in it yet.

    Message seqs are numbered across all conversations, so messages are counted by their seqs,
    never by subtracting them. `earlier_seq`: the newest message older than those the caller
    loaded, when there is one; if the summary does not reach it, older messages than any counted
    here are missing from the summary too."""
    through = summarised_through_seq or 0
    if earlier_seq is not None and through < earlier_seq:
        return True
    return sum(seq > through for seq in out_of_window_seqs) >= min_new
