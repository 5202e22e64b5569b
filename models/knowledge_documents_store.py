"""Reading and moving a knowledge document's row through its ingestion lifecycle.

Every write that comes from an ingestion run names the run's generation: a run superseded by a
re-index (or by a delete, which bumps the generation too) changes nothing any more.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.knowledge import KnowledgeDocument

# Statuses while an ingestion run owns the document.
IN_PROGRESS = ("uploaded", "extracting", "chunking", "embedding", "indexing")
# Of those, the ones in which the run has chosen its embedder (activities/ingestion.py).
EMBEDDER_CHOSEN = ("chunking", "embedding", "indexing")


async def live_generation(session: AsyncSession, tenant_id: uuid.UUID, document_id: uuid.UUID, *, lock: bool = False) -> int | None:
    """The document's current generation, or None when it is deleted or does not exist.
    `lock`: hold the row until the transaction ends, so no re-index or delete slips in between."""
    query = select(KnowledgeDocument.index_generation).where(
        KnowledgeDocument.tenant_id == tenant_id,
        KnowledgeDocument.id == document_id,
        KnowledgeDocument.deleted_at.is_(None),
    )
    return await session.scalar(query.with_for_update() if lock else query)


def _for_run(tenant_id: uuid.UUID, document_id: uuid.UUID, generation: int):
    return update(KnowledgeDocument).where(
        KnowledgeDocument.tenant_id == tenant_id,
        KnowledgeDocument.id == document_id,
        KnowledgeDocument.index_generation == generation,
        KnowledgeDocument.deleted_at.is_(None),
    )


async def record_progress(
    session: AsyncSession, tenant_id: uuid.UUID, document_id: uuid.UUID, generation: int, status: str, percent: int, **known
) -> bool:
    """Moves the run's document to `status`; `known` sets what extraction learnt (format,
    page_count, title). False when the run no longer owns the document."""
    values = {"status": status, "progress_percent": percent, **{k: v for k, v in known.items() if v is not None}}
    result = await session.execute(_for_run(tenant_id, document_id, generation).values(**values))
    return result.rowcount > 0


async def mark_failed(
    session: AsyncSession, tenant_id: uuid.UUID, document_id: uuid.UUID, generation: int, code: str, reason: str
) -> bool:
    result = await session.execute(
        _for_run(tenant_id, document_id, generation).values(status="failed", failure_code=code[:64], failure_reason=reason)
    )
    return result.rowcount > 0


async def mark_ready(session: AsyncSession, tenant_id: uuid.UUID, document_id: uuid.UUID, generation: int, embedder: str) -> bool:
    result = await session.execute(
        _for_run(tenant_id, document_id, generation).values(
            status="ready", progress_percent=100, embedder=embedder, failure_code=None, failure_reason=None
        )
    )
    return result.rowcount > 0


async def live_by_content(session: AsyncSession, tenant_id: uuid.UUID, sha256: str) -> KnowledgeDocument | None:
    """The tenant's (not deleted) document with these exact bytes."""
    return await session.scalar(
        select(KnowledgeDocument).where(
            KnowledgeDocument.tenant_id == tenant_id,
            KnowledgeDocument.content_sha256 == sha256,
            KnowledgeDocument.deleted_at.is_(None),
        )
    )


async def live_document(session: AsyncSession, tenant_id: uuid.UUID, document_id: uuid.UUID) -> KnowledgeDocument | None:
    return await session.scalar(
        select(KnowledgeDocument).where(
            KnowledgeDocument.tenant_id == tenant_id,
            KnowledgeDocument.id == document_id,
            KnowledgeDocument.deleted_at.is_(None),
        )
    )


async def begin_reindex(session: AsyncSession, tenant_id: uuid.UUID, document_id: uuid.UUID) -> KnowledgeDocument | None:
    """Starts a new generation of the document (a run in progress is superseded from now on)
    with its status back at "uploaded"; None when it is deleted or does not exist."""
    document = await session.scalar(
        select(KnowledgeDocument)
        .where(KnowledgeDocument.tenant_id == tenant_id, KnowledgeDocument.id == document_id, KnowledgeDocument.deleted_at.is_(None))
        .with_for_update()
    )
    if document is None:
        return None
    document.index_generation += 1
    document.status, document.progress_percent = "uploaded", 0
    document.failure_code = document.failure_reason = None
    await session.flush()
    return document


async def embedding_now(session: AsyncSession, tenant_id: uuid.UUID, limit: int = 5) -> list[uuid.UUID]:
    """Up to `limit` of the tenant's documents whose ingestion run has chosen its embedder and
    not finished."""
    rows = await session.scalars(
        select(KnowledgeDocument.id)
        .where(
            KnowledgeDocument.tenant_id == tenant_id,
            KnowledgeDocument.status.in_(EMBEDDER_CHOSEN),
            KnowledgeDocument.deleted_at.is_(None),
        )
        .limit(limit)
    )
    return list(rows)
