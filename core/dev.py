"""`frontdesk dev`: the whole platform on one machine, no Docker, no accounts."""

from __future__ import annotations

import asyncio

from core.crypto import SecretBox
from core.embedded.ports import PortInUseError, port_open
from core.embedded.stack import EmbeddedStack, StackAddresses, start_stack
from core.settings import Settings
from core.supervisor import Supervisor
from models.db import one_off_sessions
from models.seed import DemoProvider, DemoSeed, seed_demo


def demo_provider(settings: Settings) -> DemoProvider | None:
    if settings.demo_llm_base_url and settings.demo_llm_model:
        key = settings.demo_llm_api_key.get_secret_value() if settings.demo_llm_api_key else None
        return DemoProvider(settings.demo_llm_base_url, settings.demo_llm_model, key)
    if settings.openai_api_key:
        return DemoProvider("https://api.openai.com/v1", "gpt-4o-mini", settings.openai_api_key.get_secret_value())
    return None


async def _seed(addresses: StackAddresses, settings: Settings) -> DemoSeed:
    async with one_off_sessions(addresses.database_url) as sessions:
        return await seed_demo(sessions, SecretBox(addresses.master_key), demo_provider(settings))


def _banner(stack: EmbeddedStack, seed: DemoSeed, settings: Settings, provider: DemoProvider | None) -> str:
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
        f"  Chat model     {provider.model + ' at ' + provider.base_url if provider else 'none configured: replies are the honest fallback (set OPENAI_API_KEY or FRONTDESK_DEMO_LLM_BASE_URL/MODEL)'}",
        "",
    ]
    return "\n".join(lines)


def run_dev(settings: Settings) -> None:
    if port_open(settings.api_host, settings.api_port):
        raise SystemExit(f"port {settings.api_port} is already in use (another `frontdesk dev`?); set FRONTDESK_API_PORT")
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
        )
    except PortInUseError as exc:
        raise SystemExit(str(exc)) from None
    try:
        seed = asyncio.run(_seed(stack.addresses, settings))
        env = stack.addresses.env()
        supervisor = Supervisor()
        for n in range(max(1, settings.worker_processes)):
            supervisor.add(f"worker-{n + 1}", ["worker", "--queue", "frontdesk"], env)
        supervisor.add("api", ["api", "--host", settings.api_host, "--port", str(settings.api_port)], env)
        print(_banner(stack, seed, settings, demo_provider(settings)), flush=True)
        supervisor.run()
    finally:
        stack.stop()
        print("Frontdesk stopped.", flush=True)
