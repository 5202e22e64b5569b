"""The steps of RetentionSweepWorkflow (conversation queue: its workers see the media
directory): which tenants set a retention period, and one tenant's purge."""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
import asyncio
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from temporalio import activity

from activities.deps import ActivityDeps
from activities.ids import uuid_arg
from models.audit import AuditEntry
from models.retention_store import DEDUP_GUARD, PurgeCounts, purge_step, tenants_with_retention
from models.tenant_db import tenant_transaction
from voice.media_store import MediaStore

log = structlog.get_logger()

TENANTS_PER_PAGE = 200
ROWS_PER_STEP = 2_000  # per table and transaction: short locks on busy tables


@dataclass
class RetentionTenant:
    tenant_id: str
    days: int


@dataclass
class RetentionPage:
    tenants: list[RetentionTenant] = field(default_factory=list)
    next_after: str | None = None  # None: this was the last page


@dataclass
class PurgeInput:
    tenant_id: str
    days: int


class RetentionActivities:
    def __init__(self, deps: ActivityDeps, media: MediaStore) -> None:
        self._deps = deps
        self._media = media

    @activity.defn
    async def list_retention_tenants(self, after: str | None) -> RetentionPage:
        async with self._deps.sessions() as session:
            rows = await tenants_with_retention(session, uuid_arg(after, "after") if after else None, TENANTS_PER_PAGE)
        tenants = [RetentionTenant(str(tenant_id), days) for tenant_id, days in rows]
        return RetentionPage(tenants, tenants[-1].tenant_id if len(tenants) == TENANTS_PER_PAGE else None)

    @activity.defn
    async def purge_expired(self, input: PurgeInput) -> PurgeCounts:
        """Everything of the tenant's past its period, in short transactions; a retry starts
        over and finds less to do. The purge is written to the tenant's audit log."""
        tenant_id = uuid_arg(input.tenant_id, "tenant_id")
        now = datetime.now(UTC)
        cutoff, guard = now - timedelta(days=input.days), now - DEDUP_GUARD
        total = PurgeCounts()
        while True:
            async with tenant_transaction(self._deps.sessions, tenant_id) as session:
                step = await purge_step(session, tenant_id, cutoff, guard, ROWS_PER_STEP)
            total.add(step)
            activity.heartbeat(asdict(total))
            if max(asdict(step).values()) < ROWS_PER_STEP:
                break
        total.media_files_deleted = await asyncio.to_thread(self._media.remove_older_than, input.tenant_id, cutoff.timestamp())
        if total.total():
            async with tenant_transaction(self._deps.sessions, tenant_id) as session:
                session.add(
                    AuditEntry(
                        tenant_id=tenant_id, actor_type="platform", actor_id="retention", action="retention.purge",
                        target_type="tenant", target_id=str(tenant_id),
                        changes={"retention_days": input.days, "before": cutoff.isoformat(), **asdict(total)},
                    )
                )  # fmt: skip
            log.info("retention purge", tenant_id=str(tenant_id), retention_days=input.days, **asdict(total))
        return total
