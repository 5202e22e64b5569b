"""One LLM call as a tenant's policy wants it: tier, budget, failover chain, breakers, cost.

    score -> tier -> semantic cache (a hit answers: no budget, no provider, a usage row) ->
    reserve budget (downgrade or refuse) -> for each provider in the tier's chain: skip it if
    its breaker is open, call it, on a retryable failure record it and move on at once ->
    settle the budget to the real usage -> usage row -> store a cacheable answer.

Nothing here sleeps: a 429 opens that provider's breaker for its Retry-After (so every worker
skips it) and the next provider answers now; when the whole chain fails, the caller (a Temporal
activity) retries after the shortest Retry-After seen. Every decision is returned as a line of
text, logged and carried back to the workflow, so the turn's history says why a provider was
skipped or a tier changed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal

from core.logging import get_logger
from llm.base import Completion, CompletionRequest, ProviderConfig, ProviderHTTPError, TextSink
from llm.breaker import CircuitBreakers, breaker_id
from llm.budget import BudgetAction, BudgetPolicy, Budgets, Refusal, Reservation, estimate
from llm.pricing import Price, cost_usd, price_for, tenant_prices
from llm.registry import ProviderRegistry
from llm.router import RoutingPolicy, choose_tier, complexity, failover_chain
from llm.semantic_cache import CachedAnswer, CachePolicy, SemanticCache, cache_question, cacheable, question_kind

log = get_logger()


@dataclass
class GatewayCall:
    tenant_id: str
    request: CompletionRequest
    providers: list[ProviderConfig]  # the tenant's enabled providers, in priority order
    routing: RoutingPolicy = field(default_factory=RoutingPolicy)
    budget: BudgetPolicy = field(default_factory=BudgetPolicy)
    prices: dict[str, Price] = field(default_factory=lambda: tenant_prices(None))  # list prices
    conversation_id: str | None = None
    agent: str | None = None
    on_text: TextSink | None = None
    cache_policy: CachePolicy | None = None  # None: no semantic cache for this call
    uses_customer_data: bool = False  # the prompt holds this customer's data: never cache the answer
    # A fingerprint of what else the answer is written from (knowledge passages): a cached
    # answer is reused only under the same one.
    cache_context: str = ""
    # The answering agent profile's tiers: `preferred_tier` replaces the complexity choice (a
    # budget downgrade still applies); `fallback_tier` is tried when every provider of the
    # chosen tier failed.
    preferred_tier: str | None = None
    fallback_tier: str | None = None


@dataclass
class UsageRecord:
    tenant_id: str
    conversation_id: str | None
    agent: str | None
    provider: str
    model: str
    tier: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_usd: Decimal
    latency_ms: int
    cache_hit: bool
    failover_count: int


@dataclass
class GatewayResult:
    completion: Completion | None
    tier: str
    provider: str | None = None
    failovers: int = 0
    cost_usd: Decimal = Decimal(0)
    latency_ms: int = 0
    decisions: list[str] = field(default_factory=list)
    failures: list[ProviderHTTPError] = field(default_factory=list)
    refused: Refusal | None = None  # a blocking budget limit: no call was made
    alerts: list[str] = field(default_factory=list)


UsageSink = Callable[[UsageRecord], Awaitable[None]]


@dataclass
class _Attempts:
    """What one call's attempts have found so far."""

    tier: str
    decisions: list[str]
    failures: list[ProviderHTTPError] = field(default_factory=list)


@dataclass
class _CacheUse:
    cache: SemanticCache
    policy: CachePolicy
    question: str


def _key_breaker(config: ProviderConfig) -> str:
    """A 429 is about one account's quota, not the endpoint's health: its cooling-off is kept
    per endpoint, model and key, so one tenant's exhausted key does not skip it for others."""
    key_hash = hashlib.sha256((config.api_key or "").encode()).hexdigest()[:12]
    return f"{breaker_id(config.kind, config.base_url, config.model)}:{key_hash}"


class LlmGateway:
    def __init__(
        self, registry: ProviderRegistry, breakers: CircuitBreakers, budgets: Budgets, record_usage: UsageSink, cache: SemanticCache | None = None
    ) -> None:
        self._registry = registry
        self._breakers = breakers
        self._budgets = budgets
        self._record_usage = record_usage
        self._cache = cache

    async def call(self, call: GatewayCall) -> GatewayResult:
        score = complexity(call.request)
        tier, chain = failover_chain(call.routing, call.preferred_tier or choose_tier(call.routing, score), call.providers)
        decisions = [f"tier {tier} ({'the agent profile' if call.preferred_tier else f'complexity {score}'})"]
        cache = self._cache_use(call)
        if cache is not None:
            started = time.perf_counter()
            if hit := await cache.cache.lookup(call.tenant_id, cache.question, cache.policy, call.cache_context):
                return await self._cached(call, tier, hit, decisions, started)
        reservation, refusal = await self._reserve(call, chain)
        if refusal is not None and refusal.action == BudgetAction.DOWNGRADE:
            tier, chain = failover_chain(call.routing, choose_tier(call.routing, score, downgraded=True), call.providers)
            decisions.append(f"downgraded to tier {tier}: {refusal.describe()}")
            reservation, refusal = await self._reserve(call, chain, downgraded=True)
        if refusal is not None:
            decisions.append(f"refused: {refusal.describe()}")
            self._log(call, decisions)
            return GatewayResult(completion=None, tier=tier, decisions=decisions, refused=refusal)

        result = await self._first_answer(call, tier, chain, decisions)
        if result.completion is None and call.fallback_tier:
            result = await self._fallback(call, tier, chain, result, decisions)
        if reservation is not None:
            if result.completion is None:
                await self._budgets.release(reservation)
            else:
                usage = result.completion.usage
                result.alerts = await self._budgets.settle(
                    call.tenant_id, reservation, usage.input_tokens + usage.output_tokens, result.cost_usd, call.budget.alert_thresholds
                )
                decisions += [f"budget alert: {alert}" for alert in result.alerts]
        if cache is not None and result.completion is not None and not call.uses_customer_data and cacheable(call.request, result.completion):
            kind = question_kind(cache.question)
            await cache.cache.store(call.tenant_id, cache.question, result.completion.text, kind, cache.policy, call.cache_context)
        self._log(call, decisions)
        return result

    def _cache_use(self, call: GatewayCall) -> _CacheUse | None:
        """Whether the semantic cache applies to this call, and for which question."""
        if self._cache is None or call.cache_policy is None or not call.cache_policy.enabled:
            return None
        question = cache_question(call.request)
        return _CacheUse(self._cache, call.cache_policy, question) if question is not None else None

    async def _cached(self, call: GatewayCall, tier: str, hit: CachedAnswer, decisions: list[str], started: float) -> GatewayResult:
        """An answer from the semantic cache: no budget reserved, no provider called, a usage row
        that says so (cost 0)."""
        decisions.append(f"semantic cache hit (similarity {hit.similarity:.2f})")
        if call.on_text is not None:
            await call.on_text(hit.text)  # web chat shows the reply as it would a streamed one
        latency_ms = int((time.perf_counter() - started) * 1000)
        completion = Completion(text=hit.text, model="cache", finish_reason="stop")
        await self._record_usage(
            UsageRecord(
                tenant_id=call.tenant_id,
                conversation_id=call.conversation_id,
                agent=call.agent,
                provider="cache",
                model="cache",
                tier=tier,
                input_tokens=0,
                output_tokens=0,
                cached_tokens=0,
                cost_usd=Decimal(0),
                latency_ms=latency_ms,
                cache_hit=True,
                failover_count=0,
            )
        )
        self._log(call, decisions)
        return GatewayResult(completion, tier, "cache", latency_ms=latency_ms, decisions=decisions)

    async def _reserve(self, call: GatewayCall, chain: list[ProviderConfig], downgraded: bool = False) -> tuple[Reservation | None, Refusal | None]:
        if not call.budget.limits or not chain:
            return None, None
        # The dearest provider the chain may fall over to bounds what the call can cost.
        worst = max(chain, key=lambda p: estimate(call.request, price_for(p.model, p.kind, call.prices)).micro_usd)
        cost = estimate(call.request, price_for(worst.model, worst.kind, call.prices))
        outcome = await self._budgets.reserve(call.tenant_id, call.budget, cost, downgraded=downgraded)
        if isinstance(outcome, Refusal):
            return None, outcome
        return outcome, None

    async def _fallback(
        self, call: GatewayCall, tier: str, tried: list[ProviderConfig], failed: GatewayResult, decisions: list[str]
    ) -> GatewayResult:
        """The fallback tier's providers not tried yet, after every one of `tier` failed."""
        fallback, chain = failover_chain(call.routing, call.fallback_tier or tier, call.providers)
        rest = [p for p in chain if p not in tried]
        if fallback == tier or not rest:
            return failed
        decisions.append(f"every provider of tier {tier} failed: falling back to tier {fallback}")
        second = await self._first_answer(call, fallback, rest, decisions)
        second.failovers += failed.failovers
        second.failures = failed.failures + second.failures
        return second

    async def _first_answer(self, call: GatewayCall, tier: str, chain: list[ProviderConfig], decisions: list[str]) -> GatewayResult:
        attempt = _Attempts(tier, decisions)
        skipped: list[ProviderConfig] = []
        for config in chain:
            health, quota = breaker_id(config.kind, config.base_url, config.model), _key_breaker(config)
            admission = await self._breakers.allow(health, quota)
            if not admission.allowed:
                skipped.append(config)
                why = "cooling off after a 429" if admission.refused_by == quota else f"circuit {admission.state.value}"
                decisions.append(f"{config.name}: skipped, {why}")
                continue
            if answered := await self._attempt(call, attempt, config, admission.probing, len(skipped)):
                return answered
        if skipped and not attempt.failures:
            # Every circuit is open and nothing was tried: a customer is waiting, so one real
            # attempt beats answering with the fallback at once (it probes for everyone).
            decisions.append(f"every circuit open: trying {skipped[0].name} anyway")
            if answered := await self._attempt(call, attempt, skipped[0], [], len(skipped) - 1):
                return answered
        return GatewayResult(None, tier, failovers=len(attempt.failures) + len(skipped), decisions=decisions, failures=attempt.failures)

    async def _attempt(
        self, call: GatewayCall, attempt: _Attempts, config: ProviderConfig, probing: list[str], skipped: int
    ) -> GatewayResult | None:
        health, quota = breaker_id(config.kind, config.base_url, config.model), _key_breaker(config)
        decisions, failures = attempt.decisions, attempt.failures
        started = time.perf_counter()
        try:
            completion = await self._registry.build(config).complete(call.request, call.on_text)
        except (UnicodeError, ValueError) as exc:
            # The request could not even be built for this provider (e.g. a key with characters
            # no HTTP header can carry): a configuration error, not the provider's health.
            failures.append(ProviderHTTPError(config.name, 400, f"request could not be built: {exc!r}"[:300]))
            decisions.append(f"{config.name}: misconfigured ({type(exc).__name__}), failing over")
            return None
        except ProviderHTTPError as exc:
            failures.append(exc)
            decisions.append(f"{config.name}: {exc.status or 'no response'}, failing over")
            recorded = await self._note_failure(config, exc, health, quota)
            for probed in set(probing) - {recorded}:  # a failed probe reopens its circuit
                await self._breakers.record(probed, ok=False)
            return None
        if not completion.text and not completion.tool_calls:
            failures.append(ProviderHTTPError(config.name, 502, "empty completion"))
            decisions.append(f"{config.name}: empty completion, failing over")
            return None
        for probed in probing:  # the probe succeeded: closed again for everyone
            await self._breakers.record(probed, ok=True)
            decisions.append(f"{config.name}: probe succeeded, circuit closed")
        latency_ms = int((time.perf_counter() - started) * 1000)
        cost = cost_usd(completion.usage, price_for(completion.model or config.model, config.kind, call.prices))
        failovers = len(failures) + skipped
        decisions.append(f"{config.name} answered ({completion.model}, {latency_ms} ms, ${cost})")
        await self._record_usage(
            UsageRecord(
                tenant_id=call.tenant_id,
                conversation_id=call.conversation_id,
                agent=call.agent,
                provider=config.name,
                model=completion.model or config.model,
                tier=attempt.tier,
                input_tokens=completion.usage.input_tokens,
                output_tokens=completion.usage.output_tokens,
                cached_tokens=completion.usage.cached_tokens,
                cost_usd=cost,
                latency_ms=latency_ms,
                cache_hit=False,
                failover_count=failovers,
            )
        )
        return GatewayResult(completion, attempt.tier, config.name, failovers, cost, latency_ms, decisions, failures)

    async def _note_failure(self, config: ProviderConfig, exc: ProviderHTTPError, health: str, quota: str) -> str | None:
        """Returns the breaker it recorded the failure on, if any."""
        if exc.status == 429:
            # Cool this key off for as long as the provider asked, so no worker waits on it.
            await self._breakers.record(quota, ok=False, open_for_s=exc.retry_after or self._breakers.policy.cooldown_s)
            return quota
        if exc.retryable:
            await self._breakers.record(health, ok=False)
            return health
        return None  # other 4xx: the tenant's request or key, not the provider's health

    def _log(self, call: GatewayCall, decisions: list[str]) -> None:
        log.info("llm call routed", tenant_id=call.tenant_id, conversation_id=call.conversation_id, decisions=decisions)
