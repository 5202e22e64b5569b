"""What became of the replies we sent: the channel's id for each send, attempts whose outcome
is unknown, and the channel's receipts (sent, delivered, read, failed), which may arrive before
we have recorded the send itself.

Tenant-scoped like models/messages_store.py: every function takes the tenant id.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.conversations import Message, MessageStatusEvent

# Later delivery states win; "failed" always wins (the customer did not get it).
_STATUS_RANK = {"pending": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4}


async def outbound_message(session: AsyncSession, tenant_id: uuid.UUID, message_id: uuid.UUID) -> Message | None:
    return await session.scalar(select(Message).where(Message.tenant_id == tenant_id, Message.id == message_id))


async def record_sent(
    session: AsyncSession, tenant_id: uuid.UUID, message_id: uuid.UUID, provider_message_id: str
) -> None:
    message = await outbound_message(session, tenant_id, message_id)
    if message is None:
        return
    message.provider_message_id = provider_message_id
    message.sent_at = datetime.now(UTC)
    # A receipt may have beaten us here (the channel answers before we commit): apply it now.
    await _lock_receipts_of(session, message.channel_account_id, provider_message_id)
    early = await session.scalars(
        select(MessageStatusEvent.status).where(
            MessageStatusEvent.tenant_id == tenant_id,
            MessageStatusEvent.channel_account_id == message.channel_account_id,
            MessageStatusEvent.provider_message_id == provider_message_id,
        )
    )
    message.status = max(["sent", *early], key=lambda s: _STATUS_RANK.get(s, 0))


async def mark_send_attempt(session: AsyncSession, tenant_id: uuid.UUID, message_id: uuid.UUID, at: datetime | None) -> None:
    """Marks (or, with None, clears) an attempt whose outcome the channel may not have told us."""
    await session.execute(
        update(Message).where(Message.tenant_id == tenant_id, Message.id == message_id).values(send_attempted_at=at)
    )


async def receipted_send(
    session: AsyncSession, tenant_id: uuid.UUID, channel_account_id: uuid.UUID, client_reference: str
) -> str | None:
    """The channel's id for a message it confirmed under our idempotency key, if it did."""
    return await session.scalar(
        select(MessageStatusEvent.provider_message_id)
        .where(
            MessageStatusEvent.tenant_id == tenant_id,
            MessageStatusEvent.channel_account_id == channel_account_id,
            MessageStatusEvent.client_reference == client_reference,
        )
        .limit(1)
    )


async def record_send_failure(
    session: AsyncSession, tenant_id: uuid.UUID, message_id: uuid.UUID, error: str, status: str = "failed"
) -> None:
    """`status` "failed": the channel refused it; "suppressed": we did not send it (opt-out)."""
    await session.execute(
        update(Message)
        .where(Message.tenant_id == tenant_id, Message.id == message_id)
        .values(status=status, error=error[:2000])
    )


async def _lock_receipts_of(session: AsyncSession, channel_account_id: uuid.UUID, provider_message_id: str) -> None:
    """Until the transaction ends: the send being recorded and a receipt for it arriving at the
    same moment take turns. Without it each could miss the other (the receipt's update finds no
    message with that id yet, the send reads the receipts before the receipt commits) and the
    message would stay "sent" after the channel said delivered or failed."""
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(f"receipt:{channel_account_id}:{provider_message_id}", 0)))
    )


async def record_status(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    channel_account_id: uuid.UUID,
    provider_message_id: str,
    status: str,
    occurred_at: float | None,
    detail: dict,
    client_reference: str | None = None,
) -> None:
    """One receipt. Callers recording several in one transaction go in provider id order, so
    two transactions never wait on each other's locks in a circle."""
    await _lock_receipts_of(session, channel_account_id, provider_message_id)
    await session.execute(
        insert(MessageStatusEvent)
        .values(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            channel_account_id=channel_account_id,
            provider_message_id=provider_message_id,
            status=status,
            occurred_at=datetime.fromtimestamp(occurred_at, UTC) if occurred_at else None,
            detail=detail,
            client_reference=client_reference,
        )
        .on_conflict_do_nothing()
    )
    rank = _STATUS_RANK.get(status)
    if rank is None:
        return
    lower = [s for s, r in _STATUS_RANK.items() if r < rank]
    await session.execute(
        update(Message)
        .where(
            and_(
                Message.tenant_id == tenant_id,
                Message.channel_account_id == channel_account_id,
                Message.provider_message_id == provider_message_id,
                Message.status.in_(lower),
            )
        )
        .values(status=status, error=str(detail.get("errors"))[:2000] if status == "failed" else Message.error)
    )
