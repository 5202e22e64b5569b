"""Dashboard users of a tenant: owner, admin, agent and viewer roles."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, EmailStr, Field
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Ctx, Scoped
from api.pagination import CursorQuery, LimitQuery, Page, newest_first, page_of
from api.problems import Problem
from api.tenant_rows import owned_or_404
from core.credentials import hash_password
from core.scopes import Role, Scope
from models.identity import User, UserSession

router = APIRouter(prefix="/v1/users", tags=["users"])
Admin = Annotated[Ctx, Depends(Scoped(Scope.ADMIN))]
Password = Annotated[str, Field(min_length=12, max_length=256, description="At least 12 characters.")]


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    name: str
    role: Role
    status: str
    last_login_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, u: User) -> UserOut:
        return cls(id=u.id, email=u.email, name=u.name, role=Role(u.role), status=u.status, last_login_at=u.last_login_at, created_at=u.created_at)


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr = Field(examples=["asha@acme.example"])
    name: str = Field(min_length=1, max_length=200, examples=["Asha Rao"])
    role: Role = Field(examples=["agent"])
    password: Password


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    role: Role | None = None
    password: Password | None = None
    status: Literal["active", "disabled"] | None = None


async def _active_owners(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    return await session.scalar(
        select(func.count()).select_from(User).where(User.tenant_id == tenant_id, User.role == Role.OWNER.value, User.status == "active")
    )


async def _may_grant_owner(session: AsyncSession, ctx: Ctx) -> bool:
    """Owners make owners. While a tenant has none (just created), its admins may make the first."""
    return ctx.principal.role == Role.OWNER.value or await _active_owners(session, ctx.tenant_id) == 0


async def _user(session: AsyncSession, ctx: Ctx, user_id: uuid.UUID) -> User:
    return await owned_or_404(session, User, user_id, ctx.tenant_id, "user")


async def _end_sessions(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(
        update(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None)).values(revoked_at=func.now())
    )


@router.post("", status_code=201, response_model=UserOut, summary="Invite a user with a role and an initial password")
async def create_user(body: UserCreate, ctx: Admin) -> UserOut:
    password_hash = await hash_password(body.password)
    try:
        async with ctx.db() as session:
            if body.role is Role.OWNER and not await _may_grant_owner(session, ctx):
                raise Problem(403, "Forbidden", "only an owner can make another owner")
            user = User(
                id=uuid.uuid4(), tenant_id=ctx.tenant_id, email=body.email.lower(), name=body.name,
                role=body.role.value, password_hash=password_hash, status="active",
            )  # fmt: skip
            session.add(user)
            await session.flush()
            await session.refresh(user)
            ctx.audit(session, "user.create", "user", user.id, {"email": user.email, "role": user.role})
    except IntegrityError:
        raise Problem(409, "E-mail taken", f"{body.email} already has a user in this tenant") from None
    return UserOut.of(user)


@router.get("", response_model=Page[UserOut], summary="List users")
async def list_users(
    ctx: Admin,
    role: Annotated[Role | None, Query()] = None,
    status: Annotated[Literal["active", "disabled"] | None, Query()] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Page[UserOut]:
    query = select(User).where(User.tenant_id == ctx.tenant_id)
    if role:
        query = query.where(User.role == role.value)
    if status:
        query = query.where(User.status == status)
    async with ctx.db() as session:
        rows = list(await session.scalars(newest_first(query, User.created_at, User.id, cursor, limit)))
    return page_of(rows, limit, UserOut.of, lambda u: (u.created_at, u.id))


@router.get("/{user_id}", response_model=UserOut, summary="Read a user")
async def get_user(user_id: uuid.UUID, ctx: Admin) -> UserOut:
    async with ctx.db() as session:
        return UserOut.of(await _user(session, ctx, user_id))


@router.patch("/{user_id}", response_model=UserOut, summary="Rename, change role or password, disable or re-enable a user")
async def update_user(user_id: uuid.UUID, body: UserUpdate, ctx: Admin) -> UserOut:
    password_hash = await hash_password(body.password) if body.password else None
    async with ctx.db() as session:
        user = await _user(session, ctx, user_id)
        was_active_owner = user.role == Role.OWNER.value and user.status == "active"
        touches_owner = user.role == Role.OWNER.value or body.role is Role.OWNER
        if touches_owner and (body.role or body.status or body.password) and not await _may_grant_owner(session, ctx):
            raise Problem(403, "Forbidden", "only an owner can change an owner or make one")
        changes: dict = {}
        if body.name and body.name != user.name:
            changes["name"] = {"old": user.name, "new": body.name}
            user.name = body.name
        if body.role and body.role.value != user.role:
            changes["role"] = {"old": user.role, "new": body.role.value}
            user.role = body.role.value
        if body.status and body.status != user.status:
            changes["status"] = {"old": user.status, "new": body.status}
            user.status = body.status
        if password_hash:
            changes["password"] = "(changed)"
            user.password_hash = password_hash
        await session.flush()
        if was_active_owner and await _active_owners(session, ctx.tenant_id) == 0:
            raise Problem(409, "Last owner", "a tenant keeps at least one active owner")
        if changes.keys() & {"password", "status"}:
            await _end_sessions(session, user.id)  # a changed password or a disabled user signs out everywhere
        ctx.audit(session, "user.update", "user", user.id, changes)
    return UserOut.of(user)


@router.delete("/{user_id}", status_code=204, summary="Disable a user and end their sessions")
async def disable_user(user_id: uuid.UUID, ctx: Admin) -> Response:
    await update_user(user_id, UserUpdate(status="disabled"), ctx)
    return Response(status_code=204)
