"""A tenant's knowledge documents: upload (each starts an ingestion run), read progress, list,
re-index, delete."""

from __future__ import annotations

import asyncio
import hashlib
import unicodedata
import uuid
from datetime import datetime
from typing import Annotated, Literal

import structlog
from fastapi import APIRouter, Depends, File, Query, Response, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from activities.ingestion import ROW_FORMATS
from api.auth import Ctx, Scoped
from api.conversations import TEMPORAL_UNAVAILABLE
from api.knowledge_uploads import UPLOAD_PATH, start_ingestion, too_large_reason
from api.pagination import CursorQuery, LimitQuery, Page, newest_first, page_of
from api.problems import Problem
from core.scopes import Scope
from models import knowledge_documents_store as documents
from models.knowledge import DOCUMENT_STATUSES, KnowledgeDocument
from models.knowledge_files import DocumentFiles, document_files
from rag.documents import DocumentRejected
from rag.loaders import MAX_UPLOAD_BYTES, SUPPORTED_FORMATS
from rag.loaders.sniffing import detect_format
from rag.store import replace_document_chunks
from workflows.ingestion import ingest_workflow_id

router = APIRouter(prefix=UPLOAD_PATH, tags=["knowledge"])
Reader = Annotated[Ctx, Depends(Scoped(Scope.KNOWLEDGE_READ))]
Writer = Annotated[Ctx, Depends(Scoped(Scope.KNOWLEDGE_WRITE))]
log = structlog.get_logger()


class DocumentOut(BaseModel):
    id: uuid.UUID
    filename: str
    content_type: str
    format: str = Field(description="pdf, docx, html, md, txt, csv or json; `unknown` until a file of no supported type fails.")
    size_bytes: int
    content_sha256: str
    title: str | None
    status: Literal["uploaded", "extracting", "chunking", "embedding", "indexing", "ready", "failed"]
    stage: str | None = Field(description="While ingesting, the stage it is in (the status); null once ready or failed.")
    progress_percent: int
    failure_code: str | None = Field(description="unsupported_type, encrypted, empty, corrupt, too_large, bad_faq, ...")
    failure_reason: str | None = Field(description="What went wrong and what to do about it, for the admin.")
    page_count: int | None
    chunk_count: int
    embedder: str | None
    index_generation: int
    created_at: datetime
    updated_at: datetime


class UploadOut(DocumentOut):
    duplicate: bool = Field(description="True when these exact bytes were already uploaded: the existing document is returned.")


def _out(d: KnowledgeDocument) -> DocumentOut:
    return DocumentOut(
        id=d.id, filename=d.filename, content_type=d.content_type, format=d.format, size_bytes=d.size_bytes,
        content_sha256=d.content_sha256, title=d.title, status=d.status,  # type: ignore[arg-type]
        stage=d.status if d.status in documents.IN_PROGRESS and d.status != "uploaded" else None,
        progress_percent=d.progress_percent, failure_code=d.failure_code, failure_reason=d.failure_reason,
        page_count=d.page_count, chunk_count=d.chunk_count, embedder=d.embedder, index_generation=d.index_generation,
        created_at=d.created_at, updated_at=d.updated_at,
    )  # fmt: skip


def _files(ctx: Ctx) -> DocumentFiles:
    settings = ctx.state.settings
    return document_files(settings.knowledge_store(), settings.knowledge_s3_endpoint_url)


def _filename(raw: str | None) -> str:
    # Only the last path component, without control characters (PostgreSQL refuses NUL).
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) != "Cc").strip()
    return name[:500] or "upload"


def _row_format(filename: str, content_type: str, data: bytes) -> str:
    try:
        return ROW_FORMATS.get(found := detect_format(filename, content_type, data), found)
    except DocumentRejected:
        return "unknown"  # the ingestion run fails it, with the loaders' reason


async def _start(ctx: Ctx, document: KnowledgeDocument, *, replace_running: bool) -> None:
    try:
        await start_ingestion(
            ctx.state.temporal, ctx.state.settings, ctx.tenant_id, document.id, document.index_generation, replace_running=replace_running
        )
    except TEMPORAL_UNAVAILABLE as exc:
        log.warning("could not start ingestion", document_id=str(document.id), error=repr(exc)[:200])
        # The document is stored: repeating the request starts its ingestion (and nothing twice).
        raise Problem(503, "Ingestion not started", "the workflow service is unreachable; repeat the request shortly",
                      {"Retry-After": "2"}) from None  # fmt: skip


async def _duplicate(ctx: Ctx, existing: KnowledgeDocument, response: Response) -> UploadOut:
    if existing.status == "uploaded":
        # A run may never have started (the API stopped between storing and starting): joining
        # a running one is harmless, starting the missing one is what the caller needs.
        await _start(ctx, existing, replace_running=False)
    response.status_code = 200
    return UploadOut(**_out(existing).model_dump(), duplicate=True)


@router.post(
    "",
    status_code=202,
    response_model=UploadOut,
    summary="Upload a document to the knowledge base",
    description=f"Multipart field `file`: {SUPPORTED_FORMATS}, up to {MAX_UPLOAD_BYTES // (1024 * 1024)} MB. Answers 202 "
    "and ingests in the background (poll the document for its status), or 200 with `duplicate: true` "
    "when the same bytes were already uploaded.",
    responses={200: {"model": UploadOut, "description": "Already uploaded"}, 413: {"description": "File too large"}},
)
async def upload_document(ctx: Writer, file: Annotated[UploadFile, File(description="The document.")], response: Response) -> UploadOut:
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise Problem(413, "File too large", too_large_reason())
    if not data:
        raise Problem(422, "Empty file", "The file is empty.")
    filename = _filename(file.filename)
    content_type = (file.content_type or "application/octet-stream")[:200]
    sha256 = await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())
    async with ctx.db() as session:
        existing = await documents.live_by_content(session, ctx.tenant_id, sha256)
    if existing is not None:
        return await _duplicate(ctx, existing, response)

    document_id, files = uuid.uuid4(), _files(ctx)
    row_format = await asyncio.to_thread(_row_format, filename, content_type, data)
    # The bytes go to the upload store before the row exists: a run never finds a row without its file.
    try:
        await asyncio.to_thread(files.save_upload, ctx.tenant_id, document_id, data)
    except OSError as exc:  # a full disk, an unreachable bucket or refused credentials: nothing was accepted
        log.error("upload could not be stored", path=files.where(ctx.tenant_id, document_id), error=str(exc)[:300])
        raise Problem(
            503, "Upload store unavailable", "The file could not be stored just now; nothing was saved. Try again shortly.",
            headers={"Retry-After": "30"},
        ) from None
    document = KnowledgeDocument(
        id=document_id, tenant_id=ctx.tenant_id, filename=filename, content_type=content_type, format=row_format,
        content_sha256=sha256, size_bytes=len(data), status="uploaded", progress_percent=0, chunk_count=0,
        index_generation=1, workflow_id=ingest_workflow_id(str(ctx.tenant_id), str(document_id)),
    )  # fmt: skip
    try:
        async with ctx.db() as session:
            session.add(document)
            await session.flush()
            await session.refresh(document)
            ctx.audit(session, "knowledge_document.upload", "knowledge_document", document_id, {"filename": filename, "sha256": sha256})
    except IntegrityError:
        # The same bytes, uploaded concurrently by another request: that one's document wins.
        await _remove_files(files, ctx.tenant_id, document_id)
        async with ctx.db() as session:
            existing = await documents.live_by_content(session, ctx.tenant_id, sha256)
        if existing is None:
            raise
        return await _duplicate(ctx, existing, response)
    structlog.contextvars.bind_contextvars(document_id=str(document_id))
    await _start(ctx, document, replace_running=False)
    return UploadOut(**_out(document).model_dump(), duplicate=False)


@router.get("", response_model=Page[DocumentOut], summary="List knowledge documents, newest first")
async def list_documents(
    ctx: Reader,
    status: Annotated[Literal[DOCUMENT_STATUSES] | None, Query(description="Only documents with this status.")] = None,  # type: ignore[valid-type]
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Page[DocumentOut]:
    query = select(KnowledgeDocument).where(KnowledgeDocument.tenant_id == ctx.tenant_id, KnowledgeDocument.deleted_at.is_(None))
    if status:
        query = query.where(KnowledgeDocument.status == status)
    async with ctx.db() as session:
        rows = list(await session.scalars(newest_first(query, KnowledgeDocument.created_at, KnowledgeDocument.id, cursor, limit)))
    return page_of(rows, limit, _out, lambda d: (d.created_at, d.id))


async def _live_or_404(session, ctx: Ctx, document_id: uuid.UUID, *, lock: bool = False) -> KnowledgeDocument:
    query = select(KnowledgeDocument).where(
        KnowledgeDocument.tenant_id == ctx.tenant_id, KnowledgeDocument.id == document_id, KnowledgeDocument.deleted_at.is_(None)
    )
    document = await session.scalar(query.with_for_update() if lock else query)
    if document is None:
        raise Problem(404, "Not found", f"no knowledge document {document_id}")
    return document


@router.get("/{document_id}", response_model=DocumentOut, summary="A document, with its ingestion status and progress")
async def get_document(document_id: uuid.UUID, ctx: Reader) -> DocumentOut:
    async with ctx.db() as session:
        return _out(await _live_or_404(session, ctx, document_id))


@router.post("/{document_id}/reindex", status_code=202, response_model=DocumentOut, summary="Ingest a document again")
async def reindex_document(document_id: uuid.UUID, ctx: Writer) -> DocumentOut:
    """Re-runs ingestion from the stored upload (after an embedder change, a loader fix or a
    failure). The current chunks stay searchable until the new ones replace them in one step;
    a run still in progress is superseded."""
    async with ctx.db() as session:
        document = await documents.begin_reindex(session, ctx.tenant_id, document_id)
        if document is None:
            raise Problem(404, "Not found", f"no knowledge document {document_id}")
        ctx.audit(session, "knowledge_document.reindex", "knowledge_document", document_id, {"generation": document.index_generation})
        await session.refresh(document)
    await _start(ctx, document, replace_running=True)
    return _out(document)


@router.delete("/{document_id}", status_code=204, summary="Delete a document and its chunks")
async def delete_document(document_id: uuid.UUID, ctx: Writer) -> Response:
    async with ctx.db() as session:
        document = await _live_or_404(session, ctx, document_id, lock=True)
        document.deleted_at = func.now()
        document.index_generation += 1  # a run in progress is superseded: it writes nothing more
        await session.flush()
        await replace_document_chunks(session, tenant_id=ctx.tenant_id, document_id=document_id, chunks=[])
        ctx.audit(session, "knowledge_document.delete", "knowledge_document", document_id, {"filename": document.filename})
    try:
        await ctx.state.temporal.get_workflow_handle(ingest_workflow_id(str(ctx.tenant_id), str(document_id))).terminate(
            reason="document deleted"
        )
    except TEMPORAL_UNAVAILABLE:
        pass  # none running (or Temporal away): a run still going is superseded and stops by itself
    await _remove_files(_files(ctx), ctx.tenant_id, document_id)
    return Response(status_code=204)


async def _remove_files(files: DocumentFiles, tenant_id: uuid.UUID, document_id: uuid.UUID) -> None:
    """Removes a document's bytes once no row points at them. When the store fails, the request
    still succeeds (the document is already gone for the tenant and its search) and the log names
    the bytes left for the operator."""
    try:
        await asyncio.to_thread(files.remove_document, tenant_id, document_id)
    except OSError as exc:
        log.error("document files could not be removed", path=files.where(tenant_id, document_id), error=str(exc)[:300])
