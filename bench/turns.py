"""Web-chat turn throughput and latency on the embedded stack.

Drives N concurrent web-chat conversations against a loopback OpenAI-compatible server that
answers instantly. Each conversation sends its next message only after the previous reply.
Two runs, one JSON line each:
  - "saturation": every conversation sends again at once: the most turns/s the stack gives
    (latency is then queueing time: N conversations / throughput);
  - "paced": the conversations together offer --rate turns/s (random gaps): latency under load.
{"bench":"turns","mode":..,"conversations":N,"turns":..,"turns_per_s":..,"p50_ms":..,"p95_ms":..,"p99_ms":..,"stack_rss_mb":..}

  .venv/bin/python -m bench.turns --conversations 50 --turns 1500 --rate 30
Set TEMPORAL_ADDRESS / DATABASE_URL / REDIS_URL (+ FRONTDESK_MASTER_KEY) to use running servers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
import uuid

from bench.common import PeakRss, RunningPlatform, percentile, platform, seed_tenant
from bench.http_client import KeepAliveClient
from core.settings import Settings
from tests.standins.openai_server import OpenAIStandIn
from tests.standins.serve import serve


class Load:
    def __init__(self, api_url: str, path: str) -> None:
        self.api_url = api_url
        self.path = path
        self.latencies: list[float] = []
        self.errors: list[str] = []

    async def conversation(self, send_times: list[float | None]) -> None:
        """Sends one message per entry, each no earlier than its time (None: at once)."""
        session = f"bench-{uuid.uuid4().hex[:12]}"
        http = KeepAliveClient(self.api_url)
        try:
            await self._send_all(http, session, send_times)
        finally:
            await http.close()

    async def _send_all(self, http: KeepAliveClient, session: str, send_times: list[float | None]) -> None:
        for i, send_at in enumerate(send_times):
            if send_at is not None:
                await asyncio.sleep(max(0.0, send_at - time.perf_counter()))
            body = {"session_id": session, "client_message_id": f"m{i}", "text": f"question {i}: where is my order?"}
            started = time.perf_counter()
            response = await http.post_json(self.path, body)
            elapsed = time.perf_counter() - started
            if response.status_code == 200:
                self.latencies.append(elapsed)
            else:
                self.errors.append(f"{response.status_code}: {response.text[:120]}")


def _schedules(conversations: int, turns: int, rate: float) -> list[list[float | None]]:
    """Paced: one Poisson stream of `rate` arrivals/s dealt round-robin to the conversations
    (a conversation whose previous reply is late sends as soon as it arrives). Saturation: no
    waiting at all."""
    per_conversation = max(1, turns // conversations)
    if not rate:
        return [[None] * per_conversation for _ in range(conversations)]
    at = time.perf_counter() + 0.5
    schedules: list[list[float | None]] = [[] for _ in range(conversations)]
    for i in range(per_conversation * conversations):
        at += random.expovariate(rate)
        schedules[i % conversations].append(at)
    return schedules


async def _measure(running: RunningPlatform, load: Load, mode: str, conversations: int, turns: int, rate: float) -> dict:
    with PeakRss(running.all_processes) as rss:
        started = time.perf_counter()
        await asyncio.gather(*(load.conversation(times) for times in _schedules(conversations, turns, rate)))
        wall = time.perf_counter() - started
    latencies = sorted(load.latencies)
    return {
        "bench": "turns",
        "mode": mode,
        "conversations": conversations,
        "offered_rate": rate or None,
        "turns": len(latencies),
        "errors": len(load.errors),
        "turns_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p95_ms": round(percentile(latencies, 95) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "stack_rss_mb": round(rss.peak_bytes / 2**20),
        "stack_rss_sum_mb": round(rss.peak_rss_sum_bytes / 2**20),
        "worker_processes": len(running.processes) - 1,
        "turn_cpus": running.turn_cpus_text(),
        "wall_s": round(wall, 1),
    }


async def run(running: RunningPlatform, args: argparse.Namespace) -> list[dict]:
    standin = OpenAIStandIn()
    server = await serve(standin.app())
    try:
        tenant = await seed_tenant(running, server.url, graph_url="http://127.0.0.1:9")  # web chat only
        path = f"/v1/webchat/{tenant.webchat_id}/messages"
        warm = Load(running.api_url, path)
        await asyncio.gather(*(warm.conversation([None] * args.warmup_turns) for _ in range(args.conversations)))
        results = []
        if "saturation" in args.modes:
            results.append(await _measure(running, Load(running.api_url, path), "saturation", args.conversations, args.turns, 0))
        if "paced" in args.modes:
            results.append(await _measure(running, Load(running.api_url, path), "paced", args.conversations, args.turns, args.rate))
        return results
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--turns", type=int, default=1500, help="measured turns per run")
    parser.add_argument("--rate", type=float, default=30.0, help="offered turns/s in the paced run")
    parser.add_argument("--modes", default="saturation,paced")
    parser.add_argument("--workers", type=int, default=Settings().worker_processes, help="worker processes")
    parser.add_argument("--warmup-turns", type=int, default=2, help="unmeasured turns per conversation first")
    args = parser.parse_args()
    with platform(task_queue=f"bench-{uuid.uuid4().hex[:8]}", workers=args.workers) as running:
        for result in asyncio.run(run(running, args)):
            print(json.dumps(result), flush=True)
    os._exit(0)  # temporalio's exit-time segfault must not turn a finished run red


if __name__ == "__main__":
    main()
