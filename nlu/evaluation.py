"""Scoring a model on held-out samples, and which samples are held out.

The held-out split is stable: a sample is held out or not by a hash of its id, so a sample held
out when version 3 was trained is still held out for version 4. Comparing the new version with
the active one on today's held-out samples is then fair: neither has trained on them.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from nlu.model import IntentModel, Prediction

HELD_OUT_PERCENT = 20
# An intent with fewer samples than this trains on all of them (and is not scored): a model
# cannot learn an intent from one or two examples and also be tested on it.
MIN_SAMPLES_TO_HOLD_OUT = 5
CONFUSIONS_KEPT = 20


def held_out(sample_id: str) -> bool:
    digest = hashlib.blake2b(sample_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 100 < HELD_OUT_PERCENT


@dataclass(frozen=True)
class Sample:
    id: str
    text: str
    intent: str


def split_samples(samples: Sequence[Sample]) -> tuple[list[Sample], list[Sample]]:
    """(training, held out)."""
    per_intent = Counter(s.intent for s in samples)
    train: list[Sample] = []
    test: list[Sample] = []
    for sample in samples:
        (test if per_intent[sample.intent] >= MIN_SAMPLES_TO_HOLD_OUT and held_out(sample.id) else train).append(sample)
    return train, test


@dataclass
class IntentScore:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class Evaluation:
    samples: int
    accuracy: float
    macro_f1: float
    per_intent: dict[str, IntentScore] = field(default_factory=dict)
    # The most frequent mistakes: [true intent, predicted intent, count], most frequent first.
    confusions: list[tuple[str, str, int]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "samples": self.samples,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "per_intent": {k: vars(v) for k, v in self.per_intent.items()},
            "confusions": [list(c) for c in self.confusions],
        }


def predictions(model: IntentModel, samples: Sequence[Sample], embeddings: Sequence[Sequence[float]] | None = None) -> list[Prediction]:
    """One per sample. `embeddings`: one per sample, for a model that reads them (IntentModel.embedder)."""
    vectors = embeddings if embeddings is not None else [None] * len(samples)
    return [model.predict(s.text, vector) for s, vector in zip(samples, vectors, strict=True)]


def evaluate(model: IntentModel, samples: Sequence[Sample], embeddings: Sequence[Sequence[float]] | None = None) -> Evaluation:
    return score([s.intent for s in samples], [p.intent for p in predictions(model, samples, embeddings)])


def score(truth: Sequence[str], predicted: Sequence[str]) -> Evaluation:
    if not truth:
        return Evaluation(samples=0, accuracy=0.0, macro_f1=0.0)
    pairs = Counter(zip(truth, predicted, strict=True))
    hits: dict[str, int] = defaultdict(int)
    for (true, guess), n in pairs.items():
        if true == guess:
            hits[true] += n
    support, guessed = Counter(truth), Counter(predicted)
    per_intent = {}
    for intent in sorted(support):  # intents that were never the truth have no recall to score
        precision = hits[intent] / guessed[intent] if guessed[intent] else 0.0
        recall = hits[intent] / support[intent]
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_intent[intent] = IntentScore(round(precision, 4), round(recall, 4), round(f1, 4), support[intent])
    mistakes = sorted(((t, g, n) for (t, g), n in pairs.items() if t != g), key=lambda m: (-m[2], m[0], m[1]))
    return Evaluation(
        samples=len(truth),
        accuracy=round(sum(hits.values()) / len(truth), 4),
        macro_f1=round(sum(s.f1 for s in per_intent.values()) / len(per_intent), 4),
        per_intent=per_intent,
        confusions=mistakes[:CONFUSIONS_KEPT],
    )
