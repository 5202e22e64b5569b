"""Tenant API keys: created with scopes and an expiry, shown once, rotated with a grace period,
revoked at once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Ctx, Scoped
from api.pagination import CursorQuery, LimitQuery, Page, newest_first, page_of
from api.problems import Problem
from api.tenant_rows import owned_or_404
from core.credentials import new_api_key
from core.scopes import TENANT_SCOPES, Scope
from models.identity import ApiKey

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])
Admin = Annotated[Ctx, Depends(Scoped(Scope.ADMIN))]
TenantScope = Annotated[Scope, Field(description="One of the tenant scopes (not `platform`).")]


class ApiKeyOut(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str = Field(description="The public part of the key, to tell keys apart.")
    scopes: list[str]
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    created_by: str
    replaced_by_id: uuid.UUID | None
    created_at: datetime

    @classmethod
    def of(cls, k: ApiKey) -> ApiKeyOut:
        return cls(
            id=k.id, name=k.name, prefix=k.prefix, scopes=list(k.scopes), expires_at=k.expires_at, revoked_at=k.revoked_at,
            last_used_at=k.last_used_at, created_by=k.created_by, replaced_by_id=k.replaced_by_id, created_at=k.created_at,
        )  # fmt: skip


class CreatedApiKey(ApiKeyOut):
    key: str = Field(description="The key itself. It is not stored and cannot be shown again.")


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "helpdesk sync", "scopes": ["conversations:read"], "expires_in_days": 90}]})

    name: str = Field(min_length=1, max_length=200)
    scopes: list[TenantScope] = Field(min_length=1, max_length=len(TENANT_SCOPES))
    expires_in_days: int | None = Field(None, ge=1, le=3650, description="Omit for a key that does not expire.")


class ApiKeyRotate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_hours: float | None = Field(
        None, ge=0, le=24 * 30, description="How long the old key keeps working (default from settings; 0 ends it now)."
    )


async def create_key(
    session: AsyncSession, tenant_id: uuid.UUID, name: str, scopes: list[str], expires_at: datetime | None, created_by: str
) -> CreatedApiKey:
    fresh = new_api_key()
    row = ApiKey(
        id=uuid.uuid4(), tenant_id=tenant_id, name=name, prefix=fresh.prefix, secret_hash=fresh.secret_hash,
        scopes=scopes, expires_at=expires_at, created_by=created_by, created_at=datetime.now(UTC),
    )  # fmt: skip
    session.add(row)
    await session.flush()
    return CreatedApiKey(**ApiKeyOut.of(row).model_dump(), key=fresh.key)


async def _key(session: AsyncSession, ctx: Ctx, key_id: uuid.UUID) -> ApiKey:
    return await owned_or_404(session, ApiKey, key_id, ctx.tenant_id, "API key")


@router.post("", status_code=201, response_model=CreatedApiKey, summary="Create an API key (shown once)")
async def create_api_key(body: ApiKeyCreate, ctx: Admin) -> CreatedApiKey:
    scopes = sorted({s.value for s in body.scopes})
    if Scope.PLATFORM.value in scopes:
        raise Problem(422, "Request is not valid", "the platform scope cannot be granted to a tenant key")
    expires_at = datetime.now(UTC) + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    async with ctx.db() as session:
        key = await create_key(session, ctx.tenant_id, body.name, scopes, expires_at, ctx.principal.actor)
        ctx.audit(session, "api_key.create", "api_key", key.id, {"name": body.name, "scopes": scopes, "expires_at": str(expires_at)})
    return key


@router.get("", response_model=Page[ApiKeyOut], summary="List API keys")
async def list_api_keys(ctx: Admin, cursor: CursorQuery = None, limit: LimitQuery = 50) -> Page[ApiKeyOut]:
    query = select(ApiKey).where(ApiKey.tenant_id == ctx.tenant_id)
    async with ctx.db() as session:
        rows = list(await session.scalars(newest_first(query, ApiKey.created_at, ApiKey.id, cursor, limit)))
    return page_of(rows, limit, ApiKeyOut.of, lambda k: (k.created_at, k.id))


@router.get("/{key_id}", response_model=ApiKeyOut, summary="Read an API key (never the key itself)")
async def get_api_key(key_id: uuid.UUID, ctx: Admin) -> ApiKeyOut:
    async with ctx.db() as session:
        return ApiKeyOut.of(await _key(session, ctx, key_id))


@router.post("/{key_id}/rotate", status_code=201, response_model=CreatedApiKey, summary="Replace a key; the old one works for a grace period")
async def rotate_api_key(key_id: uuid.UUID, ctx: Admin, body: ApiKeyRotate | None = None) -> CreatedApiKey:
    hours = body.grace_hours if body and body.grace_hours is not None else ctx.state.settings.api_key_rotation_grace_hours
    now = datetime.now(UTC)
    async with ctx.db() as session:
        old = await _key(session, ctx, key_id)
        if old.revoked_at is not None or (old.expires_at is not None and old.expires_at <= now):
            raise Problem(409, "Key not active", "a revoked or expired key cannot be rotated; create a new one")
        new = await create_key(session, ctx.tenant_id, old.name, list(old.scopes), old.expires_at, ctx.principal.actor)
        grace_end = now + timedelta(hours=hours)
        old.expires_at = min(old.expires_at, grace_end) if old.expires_at else grace_end
        old.replaced_by_id = new.id
        ctx.audit(session, "api_key.rotate", "api_key", old.id, {"replaced_by": str(new.id), "old_key_expires_at": old.expires_at.isoformat()})
    return new


@router.delete("/{key_id}", status_code=204, summary="Revoke an API key now")
async def revoke_api_key(key_id: uuid.UUID, ctx: Admin) -> Response:
    async with ctx.db() as session:
        key = await _key(session, ctx, key_id)
        if key.revoked_at is None:
            key.revoked_at = datetime.now(UTC)
            ctx.audit(session, "api_key.revoke", "api_key", key.id, {"name": key.name})
    return Response(status_code=204)
