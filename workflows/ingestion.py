"""One workflow per ingestion run of a knowledge document: extract → chunk → embed in batches →
index → ready, each stage an activity on the ingest queue, with the document row (and a
`progress` query) following along.

A run is identified by the document's generation: a re-index or a delete bumps it, and from
then on every activity of the old run raises `Superseded` and the run ends without writing.
A file that cannot be indexed (unsupported, encrypted, empty, corrupt) ends the run with the
document `failed` and the loader's reason; nothing is retried that would fail the same way.
"""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.ingestion import (
        ChunkInput,
        DocumentRef,
        EmbedInput,
        FailInput,
        IndexInput,
        IndexResult,
        IngestActivities,
        ProgressInput,
    )
    from activities.reembed import ReembedInput, reembed_workflow_id
    from workflows import policies

# Runs that switch a tenant's index to another embedder start the re-embedding of the rest.
REEMBED_PATCH = "reembed-after-embedder-switch"

# How many chunks one embedding activity covers (rounded to whole batches): after each, the
# workflow records progress, and history grows by a few events per step, not per chunk.
EMBED_CHUNKS_PER_ACTIVITY = 64
# Progress percentages at each stage's start; embedding fills the span up to indexing.
PERCENT = {"uploaded": 0, "extracting": 5, "chunking": 10, "embedding": 15, "indexing": 95, "ready": 100}


def ingest_workflow_id(tenant_id: str, document_id: str) -> str:
    """One ingestion at a time per document: a re-index replaces a running one."""
    return f"ingest:{tenant_id}:{document_id}"


@dataclass
class IngestDocumentInput:
    tenant_id: str
    document_id: str
    generation: int


@dataclass
class IngestProgress:
    stage: str  # the document statuses: uploaded, extracting, chunking, embedding, indexing, ready, failed
    percent: int
    chunks: int = 0
    chunks_embedded: int = 0


@dataclass
class IngestDocumentResult:
    status: str  # ready | failed | superseded
    chunk_count: int = 0
    failure_code: str | None = None
    failure_reason: str | None = None
    stale_documents: list[str] = field(default_factory=list)


@workflow.defn
class IngestDocumentWorkflow:
    @workflow.init
    def __init__(self, input: IngestDocumentInput) -> None:
        self._ref = DocumentRef(input.tenant_id, input.document_id, input.generation)
        self._progress = IngestProgress(stage="uploaded", percent=0)

    @workflow.query
    def progress(self) -> IngestProgress:
        return self._progress

    @workflow.run
    async def run(self, input: IngestDocumentInput) -> IngestDocumentResult:
        try:
            result = await self._ingest()
        except ActivityError as err:
            kind, details = _application_failure(err)
            if kind == "Superseded":
                workflow.logger.info("ingestion superseded by a newer run or a delete")
                return IngestDocumentResult(status="superseded")
            code, reason = _failure(kind, details, self._progress.stage, err)
            workflow.logger.warning("document failed", extra={"code": code, "stage": self._progress.stage})
            self._progress = IngestProgress("failed", self._progress.percent, self._progress.chunks, self._progress.chunks_embedded)
            try:
                await self._activity(IngestActivities.mark_document_failed, FailInput(self._ref, code, reason))
            except ActivityError as marking:
                if _application_failure(marking)[0] != "Superseded":
                    raise
                return IngestDocumentResult(status="superseded")
            result = IngestDocumentResult(status="failed", failure_code=code, failure_reason=reason)
        await self._activity(IngestActivities.discard_staged_chunks, self._ref)
        return result

    async def _ingest(self) -> IngestDocumentResult:
        await self._stage("extracting")
        extracted = await self._activity(
            IngestActivities.extract_document_text, self._ref, policies.INGEST_PARSE_TIMEOUT, policies.INGEST_PARSE_RETRY
        )
        await self._stage("chunking", format=extracted.format, page_count=extracted.page_count, title=extracted.title)
        chunked = await self._activity(
            IngestActivities.chunk_document_text, ChunkInput(self._ref), policies.INGEST_PARSE_TIMEOUT, policies.INGEST_PARSE_RETRY
        )
        self._progress.chunks = chunked.chunk_count
        await self._stage("embedding")
        batches = -(-chunked.chunk_count // chunked.batch_size)
        per_step = max(1, EMBED_CHUNKS_PER_ACTIVITY // chunked.batch_size)
        for first in range(0, batches, per_step):
            end = min(first + per_step, batches)
            step = EmbedInput(self._ref, chunked.embedder, chunked.batch_size, chunked.chunk_count, first, end)
            await workflow.execute_activity_method(
                IngestActivities.embed_chunk_batches,
                step,
                start_to_close_timeout=policies.INGEST_EMBED_TIMEOUT,
                schedule_to_close_timeout=policies.INGEST_EMBED_SCHEDULE_TO_CLOSE,
                heartbeat_timeout=policies.INGEST_HEARTBEAT_TIMEOUT,
                retry_policy=policies.INGEST_EMBED_RETRY,
            )
            self._progress.chunks_embedded = min(end * chunked.batch_size, chunked.chunk_count)
            span = PERCENT["indexing"] - PERCENT["embedding"]
            percent = PERCENT["embedding"] + span * self._progress.chunks_embedded // chunked.chunk_count
            if end < batches:  # the last step is followed by indexing's own update
                await self._stage("embedding", percent=percent)
        await self._stage("indexing")
        indexed: IndexResult = await self._activity(
            IngestActivities.index_document_chunks,
            IndexInput(self._ref, chunked.embedder, chunked.batch_size, chunked.chunk_count),
            policies.INGEST_INDEX_TIMEOUT,
        )
        self._progress = IngestProgress("ready", 100, indexed.chunk_count, indexed.chunk_count)
        if (indexed.stale_documents or indexed.stale_entries) and workflow.patched(REEMBED_PATCH):
            await self._start_reembedding(chunked.embedder)
        return IngestDocumentResult(status="ready", chunk_count=indexed.chunk_count, stale_documents=indexed.stale_documents)

    async def _start_reembedding(self, embedder: str) -> None:
        """This run moved the tenant's index to `embedder`: the rest of the knowledge base is
        embedded again by ReembedKnowledgeWorkflow, which outlives this run."""
        try:
            await workflow.start_child_workflow(
                "ReembedKnowledgeWorkflow",
                ReembedInput(self._ref.tenant_id, embedder),
                id=reembed_workflow_id(self._ref.tenant_id, embedder),
                parent_close_policy=ParentClosePolicy.ABANDON,
            )
        except WorkflowAlreadyStartedError:
            pass  # another document's run started it already

    async def _stage(self, stage: str, *, percent: int | None = None, **known: Any) -> None:
        self._progress.stage = stage
        self._progress.percent = PERCENT[stage] if percent is None else percent
        await self._activity(IngestActivities.record_ingest_progress, ProgressInput(self._ref, stage, self._progress.percent, **known))

    async def _activity(
        self, method: Any, arg: Any, timeout: timedelta = policies.DB_TIMEOUT, retry: RetryPolicy = policies.INGEST_DB_RETRY
    ) -> Any:
        heartbeat = policies.INGEST_HEARTBEAT_TIMEOUT if timeout > policies.DB_TIMEOUT else None
        return await workflow.execute_activity_method(
            method, arg, start_to_close_timeout=timeout, heartbeat_timeout=heartbeat, retry_policy=retry
        )


def _application_failure(err: FailureError) -> tuple[str | None, list[Any]]:
    """The type and details of the ApplicationError at the root of an activity failure."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ApplicationError):
            return cause.type, list(cause.details)
        cause = cause.__cause__
    return None, []


def _failure(kind: str | None, details: list[Any], stage: str, err: FailureError) -> tuple[str, str]:
    """(failure_code, failure_reason) for the document row: the loader's own words when it
    rejected the file, otherwise what went wrong at which stage, in words an admin can act on."""
    if kind == "DocumentRejected" and len(details) == 2:
        return str(details[0]), str(details[1])
    if stage == "extracting" or stage == "chunking":
        return "corrupt", "The file could not be read; it may be damaged. Save or export it again and upload the new file."
    if stage == "embedding":
        return "embedding_failed", f"The embedding service did not answer; re-index the document to try again ({_root_message(err)})."
    return "internal", f"Indexing failed ({_root_message(err)}); re-index the document to try again."


def _root_message(err: BaseException) -> str:
    while err.__cause__ is not None:
        err = err.__cause__
    return str(err)[:300]
