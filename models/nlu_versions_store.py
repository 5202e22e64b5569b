"""A tenant's intent model versions: one row per training run, at most one active, the models
of the last KEPT_VERSIONS runs kept for rollback."""

from __future__ import annotations

import gzip
import json
import uuid

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.nlu import IntentModelVersion
from nlu.evaluation import Sample

KEPT_VERSIONS = 3
# Two runs of one tenant number their versions one after the other, never both "4".
_VERSION_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended('intent-model-version:' || :tenant, 0))")


def pack_snapshot(samples: list[Sample]) -> bytes:
    return gzip.compress(json.dumps([[s.id, s.text, s.intent] for s in samples], ensure_ascii=False).encode())


def unpack_snapshot(data: bytes) -> list[Sample]:
    return [Sample(*row) for row in json.loads(gzip.decompress(data))]


async def begin_version(
    session: AsyncSession, tenant_id: uuid.UUID, workflow_id: str, *, forced: bool, samples: list[Sample]
) -> IntentModelVersion:
    """The version row of a training run, created with the run's snapshot of samples; a
    retried step of the same run gets the row it already made."""
    existing = await session.scalar(
        select(IntentModelVersion).where(IntentModelVersion.tenant_id == tenant_id, IntentModelVersion.workflow_id == workflow_id)
    )
    if existing is not None:
        return existing
    await session.execute(_VERSION_LOCK, {"tenant": str(tenant_id)})
    last = await session.scalar(select(func.max(IntentModelVersion.version)).where(IntentModelVersion.tenant_id == tenant_id))
    row = IntentModelVersion(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        version=(last or 0) + 1,
        status="training",
        workflow_id=workflow_id,
        forced=forced,
        snapshot=pack_snapshot(samples),
        intents=sorted({s.intent for s in samples}),
    )
    session.add(row)
    await session.flush()
    return row


async def version_row(session: AsyncSession, tenant_id: uuid.UUID, version: int, *, lock: bool = False) -> IntentModelVersion | None:
    query = select(IntentModelVersion).where(IntentModelVersion.tenant_id == tenant_id, IntentModelVersion.version == version)
    return await session.scalar(query.with_for_update() if lock else query)


async def active_version(session: AsyncSession, tenant_id: uuid.UUID) -> IntentModelVersion | None:
    return await session.scalar(
        select(IntentModelVersion).where(IntentModelVersion.tenant_id == tenant_id, IntentModelVersion.status == "active")
    )


async def active_model(session: AsyncSession, tenant_id: uuid.UUID, known_version: int | None) -> tuple[int | None, bytes | None]:
    """(active version, its model bytes): the bytes only when the version is not `known_version`
    (the caller already holds that model), so the turn reads a few bytes, not megabytes."""
    version = await session.scalar(
        select(IntentModelVersion.version).where(IntentModelVersion.tenant_id == tenant_id, IntentModelVersion.status == "active")
    )
    if version is None or version == known_version:
        return version, None
    artifact = await session.scalar(
        select(IntentModelVersion.artifact).where(IntentModelVersion.tenant_id == tenant_id, IntentModelVersion.version == version)
    )
    return version, artifact


async def activate(session: AsyncSession, tenant_id: uuid.UUID, version: int, decision: str) -> int | None:
    """Makes `version` the active one; returns the version it replaced (None: there was none).
    Idempotent: activating the active version changes nothing."""
    target = await version_row(session, tenant_id, version, lock=True)
    if target is None or target.artifact is None:
        raise LookupError(f"intent model version {version} does not exist or its model was not kept")
    if target.status == "active":
        return None
    current = await session.scalar(
        select(IntentModelVersion)
        .where(IntentModelVersion.tenant_id == tenant_id, IntentModelVersion.status == "active")
        .with_for_update()
    )
    previous = None
    if current is not None:
        current.status, previous = "inactive", current.version
        await session.flush()  # the one-active index must see the old one go first
    target.status, target.decision, target.activated_at = "active", decision, func.now()
    target.updated_at = func.now()
    await session.flush()
    await prune(session, tenant_id)
    return previous


async def prune(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Drops the models (and snapshots) of versions older than the last KEPT_VERSIONS, except
    the active one: their rows and scores stay as the history of what was tried."""
    kept = (
        select(IntentModelVersion.version)
        .where(IntentModelVersion.tenant_id == tenant_id)
        .order_by(IntentModelVersion.version.desc())
        .limit(KEPT_VERSIONS)
    )
    await session.execute(
        update(IntentModelVersion)
        .where(
            IntentModelVersion.tenant_id == tenant_id,
            IntentModelVersion.status != "active",
            IntentModelVersion.status != "training",
            IntentModelVersion.version.not_in(kept.scalar_subquery()),
            IntentModelVersion.artifact.is_not(None) | IntentModelVersion.snapshot.is_not(None),
        )
        .values(artifact=None, snapshot=None)
    )


async def rollback_target(session: AsyncSession, tenant_id: uuid.UUID, before: int) -> int | None:
    """The newest kept version older than `before` that was once active (its model served)."""
    return await session.scalar(
        select(IntentModelVersion.version)
        .where(
            IntentModelVersion.tenant_id == tenant_id,
            IntentModelVersion.version < before,
            IntentModelVersion.status == "inactive",
            IntentModelVersion.activated_at.is_not(None),
            IntentModelVersion.artifact.is_not(None),
        )
        .order_by(IntentModelVersion.version.desc())
        .limit(1)
    )
