"""An intent model that reads sentence embeddings beside the n-grams (NluSettings.features)."""

from __future__ import annotations

import numpy as np
import pytest

from nlu.model import IntentModel, ModelFormatError
from nlu.training import train_intent_model


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def _data(seed: int = 3):
    """Two intents whose words say nothing (the same made-up words in both) and whose
    embeddings say everything: only a model reading the embeddings can tell them apart."""
    rng = np.random.default_rng(seed)
    words = ["zorp", "blick", "quand", "frell", "mirt", "tosk"]
    directions = {"refund_status": _unit(rng.normal(size=16)), "track_order": _unit(rng.normal(size=16))}
    texts, labels, vectors = [], [], []
    for i in range(60):
        label = "refund_status" if i % 2 else "track_order"
        texts.append(" ".join(rng.choice(words, size=4)))
        labels.append(label)
        vectors.append(_unit(directions[label] + rng.normal(scale=0.3, size=16)))
    return texts, labels, np.asarray(vectors, dtype=np.float32), directions


def test_the_embeddings_decide_where_the_words_cannot():
    texts, labels, vectors, directions = _data()
    model = train_intent_model(texts, labels, embeddings=vectors, embedder="test-embedder")

    assert model.embedder == "test-embedder"
    assert model.predict("zorp blick", directions["refund_status"]).intent == "refund_status"
    assert model.predict("zorp blick", directions["track_order"]).intent == "track_order"
    with pytest.raises(ValueError, match="test-embedder"):
        model.predict("zorp blick")  # a turn must bring the message's embedding


def test_a_model_with_embeddings_survives_storage_and_refuses_mismatched_weights():
    texts, labels, vectors, directions = _data()
    model = train_intent_model(texts, labels, embeddings=vectors, embedder="test-embedder")

    again = IntentModel.from_bytes(model.to_bytes())
    assert again.embedder == "test-embedder"
    probe = directions["refund_status"]
    assert again.predict("quand mirt", probe) == model.predict("quand mirt", probe)

    model.embedding_weights = model.embedding_weights[:, :1]  # one intent's column short
    with pytest.raises(ModelFormatError):
        IntentModel.from_bytes(model.to_bytes())
    model.embedder = None  # weights without the embedder that made their space
    model.embedding_weights = again.embedding_weights
    with pytest.raises(ModelFormatError):
        IntentModel.from_bytes(model.to_bytes())
