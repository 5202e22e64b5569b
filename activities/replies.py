"""Generating the assistant's reply through the LLM gateway (tiers, failover, budgets, usage)."""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import BuildContextInput, ContextActivities, TurnFeatures
from activities.deps import ActivityDeps
from activities.heartbeats import heartbeating
from activities.knowledge import KnowledgePassage, knowledge_prompt
from activities.nlu import IntentChoice
from activities.token_preview import TokenPreview
from agent.confirmation import answer_buttons
from agent.memory import merge_facts
from agent.notices import notice
from agent.product_names import ProductCheck
from agent.prompt import render_system_prompt
from agent.summary import parse_summary, summary_request
from agent.tools.builtin import default_registry
from agent.tools.registry import ToolRegistry
from channels.base import Button
from core import events
from core.logging import get_logger
from core.ttl_cache import TtlCache
from llm.base import ChatMessage, CompletionRequest, ProviderConfig, ToolCall
from llm.breaker import CircuitBreakers
from llm.budget import BudgetPolicy, Budgets
from llm.embeddings import default_embedder
from llm.gateway import GatewayCall, GatewayResult, LlmGateway, UsageRecord
from llm.pricing import Price, tenant_prices
from llm.router import RoutingPolicy
from llm.semantic_cache import CachePolicy, SemanticCache
from models import accounts_store, agent_profiles_store, messages_store
from models import conversation_memory_store as memory_store
from models.llm_usage import LlmUsage
from models.tenant_db import tenant_transaction
from nlu.llm_fallback import chosen_intent, intent_request

SETUP_CACHE_SECONDS = 5.0
# An agent profile edit reaches the replies within this long (issue 8: 5-minute cached reads).
PROFILE_PROMPT_CACHE_SECONDS = 300.0
REPLY_MAX_TOKENS = 256

log = get_logger()


@dataclass
class GenerateReplyInput:
    tenant_id: str
    conversation_id: str
    history_limit: int = 20
    # Web chat shows the reply as it is written: token deltas go to Redis `conv:{id}:tokens`.
    stream: bool = False
    agent: str | None = None  # the answering agent (issue 8), for its own routing and usage rows
    # What the tenant's knowledge base says about the question (the turn's search_knowledge).
    knowledge: list[KnowledgePassage] = field(default_factory=list)
    # The tools the model may call this round (names in the worker's tool registry), and this
    # turn's calls and results so far, which follow the stored history.
    offer_tools: bool = False
    tool_names: list[str] | None = None  # the agent's allow-list; None: every tool in the registry
    scratch: list[ChatMessage] = field(default_factory=list)
    # Said to the model after the history (a declined confirmation, the round limit reached).
    notes: list[str] = field(default_factory=list)
    # The agent's context (issue 8): set, the prompt is built by activities/context.py within a
    # token budget (persona, customer, orders, summary, newest turns); unset, the last
    # `history_limit` messages as before (runs started before the agent patch).
    customer_id: str | None = None
    channel: str = ""
    features: TurnFeatures = field(default_factory=TurnFeatures)  # for the context builder
    # The agent profile's default and fallback tiers (llm/gateway.GatewayCall); None: routing by complexity.
    tier: str | None = None
    fallback_tier: str | None = None


@dataclass
class GeneratedReply:
    text: str
    provider: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    failovers: int = 0
    tier: str = ""
    cost_usd: str = "0"
    # Why this provider answered (tier, skipped circuits, failovers, budget): kept in the
    # turn's history so an operator sees it in the Temporal UI.
    decisions: list[str] = field(default_factory=list)
    # The model wants these tools run before it answers (the workflow runs them, then asks again).
    tool_calls: list[ToolCall] = field(default_factory=list)
    language: str | None = None  # the customer's, as the context builder read it ("hinglish", "hi", ...)
    # The rolling summary should take in the messages up to this seq (summarize_conversation).
    summary_through_seq: int | None = None
    buttons: list[Button] = field(default_factory=list)  # proactive suggestions, or yes/no
    suggested: list[str] = field(default_factory=list)  # the suggestions' keys, offered once each
    # Set: `text` asks the customer whether they mean this product; no model was called.
    product_check: ProductCheck | None = None


SUGGESTION_PAYLOAD_PREFIX = "suggest:"


@dataclass
class IntentByLlmInput:
    tenant_id: str
    text: str
    choices: list[IntentChoice]
    conversation_id: str | None = None


@dataclass
class SummarizeInput:
    tenant_id: str
    conversation_id: str
    through_seq: int


def system_prompt(tenant_name: str) -> str:
    return (
        f"You are the customer-service assistant of {tenant_name}. Answer briefly and politely "
        "in the customer's language. If you do not know something, say so and offer to bring in "
        "a person from the team; never invent orders, prices or policies."
    )


def knowledge_fingerprint(passages: list[KnowledgePassage]) -> str:
    """Which passages (and which text of them) an answer was written from; "" for none."""
    if not passages:
        return ""
    digest = hashlib.sha256()
    for p in passages:
        digest.update(f"{p.chunk_id}\x00{p.text}\x00".encode())
    return digest.hexdigest()[:32]


@dataclass
class TenantChatSetup:
    name: str
    providers: list[ProviderConfig]
    routing: RoutingPolicy
    budget: BudgetPolicy
    prices: dict[str, Price]
    cache: CachePolicy = field(default_factory=CachePolicy)
    agent_routing: dict[str, RoutingPolicy] = field(default_factory=dict)  # an agent's own tiers win


class ReplyActivities:
    def __init__(self, deps: ActivityDeps, tools: ToolRegistry | None = None, *, local_model_tools: bool = False) -> None:
        self._deps = deps
        self._local_model_tools = local_model_tools
        self._tools = tools or default_registry()
        embedder = default_embedder()
        self._context = ContextActivities(deps, embedder)
        # Read on every turn, changed rarely: a provider or policy change applies within these seconds.
        self._setups: TtlCache[uuid.UUID, TenantChatSetup] = TtlCache(SETUP_CACHE_SECONDS)
        self._system_prompts: TtlCache[uuid.UUID, str] = TtlCache(PROFILE_PROMPT_CACHE_SECONDS)
        cache = SemanticCache(deps.redis, embedder)
        self._gateway = LlmGateway(deps.providers, CircuitBreakers(deps.redis), Budgets(deps.redis), self._record_usage, cache)

    async def _setup(self, session: AsyncSession, tenant_id: uuid.UUID) -> TenantChatSetup:
        async def load() -> TenantChatSetup:
            name, settings = await accounts_store.tenant_profile(session, tenant_id) or ("our company", {})
            llm: dict[str, Any] = settings.get("llm") or {}
            return TenantChatSetup(
                name=name,
                providers=await accounts_store.tenant_providers(session, self._deps.secrets, tenant_id),
                routing=RoutingPolicy.from_settings(llm.get("routing")),
                agent_routing={name: RoutingPolicy.from_settings(r) for name, r in (llm.get("agents") or {}).items()},
                budget=BudgetPolicy.from_settings(llm, settings.get("timezone") or "UTC"),
                prices=tenant_prices(llm.get("pricing")),
                cache=CachePolicy.from_settings(llm.get("cache")),
            )

        return await self._setups.get_or_load(tenant_id, load)

    async def _system_prompt(self, session: AsyncSession, tenant_id: uuid.UUID, tenant_name: str) -> str:
        """The tenant's default agent profile rendered, or the built-in prompt when it has none."""

        async def load() -> str:
            profile = await agent_profiles_store.default_prompt(session, tenant_id)
            return render_system_prompt(profile, tenant_name) if profile is not None else system_prompt(tenant_name)

        return await self._system_prompts.get_or_load(tenant_id, load)

    async def _record_usage(self, row: UsageRecord) -> None:
        async with self._deps.statements() as session:
            session.add(
                LlmUsage(
                    tenant_id=uuid.UUID(row.tenant_id),
                    conversation_id=uuid.UUID(row.conversation_id) if row.conversation_id else None,
                    agent=row.agent,
                    provider=row.provider,
                    model=row.model,
                    tier=row.tier,
                    input_tokens=row.input_tokens,
                    output_tokens=row.output_tokens,
                    cached_tokens=row.cached_tokens,
                    cost_usd=row.cost_usd,
                    latency_ms=row.latency_ms,
                    cache_hit=row.cache_hit,
                    failover_count=row.failover_count,
                )
            )
            await session.commit()

    @activity.defn
    async def generate_reply(self, input: GenerateReplyInput) -> GeneratedReply:
        tenant_id = uuid.UUID(input.tenant_id)
        async with self._deps.statements() as session:
            setup = await self._setup(session, tenant_id)
            if not setup.providers:
                raise ApplicationError("no chat provider is configured", type="NoProviderConfigured", non_retryable=True)
            instructions = await self._system_prompt(session, tenant_id, setup.name)
            if input.customer_id is None:
                history = await messages_store.recent_history(session, tenant_id, uuid.UUID(input.conversation_id), input.history_limit)
        context = None
        if input.customer_id is not None:
            context = await self._context.build_context(
                BuildContextInput(
                    tenant_id=input.tenant_id,
                    conversation_id=input.conversation_id,
                    customer_id=input.customer_id,
                    channel=input.channel,
                    system_prompt=instructions,
                    knowledge=input.knowledge,
                    features=input.features,
                )
            )
            if context.product_check is not None and not input.scratch:
                return _product_question(context.product_check, context.language)
            messages = list(context.messages)
        else:
            messages = [ChatMessage("system", instructions)]
            if input.knowledge:
                messages.append(ChatMessage("system", knowledge_prompt(input.knowledge)))
            messages += [ChatMessage("user" if d == "inbound" else "assistant", t) for d, t in history if t]
        messages += input.scratch
        messages += [ChatMessage("system", note) for note in input.notes]
        # The offline model answers without tools unless told otherwise (Settings.local_model_tools):
        # on a 2-core CPU tool mode measured 60-100 s a turn against ~10 s without.
        offer = input.offer_tools and (self._local_model_tools or any(p.kind != "local" for p in setup.providers))
        tools = [t.definition() for t in self._tools.allowed(input.tool_names)] if offer else []
        preview = TokenPreview(self._deps.redis, input.conversation_id) if input.stream else None
        call = GatewayCall(
            tenant_id=input.tenant_id,
            # Customer-service answers are short; the cap also bounds a CPU-bound local model's turn.
            request=CompletionRequest(messages=messages, tools=tools, max_tokens=REPLY_MAX_TOKENS),
            providers=setup.providers,
            routing=setup.agent_routing.get(input.agent or "", setup.routing),
            budget=setup.budget,
            prices=setup.prices,
            conversation_id=input.conversation_id,
            agent=input.agent,
            cache_policy=setup.cache,
            cache_context=knowledge_fingerprint(input.knowledge),
            uses_customer_data=context is not None and context.personal,
            preferred_tier=input.tier,
            fallback_tier=input.fallback_tier,
            on_text=preview,
        )
        async with heartbeating():
            result = await self._gateway.call(call)
        if preview is not None:
            await preview.flush()  # the reply's last words, before the reply itself reaches the widget
        for alert in result.alerts:  # logged, and on the tenant's dashboard event stream
            log.warning("LLM budget alert", tenant_id=input.tenant_id, alert=alert)
            events.publish(self._deps.redis, input.tenant_id, "llm.budget_alert", alert=alert)
        reply = _reply_or_raise(result)
        if context is not None:
            reply.language = context.language
            reply.summary_through_seq = context.summary_through_seq if context.summary_due else None
            if context.suggestions and not reply.tool_calls:
                reply.suggested = [s.key for s in context.suggestions]
                if context.suggestions_as_buttons:
                    reply.buttons = [Button(id=SUGGESTION_PAYLOAD_PREFIX + s.key, title=s.title) for s in context.suggestions]
        return reply

    @activity.defn
    async def classify_intent_with_llm(self, input: IntentByLlmInput) -> str | None:
        """The intent the tenant's LLM reads in a message the intent model was unsure of; None
        when none fits or no provider is set up."""
        async with self._deps.statements() as session:
            setup = await self._setup(session, uuid.UUID(input.tenant_id))
        if not setup.providers or not input.choices:
            return None
        request = intent_request(input.text, [(c.name, c.description) for c in input.choices])
        call = GatewayCall(
            tenant_id=input.tenant_id, request=request, providers=setup.providers, routing=setup.routing, budget=setup.budget,
            prices=setup.prices, conversation_id=input.conversation_id, agent="intent", preferred_tier="fast",
        )  # fmt: skip
        async with heartbeating():
            result = await self._gateway.call(call)
        if result.completion is None:
            _reply_or_raise(result)
            return None
        return chosen_intent(result.completion, [c.name for c in input.choices])

    @activity.defn
    async def summarize_conversation(self, input: SummarizeInput) -> bool:
        """Folds the messages up to `through_seq` into the conversation's rolling summary and key
        facts (run in the background after a turn). Idempotent: a summary never moves back."""
        tenant_id, conversation_id = uuid.UUID(input.tenant_id), uuid.UUID(input.conversation_id)
        async with self._deps.statements() as session:
            setup = await self._setup(session, tenant_id)
        async with tenant_transaction(self._deps.sessions, tenant_id) as session:
            memory = await memory_store.load_memory(session, tenant_id, conversation_id)
            after = memory.summarised_through_seq if memory else 0
            if after >= input.through_seq:
                return False  # a retry, or a newer summary already written
            turns = await memory_store.turns_to_summarise(session, tenant_id, conversation_id, after_seq=after, through_seq=input.through_seq)
        if not turns or not setup.providers:
            return False
        facts = memory.key_facts if memory else {}
        call = GatewayCall(
            tenant_id=input.tenant_id,
            request=summary_request(memory.summary if memory else None, facts, turns),
            providers=setup.providers,
            routing=setup.routing,
            budget=setup.budget,
            prices=setup.prices,
            conversation_id=input.conversation_id,
            agent="summary",
        )
        async with heartbeating():
            result = await self._gateway.call(call)
        if result.completion is None:
            _reply_or_raise(result)  # raises the right (retryable or not) error
        summary, new_facts, topic = parse_summary(result.completion.text)
        async with tenant_transaction(self._deps.sessions, tenant_id) as session:
            return await memory_store.save_summary(
                session,
                tenant_id,
                conversation_id,
                summary=summary,
                key_facts=merge_facts(facts, new_facts),
                last_topic=topic or (memory.last_topic if memory else None),
                through_seq=input.through_seq,
            )


def _product_question(check: ProductCheck, language: str) -> GeneratedReply:
    """"Did you mean ...?" with yes/no buttons, in the customer's language: asked before any
    model reads a product name it might take for another."""
    text = notice("product_check", language).format(written=check.written, product=check.product)
    return GeneratedReply(
        text=text,
        provider="frontdesk",
        model="product-names",
        decisions=[f"asked whether {check.written!r} means {check.product!r}"],
        language=language,
        buttons=answer_buttons(),
        product_check=check,
    )


def _reply_or_raise(result: GatewayResult) -> GeneratedReply:
    if result.completion is not None:
        completion = result.completion
        return GeneratedReply(
            text=completion.text,
            provider=result.provider or "",
            model=completion.model,
            input_tokens=completion.usage.input_tokens,
            output_tokens=completion.usage.output_tokens,
            failovers=result.failovers,
            tier=result.tier,
            cost_usd=str(result.cost_usd),
            decisions=result.decisions,
            tool_calls=completion.tool_calls,
        )
    if result.refused is not None:
        # Honest reply and a person, not a silent overspend (the workflow's fallback path).
        raise ApplicationError(f"LLM budget: {result.refused.describe()}", type="BudgetExceeded", non_retryable=True)
    summary = "; ".join(str(f) for f in result.failures) or "; ".join(result.decisions)
    if not result.failures or any(f.retryable for f in result.failures):
        # Every circuit open counts as unavailable too: retry once they may have closed.
        delays = [f.retry_after for f in result.failures if f.retry_after]
        raise ApplicationError(
            f"every provider failed: {summary}",
            type="ProvidersUnavailable",
            next_retry_delay=timedelta(seconds=min(delays)) if delays else None,
        )
    raise ApplicationError(f"every provider refused: {summary}", type="ProvidersRejected", non_retryable=True)
