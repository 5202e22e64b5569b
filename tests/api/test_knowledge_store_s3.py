"""Knowledge documents kept in an S3 bucket (FRONTDESK_KNOWLEDGE_STORE_URL) instead of a
directory: upload, ingestion, re-indexing and deletion as a tenant admin sees them, the bytes
in the bucket, and an unreachable bucket answered with 503 and nothing half-saved."""

from __future__ import annotations

import pytest

from tests.ingest_env import ingest_env
from tests.rag import fixtures
from workflows.ingestion import ingest_workflow_id

PAGES = [["Refunds reach the card within 5 business days."], ["Exchanges are free for 30 days from delivery."]]


@pytest.fixture(scope="module")
async def bucket(s3) -> str:
    return s3.new_bucket()


@pytest.fixture(scope="module")
async def env(settings, temporal, tmp_path_factory, s3, bucket):
    store = {"knowledge_store_url": f"s3://{bucket}/frontdesk", "knowledge_s3_endpoint_url": s3.url}
    async with ingest_env(settings, temporal, tmp_path_factory.mktemp("s3-knowledge"), **store) as built:
        yield built


async def test_a_document_is_ingested_reindexed_and_deleted_from_the_bucket(env, s3, bucket):
    tenant = await env.tenant()
    data = fixtures.pdf_document(PAGES, title=f"Policy {tenant.id}")
    uploaded = await env.upload(tenant, "policy.pdf", data, "application/pdf")
    assert uploaded.status_code == 202, uploaded.text
    document_id = uploaded.json()["id"]
    prefix = f"frontdesk/{tenant.id}/{document_id}/"
    run = env.temporal.get_workflow_handle(ingest_workflow_id(str(tenant.id), document_id))

    done = await env.settled(tenant, document_id)
    assert (done["status"], done["page_count"]) == ("ready", 2)
    assert any("5 business days" in row.text for row in await env.chunk_rows(document_id))
    # The run's staging is cleared at its end, after the document shows ready.
    await run.result()
    assert s3.keys(bucket, prefix) == [f"{prefix}original"]
    assert s3.client.get_object(Bucket=bucket, Key=f"{prefix}original")["Body"].read() == data
    assert not (env.settings.knowledge_uploads_dir() / str(tenant.id)).exists()  # nothing on the API's disk

    reindexed = await env.http.post(f"/v1/knowledge/documents/{document_id}/reindex", headers=tenant.headers)
    assert reindexed.status_code == 202, reindexed.text
    await run.result()
    again = await env.document(tenant, document_id)
    assert (again["status"], again["index_generation"], again["chunk_count"]) == ("ready", 2, done["chunk_count"])
    assert s3.keys(bucket, prefix) == [f"{prefix}original"]

    assert (await env.http.delete(f"/v1/knowledge/documents/{document_id}", headers=tenant.headers)).status_code == 204
    assert s3.keys(bucket, prefix) == []
    assert await env.chunk_count(document_id) == 0


async def test_an_unreachable_bucket_refuses_the_upload_with_503_and_keeps_nothing(settings, temporal, tmp_path, s3):
    store = {"knowledge_store_url": "s3://no-such-bucket-for-uploads/frontdesk", "knowledge_s3_endpoint_url": s3.url}
    async with ingest_env(settings, temporal, tmp_path, run_worker=False, **store) as env:
        tenant = await env.tenant()
        refused = await env.upload(tenant, "faq.txt", b"Shipping takes 3 days.", "text/plain")
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "30" and "nothing was saved" in refused.json()["detail"]
        listed = await env.http.get("/v1/knowledge/documents", headers=tenant.headers)
        assert listed.json()["items"] == []


async def test_a_delete_succeeds_when_the_bucket_fails_and_the_document_is_gone(settings, temporal, tmp_path, s3):
    bucket = s3.new_bucket()
    store = {"knowledge_store_url": f"s3://{bucket}/frontdesk", "knowledge_s3_endpoint_url": s3.url}
    async with ingest_env(settings, temporal, tmp_path, run_worker=False, **store) as env:
        tenant = await env.tenant()
        document_id = (await env.upload(tenant, "faq.txt", b"Shipping takes 3 days.", "text/plain")).json()["id"]
        for key in s3.keys(bucket):
            s3.client.delete_object(Bucket=bucket, Key=key)
        s3.client.delete_bucket(Bucket=bucket)  # the store fails from now on

        deleted = await env.http.delete(f"/v1/knowledge/documents/{document_id}", headers=tenant.headers)
        assert deleted.status_code == 204, deleted.text
        assert (await env.http.get(f"/v1/knowledge/documents/{document_id}", headers=tenant.headers)).status_code == 404
