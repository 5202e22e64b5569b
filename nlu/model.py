"""A trained intent model: the n-gram vocabulary with its IDF weights, one linear scorer per
intent and the temperature that turns scores into calibrated confidences.

Inference is plain numpy (no scikit-learn in the turn): a message touches only the rows of its
own terms, so classifying one costs well under a millisecond whatever the vocabulary's size.
The model is stored as an .npz archive read with `allow_pickle=False`: a model row in the
database can never run code when loaded, unlike a pickled estimator.
"""

from __future__ import annotations

import io
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from nlu.features import message_terms

OUT_OF_SCOPE = "out_of_scope"  # a tenant's explicit "none of our intents" class, when it has samples
FORMAT = 1


@dataclass(frozen=True)
class Prediction:
    intent: str  # the best-scoring intent (may be OUT_OF_SCOPE)
    confidence: float  # calibrated probability of `intent`, 0-1
    ranking: list[tuple[str, float]] = field(default_factory=list)  # the top three with their confidences

    def accepted(self, threshold: float) -> str | None:
        """The intent to act on: None when the model is unsure or says out of scope."""
        if self.confidence < threshold or self.intent == OUT_OF_SCOPE:
            return None
        return self.intent


class ModelFormatError(ValueError):
    """Stored bytes that are not an intent model this code can read."""


@dataclass
class IntentModel:
    intents: list[str]
    vocabulary: dict[str, int]
    idf: np.ndarray  # (terms,) float32
    weights: np.ndarray  # (terms, intents) float32: row per term, so a message gathers its rows
    bias: np.ndarray  # (intents,) float32
    temperature: float = 1.0
    # Set when the model also reads sentence embeddings: the embedder (its vector space) and a
    # (dimension × intents) weight matrix; every message then needs its embedding from it.
    embedder: str | None = None
    embedding_weights: np.ndarray | None = None

    def scores(self, text: str, embedding: Sequence[float] | None = None) -> np.ndarray:
        total = self.bias.astype(np.float64)
        if self.embedding_weights is not None:
            if embedding is None:
                raise ValueError(f"this model reads {self.embedder} embeddings too: pass the message's embedding")
            total = total + np.asarray(embedding, dtype=np.float64) @ self.embedding_weights.astype(np.float64)
        counts = Counter(message_terms(text))
        known = [t for t in counts if t in self.vocabulary]
        if not known:
            return total
        rows = np.fromiter((self.vocabulary[t] for t in known), dtype=np.int64, count=len(known))
        # sklearn's TfidfVectorizer(sublinear_tf=True, norm="l2") as the training side used it,
        # except that terms the vocabulary lacks still count in the norm (as rare terms, the
        # highest IDF): dropping them would blow a message with two familiar letter pairs up to
        # full strength, and gibberish would be classified with confidence. The temperature was
        # fitted the same way: its cross-validation folds scored messages whose own rare terms
        # their model had never weighted.
        tf = np.fromiter((1.0 + math.log(counts[t]) for t in known), dtype=np.float64, count=len(known))
        values = tf * self.idf[rows]
        unknown = np.fromiter((1.0 + math.log(n) for t, n in counts.items() if t not in self.vocabulary), dtype=np.float64)
        norm = math.sqrt(float(values @ values) + float(unknown @ unknown) * self._rare_idf**2)
        return (values / norm) @ self.weights[rows].astype(np.float64) + total

    @property
    def _rare_idf(self) -> float:
        return float(self.idf.max()) if len(self.idf) else 1.0

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        scaled = scores / self.temperature
        scaled -= scaled.max()
        exp = np.exp(scaled)
        return exp / exp.sum()

    def predict(self, text: str, embedding: Sequence[float] | None = None) -> Prediction:
        probs = self.probabilities(self.scores(text, embedding))
        order = np.argsort(-probs)[:3]
        ranking = [(self.intents[i], round(float(probs[i]), 4)) for i in order]
        return Prediction(ranking[0][0], ranking[0][1], ranking)

    def to_bytes(self) -> bytes:
        terms = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        header = {"format": FORMAT, "intents": self.intents, "temperature": self.temperature, "embedder": self.embedder}
        extra = {"embedding_weights": self.embedding_weights.astype(np.float32)} if self.embedding_weights is not None else {}
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            **extra,
            header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
            terms=np.frombuffer(json.dumps(terms, ensure_ascii=False).encode(), dtype=np.uint8),
            idf=self.idf.astype(np.float32),
            weights=self.weights.astype(np.float32),
            bias=self.bias.astype(np.float32),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> IntentModel:
        if not data.startswith(b"PK\x03\x04"):  # np.load would also read a bare .npy array, or try a pickle
            raise ModelFormatError("not an intent model archive: not a zip file")
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                header = json.loads(archive["header"].tobytes())
                terms = json.loads(archive["terms"].tobytes())
                idf, weights, bias = archive["idf"], archive["weights"], archive["bias"]
                embedding_weights = archive["embedding_weights"] if "embedding_weights" in archive.files else None
        # Damaged bytes can make zipfile, zlib or numpy's header parser raise nearly anything (BadZipFile,
        # zlib.error, EOFError, tokenize.TokenError...); callers only expect ModelFormatError.
        except Exception as exc:
            raise ModelFormatError(f"not an intent model archive: {exc}") from None
        version = header.get("format") if isinstance(header, dict) else None
        if version != FORMAT:
            raise ModelFormatError(f"intent model format {version!r}; this version reads {FORMAT}")
        intents = list(header["intents"])
        if weights.shape != (len(terms), len(intents)) or idf.shape != (len(terms),) or bias.shape != (len(intents),):
            raise ModelFormatError("intent model arrays do not match its vocabulary and intents")
        embedder = header.get("embedder")
        if (embedder is None) != (embedding_weights is None) or (
            embedding_weights is not None and (embedding_weights.ndim != 2 or embedding_weights.shape[1] != len(intents))
        ):
            raise ModelFormatError("intent model embedding weights do not match its embedder and intents")
        vocabulary = {term: i for i, term in enumerate(terms)}
        return cls(intents, vocabulary, idf, weights, bias, float(header["temperature"]), embedder, embedding_weights)
