"""The English offline embedder (all-MiniLM-L6-v2, int8 ONNX): what it ranks, long texts read in
windows, and a deployment configured with it indexing and answering from an uploaded document."""

from __future__ import annotations

import numpy as np
from temporalio.testing import ActivityEnvironment

from activities.knowledge import KnowledgeActivities, SearchKnowledgeInput
from rag.embedding import E5Embedder, EmbedderRegistry
from rag.minilm import MAX_PIECES, MiniLMEmbedder
from tests.ingest_env import ingest_env

HOURS = "Our stores open at nine in the morning and close at eight in the evening, every day of the week."
REFUND = "Refunds go back to the original payment method within seven days of approval."


async def test_an_english_question_finds_its_answer_before_unrelated_text():
    embedder = MiniLMEmbedder()
    passages = np.asarray(await embedder.embed_passages([HOURS, REFUND, "Gift cards never expire."]))
    [question] = np.asarray(await embedder.embed_queries(["When do I get my money back?"]))
    assert passages.shape == (3, 384)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)
    scores = passages @ question
    assert int(np.argmax(scores)) == 1
    # Unrelated text sits near the embedder's declared floor, far below the answer.
    assert scores[0] < embedder.similarity_floor + 0.2 < scores[1]
    assert await embedder.embed_queries([]) == []


async def test_a_text_longer_than_the_model_reads_still_counts_its_end():
    embedder = MiniLMEmbedder()
    _, tokenizer = embedder._parts()
    filler = " ".join([HOURS] * 20)
    assert tokenizer.encode(filler).overflowing  # past what one window reads
    assert len(tokenizer.encode(filler).ids) == MAX_PIECES
    with_refund, without = np.asarray(await embedder.embed_passages([f"{filler} {REFUND}", filler]))
    [question] = np.asarray(await embedder.embed_queries(["How long does a refund take?"]))
    # Cut at the model's limit, both texts would read the same opening hours.
    assert with_refund @ question > without @ question + 0.05


async def test_the_registry_builds_minilm_by_kind_and_finds_it_by_its_recorded_name(settings):
    registry = EmbedderRegistry(settings.model_copy(update={"knowledge_embedder": "minilm"}), http=None)  # type: ignore[arg-type]
    default = registry.default()
    assert isinstance(default, MiniLMEmbedder) and default.name == "minilm-l6-v2-int8"
    assert registry.get(MiniLMEmbedder.name) is default
    assert isinstance(registry.get(E5Embedder.name), E5Embedder)
    assert "minilm" in registry.kinds()


async def test_a_deployment_on_minilm_indexes_uploads_with_it_and_answers_from_them(settings, temporal, tmp_path):
    async with ingest_env(settings, temporal, tmp_path / "data", knowledge_embedder="minilm") as env:
        tenant = await env.tenant()
        body = f"# Store hours\n\n{HOURS}\n\n# Refunds\n\n{REFUND}\n".encode()
        r = await env.upload(tenant, "policies.md", body, "text/markdown")
        document = await env.settled(tenant, r.json()["id"])
        assert (document["status"], document["embedder"]) == ("ready", MiniLMEmbedder.name)
        found = await ActivityEnvironment().run(
            KnowledgeActivities(env.deps).search_knowledge,
            SearchKnowledgeInput(tenant_id=tenant.id, query="When do I get my money back?"),
        )
    assert found.passages and "Refunds go back" in found.passages[0].text
