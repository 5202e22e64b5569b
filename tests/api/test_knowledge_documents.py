"""Uploading knowledge documents through the API: every format ends up searchable, every bad
file ends up `failed` with a reason, duplicates are recognised, tenants never meet."""

from __future__ import annotations

import asyncio
import uuid

import numpy as np
import pytest
from sqlalchemy import select

from models.knowledge import KnowledgeDocument, KnowledgeIndex
from rag.embedding import E5Embedder
from rag.loaders import MAX_UPLOAD_BYTES
from tests.ingest_env import ingest_env
from tests.rag import fixtures
from workflows.ingestion import IngestDocumentWorkflow, ingest_workflow_id

PDF_PAGES = [
    ["Returns policy", "You can return any item within 30 days of delivery."],
    ["Shipping", "Shipping is free for orders above 500 INR."],
    ["Refunds", "Refunds reach the original payment method within seven days."],
]


@pytest.fixture(scope="module")
async def env(settings, temporal, tmp_path_factory):
    async with ingest_env(settings, temporal, tmp_path_factory.mktemp("knowledge")) as built:
        yield built


def uploads() -> dict[str, tuple[bytes, str, str]]:
    """name -> (bytes, declared content type, row format), one of each supported format."""
    return {
        "policy.pdf": (fixtures.pdf_document(PDF_PAGES, title="Store policy"), "application/pdf", "pdf"),
        "handbook.docx": (fixtures.docx_document(), "application/octet-stream", "docx"),
        "help.html": (fixtures.HTML_PAGE.encode(), "text/html", "html"),
        "account.md": (fixtures.MARKDOWN_PAGE.encode(), "text/markdown", "md"),
        "hindi.txt": (fixtures.HINDI_TEXT.encode("utf-8"), "text/plain", "txt"),
        "faq.csv": (fixtures.faq_csv(","), "text/csv", "csv"),
        "faq.json": (fixtures.FAQ_JSON.encode(), "application/json", "json"),
    }


async def test_every_supported_format_is_ingested_into_searchable_chunks(env):
    tenant = await env.tenant()
    created = {}
    for name, (data, content_type, _) in uploads().items():
        r = await env.upload(tenant, name, data, content_type)
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "uploaded" and r.json()["duplicate"] is False
        created[name] = r.json()["id"]

    documents = {name: await env.settled(tenant, document_id) for name, document_id in created.items()}
    for name, document in documents.items():
        assert document["status"] == "ready", (name, document["failure_reason"])
        assert (document["format"], document["progress_percent"], document["stage"]) == (uploads()[name][2], 100, None)
        assert document["embedder"] == E5Embedder.name
        rows = await env.chunk_rows(document["id"])
        assert len(rows) == document["chunk_count"] >= 1
        assert [row.position for row in rows] == list(range(len(rows)))
    assert documents["policy.pdf"]["page_count"] == 3 and documents["policy.pdf"]["title"] == "Store policy"
    assert documents["handbook.docx"]["title"] == "Customer Handbook"
    pdf_rows = await env.chunk_rows(documents["policy.pdf"]["id"])
    assert pdf_rows[0].page == 1 and "30 days" in pdf_rows[0].text
    faq_rows = await env.chunk_rows(documents["faq.csv"]["id"])
    assert [row.section_title for row in faq_rows] == ["How do I track my order?", "Can I pay by UPI?"]

    # Stored as E5 passages: a customer's question finds the right passage.
    question = np.asarray((await E5Embedder().embed_queries(["How do I get my password reset?"]))[0])
    every_row = [row for name in documents for row in await env.chunk_rows(documents[name]["id"])]
    best = max(every_row, key=lambda row: float(np.asarray(row.embedding) @ question))
    assert "Reset your password" in best.text
    async with env.deps.sessions() as session:
        index = await session.scalar(select(KnowledgeIndex).where(KnowledgeIndex.tenant_id == uuid.UUID(tenant.id)))
    assert (index.embedder, index.dimension) == (E5Embedder.name, 384)


@pytest.mark.parametrize(
    ("name", "data", "code", "words"),
    [
        ("broken.pdf", fixtures.pdf_document(PDF_PAGES)[:300], "corrupt", "damaged"),
        ("locked.pdf", fixtures.encrypted_pdf(fixtures.pdf_document(PDF_PAGES), user_password="secret"), "encrypted", "password"),
        ("scan.pdf", fixtures.scanned_pdf(), "empty", "no text layer"),
        ("locked.docx", fixtures.encrypted_docx(), "encrypted", "password"),
        ("photo.png", fixtures.PNG_HEADER + b"\x00" * 64, "unsupported_type", "image"),
        ("blank.txt", b" \n\t \n", "empty", "empty"),
    ],
)
async def test_a_file_that_cannot_be_indexed_ends_failed_with_the_reason(env, name, data, code, words):
    tenant = await env.tenant()
    r = await env.upload(tenant, name, data)
    assert r.status_code == 202, r.text
    document = await env.settled(tenant, r.json()["id"])

    assert (document["status"], document["failure_code"]) == ("failed", code)
    assert words in document["failure_reason"]
    assert document["chunk_count"] == 0 and await env.chunk_count(document["id"]) == 0
    # The run ended (it did not retry the same failure forever) and says so.
    result = await env.temporal.get_workflow_handle_for(IngestDocumentWorkflow.run, ingest_workflow_id(tenant.id, document["id"])).result()
    assert (result.status, result.failure_code) == ("failed", code)


async def test_empty_and_oversized_uploads_are_refused_with_a_reason(env):
    tenant = await env.tenant()
    empty = await env.upload(tenant, "nothing.txt", b"")
    assert empty.status_code == 422 and empty.json()["detail"] == "The file is empty."

    too_large = await env.upload(tenant, "huge.txt", b"a" * (MAX_UPLOAD_BYTES + 1), "text/plain")
    assert too_large.status_code == 413
    assert "larger than 25 MB" in too_large.json()["detail"]
    far_too_large = await env.upload(tenant, "huger.txt", b"a" * (MAX_UPLOAD_BYTES + 200_000), "text/plain")
    assert far_too_large.status_code == 413 and "split it" in far_too_large.json()["detail"]

    listed = await env.http.get("/v1/knowledge/documents", headers=tenant.headers)
    assert listed.json()["items"] == []


async def test_the_same_bytes_uploaded_again_are_the_same_document_with_one_ingestion(env):
    tenant = await env.tenant()
    data = f"Gift cards never expire. Reference {uuid.uuid4()}.".encode()
    # Two at once: whichever stores the document first wins, the other gets it back.
    first, second = await asyncio.gather(env.upload(tenant, "gift.txt", data), env.upload(tenant, "gift-copy.txt", data))
    assert {first.status_code, second.status_code} == {200, 202}
    assert first.json()["id"] == second.json()["id"]
    assert sorted([first.json()["duplicate"], second.json()["duplicate"]]) == [False, True]
    document = await env.settled(tenant, first.json()["id"])
    assert document["status"] == "ready"

    again = await env.upload(tenant, "gift-again.txt", data)
    assert again.status_code == 200
    assert (again.json()["id"], again.json()["duplicate"], again.json()["status"]) == (document["id"], True, "ready")
    workflow_id = ingest_workflow_id(tenant.id, document["id"])
    runs = [run async for run in env.temporal.list_workflows(f"WorkflowId = '{workflow_id}'")]
    assert len(runs) == 1
    listed = (await env.http.get("/v1/knowledge/documents", headers=tenant.headers)).json()["items"]
    assert [d["id"] for d in listed] == [document["id"]]


async def test_another_tenant_can_neither_see_nor_touch_a_document(env):
    owner, other = await env.tenant(), await env.tenant()
    data = f"Our stores open at 9. {uuid.uuid4()}".encode()
    r = await env.upload(owner, "hours.txt", data)
    document_id = r.json()["id"]
    await env.settled(owner, document_id)

    paths = [("GET", ""), ("DELETE", ""), ("POST", "/reindex")]
    for method, suffix in paths:
        answer = await env.http.request(method, f"/v1/knowledge/documents/{document_id}{suffix}", headers=other.headers)
        assert answer.status_code == 404, (method, suffix, answer.text)
    assert (await env.http.get("/v1/knowledge/documents", headers=other.headers)).json()["items"] == []
    # The same bytes are a new document for the other tenant, not the owner's.
    theirs = await env.upload(other, "hours.txt", data)
    assert theirs.status_code == 202 and theirs.json()["id"] != document_id
    assert (await env.document(owner, document_id))["status"] == "ready"


async def test_delete_removes_the_chunks_and_the_stored_file(env):
    tenant = await env.tenant()
    data = f"Returns are free within 30 days. {uuid.uuid4()}".encode()
    document_id = (await env.upload(tenant, "returns.txt", data)).json()["id"]
    assert (await env.settled(tenant, document_id))["status"] == "ready"
    stored = env.deps.documents
    assert stored.read_upload(tenant.id, document_id) == data
    assert await env.chunk_count(document_id) >= 1

    assert (await env.http.delete(f"/v1/knowledge/documents/{document_id}", headers=tenant.headers)).status_code == 204
    assert (await env.http.get(f"/v1/knowledge/documents/{document_id}", headers=tenant.headers)).status_code == 404
    assert await env.chunk_count(document_id) == 0
    assert stored.stored_names(tenant.id, document_id) == []
    async with env.deps.sessions() as session:
        row = await session.get(KnowledgeDocument, uuid.UUID(document_id))
    assert row.deleted_at is not None and row.chunk_count == 0
    # Deleted means gone: the same bytes make a new document.
    again = await env.upload(tenant, "returns.txt", data)
    assert again.status_code == 202 and again.json()["id"] != document_id


async def test_documents_are_listed_newest_first_a_page_at_a_time(env):
    tenant = await env.tenant()
    ids = []
    for n in range(3):
        r = await env.upload(tenant, f"note-{n}.txt", f"Note number {n}: {uuid.uuid4()}".encode())
        ids.append(r.json()["id"])
    first = (await env.http.get("/v1/knowledge/documents", params={"limit": 2}, headers=tenant.headers)).json()
    rest = (await env.http.get("/v1/knowledge/documents", params={"limit": 2, "cursor": first["next_cursor"]}, headers=tenant.headers)).json()
    assert [d["id"] for d in first["items"] + rest["items"]] == ids[::-1]
    assert rest["next_cursor"] is None
    for document_id in ids:
        await env.settled(tenant, document_id)
    ready = (await env.http.get("/v1/knowledge/documents", params={"status": "ready"}, headers=tenant.headers)).json()
    assert len(ready["items"]) == 3


async def test_progress_query_reports_the_finished_run(env):
    tenant = await env.tenant()
    document_id = (await env.upload(tenant, "short.md", f"# Hours\n\nOpen daily. {uuid.uuid4()}".encode())).json()["id"]
    document = await env.settled(tenant, document_id)
    progress = await env.temporal.get_workflow_handle(ingest_workflow_id(tenant.id, document_id)).query(IngestDocumentWorkflow.progress)
    assert (progress.stage, progress.percent, progress.chunks) == ("ready", 100, document["chunk_count"])
