"""A tenant's LLM policy (`settings.llm`): tiers with their failover chains, budgets, prices.
Validated here; read by the LLM activity through llm/router.py, llm/budget.py, llm/pricing.py."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llm.router import TIERS

ProviderName = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")


class Routing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Per tier, provider names (see /v1/llm/providers) in failover order.
    tiers: dict[Literal["fast", "standard", "reasoning"], list[str]] = Field(
        default_factory=dict, examples=[{"fast": ["groq"], "standard": ["gpt-4o-mini", "claude-haiku"], "reasoning": ["claude-sonnet"]}]
    )
    # Complexity scores (0-1) below `fast_below` use the fast tier, from `reasoning_above` the reasoning tier.
    fast_below: float = Field(0.3, ge=0, le=1)
    reasoning_above: float = Field(0.7, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> Routing:
        if self.fast_below > self.reasoning_above:
            raise ValueError("fast_below must not exceed reasoning_above")
        for tier, names in self.tiers.items():
            if len(names) > 10 or len(set(names)) != len(names):
                raise ValueError(f"tier {tier}: at most 10 distinct provider names")
        return self


class Limit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: Literal["day", "month"]
    metric: Literal["tokens", "usd"]
    limit: Decimal = Field(gt=0, max_digits=18, decimal_places=6)
    action: Literal["block", "downgrade", "alert"] = "block"


class Budgets(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limits: list[Limit] = Field(default_factory=list, max_length=8)
    alert_thresholds: list[float] = Field(default_factory=lambda: [0.8, 1.0], max_length=5)

    @model_validator(mode="after")
    def _thresholds(self) -> Budgets:
        if any(not 0 < t <= 1 for t in self.alert_thresholds):
            raise ValueError("alert thresholds are fractions of the limit, in (0, 1]")
        return self


class ModelPrice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: Decimal = Field(ge=0, description="USD per 1M input tokens")
    output: Decimal = Field(ge=0, description="USD per 1M output tokens")
    cached_input: Decimal | None = Field(None, ge=0, description="USD per 1M cached input tokens (default: input)")


class CacheTtls(BaseModel):
    model_config = ConfigDict(extra="forbid")

    faq: int = Field(86400, ge=60, le=30 * 86400)
    smalltalk: int = Field(604800, ge=60, le=30 * 86400)
    other: int = Field(3600, ge=60, le=30 * 86400)


class CacheSettings(BaseModel):
    """The semantic answer cache (llm/semantic_cache.py): a question close enough in meaning to
    one answered before gets that answer, without an LLM call."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    # Cosine similarity a question needs to reuse an answer; 0.95 is measured on the default
    # embedder (lower lets "ship to Mumbai?" take "ship to Pune?"'s answer).
    threshold: float = Field(0.95, ge=0.5, le=1.0)
    # How long an answer is reused, per kind of question.
    ttl_seconds: CacheTtls = Field(default_factory=CacheTtls)


class LlmSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    routing: Routing = Field(default_factory=Routing)
    budgets: Budgets = Field(default_factory=Budgets)
    pricing: dict[str, ModelPrice] = Field(default_factory=dict, max_length=100, examples=[{"my-vllm-model": {"input": 0.05, "output": 0.1}}])
    cache: CacheSettings = Field(default_factory=CacheSettings)
    # Per agent (by name), tiers of its own; agents without an entry use `routing`.
    agents: dict[str, Routing] = Field(default_factory=dict, max_length=50)


assert set(TIERS) == {"fast", "standard", "reasoning"}  # the Literal above names them too
