"""How fast the API acknowledges signed WhatsApp webhooks under a fixed request rate.

Open loop: requests leave on a fixed schedule (default 100/s for 20 s, after 5 s at the same
rate that are not measured) whatever the replies do, each a Cloud API delivery of one text
message from one of --contacts customers, signed with the app secret. Latency is until the API's
200, which it gives once the message is durable (the inbound journal, or Temporal itself). Every
message is a turn run on the same machine. Replies go to a loopback Graph server, the model is a
loopback OpenAI server, each in a process of its own at lower priority (they stand for other
machines). `cpu_s` says which part of the stack used the CPU during the measured part.
{"bench":"webhook_ack","rate":..,"p50_ms":..,"p99_ms":..,"errors":..}

  .venv/bin/python -m bench.webhook_ack --rate 100 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
import uuid
from collections import Counter

from bench.common import CpuByRole, PeakRss, RunningPlatform, percentile, platform, seed_tenant
from bench.http_client import KeepAliveClient
from bench.loopback_openai import standin_processes
from core.cpu_affinity import turn_cpus_beside_api
from core.settings import Settings
from tests.factories import new_phone, signature, whatsapp_payload


async def run(running: RunningPlatform, args: argparse.Namespace, openai_url: str, graph_url: str) -> dict:
    tenant = await seed_tenant(running, openai_url, graph_url)
    path = f"/webhooks/whatsapp/{tenant.whatsapp_id}"
    contacts = [new_phone() for _ in range(args.contacts)]
    idle: asyncio.Queue[KeepAliveClient] = asyncio.Queue()
    for _ in range(args.connections):
        idle.put_nowait(KeepAliveClient(running.api_url))
    latencies: list[float] = []
    errors: list[str] = []

    async def deliver(measured: bool = True) -> None:
        body = whatsapp_payload(tenant.phone_number_id, [(random.choice(contacts), f"wamid.{uuid.uuid4().hex}", "where is my order?")])
        headers = {"X-Hub-Signature-256": signature(body, tenant.app_secret)}
        client = await idle.get()
        try:
            started = time.perf_counter()
            response = await client.post(path, body, headers)
            elapsed = time.perf_counter() - started
        finally:
            idle.put_nowait(client)
        if not measured:
            return
        if response.status_code == 200:
            latencies.append(elapsed)
        else:
            errors.append(f"{response.status_code}: {_reason(response.text)}")

    async def at_rate(count: int, measured: bool) -> float:
        tasks = []
        start = time.perf_counter()
        for i in range(count):
            await asyncio.sleep(max(0.0, start + i / args.rate - time.perf_counter()))
            tasks.append(asyncio.create_task(deliver(measured)))
        await asyncio.gather(*tasks)
        return time.perf_counter() - start

    # Unmeasured first: every contact's first message creates its customer, conversation and
    # workflow, a one-off burst of work; the measured part is the steady flow that follows.
    await at_rate(int(args.rate * args.warmup_seconds), measured=False)
    total = int(args.rate * args.seconds)
    with PeakRss(running.all_processes) as rss, CpuByRole(running) as cpu:
        wall = await at_rate(total, measured=True)
    latencies.sort()
    while not idle.empty():
        await idle.get_nowait().close()
    return {
        "bench": "webhook_ack",
        "rate": args.rate,
        "warmup_s": args.warmup_seconds,
        "achieved_rate": round(len(latencies) / wall, 1),
        "requests": total,
        "errors": len(errors),
        # What the non-200 answers were (status and reason, most frequent first): a 503 is
        # back-pressure the channel redelivers on, anything else is a fault.
        "error_kinds": dict(Counter(errors).most_common(5)),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p95_ms": round(percentile(latencies, 95) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
        "stack_rss_mb": round(rss.peak_bytes / 2**20),
        "worker_processes": len(running.workers),
        "turn_cpus": running.turn_cpus_text(),
        "cpu_s": cpu.seconds,
    }


def _reason(body: str) -> str:
    try:
        problem = json.loads(body)
        return f"{problem.get('title')}: {str(problem.get('detail'))[:80]}"
    except (ValueError, AttributeError):
        return body[:80]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup-seconds", type=float, default=5.0, help="delivered at the same rate first, not measured")
    parser.add_argument("--contacts", type=int, default=200, help="distinct customers writing")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections to the API")
    parser.add_argument("--workers", type=int, default=Settings().worker_processes, help="worker processes")
    parser.add_argument(
        "--standin-nice", type=int, default=10, help="niceness of the loopback OpenAI and Graph servers (other machines in production)"
    )
    args = parser.parse_args()
    # On the CPUs the platform gives the workers and Temporal (bench/common.platform), not the API's.
    elsewhere = turn_cpus_beside_api(Settings().turn_cpus)
    with (
        standin_processes("bench.loopback_openai", [], nice=args.standin_nice, cpus=elsewhere) as [openai_url],
        standin_processes("bench.loopback_graph", [], nice=args.standin_nice, cpus=elsewhere) as [graph_url],
        platform(task_queue=f"bench-{uuid.uuid4().hex[:8]}", workers=args.workers) as running,
    ):
        print(json.dumps(asyncio.run(run(running, args, openai_url, graph_url))), flush=True)
    os._exit(0)  # temporalio's exit-time segfault must not turn a finished run red


if __name__ == "__main__":
    main()
