"""What the upload routes share with the app: the upload body caps (knowledge documents, training
samples), starting an ingestion run, and starting a re-embedding after a tenant's model changed."""

from __future__ import annotations

import uuid
from datetime import timedelta

from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy

from activities.reembed import ReembedInput, reembed_workflow_id
from api.body import BodyLimitMiddleware
from api.problems import problem_response
from core import temporal as sa
from core.settings import Settings
from nlu.sample_files import MAX_IMPORT_BYTES
from rag.loaders import MAX_UPLOAD_BYTES
from workflows.ingestion import IngestDocumentInput, IngestDocumentWorkflow, ingest_workflow_id
from workflows.reembed import ReembedKnowledgeWorkflow

UPLOAD_PATH = "/v1/knowledge/documents"
SAMPLES_IMPORT_PATH = "/v1/nlu/samples/import"
# Room for the multipart envelope (boundaries, part headers) around a file at the cap.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
START_RPC_TIMEOUT = timedelta(seconds=10)


def too_large_reason(cap_bytes: int = MAX_UPLOAD_BYTES) -> str:
    return f"The file is larger than {cap_bytes // (1024 * 1024)} MB; split it into smaller files."


class BodyLimitWithUploads:
    """The platform's body cap on every route, except the file uploads (POST): a knowledge
    document up to the loaders' MAX_UPLOAD_BYTES, a training-sample CSV up to its import cap.
    Checked on the declared length, before anything reads the body; a larger upload is told why
    in the tenant's terms."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self._default = BodyLimitMiddleware(app, max_bytes)
        caps = {UPLOAD_PATH: (MAX_UPLOAD_BYTES, too_large_reason()), SAMPLES_IMPORT_PATH: (MAX_IMPORT_BYTES, too_large_reason(MAX_IMPORT_BYTES))}
        self._uploads = {
            path: (BodyLimitMiddleware(app, cap + MULTIPART_OVERHEAD_BYTES), cap + MULTIPART_OVERHEAD_BYTES, reason)
            for path, (cap, reason) in caps.items()
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        upload = self._uploads.get(scope["path"].rstrip("/")) if scope["type"] == "http" and scope["method"] == "POST" else None
        if upload is None:
            await self._default(scope, receive, send)
            return
        limited, limit, reason = upload
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await problem_response(413, "File too large", reason)(scope, receive, send)
            return
        await limited(scope, receive, send)


async def start_ingestion(
    client: Client, settings: Settings, tenant_id: uuid.UUID, document_id: uuid.UUID, generation: int, *, replace_running: bool
) -> str:
    """Starts the document's ingestion run; returns its workflow id. The id is the document's, so
    a retried request cannot start a second run: an upload joins a running one, a re-index
    (`replace_running`) terminates it (its activities would find themselves superseded anyway)."""
    workflow_id = ingest_workflow_id(str(tenant_id), str(document_id))
    await client.start_workflow(
        IngestDocumentWorkflow.run,
        IngestDocumentInput(tenant_id=str(tenant_id), document_id=str(document_id), generation=generation),
        id=workflow_id,
        task_queue=settings.ingest_task_queue or settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING if replace_running else WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=TypedSearchAttributes([SearchAttributePair(sa.TENANT_ID, str(tenant_id))]),
        rpc_timeout=START_RPC_TIMEOUT,
    )
    return workflow_id


async def start_reembedding(client: Client, settings: Settings, tenant_id: uuid.UUID, embedder: str) -> None:
    """Starts ReembedKnowledgeWorkflow towards `embedder`, or joins the one already running (its
    id is the tenant's and the embedder's, so a repeated request starts nothing twice)."""
    await client.start_workflow(
        ReembedKnowledgeWorkflow.run,
        ReembedInput(tenant_id=str(tenant_id), embedder=embedder),
        id=reembed_workflow_id(str(tenant_id), embedder),
        task_queue=settings.ingest_task_queue or settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=TypedSearchAttributes([SearchAttributePair(sa.TENANT_ID, str(tenant_id))]),
        rpc_timeout=START_RPC_TIMEOUT,
    )
