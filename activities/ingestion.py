"""The stages of IngestDocumentWorkflow, on the `ingest` queue: extract, chunk, embed, index.

Large data never travels through Temporal: each stage reads the previous stage's output from
the document's staging directory (models/knowledge_files.py) and writes its own there; inputs
and results carry ids and counts. Every activity first checks that its run still owns the
document (the row's generation): a run superseded by a re-index or a delete raises
`Superseded` and stops without writing.
"""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
import asyncio
import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps
from activities.heartbeats import heartbeating
from core.logging import get_logger
from llm.base import ProviderHTTPError
from models import knowledge_documents_store as documents
from models.knowledge_coverage import chosen_embedding_model
from models.knowledge_files import Staging
from rag.chunking import chunk_document
from rag.documents import Chunk, DocumentRejected, ExtractedDocument, Section
from rag.embedding import PassageEmbedder
from rag.loaders import extract_document
from rag.store import StoredChunk, ensure_knowledge_index, owners_to_reembed, replace_document_chunks

log = get_logger()

# ExtractedDocument.format -> the short name the document row keeps.
ROW_FORMATS = {"markdown": "md", "csv_faq": "csv", "json_faq": "json"}


@dataclass
class DocumentRef:
    tenant_id: str
    document_id: str
    generation: int


@dataclass
class ExtractResult:
    format: str
    page_count: int | None
    title: str | None
    section_count: int


@dataclass
class ChunkInput:
    document: DocumentRef
    max_tokens: int = 350
    overlap_tokens: int = 50


@dataclass
class ChunkResult:
    chunk_count: int
    embedder: str  # chosen here, once per run: every batch of the run uses the same one
    batch_size: int


@dataclass
class EmbedInput:
    document: DocumentRef
    embedder: str
    batch_size: int
    chunk_count: int
    first_batch: int
    end_batch: int  # exclusive


@dataclass
class EmbedResult:
    batches_embedded: int
    batches_reused: int  # found staged by an earlier attempt (a worker died mid-step)


@dataclass
class IndexInput:
    document: DocumentRef
    embedder: str
    batch_size: int
    chunk_count: int


@dataclass
class IndexResult:
    chunk_count: int
    # Set when this run switched the tenant's index to another embedder: these documents still
    # hold vectors of the old one and need a re-index, as do `stale_entries` entries.
    stale_documents: list[str] = field(default_factory=list)
    stale_entries: int = 0


@dataclass
class ProgressInput:
    document: DocumentRef
    status: str
    percent: int
    format: str | None = None
    page_count: int | None = None
    title: str | None = None


@dataclass
class FailInput:
    document: DocumentRef
    code: str
    reason: str


def superseded(ref: DocumentRef) -> ApplicationError:
    return ApplicationError(
        f"document {ref.document_id} was re-indexed or deleted since generation {ref.generation}", type="Superseded", non_retryable=True
    )


def rejection(code: str, reason: str) -> ApplicationError:
    """The document cannot be indexed: the workflow marks it failed with (code, reason), the
    reason worded for the tenant's admin."""
    return ApplicationError(reason, code, reason, type="DocumentRejected", non_retryable=True)


def _ids(ref: DocumentRef) -> tuple[uuid.UUID, uuid.UUID]:
    try:
        return uuid.UUID(ref.tenant_id), uuid.UUID(ref.document_id)
    except ValueError:
        raise ApplicationError(f"not a document reference: {ref!r}", type="InvalidInput", non_retryable=True) from None


def _document_json(document: ExtractedDocument) -> dict:
    return dataclasses.asdict(document)


def _document_from_json(data: dict) -> ExtractedDocument:
    return ExtractedDocument(
        sections=[Section(**s) for s in data["sections"]], page_count=data["page_count"], title=data["title"], format=data["format"]
    )


def _batch_bounds(batch: int, batch_size: int, chunk_count: int) -> tuple[int, int]:
    return batch * batch_size, min((batch + 1) * batch_size, chunk_count)


class IngestActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self._deps = deps

    async def _check_owner(self, ref: DocumentRef) -> tuple[uuid.UUID, uuid.UUID]:
        tenant_id, document_id = _ids(ref)
        async with self._deps.statements() as session:
            if await documents.live_generation(session, tenant_id, document_id) != ref.generation:
                raise superseded(ref)
        return tenant_id, document_id

    async def _staging(self, ref: DocumentRef) -> Staging:
        staging = self._deps.documents.staging(ref.tenant_id, ref.document_id, ref.generation)
        if not await asyncio.to_thread(staging.exists):
            await self._check_owner(ref)  # deleted meanwhile: Superseded rather than a missing file
            raise ApplicationError(
                "this run's staged files are gone (do the API and every ingest worker use the same upload store?)",
                type="StagingMissing",
                non_retryable=True,
            )
        return staging

    @activity.defn
    async def extract_document_text(self, ref: DocumentRef) -> ExtractResult:
        """Reads the upload and extracts its cleaned sections into staging (the loaders clean)."""
        tenant_id, document_id = _ids(ref)
        async with self._deps.statements() as session:
            row = await documents.live_document(session, tenant_id, document_id)
        if row is None or row.index_generation != ref.generation:
            raise superseded(ref)
        try:
            data = await asyncio.to_thread(self._deps.documents.read_upload, tenant_id, document_id)
        except FileNotFoundError:
            # For the operator: the API stored it elsewhere (FRONTDESK_KNOWLEDGE_UPLOAD_DIR not shared?).
            log.warning("upload not found", path=self._deps.documents.where(tenant_id, document_id))
            raise rejection("upload_missing", "The uploaded file is no longer stored; upload it again.") from None
        try:
            async with heartbeating(lambda: "extracting"):
                extracted = await asyncio.to_thread(extract_document, row.filename, row.content_type, data)
        except DocumentRejected as rejected:
            raise rejection(rejected.code, rejected.reason) from None
        staging = self._deps.documents.staging(tenant_id, document_id, ref.generation)
        await asyncio.to_thread(staging.create)
        await asyncio.to_thread(staging.write_json, "document.json", _document_json(extracted))
        return ExtractResult(
            format=ROW_FORMATS.get(extracted.format, extracted.format),
            page_count=extracted.page_count,
            title=extracted.title[:500] if extracted.title else None,
            section_count=len(extracted.sections),
        )

    @activity.defn
    async def chunk_document_text(self, input: ChunkInput) -> ChunkResult:
        """Splits the staged sections into chunks sized for the embedder this run will use: the
        tenant's chosen one, else the deployment's default."""
        ref = input.document
        tenant_id, _ = await self._check_owner(ref)
        async with self._deps.sessions.begin() as session:
            model = await chosen_embedding_model(session, tenant_id)
        try:
            embedder = self._deps.embedders.chosen(model)
        except (LookupError, ValueError) as exc:
            raise ApplicationError(f"no usable embedder: {exc}", type="InvalidInput", non_retryable=True) from None
        staging = await self._staging(ref)
        document = _document_from_json(await asyncio.to_thread(staging.read_json, "document.json"))
        async with heartbeating(lambda: "chunking"):
            chunks = await asyncio.to_thread(chunk_document, document, max_tokens=input.max_tokens, overlap_tokens=input.overlap_tokens)
        if not chunks:
            raise rejection("empty", "No text could be found in the file.")
        await asyncio.to_thread(staging.write_json, "chunks.json", [dataclasses.asdict(c) for c in chunks])
        return ChunkResult(chunk_count=len(chunks), embedder=embedder.name, batch_size=self._deps.embedders.batch_size(embedder))

    @activity.defn
    async def embed_chunk_batches(self, input: EmbedInput) -> EmbedResult:
        """Embeds batches [first_batch, end_batch), staging each finished batch as a file.

        Heartbeat details are the next batch to embed; a retry (the worker died) logs where the
        last attempt got to, and skips every batch whose vectors are already staged: the
        staged files, not the heartbeat, are the durable record, since the SDK throttles
        heartbeats and the last details sent can lag the last batch written."""
        ref = input.document
        await self._check_owner(ref)
        embedder = self._embedder(input.embedder)
        staging = await self._staging(ref)
        texts = [c["text"] for c in await asyncio.to_thread(staging.read_json, "chunks.json")]
        if len(texts) != input.chunk_count:
            raise ApplicationError("staged chunks differ from this run's count", type="StagingMissing", non_retryable=True)
        details = activity.info().heartbeat_details
        if details:
            log.info("embedding resumes", document_id=ref.document_id, next_batch=details[0], attempt=activity.info().attempt)
        next_batch = input.first_batch
        embedded = reused = 0
        async with heartbeating(lambda: next_batch):
            for batch in range(input.first_batch, input.end_batch):
                if await asyncio.to_thread(staging.has_vectors, batch):
                    reused += 1
                else:
                    start, end = _batch_bounds(batch, input.batch_size, input.chunk_count)
                    vectors = await self._embed(embedder, texts[start:end])
                    try:
                        await asyncio.to_thread(staging.write_vectors, batch, np.asarray(vectors, dtype=np.float32))
                    except FileNotFoundError:
                        await self._staging(ref)  # raises: deleted meanwhile, or staging lost
                        raise
                    embedded += 1
                next_batch = batch + 1
                activity.heartbeat(next_batch)
        return EmbedResult(batches_embedded=embedded, batches_reused=reused)

    def _embedder(self, name: str) -> PassageEmbedder:
        try:
            return self._deps.embedders.get(name)
        except (LookupError, ValueError) as exc:
            raise ApplicationError(f"this worker cannot embed with {name!r}: {exc}", type="InvalidInput", non_retryable=True) from None

    async def _embed(self, embedder: PassageEmbedder, texts: list[str]) -> list[list[float]]:
        try:
            return await embedder.embed_passages(texts)
        except ProviderHTTPError as exc:
            if exc.retryable:  # 429, 5xx, timeouts: Temporal retries, after the provider's retry-after if it gave one
                delay = timedelta(seconds=exc.retry_after) if exc.retry_after else None
                raise ApplicationError(str(exc), type="EmbeddingUnavailable", next_retry_delay=delay) from exc
            raise ApplicationError(str(exc), type="InvalidInput", non_retryable=True) from exc

    @activity.defn
    async def index_document_chunks(self, input: IndexInput) -> IndexResult:
        """Makes the staged chunks and vectors the document's whole index and marks it ready,
        in one transaction: searches see the old chunks until the commit and the new ones
        after, and a retry writes the same rows again (store.replace_document_chunks)."""
        ref = input.document
        tenant_id, document_id = await self._check_owner(ref)
        embedder = self._embedder(input.embedder)
        staging = await self._staging(ref)
        async with heartbeating(lambda: "indexing"):
            stored = await asyncio.to_thread(self._stored_chunks, staging, input)
            async with self._deps.sessions.begin() as session:
                if await documents.live_generation(session, tenant_id, document_id, lock=True) != ref.generation:
                    raise superseded(ref)
                change = await ensure_knowledge_index(
                    session, tenant_id=tenant_id, embedder=embedder.name, dimension=embedder.dimension
                )
                count = await replace_document_chunks(session, tenant_id=tenant_id, document_id=document_id, chunks=stored)
                await documents.mark_ready(session, tenant_id, document_id, ref.generation, embedder.name)
                stale: list[uuid.UUID] = []
                stale_entries: list[uuid.UUID] = []
                if change.reembed:
                    stale, stale_entries = await owners_to_reembed(session, tenant_id=tenant_id, embedder=embedder.name)
        if stale or stale_entries:
            log.warning(
                "knowledge index switched embedder", previous=change.previous_embedder, embedder=embedder.name,
                stale_documents=len(stale), stale_entries=len(stale_entries),
            )  # fmt: skip
        return IndexResult(chunk_count=count, stale_documents=[str(d) for d in stale], stale_entries=len(stale_entries))

    def _stored_chunks(self, staging: Staging, input: IndexInput) -> list[StoredChunk]:
        chunks = [Chunk(**c) for c in staging.read_json("chunks.json")]
        if len(chunks) != input.chunk_count:
            raise ApplicationError("staged chunks differ from this run's count", type="StagingMissing", non_retryable=True)
        batches = -(-input.chunk_count // input.batch_size)
        try:
            vectors = np.concatenate([staging.read_vectors(batch) for batch in range(batches)])
        except FileNotFoundError:
            raise ApplicationError("a batch of vectors is missing from staging", type="StagingMissing", non_retryable=True) from None
        if vectors.shape[0] != len(chunks):
            raise ApplicationError(f"{vectors.shape[0]} vectors for {len(chunks)} chunks", type="StagingMissing", non_retryable=True)
        # Rows of the float32 matrix, not Python lists: the store only iterates them, and a
        # large document's lists of floats would take ~8x the memory.
        return [
            StoredChunk(
                text=c.text, section_title=c.section_title, position=c.position, page=c.page,
                token_count=c.token_count, embedding=vectors[i], embedder=input.embedder,  # type: ignore[arg-type]
            )  # fmt: skip
            for i, c in enumerate(chunks)
        ]

    @activity.defn
    async def record_ingest_progress(self, input: ProgressInput) -> None:
        ref = input.document
        tenant_id, document_id = _ids(ref)
        async with self._deps.statements() as session:
            owned = await documents.record_progress(
                session, tenant_id, document_id, ref.generation, input.status, input.percent,
                format=input.format, page_count=input.page_count, title=input.title,
            )  # fmt: skip
        if not owned:
            raise superseded(ref)

    @activity.defn
    async def mark_document_failed(self, input: FailInput) -> None:
        ref = input.document
        tenant_id, document_id = _ids(ref)
        async with self._deps.statements() as session:
            owned = await documents.mark_failed(session, tenant_id, document_id, ref.generation, input.code, input.reason)
        if not owned:
            raise superseded(ref)

    @activity.defn
    async def discard_staged_chunks(self, ref: DocumentRef) -> None:
        """Removes this run's staging and any superseded run's; the upload stays for re-indexing."""
        await asyncio.to_thread(self._deps.documents.discard_staging, ref.tenant_id, ref.document_id, ref.generation)

    def all(self) -> list[Callable]:
        return [
            self.extract_document_text,
            self.chunk_document_text,
            self.embed_chunk_batches,
            self.index_document_chunks,
            self.record_ingest_progress,
            self.mark_document_failed,
            self.discard_staged_chunks,
        ]
