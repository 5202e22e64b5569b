"""Erasing one customer at their request (the right to erasure): what they wrote and what we
know of them, across every conversation they had with the tenant.

Rows that other things depend on are blanked rather than deleted: a message row stays, empty,
because its channel message id is what recognises a redelivery (and its order keeps the
conversation readable as "an erased message"); a tool call stays, without its arguments and
result, because its row is what stops a retried refund from running twice. The customer row
stays too, nameless and without identities: orders and tickets the tenant must keep for its
own books point at it. What only described the customer goes: summaries, search queries,
delivery receipts (they carry the recipient's number), unapproved training samples.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from models.retention_store import execute_counted

ERASED = "(erased at the customer's request)"

_CONVERSATIONS = "SELECT id FROM conversations WHERE tenant_id = :tenant AND customer_id = :customer"

# (counter, statement); receipts go first: they are found through the messages' provider ids.
_STATEMENTS = (
    ("receipts_deleted", f"""
        DELETE FROM message_status_events e USING messages m
        WHERE m.conversation_id IN ({_CONVERSATIONS}) AND m.provider_message_id IS NOT NULL
          AND e.tenant_id = :tenant AND e.channel_account_id = m.channel_account_id
          AND e.provider_message_id = m.provider_message_id"""),
    ("messages_blanked", f"""
        UPDATE messages SET text = '', content = '{{}}'::jsonb, error = NULL
        WHERE conversation_id IN ({_CONVERSATIONS}) AND (text <> '' OR content <> '{{}}'::jsonb OR error IS NOT NULL)"""),
    ("summaries_deleted", f"DELETE FROM conversation_memories WHERE conversation_id IN ({_CONVERSATIONS})"),
    ("searches_deleted", f"DELETE FROM retrieval_events WHERE tenant_id = :tenant AND conversation_id IN ({_CONVERSATIONS})"),
    ("tool_calls_blanked", f"""
        UPDATE tool_calls SET arguments = '{{}}'::jsonb, result = '{{"erased": true}}'::jsonb, error = NULL
        WHERE conversation_id IN ({_CONVERSATIONS}) AND arguments <> '{{}}'::jsonb"""),
    ("samples_deleted", f"""
        DELETE FROM training_samples
        WHERE tenant_id = :tenant AND conversation_id IN ({_CONVERSATIONS}) AND status <> 'approved'"""),
    ("tickets_blanked", """
        UPDATE tickets SET subject = :erased, description = :erased
        WHERE tenant_id = :tenant AND customer_id = :customer AND description <> :erased"""),
    ("identities_deleted", "DELETE FROM customer_identities WHERE tenant_id = :tenant AND customer_id = :customer"),
    ("profile_cleared", """
        UPDATE customers SET display_name = NULL, email = NULL, phone = NULL
        WHERE tenant_id = :tenant AND id = :customer AND (display_name IS NOT NULL OR email IS NOT NULL OR phone IS NOT NULL)"""),
)


@dataclass
class ErasureCounts:
    receipts_deleted: int = 0
    messages_blanked: int = 0
    summaries_deleted: int = 0
    searches_deleted: int = 0
    tool_calls_blanked: int = 0
    samples_deleted: int = 0
    tickets_blanked: int = 0
    identities_deleted: int = 0
    profile_cleared: int = 0
    media_files_deleted: int = 0


async def media_references(session: AsyncSession, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> list[str]:
    """Every string in the customer's messages' content (the media files among them are theirs)."""
    rows = await session.scalars(
        text(f"SELECT content FROM messages WHERE conversation_id IN ({_CONVERSATIONS}) AND content <> '{{}}'::jsonb"),
        {"tenant": tenant_id, "customer": customer_id},
    )
    found: list[str] = []
    for content in rows:
        _strings(content, found)
    return found


def _strings(value: Any, found: list[str]) -> None:
    if isinstance(value, str):
        found.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            _strings(item, found)
    elif isinstance(value, list):
        for item in value:
            _strings(item, found)


async def erase_customer(session: AsyncSession, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> ErasureCounts:
    """One transaction: the customer is erased entirely or not at all. Erasing again finds
    nothing left and counts zeros."""
    return await execute_counted(session, _STATEMENTS, {"tenant": tenant_id, "customer": customer_id, "erased": ERASED}, ErasureCounts())
