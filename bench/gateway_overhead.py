"""What our LLM call adds on top of the HTTP round trip, next to the raw `openai` SDK and LiteLLM.

One loopback OpenAI-format server in its own process; four clients take turns calling it, one
request at a time, so each sees the same server and machine state:
- `httpx`: a bare POST and JSON parse, the baseline every "added" figure is measured from;
- `openai_sdk`: `AsyncOpenAI().chat.completions.create` (typed request and response);
- `litellm`: `litellm.acompletion` against the same server (needs `pip install litellm`);
- `frontdesk`: our gateway as a turn calls it: complexity score, tier, circuit breaker check in
  Redis, provider call, cost; the usage row goes to a no-op sink (it is written after the answer).
Prints one JSON line per client:
{"bench":"gateway_overhead","client":..,"calls":..,"p50_ms":..,"p99_ms":..,"added_p50_ms":..,"added_p99_ms":..}

  .venv/bin/python -m bench.gateway_overhead --calls 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable

import httpx
from openai import AsyncOpenAI
from redis.asyncio import Redis

from bench.common import percentile
from bench.loopback_openai import bench_redis, loopback_servers
from llm.base import ChatMessage, CompletionRequest, ProviderConfig
from llm.breaker import CircuitBreakers
from llm.budget import Budgets
from llm.gateway import GatewayCall, LlmGateway, UsageRecord
from llm.registry import ProviderRegistry

MODEL = "gpt-4o-mini"
MESSAGES = [
    {"role": "system", "content": "You are the customer-service assistant of Demo Store."},
    {"role": "user", "content": "Hi! Where is my order 1234? It was due yesterday."},
]

Call = Callable[[], Awaitable[str]]


async def _clients(base_url: str, http: httpx.AsyncClient, redis: Redis) -> dict[str, Call]:
    async def bare() -> str:
        response = await http.post(f"{base_url}/chat/completions", json={"model": MODEL, "messages": MESSAGES, "max_tokens": 64})
        return response.json()["choices"][0]["message"]["content"]

    sdk = AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0, http_client=httpx.AsyncClient())

    async def openai_sdk() -> str:
        completion = await sdk.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=64)  # type: ignore[arg-type]
        return completion.choices[0].message.content or ""

    async def no_usage_row(_: UsageRecord) -> None:
        return None

    gateway = LlmGateway(ProviderRegistry(http), CircuitBreakers(redis), Budgets(redis), no_usage_row)
    provider = ProviderConfig(name="bench", kind="openai_compatible", base_url=base_url, model=MODEL, api_key="sk-bench")
    request = CompletionRequest(messages=[ChatMessage(m["role"], m["content"]) for m in MESSAGES], max_tokens=64)  # type: ignore[arg-type]
    tenant = str(uuid.uuid4())

    async def frontdesk() -> str:
        result = await gateway.call(GatewayCall(tenant, request, [provider]))
        assert result.completion is not None, result.decisions
        return result.completion.text

    clients: dict[str, Call] = {"httpx": bare, "openai_sdk": openai_sdk, "frontdesk": frontdesk}
    try:
        import litellm

        litellm.telemetry = False
        litellm.suppress_debug_info = True

        async def via_litellm() -> str:
            response = await litellm.acompletion(
                model=f"openai/{MODEL}", api_base=base_url, api_key="sk-bench", messages=MESSAGES, max_tokens=64, num_retries=0
            )
            return response.choices[0].message.content or ""

        clients["litellm"] = via_litellm
    except ImportError:
        print(json.dumps({"bench": "gateway_overhead", "client": "litellm", "skipped": "pip install litellm"}), flush=True)
    return clients


async def run(base_url: str, redis_url: str, calls: int, warmup: int) -> list[dict]:
    redis = Redis.from_url(redis_url)
    async with httpx.AsyncClient() as http:
        clients = await _clients(base_url, http, redis)
        for call in clients.values():  # connections, imports and caches warm before timing
            for _ in range(warmup):
                await call()
        latencies: dict[str, list[float]] = {name: [] for name in clients}
        for _ in range(calls):  # interleaved: drift on the machine hits every client alike
            for name, call in clients.items():
                started = time.perf_counter()
                await call()
                latencies[name].append(time.perf_counter() - started)
    await redis.aclose()
    for values in latencies.values():
        values.sort()
    base50, base99 = percentile(latencies["httpx"], 50), percentile(latencies["httpx"], 99)
    return [
        {
            "bench": "gateway_overhead",
            "client": name,
            "calls": calls,
            "p50_ms": round(percentile(values, 50) * 1000, 3),
            "p99_ms": round(percentile(values, 99) * 1000, 3),
            "added_p50_ms": round((percentile(values, 50) - base50) * 1000, 3),
            "added_p99_ms": round((percentile(values, 99) - base99) * 1000, 3),
        }
        for name, values in latencies.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per client")
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()
    with bench_redis() as redis_url, loopback_servers([]) as (url,):
        for result in asyncio.run(run(url, redis_url, args.calls, args.warmup)):
            print(json.dumps(result), flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
