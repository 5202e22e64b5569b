"""Hand-written knowledge entries (FAQ answers, policies, product notes, procedures, snippets).

Every change is searchable when the response arrives: the entry is embedded and its chunks
replaced in the same transaction as the row (models/knowledge_entries_store.py). Each update
bumps `version`, returned as the ETag; send it back as If-Match (or `expected_version`) to make
an edit fail with 409 instead of overwriting someone else's. Deleting is soft: the row stays for
the audit trail, but reads answer 404 and searches never return it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import text

from api.auth import Ctx, Scoped
from api.pagination import CursorQuery, LimitQuery, Page, newest_first, page_of
from api.problems import Problem
from api.versioning import if_match_version, set_version_etag
from core.scopes import Scope
from llm.base import ProviderHTTPError
from models import knowledge_entries_store as store
from models.knowledge import KnowledgeEntry
from models.knowledge_entries_store import MAX_CONTENT_CHARS, MAX_IMPORT_ROWS, MAX_KEYWORDS, ImportRow, import_rows
from rag.documents import DocumentRejected
from rag.embedding import EmbedderRegistry, PassageEmbedder
from rag.store import StoredChunk

router = APIRouter(prefix="/v1/knowledge/entries", tags=["knowledge"])
Reader = Annotated[Ctx, Depends(Scoped(Scope.KNOWLEDGE_READ))]
Writer = Annotated[Ctx, Depends(Scoped(Scope.KNOWLEDGE_WRITE))]

EntryType = Literal["faq", "policy", "product", "procedure", "snippet"]
# Rows written per transaction during an import: each batch is embedded before its transaction
# opens, so no row lock is held while the embedder works.
IMPORT_BATCH_ROWS = 64


async def _registry(request: Request) -> EmbedderRegistry:
    # Built once per app, on first use (the API state has no embedder registry of its own yet);
    # the model behind it is loaded once per process either way (rag/embedding.py).
    app_state = request.app.state
    registry = getattr(app_state, "knowledge_embedders", None)
    if registry is None:
        state = app_state.frontdesk
        registry = app_state.knowledge_embedders = EmbedderRegistry(state.settings, state.http)
    return registry


Embedders = Annotated[EmbedderRegistry, Depends(_registry)]


def _keywords(value: list[str]) -> list[str]:
    cleaned = [" ".join(k.split()) for k in value]
    if any(not 1 <= len(k) <= 64 for k in cleaned):
        raise ValueError("each keyword is 1-64 characters")
    return list(dict.fromkeys(cleaned))  # repeated keywords say nothing more


class EntryCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"type": "policy", "title": "Returns of sale items", "content": "Sale items can be returned within 14 days.",
                 "keywords": ["return", "sale"], "category": "returns"}  # fmt: skip
            ]
        },
    )

    type: EntryType = "faq"
    title: str = Field(min_length=1, max_length=500, description="For an FAQ, the question.")
    content: str = Field(min_length=1, max_length=MAX_CONTENT_CHARS, description="For an FAQ, the answer.")
    keywords: list[str] = Field(default_factory=list, max_length=MAX_KEYWORDS)
    category: str | None = Field(None, min_length=1, max_length=200)
    priority: int = Field(0, ge=-1000, le=1000)
    active: bool = True

    @field_validator("title", "content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("keywords")
    @classmethod
    def _clean_keywords(cls, value: list[str]) -> list[str]:
        return _keywords(value)


class EntryUpdate(BaseModel):
    """Only the fields sent change; `category` may be set to null."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"content": "Within 30 days.", "expected_version": 2}, {"active": False}]})

    type: EntryType | None = None
    title: str | None = Field(None, min_length=1, max_length=500)
    content: str | None = Field(None, min_length=1, max_length=MAX_CONTENT_CHARS)
    keywords: list[str] | None = Field(None, max_length=MAX_KEYWORDS)
    category: str | None = Field(None, min_length=1, max_length=200)
    priority: int | None = Field(None, ge=-1000, le=1000)
    active: bool | None = None
    expected_version: int | None = Field(None, ge=1, description="Fail with 409 unless the entry is at this version (like If-Match).")

    @field_validator("title", "content")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value.strip() if value is not None else None

    @field_validator("keywords")
    @classmethod
    def _clean_keywords(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _keywords(value)


class EntryOut(BaseModel):
    id: uuid.UUID
    type: str
    title: str
    content: str
    keywords: list[str]
    category: str | None
    priority: int
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, e: KnowledgeEntry) -> EntryOut:
        return cls(
            id=e.id, type=e.type, title=e.title, content=e.content, keywords=list(e.keywords or []), category=e.category,
            priority=e.priority, active=e.active, version=e.version, created_at=e.created_at, updated_at=e.updated_at,
        )  # fmt: skip


class RowError(BaseModel):
    row: int = Field(description="CSV: the spreadsheet row (the header is row 1). JSON: the item's position, from 1.")
    reason: str


class ImportResult(BaseModel):
    created: int
    updated: int
    unchanged: int = Field(description="Rows matching an entry (same type and title) that already says the same.")
    errors: list[RowError] = Field(description="Rows not imported, with the reason; the other rows were imported.")


def _etag(response: Response, entry: KnowledgeEntry) -> EntryOut:
    set_version_etag(response, entry.version)
    return EntryOut.of(entry)


async def _embedder(session, registry: EmbedderRegistry, tenant_id: uuid.UUID) -> PassageEmbedder:
    try:
        return await store.index_embedder(session, registry, tenant_id)
    except (LookupError, ValueError) as exc:
        raise Problem(503, "Embedder unavailable", f"entries cannot be indexed here: {exc}") from None


async def _embed(registry: EmbedderRegistry, embedder: PassageEmbedder, texts: list[store.EntryText]) -> list[list[StoredChunk]]:
    try:
        return await store.embed_entries(embedder, texts, registry.batch_size(embedder))
    except ProviderHTTPError as exc:
        if exc.retryable:
            headers = {"Retry-After": str(int(exc.retry_after or 2))}
            raise Problem(503, "Embedding provider unavailable", "the entry was not saved; retry shortly", headers) from None
        raise Problem(502, "Embedding provider refused", f"the entry was not saved: {exc}") from None


@router.post("", status_code=201, response_model=EntryOut, summary="Write a knowledge entry (searchable at once)")
async def create_entry(body: EntryCreate, ctx: Writer, registry: Embedders, response: Response) -> EntryOut:
    async with ctx.db() as session:
        embedder = await _embedder(session, registry, ctx.tenant_id)
        (chunks,) = await _embed(registry, embedder, [store.EntryText(body.type, body.title, body.content, body.keywords)])
        entry = KnowledgeEntry(id=uuid.uuid4(), tenant_id=ctx.tenant_id, version=1, **body.model_dump())
        session.add(entry)
        await session.flush()
        await store.store_entry_chunks(session, ctx.tenant_id, entry.id, chunks, embedder)
        ctx.audit(session, "knowledge_entry.create", "knowledge_entry", entry.id, {"type": body.type, "title": body.title})
        await session.refresh(entry)  # server-set timestamps
    return _etag(response, entry)


@router.get("", response_model=Page[EntryOut], summary="List knowledge entries, newest first")
async def list_entries(
    ctx: Reader,
    type: Annotated[EntryType | None, Query()] = None,
    category: Annotated[str | None, Query(max_length=200)] = None,
    active: Annotated[bool | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=200, description="Matches title, content or keywords.")] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Page[EntryOut]:
    query = store.entries_query(ctx.tenant_id, type=type, category=category, active=active, q=q)
    async with ctx.db() as session:
        rows = list(await session.scalars(newest_first(query, KnowledgeEntry.created_at, KnowledgeEntry.id, cursor, limit)))
    return page_of(rows, limit, EntryOut.of, lambda e: (e.created_at, e.id))


async def _entry(session, ctx: Ctx, entry_id: uuid.UUID, *, lock: bool = False) -> KnowledgeEntry:
    entry = await store.live_entry(session, ctx.tenant_id, entry_id, lock=lock)
    if entry is None:
        raise Problem(404, "Not found", f"no knowledge entry {entry_id}")
    return entry


@router.get("/{entry_id}", response_model=EntryOut, summary="Read a knowledge entry")
async def get_entry(entry_id: uuid.UUID, ctx: Reader, response: Response) -> EntryOut:
    async with ctx.db() as session:
        return _etag(response, await _entry(session, ctx, entry_id))


@router.patch("/{entry_id}", response_model=EntryOut, summary="Change a knowledge entry (its version goes up by one)")
async def update_entry(
    entry_id: uuid.UUID,
    body: EntryUpdate,
    ctx: Writer,
    registry: Embedders,
    response: Response,
    if_match: Annotated[str | None, Header(max_length=100, description='The ETag a read returned, e.g. "3".')] = None,
) -> EntryOut:
    values = body.model_dump(exclude_unset=True)
    expected = values.pop("expected_version", None) or if_match_version(if_match)
    for field in ("type", "title", "content", "keywords", "priority", "active"):
        if field in values and values[field] is None:
            raise Problem(422, "Request is not valid", f"{field} cannot be null")
    async with ctx.db() as session:
        entry = await _entry(session, ctx, entry_id, lock=True)  # locked: concurrent edits queue up
        if expected is not None and entry.version != expected:
            raise Problem(409, "Version conflict", f"the entry is at version {entry.version}, not {expected}; read it again and retry")
        changes = {f: {"old": getattr(entry, f), "new": v} for f, v in values.items() if getattr(entry, f) != v}
        if not changes:
            return _etag(response, entry)
        for field, change in changes.items():
            setattr(entry, field, change["new"])
        entry.version += 1
        if changes.keys() & store.SEARCHED_FIELDS:
            embedder = await _embedder(session, registry, ctx.tenant_id)
            (chunks,) = await _embed(registry, embedder, [store.EntryText.of(entry)])
            await store.store_entry_chunks(session, ctx.tenant_id, entry.id, chunks, embedder)
        # The audit log records that the text changed, not both versions of up to 8,000 characters.
        audited = {f: ("changed" if f == "content" else c) for f, c in changes.items()}
        ctx.audit(session, "knowledge_entry.update", "knowledge_entry", entry.id, audited)
        await session.flush()
        await session.refresh(entry)
    return _etag(response, entry)


@router.delete("/{entry_id}", status_code=204, summary="Delete a knowledge entry (searches stop returning it at once)")
async def delete_entry(entry_id: uuid.UUID, ctx: Writer) -> Response:
    async with ctx.db() as session:
        entry = await _entry(session, ctx, entry_id, lock=True)
        store.soft_delete(entry)
        await store.remove_entry_chunks(session, ctx.tenant_id, entry.id)
        ctx.audit(session, "knowledge_entry.delete", "knowledge_entry", entry.id, {"title": entry.title})
    return Response(status_code=204)


_IMPORT_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended('knowledge-entries-import:' || :tenant, 0))")


@router.post("/import", response_model=ImportResult, summary="Import FAQ entries from a CSV or JSON file (upsert by type and title)")
async def import_entries(
    ctx: Writer,
    registry: Embedders,
    file: Annotated[UploadFile, File(description="CSV with question/answer(/category) columns, or a JSON list of such objects.")],
    type: Annotated[EntryType, Form(description="The type every imported entry gets.")] = "faq",
) -> ImportResult:
    data = await file.read()
    try:
        rows, problems = import_rows(data, file.filename or "", file.content_type)
    except DocumentRejected as exc:
        raise Problem(422, "File cannot be imported", exc.reason) from None
    if len(rows) > MAX_IMPORT_ROWS:
        raise Problem(422, "Too many rows", f"the file has {len(rows)} rows; import at most {MAX_IMPORT_ROWS} at a time")
    async with ctx.db() as session:
        embedder = await _embedder(session, registry, ctx.tenant_id)
    errors = [RowError(row=row, reason=reason) for row, reason in problems]
    result = ImportResult(created=0, updated=0, unchanged=0, errors=errors)
    for start in range(0, len(rows), IMPORT_BATCH_ROWS):
        await _import_batch(ctx, registry, embedder, type, rows[start : start + IMPORT_BATCH_ROWS], result)
    async with ctx.db() as session:
        counts = result.model_dump(exclude={"errors"}) | {"errors": len(errors), "type": type, "file": file.filename}
        ctx.audit(session, "knowledge_entry.import", "knowledge_entry", None, counts)
    return result


def _same(entry: KnowledgeEntry | None, row: ImportRow) -> bool:
    return entry is not None and (entry.title, entry.content, entry.category) == (row.title, row.content, row.category)


async def _import_batch(
    ctx: Ctx, registry: EmbedderRegistry, embedder: PassageEmbedder, type: str, rows: list[ImportRow], result: ImportResult
) -> None:
    async with ctx.db() as session:
        seen = await store.entries_by_title(session, ctx.tenant_id, type, [r.title for r in rows])
    todo = [r for r in rows if not _same(seen.get(store.title_key(r.title)), r)]
    result.unchanged += len(rows) - len(todo)
    if not todo:
        return
    keywords = {store.title_key(r.title): list(seen[store.title_key(r.title)].keywords or []) for r in todo if store.title_key(r.title) in seen}
    texts = [store.EntryText(type, r.title, r.content, keywords.get(store.title_key(r.title), [])) for r in todo]
    chunks = await _embed(registry, embedder, texts)
    async with ctx.db() as session:
        # Two imports of one file at once would otherwise both find a title missing and both create it.
        await session.execute(_IMPORT_LOCK, {"tenant": str(ctx.tenant_id)})
        current = await store.entries_by_title(session, ctx.tenant_id, type, [r.title for r in todo], lock=True)
        for row, entry_chunks in zip(todo, chunks, strict=True):
            entry = current.get(store.title_key(row.title))
            if entry is None:
                entry = KnowledgeEntry(
                    id=uuid.uuid4(), tenant_id=ctx.tenant_id, type=type, title=row.title, content=row.content,
                    category=row.category, keywords=[], priority=0, active=True, version=1,
                )  # fmt: skip
                session.add(entry)
                await session.flush()
                current[store.title_key(row.title)] = entry
                result.created += 1
            elif _same(entry, row):  # another import got there first
                result.unchanged += 1
                continue
            else:
                entry.title, entry.content, entry.category = row.title, row.content, row.category
                entry.version += 1
                result.updated += 1
            await store.store_entry_chunks(session, ctx.tenant_id, entry.id, entry_chunks, embedder)
