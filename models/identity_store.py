"""Credential lookups made before the tenant is known (so without row-level security)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Joined in one round trip: the key (or the user and session) and its tenant's status.
_KEY_BY_PREFIX = text(
    "SELECT k.id, k.tenant_id, k.secret_hash, k.scopes, k.expires_at, k.revoked_at, k.last_used_at, t.status "
    "FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.prefix = :prefix"
)
_USER_SESSION = text(
    "SELECT u.status, u.role, u.email, s.revoked_at, s.expires_at, t.status "
    "FROM user_sessions s JOIN users u ON u.id = s.user_id JOIN tenants t ON t.id = s.tenant_id "
    "WHERE s.id = :sid AND s.user_id = :uid AND s.tenant_id = :tid"
)
_TOUCH_KEY = text("UPDATE api_keys SET last_used_at = now() WHERE id = :id")


@dataclass(frozen=True)
class StoredKey:
    id: uuid.UUID
    tenant_id: uuid.UUID
    secret_hash: str
    scopes: frozenset[str]
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    tenant_status: str


@dataclass(frozen=True)
class StoredSession:
    user_status: str
    role: str
    email: str
    revoked_at: datetime | None
    expires_at: datetime
    tenant_status: str


async def api_key_by_prefix(session: AsyncSession, prefix: str) -> StoredKey | None:
    row = (await session.execute(_KEY_BY_PREFIX, {"prefix": prefix})).first()
    if row is None:
        return None
    return StoredKey(row[0], row[1], row[2], frozenset(row[3]), row[4], row[5], row[6], row[7])


async def touch_api_key(session: AsyncSession, key_id: uuid.UUID) -> None:
    await session.execute(_TOUCH_KEY, {"id": key_id})


async def user_session(
    session: AsyncSession, session_id: uuid.UUID, user_id: uuid.UUID, tenant_id: uuid.UUID
) -> StoredSession | None:
    row = (await session.execute(_USER_SESSION, {"sid": session_id, "uid": user_id, "tid": tenant_id})).first()
    return StoredSession(*row) if row else None
