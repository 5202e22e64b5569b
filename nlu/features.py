"""What the intent classifier reads of a message: word and character n-grams.

Character n-grams (2-5, within words, padded with spaces) carry misspellings, inflections and
romanised Hindi ("paisa", "paise", "pese") that a word vocabulary would miss; word unigrams and
bigrams carry phrases ("not arrived", "top up"). Devanagari is handled like any other script.

The same `message_terms` function builds the vocabulary at training (scikit-learn's vectorizer
calls it) and reads a message at inference (nlu/model.py), so the two can never drift apart.
"""

from __future__ import annotations

import re
import unicodedata

CHAR_NGRAMS = (2, 5)
WORD_NGRAMS = (1, 2)
MAX_MESSAGE_CHARS = 1000  # a pasted essay would only cost time: its start says what it is about

# Python's \w leaves out combining marks, and Devanagari writes most vowels with them ("मेरा" is
# म + े + र + ा): without them a Hindi word falls apart into its bare consonants. (The Basic
# Multilingual Plane holds every script our tenants write in; scanning it costs ~15 ms at import.)
_MARKS = "".join(chr(c) for c in range(0x10000) if unicodedata.category(chr(c)).startswith("M"))
WORD = re.compile(rf"[\w{re.escape(_MARKS)}]+")


def normalize(text: str) -> str:
    """Lower-cased NFKC with combining accents dropped from Latin letters ("cancelación" and
    "cancelacion" read alike); Devanagari keeps its vowel signs, which are combining marks too."""
    text = unicodedata.normalize("NFKC", text[:MAX_MESSAGE_CHARS]).lower()
    decomposed = unicodedata.normalize("NFD", text)
    # The combining diacritics Latin scripts use live in U+0300-U+036F; Indic signs do not.
    kept = [c for c in decomposed if not 0x0300 <= ord(c) <= 0x036F]
    return unicodedata.normalize("NFC", "".join(kept))


def message_terms(text: str) -> list[str]:
    """Every feature term of a message, repeated as often as it occurs."""
    words = WORD.findall(normalize(text))
    terms: list[str] = []
    low, high = WORD_NGRAMS
    for n in range(low, high + 1):
        terms += ["w:" + " ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
    low, high = CHAR_NGRAMS
    for word in words:
        padded = f" {word} "
        for n in range(low, min(high, len(padded)) + 1):
            terms += ["c:" + padded[i : i + n] for i in range(len(padded) - n + 1)]
    return terms
