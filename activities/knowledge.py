"""Searching the tenant's knowledge base for a conversation turn: passages with citations, and a
coverage record of every search (what was asked, whether anything relevant came back), which the
gap list (GET /v1/knowledge/gaps) is built from. A follow-up that finds nothing on its own is read
again with the customer's previous turn."""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps
from agent.context import SESSION_IDLE_MINUTES
from core.logging import get_logger
from core.ttl_cache import TtlCache
from llm.base import ProviderHTTPError
from models.knowledge_coverage import SearchSetup, search_setup
from models.messages_store import previous_customer_turn
from rag.embedding import PassageEmbedder
from rag.search import Passage, SearchOptions, search_chunks
from rag.store import record_retrieval, retrieval_event_id

# Settings are read on every turn and changed rarely: a change applies within these seconds.
SETUP_CACHE_SECONDS = 5.0
# A customer's message can be a pasted e-mail; the embedder reads at most 512 tokens anyway,
# and keyword matching on a few pages of text finds everything and nothing.
MAX_QUERY_CHARS = 2_000
MAX_TOP_K = 20
# A follow-up ("and how long does that take?") often names nothing the knowledge base can match:
# when the message alone finds nothing, it is searched again together with what the customer
# wrote in their previous turn, if that came within the same session (after a longer pause, the
# reply's context starts afresh too).
FOLLOW_UP_SECONDS = SESSION_IDLE_MINUTES * 60

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
    # The query is what the customer wrote in turn `search_id`: when it finds nothing, it is read
    # again with the customer's previous turn (FOLLOW_UP_SECONDS). False for a query written by
    # someone else (the agent's search tool: its model already puts the conversation in it).
    follow_up: bool = True


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


@dataclass(frozen=True)
class RetrievalRecord:
    """The coverage record a search leaves: the customer's question as asked."""

    tenant_id: uuid.UUID
    query: str
    vector: list[float]
    conversation_id: uuid.UUID | None
    event_id: uuid.UUID | None

    async def save(self, session: AsyncSession, found: list[Passage]) -> None:
        await record_retrieval(
            session, tenant_id=self.tenant_id, query=self.query, query_embedding=self.vector, scores=[p.score for p in found],
            conversation_id=self.conversation_id, event_id=self.event_id,
        )  # fmt: skip


def follow_up_query(earlier: str, query: str) -> str:
    """The previous turn's words, then the question; the question is kept whole and the earlier
    words cut from their start when the two exceed MAX_QUERY_CHARS."""
    room = MAX_QUERY_CHARS - len(query) - 1
    earlier = " ".join(earlier.split())
    return f"{earlier[-room:]}\n{query}" if room > 0 else query


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
        record = RetrievalRecord(tenant_id, query, vector, conversation_id, retrieval_event_id(tenant_id, input.search_id))
        earlier = None
        async with self._deps.sessions.begin() as session:
            # Nothing indexed yet: nothing to search, but the question still counts as unanswered.
            found = []
            if setup.embedder:
                found = await search_chunks(
                    session, tenant_id=tenant_id, query_text=query, query_embedding=vector, query_embedder=embedder.name, options=options
                )
            if not found and setup.embedder and input.follow_up and conversation_id is not None and input.search_id:
                earlier = await previous_customer_turn(
                    session, tenant_id, conversation_id, input.search_id, within_seconds=FOLLOW_UP_SECONDS
                )
            if earlier is None:
                await record.save(session, found)
        if earlier is not None:
            # Outside the first transaction: embedding takes a while, and holds no connection.
            found = await self._search_follow_up(record, embedder, options, earlier)
        top = max((p.score for p in found), default=None)
        log.info("knowledge searched", tenant_id=str(tenant_id), passages=len(found), top_score=top, follow_up=earlier is not None)
        return SearchKnowledgeResult(passages=[_passage(p) for p in found], answered=bool(found), top_score=top)

    async def _search_follow_up(
        self, record: RetrievalRecord, embedder: PassageEmbedder, options: SearchOptions, earlier: str
    ) -> list[Passage]:
        """The question read together with the customer's previous turn; recorded as the
        customer's own words, with whether this found anything."""
        combined = follow_up_query(earlier, record.query)
        vector = await self._embed_query(embedder, combined)
        async with self._deps.sessions.begin() as session:
            found = await search_chunks(
                session, tenant_id=record.tenant_id, query_text=combined, query_embedding=vector, query_embedder=embedder.name,
                options=options,
            )  # fmt: skip
            await record.save(session, found)
        return found
