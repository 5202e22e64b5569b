"""Tier choice from complexity, failover chains per tier, and what calls cost."""

from __future__ import annotations

from decimal import Decimal

from llm.base import ChatMessage, CompletionRequest, ProviderConfig, ToolDefinition, Usage
from llm.pricing import cost_usd, price_for, tenant_prices
from llm.router import RoutingPolicy, choose_tier, complexity, failover_chain


def _ask(text: str, tools: bool = False) -> CompletionRequest:
    defs = [ToolDefinition("track_order", "Track an order", {"type": "object", "properties": {}})] if tools else []
    return CompletionRequest(messages=[ChatMessage("system", "x"), ChatMessage("user", text)], tools=defs)


def _providers(*names: str) -> list[ProviderConfig]:
    return [ProviderConfig(name=n, kind="openai_compatible", base_url=f"http://{n}", model=n) for n in names]


def test_greetings_go_fast_and_multi_part_policy_questions_go_to_reasoning():
    policy = RoutingPolicy()
    assert choose_tier(policy, complexity(_ask("hi!"))) == "fast"
    assert choose_tier(policy, complexity(_ask("Where is my order 1234?", tools=True))) == "standard"
    long = "I was charged twice for the same order last week and the refund policy says seven days. " * 2
    assert choose_tier(policy, complexity(_ask(long + "Why is it not back yet? Can you explain?"))) == "reasoning"
    assert choose_tier(policy, 0.9, downgraded=True) == "fast"


def test_each_tier_has_its_chain_and_a_missing_tier_borrows_the_nearest():
    providers = _providers("groq", "mini", "haiku", "sonnet")
    policy = RoutingPolicy(tiers={"fast": ["groq"], "standard": ["mini", "haiku", "gone"], "reasoning": []})
    assert failover_chain(policy, "standard", providers) == ("standard", providers[1:3])  # "gone" is not configured
    assert failover_chain(policy, "reasoning", providers) == ("standard", providers[1:3])  # nearest cheaper tier
    only_reasoning = RoutingPolicy(tiers={"reasoning": ["sonnet"]})
    assert failover_chain(only_reasoning, "fast", providers) == ("reasoning", providers[3:])
    assert failover_chain(RoutingPolicy(), "fast", providers) == ("fast", providers)  # no tiers: every provider


def test_cost_uses_list_prices_cached_tokens_and_tenant_overrides():
    table = tenant_prices({"my-vllm": {"input": "0.05", "output": "0.10"}, "gpt-4o-mini": {"input": "0.10", "output": "0.40", "cached_input": "0.01"}})
    dated = price_for("gpt-4o-2024-08-06", "openai", table)  # dated snapshots price as their family
    assert cost_usd(Usage(input_tokens=1_000_000, output_tokens=1_000_000, cached_tokens=400_000), dated) == Decimal("12.000000")  # 0.6M x 2.50 + 0.4M x 1.25 + 1M x 10
    assert cost_usd(Usage(input_tokens=2_000_000, output_tokens=0), price_for("my-vllm", "openai_compatible", table)) == Decimal("0.100000")
    assert cost_usd(Usage(1_000_000, 0, 1_000_000), price_for("gpt-4o-mini", "openai", table)) == Decimal("0.010000")
    assert price_for("some-unknown-model", "openai_compatible", table) is None
    assert cost_usd(Usage(1000, 1000), price_for("qwen2.5-coder", "local", table)) == Decimal(0)
