"""Writing the knowledge index: a document's or an entry's chunks replaced as one unit, the
tenant's index description (embedder, dimension, language) and retrieval records.

A replacement locks the owning document or entry row, deletes its chunks and inserts the new
ones in the caller's transaction: readers see the old set until the commit and the new set
after it, never a half index, and two workers re-indexing the same document queue up instead of
interleaving. Chunk ids are derived from the owner and the chunk's content, so a retried
activity writes exactly the rows the first attempt wrote.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.knowledge import EMBEDDING_DIMENSION, KnowledgeDocument, KnowledgeEntry, KnowledgeIndex, RetrievalEvent

# Rows per INSERT: one statement carries every column as an array, so a batch's size is bounded
# by its embeddings (2,000 x 384 floats is about 3 MB on the wire).
_BATCH_ROWS = 2_000
_CHUNK_ID_NAMESPACE = uuid.UUID("0d6f4c3e-6a43-4d3b-9a59-6b1f2a8e7c10")


@dataclass(frozen=True)
class StoredChunk:
    text: str
    section_title: str | None
    position: int
    page: int | None
    token_count: int
    embedding: list[float]
    embedder: str


@dataclass(frozen=True)
class IndexChange:
    """What ensure_knowledge_index found: `reembed` means stored vectors came from another
    embedder (or dimension) and every document and entry must be embedded again."""

    reembed: bool
    previous_embedder: str | None


_INSERT = text(
    """
INSERT INTO knowledge_chunks (tenant_id, id, document_id, entry_id, position, section_title, page, text, token_count,
                              embedder, embedding, language)
SELECT :tenant, r.id, CAST(:document_id AS uuid), CAST(:entry_id AS uuid), r.position, r.section_title, r.page, r.text,
       r.token_count, r.embedder,
       CAST((CAST(:embeddings AS real[]))[(r.n - 1) * :dimension + 1 : r.n * :dimension] AS vector),
       COALESCE((SELECT language FROM knowledge_indexes WHERE tenant_id = :tenant), 'english'::regconfig)
FROM unnest(CAST(:ids AS uuid[]), CAST(:positions AS int[]), CAST(:section_titles AS text[]), CAST(:pages AS int[]),
            CAST(:texts AS text[]), CAST(:token_counts AS int[]), CAST(:embedders AS text[]))
     WITH ORDINALITY AS r(id, position, section_title, page, text, token_count, embedder, n)
"""
)
_DELETE_FOR_DOCUMENT = text("DELETE FROM knowledge_chunks WHERE tenant_id = :tenant AND document_id = :owner")
_DELETE_FOR_ENTRY = text("DELETE FROM knowledge_chunks WHERE tenant_id = :tenant AND entry_id = :owner")


def chunk_id(owner_id: uuid.UUID, chunk: StoredChunk) -> uuid.UUID:
    digest = hashlib.sha256(f"{chunk.embedder}\0{chunk.section_title or ''}\0{chunk.text}".encode()).hexdigest()
    return uuid.uuid5(_CHUNK_ID_NAMESPACE, f"{owner_id}:{chunk.position}:{digest}")


def _check(chunks: Sequence[StoredChunk]) -> None:
    positions = [c.position for c in chunks]
    if len(set(positions)) != len(positions):
        raise ValueError("chunk positions must be unique within a document or entry")
    for c in chunks:
        if len(c.embedding) != EMBEDDING_DIMENSION:
            raise ValueError(f"chunk {c.position}: embedding has {len(c.embedding)} dimensions, the index stores {EMBEDDING_DIMENSION}")


async def _insert(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    owner_id: uuid.UUID,
    chunks: Sequence[StoredChunk],
    *,
    document_id: uuid.UUID | None,
    entry_id: uuid.UUID | None,
) -> None:
    for start in range(0, len(chunks), _BATCH_ROWS):
        batch = chunks[start : start + _BATCH_ROWS]
        await session.execute(
            _INSERT,
            {
                "tenant": tenant_id,
                "document_id": document_id,
                "entry_id": entry_id,
                "dimension": EMBEDDING_DIMENSION,
                "ids": [chunk_id(owner_id, c) for c in batch],
                "positions": [c.position for c in batch],
                "section_titles": [c.section_title for c in batch],
                "pages": [c.page for c in batch],
                "texts": [c.text for c in batch],
                "token_counts": [c.token_count for c in batch],
                "embedders": [c.embedder for c in batch],
                "embeddings": [float(x) for c in batch for x in c.embedding],
            },
        )


async def replace_document_chunks(
    session: AsyncSession, *, tenant_id: uuid.UUID, document_id: uuid.UUID, chunks: Sequence[StoredChunk]
) -> int:
    """Makes `chunks` the document's whole index (and its chunk_count) in the caller's
    transaction; commit to publish. Returns the number of chunks stored."""
    _check(chunks)
    locked = await session.scalar(
        select(KnowledgeDocument.id)
        .where(KnowledgeDocument.tenant_id == tenant_id, KnowledgeDocument.id == document_id)
        .with_for_update()
    )
    if locked is None:
        raise LookupError(f"no knowledge document {document_id} for this tenant")
    await session.execute(_DELETE_FOR_DOCUMENT, {"tenant": tenant_id, "owner": document_id})
    await _insert(session, tenant_id, document_id, chunks, document_id=document_id, entry_id=None)
    await session.execute(
        update(KnowledgeDocument)
        .where(KnowledgeDocument.tenant_id == tenant_id, KnowledgeDocument.id == document_id)
        .values(chunk_count=len(chunks))
    )
    return len(chunks)


async def replace_entry_chunks(
    session: AsyncSession, *, tenant_id: uuid.UUID, entry_id: uuid.UUID, chunks: Sequence[StoredChunk]
) -> int:
    """Makes `chunks` the entry's whole index in the caller's transaction; commit to publish."""
    _check(chunks)
    locked = await session.scalar(
        select(KnowledgeEntry.id).where(KnowledgeEntry.tenant_id == tenant_id, KnowledgeEntry.id == entry_id).with_for_update()
    )
    if locked is None:
        raise LookupError(f"no knowledge entry {entry_id} for this tenant")
    await session.execute(_DELETE_FOR_ENTRY, {"tenant": tenant_id, "owner": entry_id})
    await _insert(session, tenant_id, entry_id, chunks, document_id=None, entry_id=entry_id)
    return len(chunks)


async def ensure_knowledge_index(
    session: AsyncSession, *, tenant_id: uuid.UUID, embedder: str, dimension: int, language: str | None = None
) -> IndexChange:
    """Records which embedder (and text search language) the tenant's index uses. A different
    embedder than before is reported so the caller re-embeds; a different language re-derives
    every chunk's tsvector here (the generated column follows `language`)."""
    if dimension != EMBEDDING_DIMENSION:
        raise ValueError(f"the knowledge index stores {EMBEDDING_DIMENSION}-dimensional vectors, not {dimension}")
    current = await session.scalar(select(KnowledgeIndex).where(KnowledgeIndex.tenant_id == tenant_id).with_for_update())
    if current is None:
        values = {"id": uuid.uuid4(), "tenant_id": tenant_id, "embedder": embedder, "dimension": dimension}
        if language:
            values["language"] = language
        await session.execute(insert(KnowledgeIndex).values(**values).on_conflict_do_nothing())
        stale = await has_stale_chunks(session, tenant_id=tenant_id, embedder=embedder)
        if language:
            await _relanguage(session, tenant_id, language)
        return IndexChange(reembed=stale, previous_embedder=None)
    changed = current.embedder != embedder or current.dimension != dimension
    previous = current.embedder
    current.embedder, current.dimension = embedder, dimension
    if language and language != current.language:
        current.language = language
        await session.flush()
        await _relanguage(session, tenant_id, language)
    await session.flush()
    return IndexChange(reembed=changed, previous_embedder=previous)


async def _relanguage(session: AsyncSession, tenant_id: uuid.UUID, language: str) -> None:
    await session.execute(
        text("UPDATE knowledge_chunks SET language = CAST(:language AS regconfig) WHERE tenant_id = :tenant AND language <> CAST(:language AS regconfig)"),
        {"tenant": tenant_id, "language": language},
    )


async def has_stale_chunks(session: AsyncSession, *, tenant_id: uuid.UUID, embedder: str) -> bool:
    """Whether any of the tenant's chunks was embedded by another embedder than `embedder`."""
    return bool(
        await session.scalar(
            text("SELECT EXISTS (SELECT 1 FROM knowledge_chunks WHERE tenant_id = :tenant AND embedder <> :embedder)"),
            {"tenant": tenant_id, "embedder": embedder},
        )
    )


async def owners_to_reembed(session: AsyncSession, *, tenant_id: uuid.UUID, embedder: str) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """Documents and entries with chunks embedded by another embedder than `embedder`."""
    rows = await session.execute(
        text(
            "SELECT DISTINCT document_id, entry_id FROM knowledge_chunks WHERE tenant_id = :tenant AND embedder <> :embedder"
        ),
        {"tenant": tenant_id, "embedder": embedder},
    )
    documents, entries = set(), set()
    for document_id, entry_id in rows:
        if document_id:
            documents.add(document_id)
        else:
            entries.add(entry_id)
    return sorted(documents, key=str), sorted(entries, key=str)


async def record_retrieval(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    query: str,
    query_embedding: list[float] | None,
    scores: Sequence[float],
    conversation_id: uuid.UUID | None = None,
    event_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """One coverage record: `scores` are the returned passages' scores (empty: unanswered).
    With an `event_id` already recorded (a retried search), the first record stands."""
    event_id = event_id or uuid.uuid4()
    await session.execute(
        insert(RetrievalEvent).values(
            id=event_id,
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            query=query,
            query_embedding=query_embedding,
            answered=bool(scores),
            top_score=max(scores) if scores else None,
            passage_count=len(scores),
            created_at=func.now(),
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )
    return event_id


_RETRIEVAL_EVENTS = uuid.UUID("6f1d5c4e-2b8a-4f0e-9c3d-7a5b1e2f4c60")


def retrieval_event_id(tenant_id: uuid.UUID, search_id: str | None) -> uuid.UUID | None:
    """The same id for every attempt of one named search; None for an unnamed one (new id)."""
    return uuid.uuid5(_RETRIEVAL_EVENTS, f"{tenant_id}:{search_id}") if search_id else None
