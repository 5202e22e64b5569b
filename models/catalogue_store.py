"""The tenant's product names, as its own data spells them: the titles of the items in its orders
(pushed by its stores) and of its product knowledge entries. Read for spelling correction
(agent/product_names.py); no catalogue table of its own, so nothing to keep in step."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Newest orders first: a large store's catalogue is capped at the names customers buy now.
_PRODUCT_NAMES = text(
    """
    SELECT name FROM (
        SELECT DISTINCT ON (name) name, seen FROM (
            SELECT btrim(item->>'title') AS name, coalesce(o.placed_at, o.updated_at) AS seen
            FROM orders o, jsonb_array_elements(CASE jsonb_typeof(o.items) WHEN 'array' THEN o.items ELSE '[]' END) item
            WHERE o.tenant_id = :tenant_id
            UNION ALL
            SELECT btrim(e.title), e.updated_at FROM knowledge_entries e
            WHERE e.tenant_id = :tenant_id AND e.type = 'product' AND e.active AND e.deleted_at IS NULL
        ) named
        WHERE name IS NOT NULL AND name <> ''
        ORDER BY name, seen DESC NULLS LAST
    ) latest
    ORDER BY seen DESC NULLS LAST, name
    LIMIT :limit
    """
)


async def product_names(session: AsyncSession, tenant_id: uuid.UUID, limit: int) -> list[str]:
    rows = await session.execute(_PRODUCT_NAMES, {"tenant_id": tenant_id, "limit": limit})
    return [row.name for row in rows]
