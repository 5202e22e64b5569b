"""One training message's identity: two samples are the same message when their normalised
texts match (case, accents, spacing and punctuation aside), so a message harvested from many
conversations, or imported twice, is one row to review."""

from __future__ import annotations

from nlu.features import WORD, normalize

MAX_SAMPLE_CHARS = 1000


def text_key(text: str) -> str:
    # The words alone, as the classifier reads them: a Devanagari vowel sign is part of its word
    # ("मेरा" and "मारा" are different keys), punctuation and spacing are not.
    return " ".join(WORD.findall(normalize(text)))
