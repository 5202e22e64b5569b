"""What the log masker hides: secrets always, customer PII unless switched off.

Secrets: values under secret-named keys, bearer/basic credentials, our API keys (the
`fd_<8 chars>_` id stays readable, the secret after it does not), OpenAI `sk-…` keys, JWTs,
Meta `EAA…` access tokens, and secret-looking values in `name=value` / `name: value` text.
PII: e-mail addresses, phone numbers (last 3 digits kept) and card numbers (Luhn-checked,
last 4 kept). Correlation ids (workflow, tenant, request…) and timestamps stay readable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_SECRET_KEYS = re.compile(r"(secret|token|password|api_key|authorization|master_key)", re.I)
UNMASKED_KEYS = frozenset(
    {"workflow_id", "conversation_id", "tenant_id", "request_id", "run_id", "timestamp", "level", "logger"}
)

# Token shapes: (needles, pattern). A rule's regex runs only when one of its needles occurs in
# the line: a substring test costs nanoseconds, while one combined regex cost ~20 µs per line.
# Group 1 is the part that stays readable.
_SECRET_WORDS = ("secret", "token", "passw", "api_key", "api-key", "apikey", "signature", "authorization")
_TOKEN_RULES: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = (
    (("earer", "asic"), re.compile(r"(\b(?:[Bb]earer|[Bb]asic)\s+)[A-Za-z0-9._~+/=-]{8,}")),
    (("fd_",), re.compile(r"(\bfd_[A-Za-z0-9]{8}_)[A-Za-z0-9_-]+")),  # our API keys: the id stays
    (("sk-",), re.compile(r"(\bsk-)[A-Za-z0-9_-]{16,}")),  # OpenAI
    (("eyJ",), re.compile(r"(\beyJ)[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")),  # JWT
    (("EAA",), re.compile(r"(\bEAA)[A-Za-z0-9]{20,}")),  # Meta access tokens
    (("/bot",), re.compile(r"(/bot\d{3,20}:)[A-Za-z0-9_-]{20,}")),  # Telegram bot tokens in Bot API URLs
    # name=value where the value is long hex or base64, whatever the name (query strings, dumps)
    (("=",), re.compile(r"(?<=[\w.-])(=)(?:[A-Fa-f0-9]{32,}|[A-Za-z0-9+/]{40,}={0,2})(?![\w+/=-])")),
)
# name=value / name: value where the name says secret ("Authorization: Bearer …" included);
# anchored on the word itself (scanning from every word start is slow): the rest of the name
# stays as it was. Runs when the lower-cased line contains one of _SECRET_WORDS.
_NAMED_SECRET = re.compile(
    r"((?i:secret|token|passw(?:or)?d|api[_-]?key|apikey|signature|authorization)[\w.-]*"
    r"[\"']?\s*[=:]\s*[\"']?)(?:(?:[Bb]earer|[Bb]asic)\s+)?[^\s\"'&,;]{6,}"
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
# A run of digits that may be a phone or card number. Not inside a word or id (uuids, wamids,
# request ids): the run must not touch letters, digits, '_' or '-' on either side.
_DIGIT_RUN = re.compile(r"(?<![\w-])\+?\(?\d[\d \t()-]{7,}\d(?![\w-])")
_NON_DIGITS = re.compile(r"\D")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _digit_run_sub(match: re.Match[str]) -> str:
    run = match.group(0)
    digits = _NON_DIGITS.sub("", run)
    count = len(digits)
    if count < 9 or _DATE.match(run):  # short numbers, amounts, dates ("2024-05-01 10")
        return run
    if 13 <= count <= 19 and _luhn_ok(digits):
        return f"****{digits[-4:]}"
    if 16 <= count <= 19:  # fails Luhn and too long for a phone (E.164: 15): an order or tracking number
        return run
    return f"***{digits[-3:]}"


class LogMasker:
    """A structlog processor; `pii=False` still hides secrets (they are never loggable)."""

    def __init__(self, pii: bool = True, extra_patterns: Iterable[str] = ()) -> None:
        self._pii = pii
        self._extra = [re.compile(p) for p in extra_patterns]

    def __call__(self, _: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        for key, value in event_dict.items():
            if key not in UNMASKED_KEYS:
                event_dict[key] = self._value(key, value)
        return event_dict

    def text(self, text: str) -> str:
        for pattern in self._extra:
            text = pattern.sub("***", text)
        lowered = text.lower()
        if any(word in lowered for word in _SECRET_WORDS):  # first: it takes "Bearer x" whole
            text = _NAMED_SECRET.sub(r"\1***", text)
        for needles, pattern in _TOKEN_RULES:
            if any(needle in text for needle in needles):
                text = pattern.sub(r"\1***", text)
        if self._pii:
            if "@" in text:  # the e-mail pattern is slow to rule out; most lines have no '@'
                text = _EMAIL.sub("***@***", text)
            text = _DIGIT_RUN.sub(_digit_run_sub, text)
        return text

    def _value(self, key: str, value: Any) -> Any:
        if _SECRET_KEYS.search(key):
            return "***"
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, int) and not isinstance(value, bool) and self._pii and abs(value) >= 10**8:
            masked = self.text(str(value))  # a phone number logged as an int
            return value if masked == str(value) else masked
        if isinstance(value, dict):
            return {k: v if k in UNMASKED_KEYS else self._value(str(k), v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._value(key, v) for v in value]
        return value
