"""Questions the customer asked, and "you didn't answer my question": which question that was.

Seed 004 wants two behaviours a plain model turn misses: a burst of messages with several
questions gets one answer that covers each of them, and a customer who says a question went
unanswered gets that question answered, not an apology about nothing in particular. Both become a
line for the model (activities/context.py); this module only reads text, so it is pure and a
retried turn reads the same.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from agent.context import Turn

# "You didn't answer", in the languages the hand-over phrases cover. Matched on lower-cased text
# with runs of spaces collapsed; each pattern names the unanswered question itself, so "my
# question is..." alone is not a nudge.
_NUDGES = [
    # English
    r"\b(you )?(did ?n[o']?t|didnt|never|have ?n[o']?t|havent|did not|have not) (yet )?(answer|reply|respond|get back)",
    r"\b(no|still no|didn'?t get an?|never got an?) (answer|reply|response)\b",
    r"\bdid you forget\b",
    r"\byou forgot\b",
    r"\bforgot (about )?my (question|query)",
    r"\b(what about|and) my (other |first |earlier |last |previous )?(question|query)",
    r"\banswer my (other |first |earlier )?(question|query)",
    r"\byou (skipped|missed|ignored) my (question|query)",
    r"\bmy (question|query) (was|is|has)( still)? n[o']?t( been)? answered",
    # Hinglish
    r"\b(jawab|jawaab|javab|answer|reply) (nahi|nahin|nhi|nai) (diya|diye|mila|aaya|aya|kiya)",
    r"\bbh?ool (gaye|gye|gaya|gayi|gyi)\b",
    r"\b(mere|mera) (sawal|sawaal|savaal|question) (ka|ke) (jawab|jawaab|answer)",
    r"\b(mera|mere) (sawal|sawaal|question) (ka )?kya hua",
    # Hindi
    r"(जवाब|उत्तर) नहीं (दिया|मिला|आया)",
    r"भूल (गए|गये|गया|गई)",
    r"मेरे सवाल का (जवाब|क्या)",
    # Spanish, Portuguese, French, German
    r"\bno (me )?(respondiste|contestaste|has respondido|has contestado|ha respondido|respondió|contestó)",
    r"\b(te|se) olvid(aste|ó)\b",
    r"\by mi (otra )?pregunta\b",
    r"\bn[aã]o (me )?(respondeu|respondeste|respondido)",
    r"\b(você|voce|vc) esqueceu\b",
    r"\be a minha (outra )?pergunta\b",
    r"\b(vous n'avez|tu n'as) pas répondu",
    r"\b(vous avez|tu as) oublié\b",
    r"\bet ma (autre )?question\b",
    r"\bnicht (beantwortet|geantwortet)",
    r"\bkeine antwort\b",
    r"\bund meine (andere )?frage\b",
]
_NUDGE = re.compile("|".join(f"(?:{p})" for p in _NUDGES))

# Sentences that ask without a question mark start (or, in Hinglish and Hindi, often end) with these.
_ASKING_STARTS = {
    "what", "when", "where", "why", "how", "which", "who", "whom", "whose", "can", "could", "do", "does",
    "did", "is", "are", "was", "will", "would", "should", "may", "shall", "have", "has",
    "kya", "kab", "kaise", "kaisa", "kahan", "kahaan", "kyun", "kyon", "kyu", "kitna", "kitne", "kitni", "kaun", "konsa",
    "क्या", "कब", "कैसे", "कहाँ", "कहां", "क्यों", "कितना", "कितने", "कौन",
    "qué", "que", "cuándo", "dónde", "cómo", "cuánto", "puedo", "puede", "quand", "où", "comment", "pourquoi", "combien",
    "wann", "wo", "wie", "warum", "kann", "können", "quando", "onde", "como", "quanto", "posso", "pode",
}  # fmt: skip
_ASKING_ANYWHERE = {"kab", "kaise", "kahan", "kahaan", "kyun", "kyon", "kitna", "kitne", "kitni", "कब", "कैसे", "कहाँ", "क्यों"}
# Words a question may open with before its asking word ("also, can I...", "aur kya...").
_LEAD_INS = {"also", "and", "but", "so", "or", "then", "plus", "please", "ok", "okay", "hi", "hello", "aur", "y", "et", "und"}
_SENTENCE = re.compile(r"[^.!?\n।]+[.!?।]*")
_WORD = re.compile(r"\w+", re.UNICODE)
# Words that say nothing about what was asked (an answer need not repeat them).
_STOP = {
    "what", "when", "where", "which", "about", "there", "their", "this", "that", "these", "those", "with", "from",
    "have", "does", "your", "you", "will", "would", "could", "should", "please", "thanks", "thank", "hello", "also",
    "and", "can", "the", "for", "are", "how", "why", "who", "want", "need", "know", "tell", "kya", "hai", "mera",
    "mere", "meri", "aap", "kripya",
}  # fmt: skip
# An answer that repeats half of a question's content words addressed it.
ANSWERED_OVERLAP = 0.5
MIN_QUESTION_WORDS = 2
MAX_QUOTE_CHARS = 300


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower().replace("’", "'")).strip()


def is_nudge(text: str) -> bool:
    """True when the customer says we left a question of theirs unanswered."""
    return bool(_NUDGE.search(_normalise(text)))


def questions_in(text: str) -> list[str]:
    """The sentences of `text` that ask something, in order."""
    found = []
    for sentence in _SENTENCE.findall(text):
        sentence = sentence.strip()
        words = _WORD.findall(sentence.lower())
        if len(words) < MIN_QUESTION_WORDS or is_nudge(sentence):
            continue
        first = next((w for w in words if w not in _LEAD_INS), "")
        if sentence.endswith("?") or first in _ASKING_STARTS or any(w in _ASKING_ANYWHERE for w in words):
            found.append(sentence)
    return found


def _content_words(text: str) -> set[str]:
    words = _WORD.findall(text.lower())
    return {w for w in words if w not in _STOP and (len(w) >= 4 or not w.isascii() or w.isdigit())}


def _answered(question: str, replies: Sequence[str]) -> bool:
    asked = _content_words(question)
    if not asked:
        return bool(replies)
    said = set().union(*(_content_words(r) for r in replies)) if replies else set()
    return len(asked & said) / len(asked) >= ANSWERED_OVERLAP


def unanswered_question(turns: Sequence[Turn], current_start: int) -> str | None:
    """What the customer means by "you didn't answer": among their messages before the current
    turn, the newest question no later reply took up (by the words it shares with the replies);
    else their newest question (they say it was not answered: believe them); else their newest
    message of substance. None when they have said nothing before."""
    earlier = list(turns[:current_start])
    newest_question: str | None = None
    for index in range(len(earlier) - 1, -1, -1):
        turn = earlier[index]
        if turn.role != "user":
            continue
        replies = [t.text for t in earlier[index + 1 :] if t.role == "assistant"]
        for question in reversed(questions_in(turn.text)):
            newest_question = newest_question or question
            if not _answered(question, replies):
                return _quote(question)
    if newest_question is not None:
        return _quote(newest_question)
    said = next((t.text for t in reversed(earlier) if t.role == "user" and len(_WORD.findall(t.text)) >= 3), None)
    return _quote(said) if said else None


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_QUOTE_CHARS else text[: MAX_QUOTE_CHARS - 1] + "…"


def recovery_text(question: str) -> str:
    return (
        f'The customer says a question of theirs went unanswered. It was: "{question}". Apologise in a few '
        "words and answer that question now, fully; if you cannot, say so plainly and offer a person from the team."
    )


def several_questions_text(questions: Sequence[str]) -> str:
    listed = "\n".join(f"{n}. {_quote(q)}" for n, q in enumerate(questions, start=1))
    return f"The customer asked {len(questions)} things in their latest message(s). Answer each of them, in order:\n{listed}"


def turn_guidance(turns: Sequence[Turn], current_start: int) -> str:
    """The line for the model about the customer's current turn: the question they say we missed,
    or the several questions their messages ask; "" when neither applies."""
    current = [t.text for t in turns[current_start:] if t.role == "user"]
    if any(is_nudge(text) for text in current):
        missed = unanswered_question(turns, current_start)
        if missed is not None:
            return recovery_text(missed)
    asked = [q for text in current for q in questions_in(text)]
    return several_questions_text(asked) if len(asked) > 1 else ""
