"""When the AI hands a conversation to people: the triggers, as pure functions.

Issue 8's triggers: the customer asks for a person (any supported language), a tenant's own
keywords, topics the tenant keeps for people, N low-confidence answers in a row, N failed tool
calls in a row, and the AI budget running out. Everything here is deterministic and free of I/O
(no clock, no randomness): the conversation workflow replays `after_turn`, and activities call
`detect_trigger` on each inbound batch.

Asking for a person is matched clause by clause, not by keyword: "human resources", "are you a
human?" and "I don't need an agent" mention the word without asking (Chatwoot #13178 is what
keying a handoff on a magic string leads to). A clause asks when a person word ("agent",
"insaan", "موظف") stands next to a request word ("talk to", "baat karao", "أريد") or alone
with only politeness around it ("human please"), with no negation aimed at it.
"""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints on
# every payload it decodes (AgentSettings is an activity result, HandoffCounters workflow state).
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Protocol

from rapidfuzz import process
from rapidfuzz.distance import OSA

from agent.handoff_phrases import BOT_WORDS, CLAUSE_BREAKS, LANGUAGES, NEGATIVE_QUESTIONS, Lexicon

CUSTOMER_ASKED = "customer_asked"
KEYWORD = "keyword"
HUMAN_ONLY_TOPIC = "human_only_topic"
LOW_CONFIDENCE = "low_confidence"
TOOL_FAILURES = "tool_failures"
BUDGET_EXHAUSTED = "budget_exhausted"  # raised by the workflow itself when the tenant's budget refuses a turn

DEFAULT_LOW_CONFIDENCE_TURNS = 3
DEFAULT_TOOL_FAILURE_STREAK = 3


# -- settings -------------------------------------------------------------------------------


@dataclass
class HumanOnlyTopic:
    """A subject the tenant wants people to handle ("legal": "lawsuit", "court", "my lawyer")."""

    name: str
    phrases: list[str] = field(default_factory=list)


@dataclass
class HandoffSettings:
    keywords: list[str] = field(default_factory=list)
    human_only_topics: list[HumanOnlyTopic] = field(default_factory=list)
    low_confidence_turns: int = DEFAULT_LOW_CONFIDENCE_TURNS
    tool_failure_streak: int = DEFAULT_TOOL_FAILURE_STREAK

    @classmethod
    def from_profile(cls, profile: "HandoffProfile") -> "HandoffSettings":
        return cls(
            keywords=list(profile.handoff_keywords or []),
            human_only_topics=[
                HumanOnlyTopic(name=str(t["name"]), phrases=[str(p) for p in t.get("phrases", [])])
                for t in (profile.human_only_topics or [])
            ],
            low_confidence_turns=profile.low_confidence_turns,
            tool_failure_streak=profile.tool_failure_streak,
        )


class HandoffProfile(Protocol):
    """What of an agent profile (models/agent_profiles.AgentProfile) the hand-over reads."""

    handoff_keywords: list[str]
    human_only_topics: list[Mapping[str, Any]]
    low_confidence_turns: int
    tool_failure_streak: int


@dataclass
class HandoffTrigger:
    kind: str  # one of the constants above
    reason: str  # for people: the dashboard, the audit log, the Temporal UI


@dataclass
class HandoffCounters:
    """Streaks carried across turns in the workflow's state; reset on release."""

    low_confidence: int = 0
    tool_failures: int = 0


# -- text normalisation ---------------------------------------------------------------------

_NEGATIVE_QUESTION = re.compile(rf"\b({'|'.join(NEGATIVE_QUESTIONS)})(?:n?['’]?t|not) (you|u|i|we)\b")
_CLAUSE_PUNCT = re.compile(r"[.!?;:,…\n\r¿¡؟،।॥|]+")
# Letters and digits of any script, plus the Devanagari and Arabic blocks (their vowel signs are
# not \w), kept; every other character separates words.
_NOT_WORD = re.compile(r"[^\w\u0900-\u097F\u0600-\u06FF|]+")
_ARABIC_MARKS = re.compile(r"[\u064B-\u065F\u0670\u0640]")  # harakat, hamza/madda marks, tatweel
_LATIN_ACCENTS = re.compile(r"[\u0300-\u036F]")
_SCRIPT_FOLDS = str.maketrans({"ة": "ه", "ى": "ي", "\u0901": "\u0902", "\u093C": None})


def _fold(text: str) -> str:
    """Case, accents on Latin letters, Arabic letter variants, Devanagari nukta/chandrabindu."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _NEGATIVE_QUESTION.sub(lambda m: f"{'will' if m[1] == 'won' else m[1]} {m[2]}", text)
    text = text.replace("n't", " not").replace("n’t", " not")
    # NFD splits é into e + accent and أ into ا + hamza: dropping the marks folds both.
    text = unicodedata.normalize("NFD", text)
    text = _ARABIC_MARKS.sub("", _LATIN_ACCENTS.sub("", text))
    return unicodedata.normalize("NFC", text).translate(_SCRIPT_FOLDS)


@lru_cache(maxsize=256)  # asks_for_human and detect_trigger normalise the same message
def normalize(text: str) -> str:
    """Folded words separated by single spaces, clauses by " | "."""
    text = _CLAUSE_PUNCT.sub(" | ", _fold(text))
    words = _NOT_WORD.sub(" ", text).split()
    return " ".join("|" if w in _BREAKS else w for w in words)


def _words(phrase: str) -> tuple[str, ...]:
    return tuple(_NOT_WORD.sub(" ", _fold(phrase)).replace("|", " ").split())


def matchable(term: str) -> bool:
    """Whether a tenant's keyword or topic phrase can ever match (it has a letter or digit)."""
    return bool(_words(term))


_BREAKS = frozenset(CLAUSE_BREAKS)


# -- the lexicon, folded once ----------------------------------------------------------------

NOUN, WEAK, TALK, WANT, AFTER, NEG, BOT, FILLER = "noun", "weak", "talk", "want", "after", "neg", "bot", "filler"
# Cues of verb-final languages may follow the noun ("insaan se baat karao").
TALK_EITHER, WANT_EITHER = "talk_either", "want_either"


def _build_units(languages: Iterable[Lexicon]) -> dict[tuple[str, ...], frozenset[str]]:
    units: dict[tuple[str, ...], set[str]] = {}

    def add(phrases: Iterable[str], kind: str) -> None:
        for phrase in phrases:
            if words := _words(phrase):
                units.setdefault(words, set()).add(kind)

    for lex in languages:
        add(lex.nouns, NOUN)
        add(lex.weak_nouns, WEAK)
        add(lex.talk_cues, TALK_EITHER if lex.verb_final else TALK)
        add(lex.want_cues, WANT_EITHER if lex.verb_final else WANT)
        add(lex.after_cues, AFTER)
        add(lex.negations, NEG)
        add(lex.fillers, FILLER)
    add(BOT_WORDS, BOT)
    return {k: frozenset(v) for k, v in units.items()}


_UNITS = _build_units(LANGUAGES.values())
_LONGEST_UNIT = max(len(k) for k in _UNITS)
_PERSON_WORDS = sorted({" ".join(k) for k, v in _UNITS.items() if v & {NOUN, WEAK, BOT}}, key=len, reverse=True)
_KNOWN_WORDS = frozenset(w for k in _UNITS for w in k)
_FIRST_WORDS = frozenset(k[0] for k in _UNITS)

# {N} in an identity question: a person or bot word, after up to three articles or qualifiers.
_QUALIFIERS = (
    "a an un una um uma une ein eine einen ek real really actually actual even live de verdad vraiment wirklich echt "
    "echter echten asli beneran sach realmente mesmo seorang"
)
_N = rf"(?:(?:{'|'.join(_QUALIFIERS.split())}) ){{0,3}}(?:{'|'.join(re.escape(w) for w in _PERSON_WORDS)})"


def _phrase_regex(phrase: str) -> str:
    """One phrase as a regex on normalised text; "{N}" stands for a person or bot word."""
    pieces = []
    for i, part in enumerate(phrase.split("{N}")):
        if folded := " ".join(_words(part)):
            pieces.append(re.escape(folded))
        if i < phrase.count("{N}"):
            pieces.append(_N)
    return " ".join(pieces)


def _phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str]:
    """Whole-word alternatives on normalised text (lookarounds: \\b fails on Devanagari signs)."""
    alternatives = sorted({_phrase_regex(p) for p in phrases} - {""}, key=len, reverse=True)
    return re.compile(rf"(?<!\S)(?:{'|'.join(alternatives)})(?!\S)")


_IDENTITY = _phrase_pattern(p for lex in LANGUAGES.values() for p in lex.identity)
_EXCLUDED = _phrase_pattern(p for lex in LANGUAGES.values() for p in lex.excluded)
_OR_WORDS = frozenset(_words("or ou oder atau ya या او"))  # not "o": Portuguese "the"
_INTERJECTIONS = frozenset(_words("no nope nah non nein nao nahi لا"))
_PRONOUNS = frozenset(_words("i just yo je ich eu saya aku mujhe main mai انا"))

# Single-word typos ("humna", "agnet") of these are read as the word; a short curated list, as
# every word added here is one more real word that could be misread as a request.
_FUZZY_NOUNS = tuple(
    _words(
        "human humans agent agents person representative operator supervisor manager humano agente atendente "
        "humain mensch mitarbeiter manusia insaan"
    )
)
# Real words one edit away from a person word.
_NOT_TYPOS = frozenset(
    _words(
        "humane humor humour agency agenda argent urgent managed manages manage manger employer personal "
        "personally personas prison parson poison stuff stiff admit reason season lesson"
    )
)


@lru_cache(maxsize=8192)
def _canonical(word: str) -> str:
    """The lexicon's form of a word: Arabic with its attached prefixes ("بالموظف") taken off,
    a Latin typo of a person word corrected; otherwise the word itself."""
    if (word,) in _UNITS or word in _NOT_TYPOS:
        return word
    if "\u0600" <= word[0] <= "\u06ff":
        for prefix in ("وبال", "وال", "بال", "فال", "كال", "لل", "ال", "وب", "ول", "و", "ب", "ل", "ف"):
            if word.startswith(prefix) and word[len(prefix) :] in _FIRST_WORDS:
                return word[len(prefix) :]
        return word
    if len(word) < 4 or not word.isascii() or not word.isalpha() or word in _KNOWN_WORDS:
        return word
    best = process.extractOne(word, _FUZZY_NOUNS, scorer=OSA.distance, score_cutoff=2)
    if best is None:
        return word
    candidate, distance, _ = best
    limit = 1 if len(candidate) <= 7 else 2
    return candidate if distance <= limit and candidate[0] == word[0] else word


@dataclass(frozen=True)
class _Unit:
    text: str
    kinds: frozenset[str]


def _units(words: Sequence[str]) -> list[_Unit]:
    """Longest lexicon phrases first ("customer service" is one person word, not two words)."""
    out: list[_Unit] = []
    i = 0
    while i < len(words):
        for size in range(min(_LONGEST_UNIT, len(words) - i), 0, -1):
            key = tuple(words[i : i + size])
            if key == ("ai",) and i > 0 and words[i - 1] in ("j", "n"):
                continue  # French "j'ai" / "n'ai" (I have), not an AI
            if key in _UNITS:
                out.append(_Unit(" ".join(key), _UNITS[key]))
                i += size
                break
        else:
            out.append(_Unit(words[i], frozenset()))
            i += 1
    return out


# -- asking for a person ---------------------------------------------------------------------

MAX_GAP = 1  # words between a request word and the person word, not counting fillers


def _gap(units: Sequence[_Unit], start: int, end: int) -> int:
    return sum(1 for u in units[start + 1 : end] if FILLER not in u.kinds)


def _negation_applies(units: Sequence[_Unit], neg: int, noun: int) -> bool:
    """A negation counts unless it is aimed at a bot: "not a bot, a human", "bot nahi, insaan"."""
    if neg < noun:
        if any(BOT in u.kinds for u in units[neg + 1 : noun]):
            return False
        return not any(BOT in u.kinds for u in units[max(0, neg - 2) : neg])
    return not any(BOT in u.kinds for u in units[neg + 1 : neg + 3])


def _clause_asks(words: list[str]) -> bool:
    text = " ".join(words)
    if _IDENTITY.search(text):
        return False  # "are you a human?", "kya aap insaan ho?"
    units = _units(_EXCLUDED.sub(" ~ ", text).split())
    kinds = [u.kinds for u in units]
    if any(BOT in k for k in kinds) and any(u.text in _OR_WORDS for u in units):
        return False  # "human or bot?"
    nouns = [i for i, k in enumerate(kinds) if NOUN in k]
    weak = not nouns
    if weak:
        nouns = [i for i, k in enumerate(kinds) if WEAK in k]
    if not nouns:
        return False
    negations = [i for i, k in enumerate(kinds) if NEG in k]
    # "No, I want a human" without its comma: a leading "no" answers something else.
    if negations and negations[0] == 0 and units[0].text in _INTERJECTIONS and len(units) > 1 and units[1].text in _PRONOUNS:
        negations = negations[1:]
    before = {TALK, TALK_EITHER} if weak else {TALK, TALK_EITHER, WANT, WANT_EITHER}
    after = {TALK_EITHER} if weak else {TALK_EITHER, WANT_EITHER, AFTER}
    for noun in nouns:
        if any(_negation_applies(units, neg, noun) for neg in negations):
            continue
        if not weak and len(units) <= 6 and all(k & {FILLER, NOUN, AFTER} for k in kinds):
            return True  # "human please", "un conseiller svp", "एजेंट"
        for cue, k in enumerate(kinds):
            if cue < noun and k & before and _gap(units, cue, noun) <= MAX_GAP:
                return True
            if cue > noun and k & after and _gap(units, noun, cue) <= MAX_GAP:
                return True
    return False


def asks_for_human(text: str) -> bool:
    """True when the message asks to be passed to a person (see the module docstring)."""
    normalized = normalize(text[:2000])  # a request for a person is short; a pasted essay is not one
    for clause in normalized.split("|"):
        words = [_canonical(w) for w in clause.split()]
        if words and _clause_asks(words):
            return True
    return False


# -- the tenant's keywords and topics --------------------------------------------------------


@lru_cache(maxsize=1024)
def _term_pattern(term: str) -> re.Pattern[str] | None:
    """A tenant's word or phrase, matched as whole words; a Latin last word may take a plural."""
    words = _words(term)
    if not words:
        return None
    body = r"\s+".join(re.escape(w) for w in words)
    plural = "(?:s|es)?" if words[-1].isascii() and words[-1].isalpha() else ""
    return re.compile(rf"(?<!\S){body}{plural}(?!\S)")


def _mentions(normalized: str, term: str) -> bool:
    pattern = _term_pattern(term)
    return pattern is not None and pattern.search(normalized) is not None


def detect_trigger(text: str, settings: HandoffSettings) -> HandoffTrigger | None:
    """The first reason in the customer's message to hand over: asked for a person, a keyword,
    a human-only topic (in that order), or None."""
    if asks_for_human(text):
        return HandoffTrigger(CUSTOMER_ASKED, "customer asked for a person")
    normalized = normalize(text[:8000]).replace("|", " ")
    for keyword in settings.keywords:
        if _mentions(normalized, keyword):
            return HandoffTrigger(KEYWORD, f"keyword '{keyword}'")
    for topic in settings.human_only_topics:
        if any(_mentions(normalized, phrase) for phrase in topic.phrases):
            return HandoffTrigger(HUMAN_ONLY_TOPIC, f"topic '{topic.name}' is handled by people")
    return None


# -- streaks across turns ----------------------------------------------------------------------


def after_turn(
    counters: HandoffCounters,
    confidence: float | None,
    threshold: float,
    tool_failures: int,
    tool_successes: int,
    settings: HandoffSettings,
) -> tuple[HandoffCounters, HandoffTrigger | None]:
    """The streaks after one answered turn, and the trigger they reach, if any.

    `confidence` None means the turn's confidence was not measured: the low-confidence streak
    neither grows nor resets. A turn with any successful tool call restarts the failure streak:
    the order of calls within a turn is not known here, and working tools are the safer reading
    (a spurious hand-over costs a person's time). The streak that fires starts again from zero,
    so one streak hands over once.
    """
    low = counters.low_confidence
    if confidence is not None:
        low = low + 1 if confidence < threshold else 0
    failures = 0 if tool_successes > 0 else counters.tool_failures + max(tool_failures, 0)
    updated = replace(counters, low_confidence=low, tool_failures=failures)
    if failures >= settings.tool_failure_streak:
        return replace(updated, tool_failures=0), HandoffTrigger(TOOL_FAILURES, f"{failures} tool calls failed in a row")
    if low >= settings.low_confidence_turns:
        reason = f"{low} answers in a row with confidence below {threshold:g}"
        return replace(updated, low_confidence=0), HandoffTrigger(LOW_CONFIDENCE, reason)
    return updated, None


def budget_exhausted() -> HandoffTrigger:
    return HandoffTrigger(BUDGET_EXHAUSTED, "the AI budget for this period is used up")
