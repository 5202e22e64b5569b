"""Who is calling: the platform admin key, a tenant API key or a dashboard session token.

Every admin route depends on `Scoped(scope)`, which authenticates, checks the scope, applies the
rate limits and hands the route a `Ctx` bound to the caller's tenant. A missing, wrong or expired
credential is 401; a valid credential without the scope is 403; both are problem+json.
"""

from __future__ import annotations

import hmac
import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import AppState, StateDep
from api.problems import Problem
from api.rate_limits import too_many_requests
from core.credentials import (
    SessionClaims,
    TokenExpired,
    TokenInvalid,
    TokenType,
    api_key_matches,
    api_key_prefix,
    read_token,
)
from core.rate_limit import Limit, bucket_key
from core.scopes import ROLE_SCOPES, Role, Scope
from models.audit import AuditEntry
from models.identity_store import StoredSession, api_key_by_prefix, touch_api_key, user_session
from models.tenant_db import tenant_transaction

# last_used_at is written at most this often per key: a write per request would double the cost.
LAST_USED_RESOLUTION = timedelta(seconds=60)

_bearer = HTTPBearer(auto_error=False, description="A tenant API key (fd_…), a dashboard access token, or the platform admin key.")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


@dataclass(frozen=True)
class Principal:
    kind: Literal["platform", "api_key", "user"]
    id: str
    tenant_id: uuid.UUID | None
    scopes: frozenset[str]
    role: str | None = None
    session_id: uuid.UUID | None = None  # dashboard sessions only

    @property
    def actor(self) -> str:
        return f"{self.kind}:{self.id}"


def unauthorized(detail: str) -> Problem:
    return Problem(401, "Not authenticated", detail, headers={"WWW-Authenticate": "Bearer"})


async def _from_api_key(state: AppState, token: str) -> Principal:
    prefix = api_key_prefix(token)
    if prefix is None:
        raise unauthorized("the API key is malformed")
    async with state.statements() as session:
        key = await api_key_by_prefix(session, prefix)
        if key is None or not api_key_matches(token, key.secret_hash):
            raise unauthorized("the API key is not valid")
        now = datetime.now(UTC)
        if key.revoked_at is not None:
            raise unauthorized("the API key was revoked")
        if key.expires_at is not None and key.expires_at <= now:
            raise unauthorized("the API key has expired")
        if key.tenant_status != "active":
            raise tenant_suspended()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            await touch_api_key(session, key.id)
    return Principal("api_key", str(key.id), key.tenant_id, key.scopes)


def tenant_suspended() -> Problem:
    return Problem(403, "Tenant suspended", "this tenant is suspended; contact the platform operator")


async def live_session(state: AppState, token: str, kind: TokenType) -> tuple[SessionClaims, StoredSession]:
    """A dashboard token whose session is still open, user active and tenant not suspended."""
    try:
        claims = read_token(state.jwt_secret, token, kind)
    except TokenExpired:
        raise unauthorized(f"the {kind} token has expired; " + ("refresh it" if kind == "access" else "sign in again")) from None
    except TokenInvalid:
        raise unauthorized(f"the {kind} token is not valid") from None
    async with state.statements() as session:
        stored = await user_session(session, claims.session_id, claims.user_id, claims.tenant_id)
    ended = stored is None or stored.revoked_at is not None or stored.expires_at <= datetime.now(UTC)
    if ended or stored.user_status != "active":
        raise unauthorized("the session has ended; sign in again")
    if stored.tenant_status != "active":
        raise tenant_suspended()
    return claims, stored


async def _from_session_token(state: AppState, token: str) -> Principal:
    claims, stored = await live_session(state, token, "access")
    # The role is read fresh: a demoted user loses scopes at once, not when the token expires.
    role = Role(stored.role)
    return Principal("user", str(claims.user_id), claims.tenant_id, ROLE_SCOPES[role], role=role.value, session_id=claims.session_id)


async def authenticate(state: AppState, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    if credentials is None or not credentials.credentials:
        raise unauthorized("send Authorization: Bearer <API key or session token>")
    token = credentials.credentials
    if token.startswith("fd_"):
        return await _from_api_key(state, token)
    if token.count(".") == 2:
        return await _from_session_token(state, token)
    admin_key = state.settings.admin_key
    if admin_key is not None and hmac.compare_digest(token.encode(), admin_key.get_secret_value().encode()):
        return Principal("platform", "admin", None, frozenset({Scope.PLATFORM.value}))
    raise unauthorized("the credential is not valid")


@dataclass
class Ctx:
    """What a route knows about its caller, and the tenant-confined database it may use."""

    principal: Principal
    state: AppState
    request_id: str | None
    ip: str | None

    @property
    def tenant_id(self) -> uuid.UUID:
        assert self.principal.tenant_id is not None  # Scoped() refuses platform callers on tenant routes
        return self.principal.tenant_id

    def db(self) -> AbstractAsyncContextManager[AsyncSession]:
        return tenant_transaction(self.state.sessions, self.tenant_id)

    def audit(
        self,
        session: AsyncSession,
        action: str,
        target_type: str,
        target_id: Any,
        changes: dict[str, Any] | None = None,
        *,
        tenant_id: uuid.UUID | None = None,
    ) -> None:
        session.add(
            AuditEntry(
                id=uuid.uuid4(),
                tenant_id=tenant_id or self.tenant_id,
                actor_type=self.principal.kind,
                actor_id=self.principal.id,
                action=action,
                target_type=target_type,
                target_id=str(target_id) if target_id is not None else None,
                request_id=self.request_id,
                ip=self.ip,
                changes=changes or {},
            )
        )


class Scoped:
    """`Depends(Scoped(Scope.X))`: the route needs scope X (tests read `.scope` off every route).
    `Scoped(None)` accepts any valid credential (the caller's own session, /v1/auth/me)."""

    def __init__(self, scope: Scope | None) -> None:
        self.scope = scope

    async def __call__(
        self, request: Request, state: StateDep, credentials: BearerDep
    ) -> Ctx:
        principal = await authenticate(state, credentials)
        if self.scope is not None and self.scope.value not in principal.scopes:
            if principal.kind == "platform":
                raise Problem(403, "Forbidden", "the platform admin key manages tenants; use a tenant API key here")
            raise Problem(403, "Forbidden", f"this route needs the {self.scope.value!r} scope")
        await enforce_rate_limits(state, principal)
        request_id = structlog.contextvars.get_contextvars().get("request_id") or request.headers.get("x-request-id")
        if principal.tenant_id is not None:
            structlog.contextvars.bind_contextvars(tenant_id=str(principal.tenant_id))
        return Ctx(principal, state, request_id, request.client.host if request.client else None)


async def enforce_rate_limits(state: AppState, principal: Principal) -> None:
    if principal.kind == "platform":
        return
    s = state.settings
    # Both buckets in one atomic script call: one Redis round trip, and a refused request
    # spends neither budget.
    decision = await state.limiter.hit_all(
        [
            Limit(bucket_key("key", principal.actor), s.admin_rate_per_key_per_s, s.admin_burst_per_key),
            Limit(bucket_key("tenant", str(principal.tenant_id)), s.admin_rate_per_tenant_per_s, s.admin_burst_per_tenant),
        ]
    )
    if not decision.allowed:
        raise too_many_requests(decision)
