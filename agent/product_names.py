"""Product names the customer misspells: which of the tenant's products they mean, and how sure.

The catalogue is the names the tenant's own data holds (order line items, product knowledge
entries). Each run of the customer's words about as long as a name is scored against every name
with rapidfuzz (edit-distance ratio, word order ignored as a second try). A close, unambiguous
match is a correction the model is simply told about; a looser one, or two names nearly as close,
is one the customer is asked to confirm. Embeddings settle the close calls: when the sentence
embedding of the words agrees with the spelling on the best name, and clearly, the match is sure.

Pure apart from the `similarity` callable the caller passes (the embedder), so a retried turn
with the same catalogue decides the same.
"""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

SURE_SCORE = 90.0  # at or above (and unambiguous): corrected without asking
ASK_SCORE = 78.0  # at or above: asked about; below: not a mention of that product
AMBIGUOUS_MARGIN = 4.0  # a second name this close to the best one makes the best one unsure
EMBEDDING_AGREES = 0.9  # cosine of words and name at which the embedding confirms a close call
EMBEDDING_MARGIN = 0.03  # ... ahead of the runner-up by at least this
MIN_NAME_CHARS = 4
MAX_CATALOGUE = 5000

_WORD = re.compile(r"[\w'+#.-]+", re.UNICODE)

# (words, names) -> cosine similarity of the words to each name
Similarity = Callable[[str, list[str]], Awaitable[list[float]]]


@dataclass
class ProductMatch:
    written: str  # the customer's words
    product: str  # the catalogue's name
    score: float  # 0-100
    sure: bool


@dataclass
class ProductCheck:
    """A "did you mean ...?" asked of the customer, kept in the conversation until they answer."""

    written: str
    product: str
    contact_id: str = ""
    # The customer's answer, when passed back to the turn: True yes, False no, None neither.
    accepted: bool | None = None


def _norm(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _windows(words: list[str], size: int) -> list[tuple[int, int]]:
    spans = []
    for length in {max(1, size - 1), size, size + 1}:
        spans += [(start, start + length) for start in range(0, len(words) - length + 1)]
    return spans


def _score(a: str, b: str, **_: object) -> float:
    return max(fuzz.ratio(a, b), fuzz.token_sort_ratio(a, b))


async def find_products(message: str, catalogue: Sequence[str], similarity: Similarity | None = None) -> list[ProductMatch]:
    """The catalogue names the message seems to mean but does not spell as the catalogue does,
    best first, one per stretch of words. Names written exactly are not reported."""
    names = {_norm(n): n for n in catalogue[:MAX_CATALOGUE] if len(_norm(n)) >= MIN_NAME_CHARS}
    if not names:
        return []
    said = _norm(message)
    words = said.split()
    if not words:
        return []
    padded = f" {said} "
    written_right = {n for n in names if f" {n} " in padded}
    keys = [n for n in names if n not in written_right]
    candidates: list[tuple[float, tuple[int, int], list[tuple[str, float]]]] = []
    for size in sorted({len(n.split()) for n in keys}):
        for start, end in _windows(words, size):
            window = " ".join(words[start:end])
            if len(window) < MIN_NAME_CHARS or window in names:
                continue
            found = process.extract(window, keys, scorer=_score, limit=None, score_cutoff=ASK_SCORE)
            if found:
                # Equal scores in name order: the same catalogue always gives the same question.
                ranked = sorted(((name, score) for name, score, _ in found), key=lambda r: (-r[1], r[0]))[:2]
                candidates.append((ranked[0][1], (start, end), ranked))
    matches: list[ProductMatch] = []
    # Words that already spell a name are not read as another name misspelled.
    taken = {i for n in written_right for s, e in _windows(words, len(n.split())) if " ".join(words[s:e]) == n for i in range(s, e)}
    for best_score, (start, end), ranked in sorted(candidates, key=lambda c: (-c[0], c[1][0])):
        if taken & set(range(start, end)) or any(m.product == names[ranked[0][0]] for m in matches):
            continue
        written = " ".join(words[start:end])
        best = ranked[0][0]
        ambiguous = len(ranked) > 1 and best_score - ranked[1][1] < AMBIGUOUS_MARGIN
        sure = best_score >= SURE_SCORE and not ambiguous
        if not sure and similarity is not None:
            sure = await _embedding_confirms(similarity, written, [names[n] for n, _ in ranked])
        matches.append(ProductMatch(written=written, product=names[best], score=round(best_score, 1), sure=sure))
        taken |= set(range(start, end))
    return matches


async def _embedding_confirms(similarity: Similarity, written: str, ranked: list[str]) -> bool:
    scores = await similarity(written, ranked)
    best = scores[0]
    runner_up = max(scores[1:], default=-1.0)
    return best >= EMBEDDING_AGREES and best - runner_up >= EMBEDDING_MARGIN and best == max(scores)


def corrections_text(matches: Sequence[ProductMatch]) -> str:
    """What the model is told about the names it can take as meant."""
    lines = [f'- "{m.written}" means our product "{m.product}"' for m in matches if m.sure]
    if not lines:
        return ""
    return "Product names in the customer's message, as our catalogue spells them (use these names):\n" + "\n".join(lines)


def check_answer_text(check: ProductCheck) -> str:
    """What the model is told after the customer answered "did you mean ...?"."""
    if check.accepted:
        return (
            f'The customer confirmed that by "{check.written}" they mean our product "{check.product}". '
            "Answer their message before the question, about that product."
        )
    if check.accepted is False:
        return (
            f'The customer does not mean "{check.product}" by "{check.written}". If the product matters for '
            "their question, ask them which one they mean (its exact name, or a link or photo)."
        )
    return ""
