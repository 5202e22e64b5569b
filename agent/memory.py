"""Key facts about a conversation: found in the customer's words, merged with what the summariser
wrote, and written out for the model.

Key facts outlive the turns they came from: after 30 idle minutes the old turns leave the
context, and a returning customer's first message arrives with none of them, yet "my order" must
still mean #1042. The summariser (an LLM) writes most facts; the order numbers, e-mail addresses
and phone numbers a customer typed are also picked out here by pattern, so they are known at
once, before any summary exists, and whatever a small model forgets to copy over.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

# The facts the summariser is asked for (agent/summary.py) and how they are shown to the model.
FACT_LABELS = {
    "name": "Customer's name",
    "order_numbers": "Order numbers mentioned",
    "email": "E-mail",
    "phone": "Phone",
    "preferred_language": "Preferred language",
    "open_question": "Open question not answered yet",
}
# Facts that a summariser may clear on purpose (a question answered is no longer open).
CLEARABLE = frozenset({"open_question"})
MAX_LIST_ITEMS = 10
MAX_FACT_CHARS = 300
MAX_FACTS = 20

# "#1042", "order 1042", "order no. A-7781", "ऑर्डर 1042" (Devanagari), "order number: 55012".
_ORDER = re.compile(
    r"(?:#\s?(\d{3,12})\b)|(?:\b(?:order|ordr|ऑर्डर|आर्डर)\s*(?:no\.?|number|num|id|#)?\s*[:#]?\s*([A-Z0-9][A-Z0-9-]{2,19})\b)",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_PHONE = re.compile(r"(?<![\w+])\+?\d[\d -]{8,14}\d\b")


def _order_number(match: re.Match[str]) -> str | None:
    hashed, named = match.groups()
    if hashed:
        return f"#{hashed}"
    # "order status" or "order kab" is not a number: an id has at least one digit.
    if not named or not any(c.isdigit() for c in named):
        return None
    # "order #1042" is written as the store shows it ("#1042"); "order 1042" as typed.
    return f"#{named}" if named.isdigit() and "#" in match.group(0) else named.upper()


def extract_facts(texts: Sequence[str]) -> dict[str, Any]:
    """Order numbers, e-mail addresses and phone numbers in the customer's messages, in order."""
    orders: list[str] = []
    emails: list[str] = []
    phones: list[str] = []
    for text in texts:
        for match in _ORDER.finditer(text):
            number = _order_number(match)
            if number and number not in orders:
                orders.append(number)
        emails += [e.lower() for e in _EMAIL.findall(text) if e.lower() not in emails]
        without_orders = _ORDER.sub(" ", _EMAIL.sub(" ", text))
        phones += [p for p in (re.sub(r"[ -]", "", m) for m in _PHONE.findall(without_orders)) if p not in phones]
    facts: dict[str, Any] = {}
    if orders:
        facts["order_numbers"] = orders[-MAX_LIST_ITEMS:]
    if emails:
        facts["email"] = emails[-1]  # the latest one the customer gave
    if phones:
        facts["phone"] = phones[-1]
    return facts


def _clean(value: Any) -> Any:
    """A fact as it is stored: short strings, short lists of them, numbers, booleans, or None."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value.strip()[:MAX_FACT_CHARS]
    if isinstance(value, list | tuple):
        items = [str(_clean(v)) for v in value if v is not None and not isinstance(v, dict | list)]
        return [i for i in items if i][:MAX_LIST_ITEMS]
    return str(value)[:MAX_FACT_CHARS]


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def merge_facts(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """`new` facts over `old` ones: lists are united (newest last, order kept), a non-empty value
    replaces, and an empty one keeps what was known, except for the facts in CLEARABLE, which an
    explicit null clears. A forgetful summariser cannot lose an order number this way."""
    merged: dict[str, Any] = {k: _clean(v) for k, v in old.items() if not _empty(v)}
    for key, raw in new.items():
        key = str(key)[:60]
        value = _clean(raw)
        if _empty(value):
            if key in CLEARABLE:
                merged.pop(key, None)
            continue
        if isinstance(value, list) and isinstance(merged.get(key), list):
            united = [v for v in merged[key] if v not in value] + value
            merged[key] = united[-MAX_LIST_ITEMS:]
        else:
            merged[key] = value
    # Bounded: a model that invents a fact per turn must not grow the row without end.
    return dict(list(merged.items())[:MAX_FACTS])


def facts_text(facts: Mapping[str, Any]) -> str:
    """The facts as lines the model reads, the well-known ones first."""
    lines: list[str] = []
    for key in [*FACT_LABELS, *sorted(k for k in facts if k not in FACT_LABELS)]:
        value = facts.get(key)
        if _empty(value):
            continue
        label = FACT_LABELS.get(key, key.replace("_", " ").capitalize())
        shown = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
        lines.append(f"- {label}: {shown}")
    return "\n".join(lines)
