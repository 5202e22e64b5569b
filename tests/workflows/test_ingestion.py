"""IngestDocumentWorkflow as an admin sees it: progress while it runs, re-indexing that swaps
chunks in one step, and a worker killed mid-embedding whose successor finishes the job without
duplicates or embedding everything again."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models.knowledge import KnowledgeChunk
from rag.chunking import chunk_document
from rag.loaders import extract_document
from tests.factories import eventually
from tests.ingest_env import ingest_env, openai_embedder
from workflows.ingestion import IngestDocumentWorkflow, ingest_workflow_id

REPO = Path(__file__).resolve().parents[2]
BATCH = 2  # passages per embedding call: several resumable steps from a small document


def handbook(marker: str, paragraphs: int = 12) -> bytes:
    """A plain-text handbook of `paragraphs` distinct paragraphs, each carrying `marker` so the
    stand-in's calls for this document can be told apart."""
    topics = ["returns", "shipping", "warranty", "payments", "gift cards", "loyalty points", "repairs", "invoices"]
    body = []
    for n in range(paragraphs):
        topic = topics[n % len(topics)]
        sentences = [f"Section {n} ({marker}) explains {topic} rule {k}: customers may ask about {topic} case {n}-{k}." for k in range(28)]
        body.append(" ".join(sentences))
    return "\n\n".join(body).encode()


def expected_chunks(name: str, data: bytes) -> int:
    return len(chunk_document(extract_document(name, "text/plain", data)))


def embedding_calls(standin, marker: str) -> list[list[str]]:
    return [call["input"] for call in standin.calls if "input" in call and any(marker in text for text in call["input"])]


@pytest.fixture(scope="module")
async def env(settings, temporal, openai_standin, tmp_path_factory):
    overrides = openai_embedder(openai_standin.url, BATCH)
    async with ingest_env(settings, temporal, tmp_path_factory.mktemp("ingest"), **overrides) as built:
        yield built


@pytest.fixture
def slow_embeddings(openai_standin):
    openai_standin.embed_delay_seconds = 0.4
    yield openai_standin
    openai_standin.embed_delay_seconds = 0.0


async def test_progress_shows_the_stage_and_percentage_while_embedding(env, slow_embeddings):
    tenant = await env.tenant()
    marker = uuid.uuid4().hex
    data = handbook(marker)
    document_id = (await env.upload(tenant, "handbook.txt", data, "text/plain")).json()["id"]
    handle = env.temporal.get_workflow_handle_for(IngestDocumentWorkflow.run, ingest_workflow_id(tenant.id, document_id))

    async def embedding() -> bool:
        document = await env.document(tenant, document_id)
        return document["status"] == "embedding"

    await eventually(embedding, timeout=60, what="the embedding stage")
    seen = await env.document(tenant, document_id)
    assert seen["stage"] == "embedding" and 15 <= seen["progress_percent"] < 95
    assert seen["page_count"] is None and seen["format"] == "txt"
    progress = await handle.query(IngestDocumentWorkflow.progress)
    assert progress.stage == "embedding" and progress.chunks == expected_chunks("handbook.txt", data)
    assert 15 <= progress.percent < 95

    done = await env.settled(tenant, document_id)
    assert (done["status"], done["progress_percent"], done["chunk_count"]) == ("ready", 100, progress.chunks)
    assert done["embedder"] == "openai:text-embedding-3-small:384"
    calls = embedding_calls(slow_embeddings, marker)
    assert all(len(texts) <= BATCH for texts in calls) and sum(map(len, calls)) == progress.chunks
    ours = [call for call in slow_embeddings.calls if "input" in call and any(marker in text for text in call["input"])]
    assert {call["dimensions"] for call in ours} == {384}


async def test_reindex_replaces_the_chunks_in_one_step_and_bumps_the_generation(env, slow_embeddings):
    tenant = await env.tenant()
    data = handbook(uuid.uuid4().hex, paragraphs=6)
    document_id = (await env.upload(tenant, "handbook.txt", data, "text/plain")).json()["id"]
    first = await env.settled(tenant, document_id)
    count = first["chunk_count"]
    assert first["status"] == "ready" and count == expected_chunks("handbook.txt", data) and first["index_generation"] == 1
    before = await env.chunk_rows(document_id)

    r = await env.http.post(f"/v1/knowledge/documents/{document_id}/reindex", headers=tenant.headers)
    assert r.status_code == 202 and (r.json()["status"], r.json()["index_generation"]) == ("uploaded", 2)
    # Searches see the whole old set until the new one replaces it: never none, never both.
    seen_counts = set()
    while (await env.document(tenant, document_id))["status"] != "ready":
        seen_counts.add(await env.chunk_count(document_id))
        await asyncio.sleep(0.05)
    seen_counts.add(await env.chunk_count(document_id))
    assert seen_counts == {count}

    after = await env.chunk_rows(document_id)
    assert (await env.document(tenant, document_id))["index_generation"] == 2
    assert [row.position for row in after] == list(range(count))
    assert [row.text for row in after] == [row.text for row in before]
    assert min(row.created_at for row in after) > max(row.created_at for row in before)  # new rows, not the old ones kept


async def test_a_reindex_supersedes_a_run_still_in_progress(env, slow_embeddings):
    tenant = await env.tenant()
    data = handbook(uuid.uuid4().hex)
    document_id = (await env.upload(tenant, "handbook.txt", data, "text/plain")).json()["id"]
    workflow_id = ingest_workflow_id(tenant.id, document_id)
    first_run = (await env.temporal.get_workflow_handle(workflow_id).describe()).run_id

    async def embedding() -> bool:
        return (await env.document(tenant, document_id))["status"] == "embedding"

    await eventually(embedding, timeout=60, what="the embedding stage")
    r = await env.http.post(f"/v1/knowledge/documents/{document_id}/reindex", headers=tenant.headers)
    assert r.status_code == 202
    done = await env.settled(tenant, document_id)

    assert (done["status"], done["index_generation"]) == ("ready", 2)
    assert done["chunk_count"] == await env.chunk_count(document_id) == expected_chunks("handbook.txt", data)
    old = await env.temporal.get_workflow_handle(workflow_id, run_id=first_run).describe()
    assert old.status is not None and old.status.name == "TERMINATED"
    # The superseded run's staging is gone with the new run's: only the upload stays. The run
    # clears staging as its last step, after the document shows `ready`: wait for its end.
    await env.temporal.get_workflow_handle(workflow_id).result()
    assert env.deps.documents.stored_names(tenant.id, document_id) == ["original"]


def _ingest_worker(env, openai_url: str, own_dir: Path) -> subprocess.Popen:
    s = env.settings
    # With a bucket the worker shares no disk with the API: a data directory of its own.
    store = {"FRONTDESK_KNOWLEDGE_STORE_URL": s.knowledge_store_url, "FRONTDESK_KNOWLEDGE_S3_ENDPOINT_URL": s.knowledge_s3_endpoint_url}
    variables = {
        "TEMPORAL_ADDRESS": s.temporal_address,
        "DATABASE_URL": s.database_url,
        "REDIS_URL": s.redis_url,
        "FRONTDESK_MASTER_KEY": s.master_key.get_secret_value(),
        "FRONTDESK_TASK_QUEUE": f"unused-{uuid.uuid4().hex[:8]}",
        "FRONTDESK_INGEST_TASK_QUEUE": s.ingest_task_queue,
        "FRONTDESK_DATA_DIR": str(own_dir if s.knowledge_store_url else s.data_dir),
        **({name: value for name, value in store.items() if value} if s.knowledge_store_url else {}),
        "FRONTDESK_KNOWLEDGE_EMBEDDER": "openai",
        "FRONTDESK_KNOWLEDGE_EMBEDDING_BASE_URL": f"{openai_url}/v1",
        "FRONTDESK_KNOWLEDGE_EMBEDDING_API_KEY": "sk-test-embeddings",
        "FRONTDESK_KNOWLEDGE_EMBEDDING_BATCH_SIZE": str(BATCH),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "core.cli", "worker", "--queue", "ingest"],
        cwd=REPO, env={**os.environ, **variables}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.mark.parametrize("store", ["disk", "s3"])
async def test_a_worker_killed_mid_embedding_is_resumed_without_duplicate_chunks(settings, temporal, openai_standin, tmp_path, store, request):
    overrides = openai_embedder(openai_standin.url, BATCH)
    if store == "s3":
        s3 = request.getfixturevalue("s3")
        overrides |= {"knowledge_store_url": f"s3://{s3.new_bucket()}/uploads", "knowledge_s3_endpoint_url": s3.url}
    async with ingest_env(settings, temporal, tmp_path / "api", run_worker=False, **overrides) as env:
        openai_standin.embed_delay_seconds = 0.5
        worker = _ingest_worker(env, openai_standin.url, tmp_path / "worker")
        try:
            tenant = await env.tenant()
            marker = uuid.uuid4().hex
            data = handbook(marker)
            expected = expected_chunks("handbook.txt", data)
            batches = -(-expected // BATCH)
            assert batches >= 6
            document_id = (await env.upload(tenant, "handbook.txt", data, "text/plain")).json()["id"]

            async def some_batches_embedded() -> bool:
                return len(embedding_calls(openai_standin, marker)) >= 4

            await eventually(some_batches_embedded, timeout=90, what="embedding to be under way")
            worker.send_signal(signal.SIGKILL)  # mid-batch: three batches staged, the fourth in flight
            worker.wait()
            before_crash = len(embedding_calls(openai_standin, marker))
            assert before_crash < batches

            worker = _ingest_worker(env, openai_standin.url, tmp_path / "worker")
            done = await env.settled(tenant, document_id, timeout=180)
        finally:
            openai_standin.embed_delay_seconds = 0.0
            worker.kill()
            worker.wait()

        assert (done["status"], done["chunk_count"]) == ("ready", expected)
        rows = await env.chunk_rows(document_id)
        assert [row.position for row in rows] == list(range(expected))  # each chunk once
        async with env.deps.sessions() as session:
            distinct = await session.scalar(
                select(func.count(func.distinct(KnowledgeChunk.text))).where(KnowledgeChunk.document_id == uuid.UUID(document_id))
            )
        assert distinct == expected
        # Resumed, not restarted: only the batch cut off by the kill was embedded twice.
        calls = embedding_calls(openai_standin, marker)
        assert batches <= len(calls) <= batches + 1
        texts = [text for call in calls for text in call]
        assert sorted(set(texts)) == sorted(row.text for row in rows)
