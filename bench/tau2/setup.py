"""What a τ² task run needs from the platform: the model providers (from the command line and
env vars) and a tenant configured through the admin API like any customer's: its provider, and
an agent profile whose prompt carries the retail policy.

Why the policy is the prompt template and not a knowledge entry: it is a short (~1,600 tokens)
set of rules that bind every turn (authenticate first, confirm before acting, one user per
conversation, when to transfer). Retrieval would hand the model only the passages that look
like the customer's latest words, and the rule that matters (say, "authenticate first") is
rarely the one that looks like "I want to return my keyboard".
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import httpx
from sqlalchemy import update

from api.routes.api_keys import create_key
from core.crypto import SecretBox
from core.scopes import TENANT_SCOPES
from llm.base import ProviderConfig
from llm.local_model import MODEL_FILENAME
from models.db import one_off_sessions
from models.tenants import Tenant
from tests.factories import create_tenant

PROVIDER_KINDS = ("local", "openai", "anthropic", "openai_compatible")
DEFAULT_MODELS = {"local": MODEL_FILENAME.removesuffix(".gguf"), "openai": "gpt-4o", "anthropic": "claude-3-5-sonnet-latest"}
KEY_VARS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
MAX_TOOL_ROUNDS = 10  # the most an agent profile allows; a τ² turn may read several orders

AGENT_TEMPLATE = """You are a customer service agent of an online retail store. Help the customer according to the policy below, with your tools.
- Either write to the customer or call a tool; call one tool at a time.
- Use only what the customer or the tools told you; never invent ids, prices, options or procedures.
- cancel_pending_order, modify_pending_order_items, modify_pending_order_payment, return_delivered_order_items and exchange_delivered_order_items show the customer the action's details and ask for their yes themselves: call the tool once the customer has given every detail. For the two address changes, list the details and get the customer's explicit yes yourself before calling the tool.
- Results of tools called in earlier messages are not shown to you again: when you tell the customer what you found, write the ids you will need later (user id, order ids, item ids, payment method ids).

<policy>
{policy}
</policy>"""


@dataclass(frozen=True)
class ProviderChoice:
    kind: str
    model: str
    base_url: str = ""
    api_key: str | None = None

    def config(self, name: str = "bench") -> ProviderConfig:
        # Long answers from a slow server must not be cut by the default 30 s client timeout.
        return ProviderConfig(
            name=name, kind=self.kind, base_url=self.base_url, model=self.model, api_key=self.api_key, timeout_seconds=120.0
        )

    def admin_body(self, name: str = "bench") -> dict:
        body = {"name": name, "kind": self.kind, "model": self.model, "base_url": self.base_url, "priority": 0}
        if self.api_key:
            body["api_key"] = self.api_key
        return body


def provider_from_env(kind: str | None, model: str | None, prefix: str = "BENCH_") -> ProviderChoice:
    """The provider `kind` (else $BENCH_PROVIDER, else local) with its model, base URL and key
    from the flags or $BENCH_MODEL, $BENCH_BASE_URL, $BENCH_API_KEY (else the vendor's own
    variable, OPENAI_API_KEY / ANTHROPIC_API_KEY). `prefix` BENCH_USER_ reads the simulator's."""
    kind = kind or os.environ.get(f"{prefix}PROVIDER") or "local"
    if kind not in PROVIDER_KINDS:
        raise SystemExit(f"unknown provider {kind!r}; one of {', '.join(PROVIDER_KINDS)}")
    model = model or os.environ.get(f"{prefix}MODEL") or DEFAULT_MODELS.get(kind)
    base_url = os.environ.get(f"{prefix}BASE_URL", "")
    key = os.environ.get(f"{prefix}API_KEY") or (os.environ.get(KEY_VARS[kind]) if kind in KEY_VARS else None)
    if not model:
        raise SystemExit(f"set {prefix}MODEL (or --model) for the {kind} provider")
    if kind == "openai_compatible" and not base_url:
        raise SystemExit(f"set {prefix}BASE_URL for the openai_compatible provider, e.g. http://localhost:8000/v1")
    if kind in KEY_VARS and not key:
        raise SystemExit(f"set {KEY_VARS[kind]} (or {prefix}API_KEY) for the {kind} provider")
    return ProviderChoice(kind=kind, model=model, base_url=base_url, api_key=key)


@dataclass(frozen=True)
class TaskTenant:
    tenant_id: str
    webchat_id: str
    headers: dict[str, str]


async def seed_tenant(
    database_url: str, master_key: str, api: httpx.AsyncClient, provider: ProviderChoice, policy: str
) -> TaskTenant:
    """A fresh tenant with web chat, configured through the admin API: its provider, and its
    default agent profile with the retail policy (every tool of the worker's registry allowed)."""
    async with one_off_sessions(database_url) as sessions:
        tenant = await create_tenant(sessions, SecretBox(master_key), openai_url=None, graph_url="http://127.0.0.1:9")
        tenant_id = uuid.UUID(tenant.tenant_id)
        async with sessions.begin() as session:
            # Every answer must come from the model: no semantic cache serving a similar question.
            await session.execute(
                update(Tenant).where(Tenant.id == tenant_id).values(settings={"llm": {"cache": {"enabled": False}}})
            )
            key = await create_key(session, tenant_id, "tau2 bench", sorted(TENANT_SCOPES), None, "bench")
    headers = {"Authorization": f"Bearer {key.key}"}
    created = await api.post("/v1/llm/providers", json=provider.admin_body(), headers=headers)
    if created.status_code != 201:
        raise SystemExit(f"the API refused the provider: {created.status_code} {created.text[:500]}")
    profile = {
        "name": "tau2 retail",
        "prompt_template": AGENT_TEMPLATE.replace("{policy}", policy.replace("{", "{{").replace("}", "}}")),
        "max_tool_rounds": MAX_TOOL_ROUNDS,
        # A refused store call is an answer, not a failure; these only keep a stubborn run going.
        "tool_failure_streak": 20,
        "low_confidence_turns": 20,
        "is_default": True,
    }
    created = await api.post("/v1/agent-profiles", json=profile, headers=headers)
    if created.status_code != 201:
        raise SystemExit(f"the API refused the agent profile: {created.status_code} {created.text[:500]}")
    return TaskTenant(tenant_id=tenant.tenant_id, webchat_id=tenant.webchat_id, headers=headers)
