"""Soak run under failure: no customer message may be lost, answered twice, or left stuck.

Drives conversations on WhatsApp (signed Cloud API webhooks, each message delivered 1-3 times,
older messages sometimes redelivered after newer ones) and web chat (each POST sent 1-3 times,
older ones re-sent), one message at a time per conversation, for a fixed number of turns.
Replies go to a loopback Graph server that records every send; the model is a loopback OpenAI
endpoint failing a share of calls (500, 429 with retry-after, stalls past the client timeout,
dropped connections). Meanwhile it SIGKILLs a worker every few seconds (a new one replaces it),
restarts the Temporal dev server once and PostgreSQL once.

Then it reconciles what the channels saw with the database and Temporal:
- lost: an inbound message with no reply (no send recorded by Graph / no web-chat answer, or
  no outbound row);
- duplicated: an inbound message answered more than once (several outbound rows, several Graph
  sends, several distinct web-chat replies), or a send the database does not know;
- stuck: a conversation workflow still holding pending messages or activities, or not running.
It prints one JSON line and exits 1 unless lost, duplicated and stuck are all 0:
{"bench":"chaos","turns":..,"lost":0,"duplicated":0,"stuck":0,"worker_kills":..,"restarts":..,"wall_s":..}

  .venv/bin/python -m bench.chaos                      # 1,000 turns
  .venv/bin/python -m bench.chaos --turns 100 --kill-every 6
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.chaos_llm import ChaosLLM
from bench.chaos_reconcile import Reconciliation, reconcile
from bench.chaos_restarts import restart_postgres, restart_temporal
from bench.common import RunningPlatform, percentile, platform, seed_tenant
from tests.factories import TestTenant, new_phone, new_wamid, signature, whatsapp_payload
from tests.standins.graph_server import GraphStandIn, ReceiptTarget
from tests.standins.serve import serve
from workflows.conversation import FALLBACK_TEXT

# How long a message may take to be answered before the driver stops that conversation (the
# reconciliation then tells whether it was lost or merely slow). Covers an LLM stall (30 s
# client timeout) plus retries and a restart.
REPLY_DEADLINE_S = 240.0
# How long the driver keeps redelivering one webhook or POST that is refused (503, 429...).
DELIVERY_DEADLINE_S = 240.0


@dataclass
class Ledger:
    """What the customers sent and what the channels showed them."""

    whatsapp: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # phone -> wamids
    webchat: dict[str, dict[str, set[str]]] = field(default_factory=lambda: defaultdict(dict))  # session -> id -> replies
    unexpected: list[str] = field(default_factory=list)  # 4xx answers to valid requests


@dataclass
class Run:
    args: argparse.Namespace
    running: RunningPlatform
    tenant: TestTenant
    graph: GraphStandIn
    client: httpx.AsyncClient
    rng: random.Random
    ledger: Ledger = field(default_factory=Ledger)
    turns_done: int = 0
    answer_seconds: list[float] = field(default_factory=list)  # first delivery -> answer seen
    gave_up: list[str] = field(default_factory=list)  # conversations stopped early: no answer in time
    worker_kills: int = 0
    restarts: int = 0
    finished: bool = False


async def _later(delay: float, coro):
    await asyncio.sleep(delay)
    return await coro


async def _post_until_accepted(run: Run, url: str, **kwargs) -> httpx.Response | None:
    """POSTs like a channel or a widget does: again after any refusal that is not the request's
    own fault (5xx, 429, 504 reply-not-ready, connection errors), honouring Retry-After."""
    deadline, backoff = time.monotonic() + DELIVERY_DEADLINE_S, 0.2
    while time.monotonic() < deadline:
        try:
            response = await run.client.post(url, **kwargs)
        except httpx.HTTPError:
            response = None
        if response is not None and response.status_code == 200:
            return response
        if response is not None and response.status_code < 500 and response.status_code != 429:
            run.ledger.unexpected.append(f"{url} -> {response.status_code} {response.text[:200]}")
            return None
        retry_after = response.headers.get("retry-after") if response is not None else None
        await asyncio.sleep(min(float(retry_after), 5.0) if retry_after else backoff)
        backoff = min(backoff * 2, 4.0)
    return None


async def _answered(check, deadline_s: float) -> bool:
    deadline = time.monotonic() + deadline_s
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def _reply_seen(graph: GraphStandIn, phone: str, k: int) -> bool:
    """Message k is answered: the model's echo of it was sent, or (the model failing) one more
    reply than earlier messages account for. A reply is never credited to the wrong message,
    so a duplicate send cannot make the driver run ahead and merge two turns."""
    sends = graph.sends_to(phone)
    return any(s.text.endswith(f" #{k}") for s in sends) or (len(sends) > k and sends[-1].text == FALLBACK_TEXT)


async def whatsapp_conversation(run: Run, turns: int) -> None:
    phone, t = new_phone(), run.tenant
    url = f"/webhooks/whatsapp/{t.whatsapp_id}"

    def deliver(body: bytes):
        return _post_until_accepted(run, url, content=body, headers={"x-hub-signature-256": signature(body, t.app_secret), "content-type": "application/json"})

    previous: bytes | None = None
    for k in range(turns):
        wamid = new_wamid()
        body = whatsapp_payload(t.phone_number_id, [(phone, wamid, f"wa {phone} #{k}")])
        run.ledger.whatsapp[phone].append(wamid)
        extra = [_later(run.rng.uniform(0, 1.5), deliver(body)) for _ in range(run.rng.randint(0, 2))]
        if previous is not None and run.rng.random() < 0.25:
            extra.append(_later(run.rng.uniform(0, 1.0), deliver(previous)))  # an older message, redelivered late
        redeliveries = [asyncio.create_task(c) for c in extra]
        started = time.monotonic()
        accepted = await deliver(body)
        answered = accepted is not None and await _answered(lambda k=k: _reply_seen(run.graph, phone, k), REPLY_DEADLINE_S)
        await asyncio.gather(*redeliveries)
        run.turns_done += 1
        if not answered:
            # The next message would merge into this turn; reconciliation says if it was lost or late.
            run.gave_up.append(f"whatsapp {phone} message #{k} ({wamid}): no answer within {REPLY_DEADLINE_S:.0f} s")
            return
        run.answer_seconds.append(time.monotonic() - started)
        previous = body


async def webchat_conversation(run: Run, turns: int) -> None:
    session = f"chaos-{uuid.uuid4().hex[:10]}"
    url = f"/v1/webchat/{run.tenant.webchat_id}/messages"
    replies = run.ledger.webchat[session]

    async def post(payload: dict) -> None:
        response = await _post_until_accepted(run, url, json=payload)
        if response is not None:
            replies[payload["client_message_id"]].add(response.json()["reply"])

    previous: dict | None = None
    for k in range(turns):
        payload = {"session_id": session, "client_message_id": f"m{k}", "text": f"web {session} #{k}"}
        replies[payload["client_message_id"]] = set()
        attempts = [post(payload)] + [_later(run.rng.uniform(0, 1.0), post(payload)) for _ in range(run.rng.randint(0, 2))]
        if previous is not None and run.rng.random() < 0.25:
            attempts.append(_later(run.rng.uniform(0, 0.5), post(previous)))
        started = time.monotonic()
        await asyncio.gather(*attempts)
        run.turns_done += 1
        if not replies[payload["client_message_id"]]:
            run.gave_up.append(f"web chat {session} message m{k}: no answer within {DELIVERY_DEADLINE_S:.0f} s")
            return
        run.answer_seconds.append(time.monotonic() - started)
        previous = payload


async def chaos_monkey(run: Run) -> None:
    """Kills a worker every few seconds; restarts Temporal at 30% and PostgreSQL at 60%."""
    stack, total = run.running.stack, run.args.turns
    temporal_done = postgres_done = False
    while not run.finished:
        await asyncio.sleep(run.args.kill_every)
        if run.finished:
            return
        alive = [w for w in run.running.workers if w.poll() is None]
        if alive:
            victim = run.rng.choice(alive)
            os.kill(victim.pid, signal.SIGKILL)
            await asyncio.to_thread(victim.wait)
            run.running.start_worker()
            run.worker_kills += 1
        if not temporal_done and run.turns_done >= 0.3 * total and stack.temporal is not None and not run.args.no_restarts:
            temporal_done = True
            await asyncio.to_thread(restart_temporal, stack)
            run.restarts += 1
        if not postgres_done and run.turns_done >= 0.6 * total and stack.postgres is not None and not run.args.no_restarts:
            postgres_done = True
            await asyncio.to_thread(restart_postgres, stack)
            run.restarts += 1


def _split(turns: int, conversations: int) -> list[int]:
    base, extra = divmod(turns, conversations)
    return [base + (1 if i < extra else 0) for i in range(conversations)]


async def soak(running: RunningPlatform, args: argparse.Namespace) -> tuple[Reconciliation, Run]:
    llm, graph = ChaosLLM(args.llm_failure_rate, seed=args.seed), GraphStandIn()
    await llm.start()
    graph_server = await serve(graph.app())
    try:
        tenant = await seed_tenant(running, llm.url, graph_server.url)
        graph.valid_tokens.add(tenant.access_token)
        # Like Meta, Graph reports each accepted message back to the account's webhook.
        graph.receipts[tenant.phone_number_id] = ReceiptTarget(f"{running.api_url}/webhooks/whatsapp/{tenant.whatsapp_id}", tenant.app_secret)
        async with httpx.AsyncClient(base_url=running.api_url, timeout=httpx.Timeout(30.0, connect=5.0)) as client:
            run = Run(args, running, tenant, graph, client, random.Random(args.seed))
            shares = _split(args.turns, args.conversations)
            webchat_count = round(args.conversations * args.webchat_share)
            drivers = [
                webchat_conversation(run, n) if i < webchat_count else whatsapp_conversation(run, n) for i, n in enumerate(shares) if n
            ]
            monkey = asyncio.create_task(chaos_monkey(run))
            try:
                await asyncio.gather(*drivers)
            finally:
                run.finished = True
                await monkey
            result = await reconcile(running, tenant, graph, run.ledger, settle_s=args.settle)
            result.llm_outcomes = dict(llm.counts)
            return result, run
    finally:
        await graph_server.stop()
        await llm.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--conversations", type=int, default=40)
    parser.add_argument("--webchat-share", type=float, default=0.3, help="share of conversations on web chat")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-every", type=float, default=4.0, help="seconds between worker SIGKILLs")
    parser.add_argument("--llm-failure-rate", type=float, default=0.3)
    parser.add_argument("--no-restarts", action="store_true", help="skip the Temporal and PostgreSQL restarts")
    parser.add_argument("--settle", type=float, default=30.0, help="seconds to let the last turns finish before reconciling")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    started = time.monotonic()
    log_path = Path(tempfile.gettempdir()) / f"frontdesk-chaos-{uuid.uuid4().hex[:8]}.log"
    print(f"worker and API output: {log_path}", file=sys.stderr, flush=True)
    with platform(task_queue=f"chaos-{uuid.uuid4().hex[:8]}", workers=args.workers, log_path=log_path) as running:
        result, run = asyncio.run(soak(running, args))
    waits = sorted(run.answer_seconds)
    line = {
        "bench": "chaos",
        "turns": run.turns_done,
        "lost": result.lost,
        "duplicated": result.duplicated,
        "stuck": result.stuck,
        "worker_kills": run.worker_kills,
        "restarts": run.restarts,
        "wall_s": round(time.monotonic() - started, 1),
        "conversations": args.conversations,
        "llm_calls": result.llm_outcomes,
        "unexpected_4xx": len(run.ledger.unexpected),
        # How long customers waited, and conversations the driver abandoned (it stops a
        # conversation whose message goes unanswered for minutes, so turns < --turns).
        "answer_p50_s": round(percentile(waits, 50), 2),
        "answer_p99_s": round(percentile(waits, 99), 2),
        "answer_max_s": round(waits[-1], 2) if waits else None,
        "gave_up": len(run.gave_up),
        "turn_cpus": running.turn_cpus_text(),
    }
    print(json.dumps(line), flush=True)
    for problem in result.problems[:200] + run.ledger.unexpected[:10] + run.gave_up:
        print(f"  {problem}", file=sys.stderr)
    ok = result.lost == result.duplicated == result.stuck == 0 and not run.ledger.unexpected
    sys.stdout.flush()
    os._exit(0 if ok else 1)  # temporalio can segfault at interpreter exit (MODELS.md)


if __name__ == "__main__":
    main()
