"""Searching the tenant's knowledge base for a conversation turn: passages with citations, and a
coverage record of every search (what was asked, whether anything relevant came back), which the
gap list (GET /v1/knowledge/gaps) is built from."""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps
from core.logging import get_logger
from core.ttl_cache import TtlCache
from llm.base import ProviderHTTPError
from models.knowledge_coverage import SearchSetup, search_setup
from rag.embedding import PassageEmbedder
from rag.search import Passage, SearchOptions, search_chunks
from rag.store import record_retrieval, retrieval_event_id

# Settings are read on every turn and changed rarely: a change applies within these seconds.
SETUP_CACHE_SECONDS = 5.0
# A customer's message can be a pasted e-mail; the embedder reads at most 512 tokens anyway,
# and keyword matching on a few pages of text finds everything and nothing.
MAX_QUERY_CHARS = 2_000
MAX_TOP_K = 20

log = get_logger()


@dataclass
class SearchKnowledgeInput:
    tenant_id: str
    query: str
    conversation_id: str | None = None
    top_k: int | None = None  # None: the tenant's setting (GET /v1/knowledge/settings, default 5)
    # Names this search (the turn's id): a retry after the coverage record was committed (the
    # worker died before reporting) then finds that record instead of counting the question twice.
    search_id: str | None = None


@dataclass
class KnowledgePassage:
    text: str
    score: float
    # Citation: a document's title (else its file name) or an entry's title, and where in it.
    title: str
    document_id: str | None = None
    entry_id: str | None = None
    section_title: str | None = None
    page: int | None = None
    chunk_id: str = ""


@dataclass
class SearchKnowledgeResult:
    passages: list[KnowledgePassage] = field(default_factory=list)
    # At least one passage scored at or above the tenant's threshold (only those are returned).
    answered: bool = False
    top_score: float | None = None


def knowledge_prompt(passages: list[KnowledgePassage]) -> str:
    """The passages as numbered sources the model cites, e.g. "[2]"."""
    lines = [
        "Answer from the knowledge base excerpts below when they cover the question, and cite the "
        "excerpt you used as [n]. If they do not cover it, say you are not sure rather than guess.",
    ]
    for n, p in enumerate(passages, start=1):
        # An entry's only section is its title: "Returns", not "Returns › Returns".
        where = " › ".join(dict.fromkeys(part for part in (p.title, p.section_title) if part))
        page = f", page {p.page}" if p.page else ""
        lines.append(f"[{n}] ({where}{page})\n{p.text}")
    return "\n\n".join(lines)


def _passage(p: Passage) -> KnowledgePassage:
    c = p.citation
    return KnowledgePassage(
        text=p.text, score=p.score, title=c.title, section_title=c.section_title, page=c.page, chunk_id=str(p.chunk_id),
        document_id=str(c.document_id) if c.document_id else None, entry_id=str(c.entry_id) if c.entry_id else None,
    )  # fmt: skip


def _invalid(message: str) -> ApplicationError:
    return ApplicationError(message, type="InvalidInput", non_retryable=True)


def _uuid(value: str | None, what: str) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise _invalid(f"{what} {value!r} is not a UUID") from None


class KnowledgeActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self._deps = deps
        self._setups: TtlCache[uuid.UUID, SearchSetup | None] = TtlCache(SETUP_CACHE_SECONDS)

    async def _setup(self, tenant_id: uuid.UUID) -> SearchSetup:
        async def load() -> SearchSetup | None:
            async with self._deps.statements() as session:
                return await search_setup(session, tenant_id)

        setup = await self._setups.get_or_load(tenant_id, load)
        if setup is None:
            self._setups.forget(tenant_id)  # a tenant created a moment later must not wait for expiry
            raise _invalid(f"no tenant {tenant_id}")
        return setup

    def _embedder(self, name: str | None) -> PassageEmbedder:
        # The tenant's chunks were embedded by `name`: a query embedded by another model would be
        # compared across two vector spaces. With nothing indexed yet, the default still embeds
        # the question, so that the gap list can cluster it.
        try:
            return self._deps.embedders.get(name) if name else self._deps.embedders.default()
        except (LookupError, ValueError) as exc:
            raise _invalid(f"this worker cannot embed queries for the tenant's index: {exc}") from None

    async def _embed_query(self, embedder: PassageEmbedder, query: str) -> list[float]:
        try:
            return (await embedder.embed_queries([query]))[0]
        except ProviderHTTPError as exc:
            if exc.retryable:  # 429, 5xx, timeouts: Temporal retries, after the provider's retry-after if it gave one
                delay = timedelta(seconds=exc.retry_after) if exc.retry_after else None
                raise ApplicationError(str(exc), type="EmbeddingUnavailable", next_retry_delay=delay) from exc
            raise _invalid(str(exc)) from exc

    @activity.defn
    async def search_knowledge(self, input: SearchKnowledgeInput) -> SearchKnowledgeResult:
        tenant_id = _uuid(input.tenant_id, "tenant_id")
        conversation_id = _uuid(input.conversation_id, "conversation_id")
        # PostgreSQL cannot take a NUL in text: a retry would fail the same way forever.
        query = " ".join((input.query or "").replace("\x00", " ").split())[:MAX_QUERY_CHARS]
        if tenant_id is None or not query:
            raise _invalid("a knowledge search needs a tenant_id and a non-empty query")
        if input.top_k is not None and not 1 <= input.top_k <= MAX_TOP_K:
            raise _invalid(f"top_k must be between 1 and {MAX_TOP_K}")
        setup = await self._setup(tenant_id)
        embedder = self._embedder(setup.embedder)
        vector = await self._embed_query(embedder, query)
        s = setup.settings
        options = SearchOptions(
            top_k=input.top_k or s.top_k, vector_weight=s.vector_weight, keyword_weight=s.keyword_weight, min_score=s.min_score,
            similarity_floor=embedder.similarity_floor,
        )
        async with self._deps.sessions.begin() as session:
            # Nothing indexed yet: nothing to search, but the question still counts as unanswered.
            found = []
            if setup.embedder:
                found = await search_chunks(session, tenant_id=tenant_id, query_text=query, query_embedding=vector, options=options)
            await record_retrieval(
                session, tenant_id=tenant_id, query=query, query_embedding=vector, scores=[p.score for p in found],
                conversation_id=conversation_id, event_id=retrieval_event_id(tenant_id, input.search_id),
            )  # fmt: skip
        top = max((p.score for p in found), default=None)
        log.info("knowledge searched", tenant_id=str(tenant_id), passages=len(found), top_score=top)
        return SearchKnowledgeResult(passages=[_passage(p) for p in found], answered=bool(found), top_score=top)
