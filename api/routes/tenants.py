"""Tenant management with the platform admin key, and a tenant's view of itself."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.auth import Ctx, Scoped
from api.nlu_runs import ensure_training_schedule
from api.pagination import CursorQuery, LimitQuery, Page, newest_first, page_of
from api.problems import Problem
from api.routes.api_keys import CreatedApiKey, create_key
from api.tenant_settings import TenantSettings
from core.scopes import TENANT_SCOPES, Scope
from models.tenants import Tenant

router = APIRouter(tags=["tenants"])
Platform = Annotated[Ctx, Depends(Scoped(Scope.PLATFORM))]
TenantAdmin = Annotated[Ctx, Depends(Scoped(Scope.ADMIN))]


class TenantOut(BaseModel):
    id: uuid.UUID
    slug: str
    name: str
    status: str
    settings: TenantSettings
    created_at: datetime

    @classmethod
    def of(cls, t: Tenant) -> TenantOut:
        return cls(id=t.id, slug=t.slug, name=t.name, status=t.status, settings=TenantSettings(**(t.settings or {})), created_at=t.created_at)


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", examples=["acme-shoes"])
    name: str = Field(min_length=1, max_length=200, examples=["Acme Shoes"])
    settings: TenantSettings = Field(default_factory=TenantSettings)


class TenantCreated(BaseModel):
    tenant: TenantOut
    api_key: CreatedApiKey = Field(description="An admin key for the new tenant, shown only in this response.")


class TenantUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    status: Literal["active", "suspended"] | None = Field(None, description="Suspended tenants' keys get 403 and their channels stop.")
    settings: TenantSettings | None = None


class OwnTenantUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    settings: TenantSettings | None = None


def _apply(ctx: Ctx, session, tenant: Tenant, body: BaseModel) -> None:
    """Writes the fields the caller sent (settings merge key by key) and audits the differences."""
    _refuse_embedding_model_change(tenant, getattr(body, "settings", None))
    changes = {}
    for field, value in body.model_dump(mode="json", exclude_unset=True, exclude_none=True).items():  # JSON: prices are Decimals
        old = getattr(tenant, field)
        if field == "settings":
            value = {**(old or {}), **value}
        if old != value:
            changes[field] = {"old": old, "new": value}
            setattr(tenant, field, value)
    ctx.audit(session, "tenant.update", "tenant", tenant.id, changes, tenant_id=tenant.id)


def _refuse_embedding_model_change(tenant: Tenant, settings: TenantSettings | None) -> None:
    """The knowledge embedding model moves the tenant's index and re-embeds its knowledge:
    only PUT /v1/knowledge/settings does that, so it is not changed here behind its back."""
    if settings is None or "knowledge" not in settings.model_fields_set:
        return
    stored = ((tenant.settings or {}).get("knowledge") or {}).get("embedding_model")
    if settings.knowledge.embedding_model != stored:
        raise Problem(
            422, "Use the knowledge settings",
            f"knowledge.embedding_model is {stored!r}: send that to keep it; it changes only with PUT /v1/knowledge/settings, "
            "which re-embeds the knowledge",
        )  # fmt: skip


async def _sync_schedule(ctx: Ctx, tenant_id: uuid.UUID, settings: TenantSettings | None) -> None:
    """NLU settings sent here change the retraining Schedule as PUT /v1/nlu/settings does, and
    first: a schedule Temporal refuses leaves the stored settings as they were."""
    if settings is not None and "nlu" in settings.model_fields_set:
        await ensure_training_schedule(ctx.state.temporal, ctx.state.settings, tenant_id, settings.nlu)


@router.post("/v1/tenants", status_code=201, response_model=TenantCreated, summary="Create a tenant (platform admin)")
async def create_tenant(body: TenantCreate, ctx: Platform) -> TenantCreated:
    tenant = Tenant(id=uuid.uuid4(), slug=body.slug, name=body.name, status="active", settings=body.settings.model_dump(mode="json"))
    try:
        async with ctx.state.sessions.begin() as session:
            session.add(tenant)
            await session.flush()
            key = await create_key(session, tenant.id, "initial admin key", sorted(TENANT_SCOPES), None, ctx.principal.actor)
            ctx.audit(session, "tenant.create", "tenant", tenant.id, {"slug": body.slug, "name": body.name}, tenant_id=tenant.id)
    except IntegrityError:
        raise Problem(409, "Slug taken", f"a tenant with slug {body.slug!r} exists") from None
    return TenantCreated(tenant=TenantOut.of(tenant), api_key=key)


@router.get("/v1/tenants", response_model=Page[TenantOut], summary="List tenants (platform admin)")
async def list_tenants(
    ctx: Platform,
    status: Annotated[Literal["active", "suspended"] | None, Query()] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Page[TenantOut]:
    query = select(Tenant)
    if status:
        query = query.where(Tenant.status == status)
    async with ctx.state.sessions() as session:
        rows = list(await session.scalars(newest_first(query, Tenant.created_at, Tenant.id, cursor, limit)))
    return page_of(rows, limit, TenantOut.of, lambda t: (t.created_at, t.id))


async def _tenant(session, tenant_id: uuid.UUID) -> Tenant:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise Problem(404, "Not found", f"no tenant {tenant_id}")
    return tenant


@router.get("/v1/tenants/{tenant_id}", response_model=TenantOut, summary="Read a tenant (platform admin)")
async def get_tenant(tenant_id: uuid.UUID, ctx: Platform) -> TenantOut:
    async with ctx.state.sessions() as session:
        return TenantOut.of(await _tenant(session, tenant_id))


@router.patch("/v1/tenants/{tenant_id}", response_model=TenantOut, summary="Rename, suspend or reactivate a tenant (platform admin)")
async def update_tenant(tenant_id: uuid.UUID, body: TenantUpdate, ctx: Platform) -> TenantOut:
    async with ctx.state.sessions.begin() as session:
        tenant = await _tenant(session, tenant_id)
        await _sync_schedule(ctx, tenant_id, body.settings)
        _apply(ctx, session, tenant, body)
    return TenantOut.of(tenant)


@router.get("/v1/tenant", response_model=TenantOut, summary="The caller's own tenant")
async def get_own_tenant(ctx: TenantAdmin) -> TenantOut:
    async with ctx.db() as session:
        return TenantOut.of(await _tenant(session, ctx.tenant_id))


@router.patch("/v1/tenant", response_model=TenantOut, summary="Change the caller's own tenant name or settings")
async def update_own_tenant(body: OwnTenantUpdate, ctx: TenantAdmin) -> TenantOut:
    await _sync_schedule(ctx, ctx.tenant_id, body.settings)
    async with ctx.db() as session:
        tenant = await _tenant(session, ctx.tenant_id)
        _apply(ctx, session, tenant, body)
    return TenantOut.of(tenant)

