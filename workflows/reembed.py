"""Re-embedding a tenant's knowledge after its index moved to another embedder.

An ingestion run that finds the tenant's index built by another model (the operator changed
the default embedder) switches the index to the new model, and from then on searches embed
questions with it: chunks still holding the old model's vectors would be compared across two
vector spaces, so the search finds them by their words alone (rag/search.py). This workflow (one per tenant and embedder, started by
that ingestion run) brings them back: hand-written entries are embedded again in groups, and
each stale document is ingested again by its own IngestDocumentWorkflow, one after the other so
a large knowledge base does not flood the ingest workers.
"""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.reembed import (
        ReembedActivities,
        ReembedEntriesInput,
        ReembedEntriesResult,
        ReembedInput,
        ReindexInput,
        StaleKnowledge,
        StaleKnowledgeInput,
    )
    from workflows import policies
    from workflows.ingestion import IngestDocumentInput, IngestDocumentResult, IngestDocumentWorkflow, ingest_workflow_id

ENTRIES_PER_ACTIVITY = 32
# A document's previous run, superseded by our new generation, ends at its next step; its
# workflow id is free again then.
WAIT_FOR_PREVIOUS_RUN = timedelta(seconds=5)
PREVIOUS_RUN_TRIES = 120


@dataclass
class ReembedResult:
    entries_reembedded: int = 0
    documents_reindexed: int = 0
    documents_failed: int = 0
    abandoned: bool = False  # the index moved on to yet another embedder meanwhile


@workflow.defn
class ReembedKnowledgeWorkflow:
    @workflow.run
    async def run(self, input: ReembedInput) -> ReembedResult:
        stale: StaleKnowledge = await self._activity(ReembedActivities.list_stale_knowledge, StaleKnowledgeInput(input.tenant_id, input.embedder))
        result = ReembedResult()
        if stale.index_embedder != input.embedder:
            workflow.logger.info("index no longer uses this embedder; nothing to do")
            result.abandoned = True
            return result
        for start in range(0, len(stale.entries), ENTRIES_PER_ACTIVITY):
            done: ReembedEntriesResult = await workflow.execute_activity_method(
                ReembedActivities.reembed_entries,
                ReembedEntriesInput(input.tenant_id, input.embedder, stale.entries[start : start + ENTRIES_PER_ACTIVITY]),
                start_to_close_timeout=policies.INGEST_EMBED_TIMEOUT,
                heartbeat_timeout=policies.INGEST_HEARTBEAT_TIMEOUT,
                retry_policy=policies.INGEST_EMBED_RETRY,
            )
            result.entries_reembedded += done.reembedded
        for document_id in stale.documents:
            outcome = await self._reingest(input.tenant_id, document_id)
            if outcome is not None:
                result.documents_reindexed += outcome.status == "ready"
                result.documents_failed += outcome.status == "failed"
        return result

    async def _reingest(self, tenant_id: str, document_id: str) -> IngestDocumentResult | None:
        generation = await self._activity(ReembedActivities.begin_document_reindex, ReindexInput(tenant_id, document_id))
        if generation is None:
            return None  # deleted meanwhile
        for _ in range(PREVIOUS_RUN_TRIES):
            try:
                return await workflow.execute_child_workflow(
                    IngestDocumentWorkflow.run,
                    IngestDocumentInput(tenant_id, document_id, generation),
                    id=ingest_workflow_id(tenant_id, document_id),
                )
            except WorkflowAlreadyStartedError:
                await workflow.sleep(WAIT_FOR_PREVIOUS_RUN)
        workflow.logger.warning("document's previous ingestion never ended; left for a manual re-index", extra={"document_id": document_id})
        return None

    async def _activity(self, method, arg):
        return await workflow.execute_activity_method(
            method, arg, start_to_close_timeout=policies.DB_TIMEOUT, retry_policy=policies.INGEST_DB_RETRY
        )
