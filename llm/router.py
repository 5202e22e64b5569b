"""Which model answers: a tier from the request's complexity, then that tier's failover chain.

A tenant's `settings.llm.routing` names, per tier, its providers in failover order:
    {"tiers": {"fast": ["groq-llama"], "standard": ["gpt-4o-mini", "haiku"], "reasoning": ["sonnet"]},
     "fast_below": 0.3, "reasoning_above": 0.7}
An agent may carry its own routing with the same shape, which wins over the tenant's. With no
tiers configured every enabled provider serves every tier, in priority order (the foundation's
behaviour). A tier with no providers borrows the nearest cheaper one, then the nearest dearer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from llm.base import CompletionRequest, ProviderConfig

TIERS = ("fast", "standard", "reasoning")  # cheapest first

# Words that mark a message needing more than a lookup or a greeting.
_REASONING_WORDS = re.compile(
    r"\b(why|explain|compare|difference|policy|refund|warranty|complain\w*|escalat\w*|legal|contract|"
    r"calculate|how (do|does|can|should)|step[s]? |if .+ then|otherwise|however|kyun|kaise|samjha\w*)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class RoutingPolicy:
    tiers: dict[str, list[str]] = field(default_factory=dict)
    fast_below: float = 0.3
    reasoning_above: float = 0.7

    @classmethod
    def from_settings(cls, routing: dict[str, Any] | None) -> RoutingPolicy:
        routing = routing or {}
        tiers = {tier: list(names) for tier, names in (routing.get("tiers") or {}).items() if tier in TIERS}
        return cls(tiers=tiers, fast_below=float(routing.get("fast_below", 0.3)), reasoning_above=float(routing.get("reasoning_above", 0.7)))


def complexity(request: CompletionRequest) -> float:
    """0 (a greeting) to 1 (a multi-part question that needs reasoning), from the last customer
    message and the shape of the request. Cheap on purpose: it runs before every call."""
    last = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
    words = len(last.split())
    score = min(words / 60, 0.4)  # length: up to 0.4 at 60 words
    score += 0.15 * min(last.count("?"), 2)  # several questions at once
    score += 0.3 if _REASONING_WORDS.search(last) else 0.0
    score += 0.1 if request.tools else 0.0  # tool use needs a model that follows schemas
    turns = sum(1 for m in request.messages if m.role == "user")
    score += 0.1 if turns > 6 else 0.0  # long conversations carry more context to weigh
    return round(min(score, 1.0), 3)


def choose_tier(policy: RoutingPolicy, score: float, *, downgraded: bool = False) -> str:
    if downgraded or score < policy.fast_below:
        return "fast"
    return "reasoning" if score >= policy.reasoning_above else "standard"


def failover_chain(policy: RoutingPolicy, tier: str, providers: list[ProviderConfig]) -> tuple[str, list[ProviderConfig]]:
    """The tier actually used and its providers in order. Names a tier lists but the tenant has
    not configured (or disabled) are left out."""
    if not policy.tiers:
        return tier, list(providers)
    by_name = {p.name: p for p in providers}
    order = _nearest_tiers(tier)
    for candidate in order:
        chain = [by_name[name] for name in policy.tiers.get(candidate, []) if name in by_name]
        if chain:
            return candidate, chain
    return tier, []


def _nearest_tiers(tier: str) -> list[str]:
    at = TIERS.index(tier)
    cheaper = list(reversed(TIERS[:at]))
    dearer = list(TIERS[at + 1 :])
    return [tier, *cheaper, *dearer]
