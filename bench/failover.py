"""How long a turn waits when its primary provider is dead: from the call to the secondary's answer.

Scenarios, each timed --calls times against loopback OpenAI-format servers (a fresh circuit
breaker per call, except `breaker_open`):
- `refused`: nothing listens on the primary's port (connection refused);
- `blackhole`: the primary accepts no connections (a full listen backlog: the SYN goes
  unanswered), so only the connect timeout ends the attempt;
- `http_500`: the primary answers 500 at once;
- `http_429`: the primary answers 429 with `Retry-After: 30` (the gateway fails over instead of waiting);
- `breaker_open`: the primary has failed enough for its circuit to open: it is skipped.
Prints one JSON line per scenario:
{"bench":"failover","scenario":..,"connect_timeout_s":..,"p50_ms":..,"p99_ms":..,"beyond_connect_timeout_p50_ms":..}

  .venv/bin/python -m bench.failover --calls 20 --connect-timeout 1.0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import time
import uuid

import httpx
from redis.asyncio import Redis

from bench.common import percentile
from bench.loopback_openai import bench_redis, loopback_servers
from core.embedded.ports import free_port
from llm.base import ChatMessage, CompletionRequest, ProviderConfig
from llm.breaker import CircuitBreakers
from llm.budget import Budgets
from llm.gateway import GatewayCall, LlmGateway, UsageRecord
from llm.registry import ProviderRegistry

REQUEST = CompletionRequest(messages=[ChatMessage("user", "Where is my order 1234?")], max_tokens=32)


def _blackhole() -> tuple[socket.socket, list[socket.socket], int]:
    """A listener whose backlog is full: further connection attempts hang until they time out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):  # a backlog of 0 still holds a connection or two; fill it
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    return listener, fillers, port


async def _scenario(name: str, gateway: LlmGateway, primary: ProviderConfig, secondary: ProviderConfig, calls: int, connect_timeout: float) -> dict:
    latencies = []
    for _ in range(calls):
        # A new endpoint name per call keeps one call's failure from opening the next call's circuit.
        unique = ProviderConfig(**{**primary.__dict__, "model": f"{primary.model}-{uuid.uuid4().hex[:6]}"}) if name != "breaker_open" else primary
        started = time.perf_counter()
        result = await gateway.call(GatewayCall(str(uuid.uuid4()), REQUEST, [unique, secondary]))
        latencies.append(time.perf_counter() - started)
        assert result.provider == "secondary", result.decisions
    latencies.sort()
    p50 = percentile(latencies, 50)
    return {
        "bench": "failover",
        "scenario": name,
        "calls": calls,
        "connect_timeout_s": connect_timeout,
        "p50_ms": round(p50 * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "beyond_connect_timeout_p50_ms": round((p50 - connect_timeout) * 1000, 1) if name == "blackhole" else None,
    }


async def run(redis_url: str, urls: list[str], calls: int, connect_timeout: float) -> list[dict]:
    """`urls`: a healthy server, one answering 500, one answering 429."""
    secondary_url, failing_url, limited_url = urls
    redis = Redis.from_url(redis_url)
    listener, fillers, hole_port = _blackhole()

    async def no_usage_row(_: UsageRecord) -> None:
        return None

    def config(name: str, base_url: str, model: str = "gpt-4o-mini") -> ProviderConfig:
        return ProviderConfig(name=name, kind="openai_compatible", base_url=base_url, model=model, api_key="sk-bench",
                              timeout_seconds=10, connect_timeout_seconds=connect_timeout)  # fmt: skip

    try:
        async with httpx.AsyncClient() as http:
            gateway = LlmGateway(ProviderRegistry(http), CircuitBreakers(redis), Budgets(redis), no_usage_row)
            secondary = config("secondary", secondary_url)
            await gateway.call(GatewayCall(str(uuid.uuid4()), REQUEST, [secondary]))  # warm the connection
            results = [
                await _scenario("refused", gateway, config("primary", f"http://127.0.0.1:{free_port()}/v1"), secondary, calls, connect_timeout),
                await _scenario("blackhole", gateway, config("primary", f"http://127.0.0.1:{hole_port}/v1"), secondary, calls, connect_timeout),
                await _scenario("http_500", gateway, config("primary", failing_url), secondary, calls, connect_timeout),
                await _scenario("http_429", gateway, config("primary", limited_url), secondary, calls, connect_timeout),
            ]
            dead = config("primary", failing_url, model="always-failing")
            for _ in range(gateway_threshold(gateway)):  # open its circuit
                await gateway.call(GatewayCall(str(uuid.uuid4()), REQUEST, [dead, secondary]))
            results.append(await _scenario("breaker_open", gateway, dead, secondary, calls, connect_timeout))
            return results
    finally:
        for sock in (listener, *fillers):
            sock.close()
        await redis.aclose()


def gateway_threshold(gateway: LlmGateway) -> int:
    return gateway._breakers.policy.threshold  # noqa: SLF001 - the bench mirrors the policy in use


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--connect-timeout", type=float, default=1.0)
    args = parser.parse_args()
    healthy, failing, limited = [], ["--fail-with", "500"], ["--fail-with", "429", "--retry-after", "30"]
    with bench_redis() as redis_url, loopback_servers(healthy, failing, limited) as urls:
        for result in asyncio.run(run(redis_url, urls, args.calls, args.connect_timeout)):
            print(json.dumps(result), flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
