"""What the agent remembers of a conversation beyond its recent turns: the rolling summary of the
older ones, key facts (order numbers, name, preferred language, the open question) and the last
topic, which greets the customer when they come back.

One row per conversation. `summarised_through_seq` is the newest message the summary covers; it
only ever moves forward (models/conversation_memory_store.save_summary), so a summary retried late
by Temporal never replaces a newer one.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Text, func
from sqlalchemy import text as sql
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantOwned


class ConversationMemory(TenantOwned, Base):
    __tablename__ = "conversation_memories"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    summary: Mapped[str] = mapped_column(Text, nullable=False, server_default=sql("''"))
    summarised_through_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=sql("0"))
    key_facts: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=sql("'{}'::jsonb"))
    last_topic: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
