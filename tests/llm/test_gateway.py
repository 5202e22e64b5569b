"""The gateway against loopback OpenAI-format servers and the real Redis: failover, breakers,
429 handling, budgets (race, downgrade, alerts) and usage records."""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import Decimal

import pytest

from llm.base import ChatMessage, CompletionRequest, ProviderConfig
from llm.breaker import BreakerPolicy, CircuitBreakers
from llm.budget import BudgetAction, BudgetLimit, BudgetPolicy, Budgets
from llm.gateway import GatewayCall, LlmGateway, UsageRecord
from llm.pricing import tenant_prices
from llm.registry import ProviderRegistry
from llm.router import RoutingPolicy
from tests.standins.openai_server import OpenAIStandIn
from tests.standins.serve import serve


class Served:
    """An OpenAI-format stand-in on its own port, as one provider."""

    def __init__(self, standin: OpenAIStandIn, server) -> None:
        self.standin, self.server = standin, server

    def provider(self, name: str, model: str = "gpt-4o-mini", key: str = "sk-test") -> ProviderConfig:
        return ProviderConfig(name=name, kind="openai_compatible", base_url=f"{self.server.url}/v1", model=model, api_key=key, timeout_seconds=5)


@pytest.fixture
async def servers():
    started: list[Served] = []

    async def start() -> Served:
        standin = OpenAIStandIn()
        served = Served(standin, await serve(standin.app()))
        started.append(served)
        return served

    yield start
    for served in started:
        await served.server.stop()


@pytest.fixture
async def gateway(deps):
    usage: list[UsageRecord] = []

    async def record(row: UsageRecord) -> None:
        usage.append(row)

    breakers = CircuitBreakers(deps.redis, BreakerPolicy(threshold=3, window_s=30, cooldown_s=0.5))
    built = LlmGateway(ProviderRegistry(deps.http), breakers, Budgets(deps.redis), record)
    built.usage = usage  # type: ignore[attr-defined]
    return built


def _request(text: str = "hello", max_tokens: int = 64) -> CompletionRequest:
    return CompletionRequest(messages=[ChatMessage("system", "be brief"), ChatMessage("user", text)], max_tokens=max_tokens)


async def test_a_failing_primary_fails_over_at_once_and_is_recorded(gateway, servers):
    primary, secondary = await servers(), await servers()
    primary.standin.fail_with = 500
    tenant = str(uuid.uuid4())
    result = await gateway.call(GatewayCall(tenant, _request("where is my order?"), [primary.provider("primary"), secondary.provider("secondary")]))
    assert result.completion is not None and result.completion.text == "[gpt-4o-mini] where is my order?"
    assert (result.provider, result.failovers) == ("secondary", 1)
    assert any(d.startswith("primary: 500") for d in result.decisions)
    [row] = [u for u in gateway.usage if u.tenant_id == tenant]
    assert (row.provider, row.failover_count, row.input_tokens, row.output_tokens) == ("secondary", 1, 12, 7)
    # (8 fresh x 0.15 + 4 cached x 0.075 + 7 x 0.60) per 1M tokens, to the micro-dollar
    assert (row.cached_tokens, row.cost_usd) == (4, Decimal("0.000006"))


async def test_breaker_opens_skips_the_dead_provider_then_half_opens_and_closes(gateway, servers):
    dead, healthy = await servers(), await servers()
    dead.standin.fail_with = 503
    chain = [dead.provider("dead"), healthy.provider("healthy")]
    tenant = str(uuid.uuid4())
    for _ in range(3):  # the policy's threshold
        await gateway.call(GatewayCall(tenant, _request(), chain))
    calls_when_open = len(dead.standin.calls)
    skipped = await gateway.call(GatewayCall(tenant, _request(), chain))
    assert len(dead.standin.calls) == calls_when_open  # not even tried
    assert "dead: skipped, circuit open" in skipped.decisions and skipped.provider == "healthy"

    dead.standin.fail_with = None  # it recovers; after the cooldown one call probes it
    await asyncio.sleep(0.6)
    probe = await gateway.call(GatewayCall(tenant, _request(), chain))
    assert probe.provider == "dead" and "dead: probe succeeded, circuit closed" in probe.decisions
    assert (await gateway.call(GatewayCall(tenant, _request(), chain))).provider == "dead"


async def test_a_failed_probe_opens_the_circuit_again(gateway, servers):
    dead, healthy = await servers(), await servers()
    dead.standin.fail_with = 502
    chain = [dead.provider("dead"), healthy.provider("healthy")]
    tenant = str(uuid.uuid4())
    for _ in range(3):
        await gateway.call(GatewayCall(tenant, _request(), chain))
    await asyncio.sleep(0.6)
    probe = await gateway.call(GatewayCall(tenant, _request(), chain))
    assert probe.provider == "healthy" and "dead: 502, failing over" in probe.decisions
    calls = len(dead.standin.calls)
    again = await gateway.call(GatewayCall(tenant, _request(), chain))
    assert len(dead.standin.calls) == calls and "dead: skipped, circuit open" in again.decisions


async def test_429_fails_over_without_waiting_and_cools_only_that_key(gateway, servers):
    limited, backup = await servers(), await servers()
    limited.standin.fail_with = 429
    tenant = str(uuid.uuid4())
    started = time.perf_counter()
    result = await gateway.call(GatewayCall(tenant, _request(), [limited.provider("limited", key="sk-a"), backup.provider("backup")]))
    assert result.provider == "backup" and time.perf_counter() - started < 1.0
    tried = len(limited.standin.calls)
    again = await gateway.call(GatewayCall(tenant, _request(), [limited.provider("limited", key="sk-a"), backup.provider("backup")]))
    assert len(limited.standin.calls) == tried and "limited: skipped, cooling off after a 429" in again.decisions

    limited.standin.fail_with = None  # another tenant's key on the same endpoint is not cooled off
    other = await gateway.call(GatewayCall(str(uuid.uuid4()), _request(), [limited.provider("limited", key="sk-b"), backup.provider("backup")]))
    assert other.provider == "limited"


async def test_a_tenants_4xx_does_not_open_the_circuit_for_everyone(gateway, servers):
    provider = await servers()
    provider.standin.fail_with = 401
    tenant = str(uuid.uuid4())
    for _ in range(5):
        result = await gateway.call(GatewayCall(tenant, _request(), [provider.provider("p", key="sk-revoked")]))
        assert result.completion is None and result.failures[0].status == 401
    provider.standin.fail_with = None
    assert (await gateway.call(GatewayCall(str(uuid.uuid4()), _request(), [provider.provider("p")]))).provider == "p"


def _token_budget(limit: int, action: str = "block") -> BudgetPolicy:
    return BudgetPolicy(limits=[BudgetLimit("day", "tokens", Decimal(limit), BudgetAction(action))])


async def test_fifty_concurrent_turns_at_the_limit_never_overspend(gateway, servers, deps):
    provider = await servers()
    provider.standin.slow_marker, provider.standin.slow_seconds = "hello", 0.05  # calls overlap
    tenant = str(uuid.uuid4())
    budget = _token_budget(1000)
    calls = [GatewayCall(tenant, _request("hello", max_tokens=40), [provider.provider("p")], budget=budget) for _ in range(50)]
    results = await asyncio.gather(*(gateway.call(c) for c in calls))
    answered = [r for r in results if r.completion is not None]
    refused = [r for r in results if r.refused is not None]
    assert answered and refused and len(answered) + len(refused) == 50
    spent = sum(r.completion.usage.input_tokens + r.completion.usage.output_tokens for r in answered)
    assert spent <= 1000
    assert len(provider.standin.calls) == len(answered)  # a refused turn never reached the provider
    counters = [k async for k in deps.redis.scan_iter(f"budget:{{{tenant}}}:day:*:tokens")]
    assert int(await deps.redis.get(counters[0])) == spent  # reservations settled to real usage


async def test_reaching_the_limit_exactly_blocks(gateway, servers, deps):
    provider = await servers()
    tenant = str(uuid.uuid4())
    budget = _token_budget(19)  # exactly one call of the stand-in's 12 + 7 tokens...
    first = await gateway.call(GatewayCall(tenant, _request("hi", max_tokens=1), [provider.provider("p")], budget=_token_budget(10_000)))
    assert first.completion is not None
    # ...already spent under the same day's counter: used == limit, so the next one is refused.
    second = await gateway.call(GatewayCall(tenant, _request("hi", max_tokens=1), [provider.provider("p")], budget=budget))
    assert second.completion is None and second.refused is not None and second.refused.action == BudgetAction.BLOCK
    assert "refused: the daily limit of 19 tokens is reached" in second.decisions


async def test_downgrade_limit_routes_to_the_fast_tier(gateway, servers):
    fast, standard = await servers(), await servers()
    providers = [standard.provider("big", model="gpt-4o"), fast.provider("small", model="gpt-4o-mini")]
    routing = RoutingPolicy(tiers={"fast": ["small"], "standard": ["big"]}, fast_below=0.0)
    tenant = str(uuid.uuid4())
    budget = BudgetPolicy(limits=[BudgetLimit("month", "usd", Decimal("0.000001"), BudgetAction.DOWNGRADE)])
    result = await gateway.call(GatewayCall(tenant, _request("why was I charged twice?"), providers, routing=routing, budget=budget, prices=tenant_prices(None)))
    assert (result.tier, result.provider) == ("fast", "small")
    assert any(d.startswith("downgraded to tier fast") for d in result.decisions)
    assert not standard.standin.calls


async def test_alerts_fire_once_per_threshold(gateway, servers):
    provider = await servers()
    tenant = str(uuid.uuid4())
    budget = BudgetPolicy(limits=[BudgetLimit("day", "tokens", Decimal(40), BudgetAction.ALERT)], alert_thresholds=(0.4, 0.8))
    first = await gateway.call(GatewayCall(tenant, _request(max_tokens=8), [provider.provider("p")], budget=budget))
    second = await gateway.call(GatewayCall(tenant, _request(max_tokens=8), [provider.provider("p")], budget=budget))
    third = await gateway.call(GatewayCall(tenant, _request(max_tokens=8), [provider.provider("p")], budget=budget))
    assert first.alerts == ["40% of the daily tokens limit (40) used"]  # 19 of 40
    assert second.alerts == ["80% of the daily tokens limit (40) used"]  # 38 of 40
    assert third.alerts == [] and third.completion is not None  # alert-only never refuses


async def test_with_every_circuit_open_the_customer_still_gets_one_real_attempt(gateway, servers):
    only = await servers()
    only.standin.fail_with = 500
    tenant = str(uuid.uuid4())
    for _ in range(3):
        await gateway.call(GatewayCall(tenant, _request(), [only.provider("only")]))
    only.standin.fail_with = None  # back before the cooldown ends
    result = await gateway.call(GatewayCall(tenant, _request("still there?"), [only.provider("only")]))
    assert "only: skipped, circuit open" in result.decisions and "every circuit open: trying only anyway" in result.decisions
    assert result.completion is not None and result.completion.text.endswith("still there?")


async def test_a_stalled_or_cut_off_primary_fails_over(gateway, servers):
    stalled, cut, backup = await servers(), await servers(), await servers()
    stalled.standin.slow_marker, stalled.standin.slow_seconds = "order", 5.0  # past the 1 s timeout below
    cut.standin.drop_marker = "order"  # the connection is dropped mid-answer
    chain = [stalled.provider("stalled"), cut.provider("cut"), backup.provider("backup")]
    chain[0].timeout_seconds = 1.0
    started = time.perf_counter()
    result = await gateway.call(GatewayCall(str(uuid.uuid4()), _request("where is my order?"), chain))
    assert result.provider == "backup" and result.failovers == 2
    assert "stalled: no response, failing over" in result.decisions and "cut: no response, failing over" in result.decisions
    assert time.perf_counter() - started < 3.0  # the stall cost its timeout, nothing more


async def test_an_agent_profiles_tier_is_used_and_its_fallback_tier_answers_when_that_tier_fails(gateway, servers):
    small, big = await servers(), await servers()
    routing = RoutingPolicy(tiers={"fast": ["small"], "reasoning": ["big"]}, fast_below=0.0, reasoning_above=0.99)
    providers = [small.provider("small", model="small-model"), big.provider("big", model="big-model")]
    tenant = str(uuid.uuid4())

    chosen = await gateway.call(GatewayCall(tenant, _request("hi"), providers, routing=routing, preferred_tier="reasoning"))
    assert (chosen.provider, chosen.tier) == ("big", "reasoning")  # complexity alone would have said "standard"

    big.standin.fail_with = 500
    rescued = await gateway.call(
        GatewayCall(tenant, _request("hi"), providers, routing=routing, preferred_tier="reasoning", fallback_tier="fast")
    )
    assert (rescued.provider, rescued.tier) == ("small", "fast")
    assert "every provider of tier reasoning failed: falling back to tier fast" in rescued.decisions
    stranded = await gateway.call(GatewayCall(tenant, _request("hi"), providers, routing=routing, preferred_tier="reasoning"))
    assert stranded.completion is None  # no fallback tier: the tier's failure is the answer
