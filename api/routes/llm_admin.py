"""A tenant's chat providers: the ones replies are tried on (what they used and cost:
api/routes/llm_spend.py).

API keys are write-only: responses say only whether one is set, and the audit log records that
it changed, never its value. Replies pick up a provider change within 5 seconds (the LLM activity
caches a tenant's providers that long, activities/replies.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from sqlalchemy.exc import IntegrityError

from api.auth import Ctx, Scoped
from api.pagination import Page
from api.problems import Problem
from api.tenant_rows import owned_or_404
from core.scopes import Scope
from llm.registry import ProviderRegistry
from models.llm_admin_store import (
    provider_count,
    providers_in_order,
)
from models.tenants import LlmProvider

router = APIRouter(prefix="/v1/llm", tags=["llm"])
AgentsAdmin = Annotated[Ctx, Depends(Scoped(Scope.AGENTS_MANAGE))]

MAX_PROVIDERS = 50  # per tenant: the list is one page
# Self-hosted servers have no default address; the vendors' kinds fall back to theirs.
NEEDS_BASE_URL = frozenset({"openai_compatible"})
CACHE_NOTE = " Replies use the change within 5 seconds (the LLM activity caches a tenant's providers that long)."
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"


def _checked_base_url(value: str) -> str:
    if value == "":
        return value
    if any(ord(c) < 32 or ord(c) == 127 or c.isspace() for c in value):
        raise ValueError("must not contain spaces or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError("is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL with a host, e.g. https://api.openai.com/v1")
    return value


class ProviderOut(BaseModel):
    id: uuid.UUID
    name: str
    kind: str
    base_url: str = Field(description="Empty: the vendor's default address.")
    model: str
    priority: int = Field(description="Lower is tried first.")
    enabled: bool
    api_key_set: bool = Field(description="Whether a key is stored; the key itself is never returned.")
    created_at: datetime

    @classmethod
    def of(cls, row: LlmProvider) -> ProviderOut:
        return cls(
            id=row.id, name=row.name, kind=row.kind, base_url=row.base_url, model=row.model, priority=row.priority,
            enabled=row.enabled, api_key_set=row.api_key_encrypted is not None, created_at=row.created_at,
        )  # fmt: skip


_KIND = "One of: anthropic, local, openai, openai_compatible (vLLM, Ollama, llama.cpp server, Groq, Together…)."
_BASE_URL = "http(s) URL of the API root; empty for the vendor's default (required for openai_compatible)."


class ProviderCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "gpt-4o-mini", "kind": "openai", "model": "gpt-4o-mini", "api_key": "sk-…", "priority": 10},
                {
                    "name": "vllm-qwen",
                    "kind": "openai_compatible",
                    "base_url": "http://vllm:8000/v1",
                    "model": "Qwen/Qwen2.5-7B-Instruct",
                    "priority": 20,
                },
            ]
        },
    )

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Unique per tenant; routing tiers refer to it.")
    kind: str = Field("openai_compatible", max_length=32, description=_KIND)
    base_url: str = Field("", max_length=500, description=_BASE_URL)
    model: str = Field(min_length=1, max_length=200, pattern=PRINTABLE)
    api_key: SecretStr | None = Field(None, min_length=1, max_length=4096, description="Write-only.")
    priority: int = Field(0, ge=-1000, le=1000, description="Lower is tried first.")
    enabled: bool = True

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _checked_base_url(value)

    @field_validator("api_key")
    @classmethod
    def _key(cls, value: SecretStr | None) -> SecretStr | None:
        return _checked_key(value)


class ProviderUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"api_key": "sk-new…"}, {"enabled": False}, {"api_key": None, "priority": 5}]},
    )

    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    kind: str | None = Field(None, max_length=32, description=_KIND)
    base_url: str | None = Field(None, max_length=500, description=_BASE_URL)
    model: str | None = Field(None, min_length=1, max_length=200, pattern=PRINTABLE)
    api_key: SecretStr | None = Field(None, min_length=1, max_length=4096, description="Write-only; null removes the stored key.")
    priority: int | None = Field(None, ge=-1000, le=1000)
    enabled: bool | None = None

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return value if value is None else _checked_base_url(value)

    @field_validator("api_key")
    @classmethod
    def _key(cls, value: SecretStr | None) -> SecretStr | None:
        return _checked_key(value)

    @model_validator(mode="after")
    def _only_the_key_is_nullable(self) -> ProviderUpdate:
        nulls = sorted(f for f in self.model_fields_set - {"api_key"} if getattr(self, f) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null (leave a field out to keep it)")
        return self


def _checked_key(value: SecretStr | None) -> SecretStr | None:
    """Keys travel in HTTP headers: visible ASCII only (anything else would fail every call)."""
    if value is not None and not all(33 <= ord(c) <= 126 for c in value.get_secret_value()):
        raise ValueError("api_key must be visible ASCII characters without spaces")
    return value


def _invalid(field: str, msg: str) -> Problem:
    return Problem(422, "Request is not valid", [{"loc": ["body", field], "msg": msg, "type": "value_error"}])


def _check_kind_and_url(ctx: Ctx, kind: str, base_url: str) -> None:
    kinds = ProviderRegistry(ctx.state.http).kinds()  # builds nothing: factories only
    if kind not in kinds:
        raise _invalid("kind", f"unknown provider kind {kind!r}; one of: {', '.join(kinds)}")
    if kind in NEEDS_BASE_URL and not base_url:
        raise _invalid("base_url", f"a {kind} provider needs the server's base_url, e.g. http://vllm:8000/v1")


def _name_taken(name: str) -> Problem:
    return Problem(409, "Name taken", f"this tenant already has a provider named {name!r}")


def _sealed(ctx: Ctx, key: SecretStr | None, provider_id: uuid.UUID) -> str | None:
    # Exactly as models/admin_store.set_provider: the row id is the encryption context.
    return ctx.state.secrets.encrypt(key.get_secret_value(), context=str(provider_id)) if key else None


@router.get("/providers", response_model=Page[ProviderOut], summary="List chat providers, in the order replies try them")
async def list_providers(ctx: AgentsAdmin) -> Page[ProviderOut]:
    async with ctx.db() as session:
        rows = await providers_in_order(session, ctx.tenant_id)
    return Page(items=[ProviderOut.of(r) for r in rows])


@router.post(
    "/providers", status_code=201, response_model=ProviderOut, summary="Add a chat provider",
    description="The API key is stored encrypted and never returned." + CACHE_NOTE,
)  # fmt: skip
async def create_provider(body: ProviderCreate, ctx: AgentsAdmin) -> ProviderOut:
    _check_kind_and_url(ctx, body.kind, body.base_url)
    provider_id = uuid.uuid4()
    fields = body.model_dump(mode="json", exclude={"api_key"})
    try:
        async with ctx.db() as session:
            if await provider_count(session, ctx.tenant_id) >= MAX_PROVIDERS:
                raise Problem(409, "Too many providers", f"a tenant has at most {MAX_PROVIDERS}; delete one first")
            sealed = _sealed(ctx, body.api_key, provider_id)
            row = LlmProvider(id=provider_id, tenant_id=ctx.tenant_id, **fields, api_key_encrypted=sealed)
            session.add(row)
            await session.flush()
            await session.refresh(row)
            audited = {**fields, "api_key": "(changed)"} if sealed else fields  # never the value
            ctx.audit(session, "llm_provider.create", "llm_provider", provider_id, audited)
    except IntegrityError:
        raise _name_taken(body.name) from None
    return ProviderOut.of(row)


@router.get("/providers/{provider_id}", response_model=ProviderOut, summary="Read a chat provider (never its key)")
async def get_provider(provider_id: uuid.UUID, ctx: AgentsAdmin) -> ProviderOut:
    async with ctx.db() as session:
        return ProviderOut.of(await owned_or_404(session, LlmProvider, provider_id, ctx.tenant_id, "LLM provider"))


@router.patch(
    "/providers/{provider_id}", response_model=ProviderOut, summary="Change, re-key or disable a chat provider",
    description="Fields left out keep their value; `api_key: null` removes the key." + CACHE_NOTE,
)  # fmt: skip
async def update_provider(provider_id: uuid.UUID, body: ProviderUpdate, ctx: AgentsAdmin) -> ProviderOut:
    sent = body.model_dump(mode="json", exclude_unset=True, exclude={"api_key"})
    try:
        async with ctx.db() as session:
            row = await owned_or_404(session, LlmProvider, provider_id, ctx.tenant_id, "LLM provider")
            _check_kind_and_url(ctx, sent.get("kind", row.kind), sent.get("base_url", row.base_url))
            changes: dict[str, Any] = {}
            for field, value in sent.items():
                if getattr(row, field) != value:
                    changes[field] = {"old": getattr(row, field), "new": value}
                    setattr(row, field, value)
            if "api_key" in body.model_fields_set:
                row.api_key_encrypted = _sealed(ctx, body.api_key, row.id)
                changes["api_key"] = "(changed)" if body.api_key else "(cleared)"  # never the value
            await session.flush()
            ctx.audit(session, "llm_provider.update", "llm_provider", row.id, changes)
    except IntegrityError:
        raise _name_taken(sent.get("name", "")) from None
    return ProviderOut.of(row)


@router.delete(
    "/providers/{provider_id}", status_code=204, summary="Remove a chat provider",
    description="Routing tiers that name it skip it from then on; its usage rows are kept." + CACHE_NOTE,
)  # fmt: skip
async def delete_provider(provider_id: uuid.UUID, ctx: AgentsAdmin) -> Response:
    async with ctx.db() as session:
        row = await owned_or_404(session, LlmProvider, provider_id, ctx.tenant_id, "LLM provider")
        ctx.audit(
            session, "llm_provider.delete", "llm_provider", row.id, {"name": row.name, "kind": row.kind, "model": row.model}
        )
        await session.delete(row)
    return Response(status_code=204)
