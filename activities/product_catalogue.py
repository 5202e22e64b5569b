"""The product names a turn checks the customer's spelling against, with the embedder that
settles close calls (agent/product_names.py does the matching)."""

import math
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from agent.product_names import MAX_CATALOGUE, ProductMatch, find_products
from core.ttl_cache import TtlCache
from llm.embeddings import Embedder
from models.catalogue_store import product_names

# A product added to a store reaches the spelling check within this long.
CATALOGUE_CACHE_SECONDS = 300.0


class ProductCatalogue:
    def __init__(self, embedder: Embedder | None) -> None:
        self._embedder = embedder
        self._names: TtlCache[uuid.UUID, list[str]] = TtlCache(CATALOGUE_CACHE_SECONDS, max_entries=1000)

    async def names(self, session: AsyncSession, tenant_id: uuid.UUID) -> list[str]:
        return await self._names.get_or_load(tenant_id, lambda: product_names(session, tenant_id, MAX_CATALOGUE))

    async def match(self, names: list[str], text: str) -> list[ProductMatch]:
        """The products (of `names`, the tenant's) the customer's `text` names with a spelling of
        its own. Outside any transaction: a close call waits on the embedder."""
        if not text.strip() or not names:
            return []
        return await find_products(text, names, self._similarity if self._embedder is not None else None)

    async def _similarity(self, written: str, names: list[str]) -> list[float]:
        assert self._embedder is not None
        vectors = await self._embedder.embed([written, *names])
        return [_cosine(vectors[0], v) for v in vectors[1:]]


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0
