"""The steps of ReembedKnowledgeWorkflow (on the `ingest` queue): after a tenant's index moved
to another embedder, find what still holds the old model's vectors and embed it again."""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
import uuid
from dataclasses import dataclass, field

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps
from activities.heartbeats import heartbeating
from models import knowledge_documents_store as documents
from models import knowledge_entries_store as entries
from models.knowledge_coverage import index_embedder_name
from rag.store import owners_to_reembed


def reembed_workflow_id(tenant_id: str, embedder: str) -> str:
    """One ReembedKnowledgeWorkflow per tenant and target embedder at a time."""
    return f"knowledge-reembed:{tenant_id}:{embedder}"


@dataclass
class ReembedInput:
    """ReembedKnowledgeWorkflow's input (here, beside its activities, so that the ingestion
    workflow that starts it need not import it)."""

    tenant_id: str
    embedder: str


@dataclass
class StaleKnowledgeInput:
    tenant_id: str
    embedder: str


@dataclass
class StaleKnowledge:
    index_embedder: str | None  # what the tenant's index records now
    documents: list[str] = field(default_factory=list)
    entries: list[str] = field(default_factory=list)


@dataclass
class ReembedEntriesInput:
    tenant_id: str
    embedder: str
    entry_ids: list[str]


@dataclass
class ReembedEntriesResult:
    reembedded: int
    skipped: int  # deleted, or rewritten meanwhile (already embedded by the new model)


@dataclass
class ReindexInput:
    tenant_id: str
    document_id: str


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (TypeError, ValueError):
        raise ApplicationError(f"{what} is not a UUID", type="InvalidInput", non_retryable=True) from None


class ReembedActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self._deps = deps

    @activity.defn
    async def list_stale_knowledge(self, input: StaleKnowledgeInput) -> StaleKnowledge:
        tenant_id = _uuid(input.tenant_id, "tenant_id")
        async with self._deps.sessions() as session:
            index_embedder = await index_embedder_name(session, tenant_id)
            stale_documents, stale_entries = await owners_to_reembed(session, tenant_id=tenant_id, embedder=input.embedder)
        return StaleKnowledge(index_embedder, [str(d) for d in stale_documents], [str(e) for e in stale_entries])

    @activity.defn
    async def reembed_entries(self, input: ReembedEntriesInput) -> ReembedEntriesResult:
        """Each entry's chunks again, embedded by `input.embedder`; an entry edited meanwhile
        (its version moved) was already embedded by the new model and is left alone."""
        tenant_id = _uuid(input.tenant_id, "tenant_id")
        try:
            embedder = self._deps.embedders.get(input.embedder)
        except (LookupError, ValueError) as exc:
            raise ApplicationError(f"this worker cannot build embedder {input.embedder!r}: {exc}", type="InvalidInput", non_retryable=True) from None
        ids = [_uuid(e, "entry id") for e in input.entry_ids]
        async with self._deps.sessions() as session:
            loaded = [e for e in [await entries.live_entry(session, tenant_id, i) for i in ids] if e is not None]
        versions = {e.id: e.version for e in loaded}
        async with heartbeating(lambda: "embedding entries"):
            chunks = await entries.embed_entries(embedder, [entries.EntryText.of(e) for e in loaded], self._deps.embedders.batch_size(embedder))
        done = 0
        async with self._deps.sessions.begin() as session:
            # The tenant moved on to yet another model meanwhile (its settings changed again):
            # these vectors would be stale on arrival, and that move's own run re-embeds them.
            if await index_embedder_name(session, tenant_id, share_lock=True) != embedder.name:
                return ReembedEntriesResult(reembedded=0, skipped=len(ids))
            for entry_id, entry_chunks in zip(versions, chunks, strict=True):
                current = await entries.live_entry(session, tenant_id, entry_id, lock=True)
                if current is None or current.version != versions[entry_id]:
                    continue
                await entries.store_entry_chunks(session, tenant_id, entry_id, entry_chunks, embedder)
                done += 1
        return ReembedEntriesResult(reembedded=done, skipped=len(ids) - done)

    @activity.defn
    async def begin_document_reindex(self, input: ReindexInput) -> int | None:
        """The new generation a re-ingestion runs under; None when the document is gone."""
        tenant_id, document_id = _uuid(input.tenant_id, "tenant_id"), _uuid(input.document_id, "document_id")
        async with self._deps.sessions.begin() as session:
            document = await documents.begin_reindex(session, tenant_id, document_id)
            return document.index_generation if document is not None else None

