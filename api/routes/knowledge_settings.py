"""How a tenant's knowledge search ranks and filters: fusion weights, score threshold, top-k and
the text search language. The agent's searches pick a change up within seconds (the search
activity caches a tenant's settings briefly, activities/knowledge.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import Field

from api.auth import Ctx, Scoped
from api.problems import Problem
from api.routes.knowledge_entries import Embedders
from core.scopes import Scope
from models.knowledge import EMBEDDING_DIMENSION
from models.knowledge_coverage import (
    DEFAULT_LANGUAGE,
    KnowledgeSearchSettings,
    save_search_settings,
    search_setup,
    text_search_config_exists,
)
from rag.embedding import EmbedderRegistry
from rag.store import ensure_knowledge_index

router = APIRouter(prefix="/v1/knowledge/settings", tags=["knowledge"])
Reader = Annotated[Ctx, Depends(Scoped(Scope.KNOWLEDGE_READ))]
# Tuning changes what every conversation is told: the tenant's admins decide it, as with LLM settings.
Admin = Annotated[Ctx, Depends(Scoped(Scope.ADMIN))]

_LANGUAGE = (
    "PostgreSQL text search configuration for keyword matching: 'english' (stemming), 'simple' for Hindi, "
    "Hinglish and mixed-language content, or another installed one ('german', 'spanish'…)."
)


class KnowledgeSettingsIn(KnowledgeSearchSettings):
    language: str | None = Field(None, pattern=r"^[a-z_]{1,63}$", description=_LANGUAGE + " Omitted: unchanged.")


class KnowledgeSettingsOut(KnowledgeSearchSettings):
    language: str = Field(description=_LANGUAGE)
    embedder: str | None = Field(description="The embedder the tenant's chunks were made with; null until something is indexed.")


def _default_embedder(registry: EmbedderRegistry) -> str:
    try:
        return registry.default().name
    except (LookupError, ValueError) as exc:
        raise Problem(503, "Embedder unavailable", f"the knowledge index cannot be set up here: {exc}") from None


async def _current(ctx: Ctx) -> KnowledgeSettingsOut:
    async with ctx.db() as session:
        setup = await search_setup(session, ctx.tenant_id)
    if setup is None:
        raise Problem(404, "Not found", "the tenant no longer exists")
    return KnowledgeSettingsOut(**setup.settings.model_dump(), language=setup.language, embedder=setup.embedder)


@router.get("", response_model=KnowledgeSettingsOut, summary="The tenant's knowledge search settings")
async def get_knowledge_settings(ctx: Reader) -> KnowledgeSettingsOut:
    return await _current(ctx)


@router.put("", response_model=KnowledgeSettingsOut, summary="Replace the tenant's knowledge search settings")
async def put_knowledge_settings(body: KnowledgeSettingsIn, ctx: Admin, registry: Embedders) -> KnowledgeSettingsOut:
    settings = KnowledgeSearchSettings(**body.model_dump(exclude={"language"}))
    async with ctx.db() as session:
        setup = await search_setup(session, ctx.tenant_id)
        if setup is None:
            raise Problem(404, "Not found", "the tenant no longer exists")
        previous = await save_search_settings(session, ctx.tenant_id, settings)
        changes = {"search": {"old": previous, "new": settings.model_dump(mode="json")}}
        if body.language and body.language != setup.language:
            if not await text_search_config_exists(session, body.language):
                raise Problem(422, "Unknown language", f"PostgreSQL has no text search configuration {body.language!r}; try 'english' or 'simple'")
            embedder = setup.embedder or _default_embedder(registry)  # the index keeps its embedder
            # Re-derives every chunk's keyword index in this transaction (rag/store.py).
            await ensure_knowledge_index(
                session, tenant_id=ctx.tenant_id, embedder=embedder, dimension=EMBEDDING_DIMENSION, language=body.language
            )
            changes["language"] = {"old": setup.language or DEFAULT_LANGUAGE, "new": body.language}
        ctx.audit(session, "knowledge_settings.update", "tenant", ctx.tenant_id, changes)
    return await _current(ctx)
