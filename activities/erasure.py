"""The step of EraseCustomerWorkflow (conversation queue: its workers see the media directory)."""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
import asyncio
from dataclasses import asdict, dataclass
from pathlib import Path

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps
from activities.ids import uuid_arg
from models.audit import AuditEntry
from models.customers import Customer
from models.erasure_store import ErasureCounts, erase_customer, media_references
from models.tenant_db import tenant_transaction
from voice.media_store import MediaStore

log = structlog.get_logger()


@dataclass
class EraseCustomerInput:
    tenant_id: str
    customer_id: str
    requested_by: str  # the audit log's actor, "api_key:<id>" or "user:<id>"


class ErasureActivities:
    def __init__(self, deps: ActivityDeps, media: MediaStore) -> None:
        self._deps = deps
        self._media = media

    @activity.defn
    async def erase_customer(self, input: EraseCustomerInput) -> ErasureCounts:
        """The customer's media files first, then everything else in one transaction: a retry
        after a crash between the two finds the files gone and erases the rest."""
        tenant_id, customer_id = uuid_arg(input.tenant_id, "tenant_id"), uuid_arg(input.customer_id, "customer_id")
        async with tenant_transaction(self._deps.sessions, tenant_id) as session:
            if await session.get(Customer, customer_id) is None:
                raise ApplicationError(f"no customer {customer_id}", type="InvalidInput", non_retryable=True)
            references = await media_references(session, tenant_id, customer_id)
        removed = await asyncio.to_thread(self._remove_media, references)
        async with tenant_transaction(self._deps.sessions, tenant_id) as session:
            counts = await erase_customer(session, tenant_id, customer_id)
            counts.media_files_deleted = removed
            session.add(
                AuditEntry(
                    tenant_id=tenant_id, actor_type="platform", actor_id=input.requested_by[:200], action="customer.erase",
                    target_type="customer", target_id=str(customer_id), changes=asdict(counts),
                )
            )  # fmt: skip
        log.info("customer erased", tenant_id=str(tenant_id), customer_id=str(customer_id), **asdict(counts))
        return counts

    def _remove_media(self, references: list[str]) -> int:
        removed = 0
        for reference in references:
            path = Path(reference)
            # Content holds texts and ids as well: only absolute paths inside the media store are files of ours.
            if path.is_absolute() and self._media.contains(path) and path.is_file():
                path.unlink(missing_ok=True)
                removed += 1
        return removed
