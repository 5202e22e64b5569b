"""How a tenant's knowledge search ranks and filters: fusion weights, score threshold, top-k, the
text search language, and the embedding model. The agent's searches pick a change up within
seconds (the search activity caches a tenant's settings briefly, activities/knowledge.py).

A new embedding model moves the tenant's index to it at once and starts ReembedKnowledgeWorkflow
for what was embedded by the old one; until each piece's turn comes, search finds it by its words
(rag/search.py). The change waits for no ingestion run: one that already chose its embedder
(chunking, embedding, indexing) gets 409, so that no document lands on the old model after the
move. Runs that start later read the new choice (models/knowledge_coverage.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import Field

from api.auth import Ctx, Scoped
from api.conversations import TEMPORAL_UNAVAILABLE
from api.knowledge_uploads import start_reembedding
from api.problems import Problem
from api.routes.knowledge_entries import Embedders
from core.logging import get_logger
from core.scopes import Scope
from models import knowledge_documents_store as documents
from models.knowledge import EMBEDDING_DIMENSION
from models.knowledge_coverage import (
    DEFAULT_LANGUAGE,
    EmbeddingModel,
    KnowledgeSearchSettings,
    SearchSetup,
    index_embedder_name,
    save_search_settings,
    search_setup,
    text_search_config_exists,
)
from rag.embedding import EmbedderRegistry, PassageEmbedder
from rag.store import ensure_knowledge_index, has_stale_chunks

log = get_logger()

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
    embedding_model: EmbeddingModel | None = Field(
        None, description=str(KnowledgeSearchSettings.model_fields["embedding_model"].description) + " Omitted: unchanged."
    )


class KnowledgeSettingsOut(KnowledgeSearchSettings):
    language: str = Field(description=_LANGUAGE)
    embedder: str | None = Field(description="The embedder the tenant's chunks were made with; null until something is indexed.")


def _chosen_embedder(registry: EmbedderRegistry, model: str | None) -> PassageEmbedder:
    try:
        return registry.chosen(model)
    except (LookupError, ValueError) as exc:
        if model is None:
            raise Problem(503, "Embedder unavailable", f"the knowledge index cannot be set up here: {exc}") from None
        raise Problem(422, "Embedding model unavailable", f"{model!r} cannot be used by this deployment: {exc}") from None


async def _current(ctx: Ctx) -> KnowledgeSettingsOut:
    async with ctx.db() as session:
        setup = await search_setup(session, ctx.tenant_id)
    if setup is None:
        raise Problem(404, "Not found", "the tenant no longer exists")
    return KnowledgeSettingsOut(**setup.settings.model_dump(), language=setup.language, embedder=setup.embedder)


@router.get("", response_model=KnowledgeSettingsOut, summary="The tenant's knowledge search settings")
async def get_knowledge_settings(ctx: Reader) -> KnowledgeSettingsOut:
    return await _current(ctx)


@router.put(
    "",
    response_model=KnowledgeSettingsOut,
    summary="Replace the tenant's knowledge search settings",
    responses={
        409: {"description": "The embedding model cannot change while a document is being embedded"},
        422: {"description": "An unknown text search language, or an embedding model this deployment cannot use"},
        503: {"description": "Saved, but the re-embedding could not be started: repeat the request"},
    },
)
async def put_knowledge_settings(body: KnowledgeSettingsIn, ctx: Admin, registry: Embedders) -> KnowledgeSettingsOut:
    async with ctx.db() as session:
        setup = await search_setup(session, ctx.tenant_id)
        if setup is None:
            raise Problem(404, "Not found", "the tenant no longer exists")
        model = body.embedding_model if "embedding_model" in body.model_fields_set else setup.settings.embedding_model
        settings = KnowledgeSearchSettings(**body.model_dump(exclude={"language", "embedding_model"}), embedding_model=model)
        # Locks the tenant row until the commit: an ingestion run choosing its embedder waits.
        previous = await save_search_settings(session, ctx.tenant_id, settings)
        changes = {"search": {"old": previous, "new": settings.model_dump(mode="json")}}
        if model != setup.settings.embedding_model:
            await _move_index(session, ctx, setup, _chosen_embedder(registry, model))
        index_embedder = await index_embedder_name(session, ctx.tenant_id)  # after a move above, the new one
        if body.language and body.language != setup.language:
            if not await text_search_config_exists(session, body.language):
                raise Problem(422, "Unknown language", f"PostgreSQL has no text search configuration {body.language!r}; try 'english' or 'simple'")
            # The index keeps its embedder.
            embedder = index_embedder or _chosen_embedder(registry, model).name
            # Re-derives every chunk's keyword index in this transaction (rag/store.py).
            await ensure_knowledge_index(
                session, tenant_id=ctx.tenant_id, embedder=embedder, dimension=EMBEDDING_DIMENSION, language=body.language
            )
            changes["language"] = {"old": setup.language or DEFAULT_LANGUAGE, "new": body.language}
        ctx.audit(session, "knowledge_settings.update", "tenant", ctx.tenant_id, changes)
        # Checked on every change, so that repeating a request that got 503 below starts what it could not.
        stale = index_embedder is not None and await has_stale_chunks(session, tenant_id=ctx.tenant_id, embedder=index_embedder)
    if stale:
        await _start_reembedding(ctx, index_embedder)
    return await _current(ctx)


async def _move_index(session, ctx: Ctx, setup: SearchSetup, target: PassageEmbedder) -> None:
    """Points the tenant's index at `target` (nothing to move before anything is indexed)."""
    busy = await documents.embedding_now(session, ctx.tenant_id)
    if busy:
        listed = ", ".join(str(d) for d in busy)
        raise Problem(
            409, "Documents are being embedded",
            f"documents are being ingested with the current model ({listed}); change the model once they are ready",
        )  # fmt: skip
    if setup.embedder and setup.embedder != target.name:
        await ensure_knowledge_index(session, tenant_id=ctx.tenant_id, embedder=target.name, dimension=target.dimension)


async def _start_reembedding(ctx: Ctx, embedder: str) -> None:
    """Starts (or joins) the re-embedding of whatever the index's model `embedder` did not embed."""
    try:
        await start_reembedding(ctx.state.temporal, ctx.state.settings, ctx.tenant_id, embedder)
    except TEMPORAL_UNAVAILABLE as exc:
        log.warning("could not start re-embedding", error=repr(exc)[:200])
        raise Problem(503, "Re-embedding not started", "the settings are saved, but the workflow service is unreachable; "
                      "repeat the request shortly", {"Retry-After": "2"}) from None  # fmt: skip
