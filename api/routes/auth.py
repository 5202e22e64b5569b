"""Dashboard sign-in: e-mail and password for a short-lived access token and a refresh token."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, update

from api.auth import Ctx, Scoped, live_session, tenant_suspended, unauthorized
from api.deps import AppState, StateDep
from api.problems import Problem
from api.rate_limits import too_many_requests
from core.credentials import SessionClaims, issue_token, verify_password
from core.scopes import Role
from models.identity import User, UserSession
from models.tenants import Tenant

router = APIRouter(prefix="/v1/auth", tags=["auth"])
AnyCaller = Annotated[Ctx, Depends(Scoped(None))]
# Guessing passwords: a few tries per account per minute, whatever the source address.
LOGIN_RATE_PER_S = 5 / 60
LOGIN_BURST = 5


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(max_length=64, examples=["acme-shoes"], description="The tenant's slug.")
    email: str = Field(max_length=320, examples=["asha@acme.example"])
    password: str = Field(max_length=256)


class Refresh(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(max_length=4096)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds the access token is valid.")


class Me(BaseModel):
    kind: str
    id: str
    tenant_id: uuid.UUID | None
    role: str | None
    scopes: list[str]


def _pair(state: AppState, claims: SessionClaims) -> TokenPair:
    s = state.settings
    access = timedelta(minutes=s.access_token_minutes)
    return TokenPair(
        access_token=issue_token(state.jwt_secret, claims, access),
        refresh_token=issue_token(state.jwt_secret, SessionClaims(**{**claims.__dict__, "type": "refresh"}), timedelta(hours=s.refresh_token_hours)),
        expires_in=int(access.total_seconds()),
    )


@router.post("/login", response_model=TokenPair, summary="Sign in to the dashboard")
async def login(body: Login, state: StateDep) -> TokenPair:
    email = body.email.strip().lower()
    decision = await state.limiter.hit(f"login:{body.tenant}:{email}", rate_per_s=LOGIN_RATE_PER_S, burst=LOGIN_BURST)
    if not decision.allowed:
        raise too_many_requests(decision)
    async with state.sessions() as session:
        row = (
            await session.execute(
                select(User, Tenant.status)
                .join(Tenant, Tenant.id == User.tenant_id)
                .where(Tenant.slug == body.tenant, User.email == email)
            )
        ).first()
    user, tenant_status = (row[0], row[1]) if row else (None, None)
    # One answer for unknown e-mail, wrong password and disabled user: no account probing.
    if not await verify_password(body.password, user.password_hash if user else None) or user.status != "active":
        raise unauthorized("wrong tenant, e-mail or password")
    if tenant_status != "active":
        raise tenant_suspended()
    now = datetime.now(UTC)
    session_id = uuid.uuid4()
    async with state.sessions.begin() as session:
        session.add(
            UserSession(
                id=session_id, tenant_id=user.tenant_id, user_id=user.id,
                expires_at=now + timedelta(hours=state.settings.refresh_token_hours),
            )  # fmt: skip
        )
        await session.execute(update(User).where(User.id == user.id).values(last_login_at=func.now()))
    return _pair(state, SessionClaims(user.id, user.tenant_id, session_id, user.role, "access"))


@router.post("/refresh", response_model=TokenPair, summary="Exchange a refresh token for a new access token")
async def refresh(body: Refresh, state: StateDep) -> TokenPair:
    claims, stored = await live_session(state, body.refresh_token, "refresh")
    return _pair(state, SessionClaims(claims.user_id, claims.tenant_id, claims.session_id, Role(stored.role).value, "access"))


@router.post("/logout", status_code=204, summary="End the current dashboard session")
async def logout(ctx: AnyCaller) -> Response:
    if ctx.principal.session_id is None:
        raise Problem(400, "Not a session", "only a dashboard session can sign out; revoke an API key instead")
    async with ctx.db() as session:
        await session.execute(
            update(UserSession).where(UserSession.id == ctx.principal.session_id).values(revoked_at=func.now())
        )
        ctx.audit(session, "user.logout", "user", ctx.principal.id)
    return Response(status_code=204)


@router.get("/me", response_model=Me, summary="Who the credential belongs to")
async def me(ctx: AnyCaller) -> Me:
    p = ctx.principal
    return Me(kind=p.kind, id=p.id, tenant_id=p.tenant_id, role=p.role, scopes=sorted(p.scopes))
