"""A tenant's channel accounts. Credentials are write-only: responses name which are set and show
only what the tenant must copy into the channel's own console (webhook URL, verify token)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Ctx, Scoped
from api.pagination import CursorQuery, LimitQuery, Page, newest_first, page_of
from api.problems import Problem
from api.tenant_rows import owned_or_404
from channels.account_settings import ACCOUNT_SCHEMAS
from core.scopes import Scope
from models.channel_accounts import ChannelAccount

router = APIRouter(prefix="/v1/channel-accounts", tags=["channel accounts"])
Integrations = Annotated[Ctx, Depends(Scoped(Scope.INTEGRATIONS_MANAGE))]
ChannelName = Literal[tuple(ACCOUNT_SCHEMAS)]  # type: ignore[valid-type]


class ChannelAccountOut(BaseModel):
    id: uuid.UUID
    channel: str
    name: str
    status: str
    config: dict[str, Any]
    credentials_set: list[str] = Field(description="Names of the stored credentials; their values are never returned.")
    webhook_url: str
    verify_token: str | None = Field(None, description="WhatsApp, Messenger, Instagram: enter it in Meta's webhook settings.")
    shown_credentials: dict[str, str] | None = Field(
        None,
        description="Only in the answer that created or re-keyed the account: the credentials to copy into the other side "
        "(a generated webhook signing secret). Never returned again.",
    )
    created_at: datetime


class ChannelAccountCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "channel": "whatsapp",
                    "name": "Support line",
                    "config": {"phone_number_id": "106540352242922"},
                    "credentials": {"app_secret": "<from Meta app settings>", "access_token": "<system user token>"},
                }
            ]
        },
    )

    channel: ChannelName
    name: str = Field(min_length=1, max_length=200)
    config: dict[str, Any] = Field(default_factory=dict)
    credentials: dict[str, Any] = Field(default_factory=dict)


class ChannelAccountUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    status: Literal["active", "disabled"] | None = None
    config: dict[str, Any] | None = Field(None, description="Replaces the configuration.")
    credentials: dict[str, Any] | None = Field(None, description="Merged into the stored credentials (send only what changes).")


def _validated(model: type[BaseModel], values: dict[str, Any], what: str) -> dict[str, Any]:
    try:
        return model.model_validate(values).model_dump(mode="json", exclude_none=True)
    except ValidationError as exc:
        errors = [{"loc": [what, *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise Problem(422, "Request is not valid", errors) from None


def _public_base(ctx: Ctx, request: Request) -> str:
    return (ctx.state.settings.public_url or str(request.base_url)).rstrip("/")


def _out(ctx: Ctx, request: Request, row: ChannelAccount, *, reveal: bool = False) -> ChannelAccountOut:
    """`reveal`: the answer to a create or re-key, the one time generated secrets are shown."""
    schema = ACCOUNT_SCHEMAS[row.channel]
    stored = ctx.state.secrets.decrypt_json(row.secrets_encrypted, context=str(row.id))
    shown = {name: str(stored[name]) for name in schema.shown_credentials if stored.get(name)}
    return ChannelAccountOut(
        id=row.id, channel=row.channel, name=row.name, status=row.status, config=row.config or {},
        credentials_set=sorted(stored), webhook_url=_public_base(ctx, request) + schema.webhook_path.format(id=row.id),
        verify_token=shown.get("verify_token"), shown_credentials=shown if reveal and shown else None, created_at=row.created_at,
    )  # fmt: skip


def _changed_names(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


async def _account(session: AsyncSession, ctx: Ctx, account_id: uuid.UUID) -> ChannelAccount:
    return await owned_or_404(session, ChannelAccount, account_id, ctx.tenant_id, "channel account")


@router.post("", status_code=201, response_model=ChannelAccountOut, summary="Connect a channel account")
async def create_channel_account(body: ChannelAccountCreate, ctx: Integrations, request: Request) -> ChannelAccountOut:
    schema = ACCOUNT_SCHEMAS[body.channel]
    config = _validated(schema.config, body.config, "config")
    credentials = _validated(schema.credentials, body.credentials, "credentials")
    account_id = uuid.uuid4()
    async with ctx.db() as session:
        row = ChannelAccount(
            id=account_id, tenant_id=ctx.tenant_id, channel=body.channel, name=body.name, status="active", config=config,
            secrets_encrypted=ctx.state.secrets.encrypt_json(credentials, context=str(account_id)) if credentials else None,
        )  # fmt: skip
        session.add(row)
        await session.flush()
        await session.refresh(row)
        ctx.audit(
            session, "channel_account.create", "channel_account", account_id,
            {"channel": body.channel, "name": body.name, "config": config, "credentials": sorted(credentials)},
        )  # fmt: skip
    return _out(ctx, request, row, reveal=True)


@router.get("", response_model=Page[ChannelAccountOut], summary="List channel accounts")
async def list_channel_accounts(
    ctx: Integrations,
    request: Request,
    channel: Annotated[ChannelName | None, Query()] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Page[ChannelAccountOut]:
    query = select(ChannelAccount).where(ChannelAccount.tenant_id == ctx.tenant_id)
    if channel:
        query = query.where(ChannelAccount.channel == channel)
    async with ctx.db() as session:
        rows = list(await session.scalars(newest_first(query, ChannelAccount.created_at, ChannelAccount.id, cursor, limit)))
    return page_of(rows, limit, lambda r: _out(ctx, request, r), lambda r: (r.created_at, r.id))


@router.get("/{account_id}", response_model=ChannelAccountOut, summary="Read a channel account (never its credentials)")
async def get_channel_account(account_id: uuid.UUID, ctx: Integrations, request: Request) -> ChannelAccountOut:
    async with ctx.db() as session:
        return _out(ctx, request, await _account(session, ctx, account_id))


@router.patch("/{account_id}", response_model=ChannelAccountOut, summary="Rename, reconfigure, re-key or disable a channel account")
async def update_channel_account(account_id: uuid.UUID, body: ChannelAccountUpdate, ctx: Integrations, request: Request) -> ChannelAccountOut:
    async with ctx.db() as session:
        row = await _account(session, ctx, account_id)
        schema = ACCOUNT_SCHEMAS[row.channel]
        changes: dict[str, Any] = {}
        if body.name is not None and body.name != row.name:
            changes["name"] = {"old": row.name, "new": body.name}
            row.name = body.name
        if body.status is not None and body.status != row.status:
            changes["status"] = {"old": row.status, "new": body.status}
            row.status = body.status
        if body.config is not None:
            config = _validated(schema.config, body.config, "config")
            if config != row.config:
                changes["config"] = {"old": row.config, "new": config}
                row.config = config
        if body.credentials:
            stored = ctx.state.secrets.decrypt_json(row.secrets_encrypted, context=str(row.id))
            merged = _validated(schema.credentials, {**stored, **body.credentials}, "credentials")
            changes["credentials_changed"] = _changed_names(stored, merged)  # names only, never values
            row.secrets_encrypted = ctx.state.secrets.encrypt_json(merged, context=str(row.id))
        ctx.audit(session, "channel_account.update", "channel_account", row.id, changes)
    ctx.state.accounts.forget(str(account_id))
    return _out(ctx, request, row, reveal=bool(body.credentials))


@router.delete("/{account_id}", status_code=204, summary="Disable a channel account (its history is kept)")
async def disable_channel_account(account_id: uuid.UUID, ctx: Integrations) -> Response:
    async with ctx.db() as session:
        row = await _account(session, ctx, account_id)
        if row.status != "disabled":
            ctx.audit(session, "channel_account.disable", "channel_account", row.id, {"status": {"old": row.status, "new": "disabled"}})
            row.status = "disabled"
    ctx.state.accounts.forget(str(account_id))
    return Response(status_code=204)
