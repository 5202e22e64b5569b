"""What a call costs: list prices per 1M tokens, overridable per tenant.

Prices are USD per 1M tokens as the vendors list them (input, output, cached input). Cached
input is the part of the prompt the provider served from its prompt cache, billed instead of
(not on top of) the input price. A tenant's `settings.llm.pricing` entries override or add
models (negotiated rates, self-hosted models with a cost per token).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from llm.base import Usage

MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class Price:
    input: Decimal
    output: Decimal
    cached_input: Decimal

    @classmethod
    def of(cls, input: str, output: str, cached_input: str | None = None) -> Price:
        return cls(Decimal(input), Decimal(output), Decimal(cached_input if cached_input is not None else input))


# Public list prices (USD / 1M tokens).
LIST_PRICES: dict[str, Price] = {
    "gpt-4o": Price.of("2.50", "10.00", "1.25"),
    "gpt-4o-mini": Price.of("0.15", "0.60", "0.075"),
    "gpt-4.1": Price.of("2.00", "8.00", "0.50"),
    "gpt-4.1-mini": Price.of("0.40", "1.60", "0.10"),
    "gpt-4.1-nano": Price.of("0.10", "0.40", "0.025"),
    "o3-mini": Price.of("1.10", "4.40", "0.55"),
    "o4-mini": Price.of("1.10", "4.40", "0.275"),
    "claude-3-5-haiku": Price.of("0.80", "4.00", "0.08"),
    "claude-3-5-sonnet": Price.of("3.00", "15.00", "0.30"),
    "claude-3-7-sonnet": Price.of("3.00", "15.00", "0.30"),
    "claude-sonnet-4": Price.of("3.00", "15.00", "0.30"),
    "claude-haiku-4-5": Price.of("1.00", "5.00", "0.10"),
    "claude-opus-4": Price.of("15.00", "75.00", "1.50"),
    # Runs on the tenant's own hardware.
    "local": Price.of("0", "0", "0"),
}


def _lookup(table: dict[str, Price], model: str) -> Price | None:
    """Exact name first, then the longest listed prefix: `gpt-4o-2024-08-06` is `gpt-4o`,
    `claude-3-5-haiku-20241022` is `claude-3-5-haiku`."""
    if model in table:
        return table[model]
    candidates = [name for name in table if model.startswith(name)]
    return table[max(candidates, key=len)] if candidates else None


def tenant_prices(overrides: dict[str, Any] | None) -> dict[str, Price]:
    """List prices with the tenant's overrides ({model: {input, output, cached_input}}) on top."""
    table = dict(LIST_PRICES)
    for model, price in (overrides or {}).items():
        table[model] = Price.of(str(price["input"]), str(price["output"]), None if price.get("cached_input") is None else str(price["cached_input"]))
    return table


def price_for(model: str, kind: str, table: dict[str, Price]) -> Price | None:
    """None when the model has no known price (its calls are recorded with cost 0 and counted
    against token budgets only)."""
    if kind == "local":
        return table["local"]
    return _lookup(table, model)


def cost_usd(usage: Usage, price: Price | None) -> Decimal:
    if price is None:
        return Decimal(0)
    cached = min(usage.cached_tokens, usage.input_tokens)
    fresh = usage.input_tokens - cached
    total = fresh * price.input + cached * price.cached_input + usage.output_tokens * price.output
    return (total / MILLION).quantize(Decimal("0.000001"))
