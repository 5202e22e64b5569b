"""Reading and recording channel opt-outs (models/consent.py)."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.consent import ChannelOptOut


async def record_consent(
    session: AsyncSession, tenant_id: uuid.UUID, channel_account_id: uuid.UUID, contact_id: str, *, opted_out: bool, keyword: str
) -> None:
    """Idempotent: opting out twice keeps one row; opting in without a row changes nothing."""
    if opted_out:
        await session.execute(
            insert(ChannelOptOut)
            .values(id=uuid.uuid4(), tenant_id=tenant_id, channel_account_id=channel_account_id, contact_id=contact_id, keyword=keyword[:32])
            .on_conflict_do_nothing(index_elements=["channel_account_id", "contact_id"])
        )
    else:
        await session.execute(
            delete(ChannelOptOut).where(
                ChannelOptOut.tenant_id == tenant_id,
                ChannelOptOut.channel_account_id == channel_account_id,
                ChannelOptOut.contact_id == contact_id,
            )
        )


async def is_opted_out(session: AsyncSession, tenant_id: uuid.UUID, channel_account_id: uuid.UUID, contact_id: str) -> bool:
    found = await session.scalar(
        select(ChannelOptOut.id).where(
            ChannelOptOut.tenant_id == tenant_id,
            ChannelOptOut.channel_account_id == channel_account_id,
            ChannelOptOut.contact_id == contact_id,
        )
    )
    return found is not None
