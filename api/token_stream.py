"""Relays a conversation's token deltas (published by the LLM activity to Redis
`conv:{conversation_id}:tokens`) to a web-chat WebSocket while it is open."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.ids import conversation_uuid
from core.logging import get_logger
from models.conversations import Conversation

log = get_logger()


async def conversation_id_for(sessions: async_sessionmaker[AsyncSession], workflow_id: str) -> uuid.UUID:
    """The stored conversation's id; a conversation not created yet will get the derived one."""
    async with sessions() as session:
        found = await session.scalar(select(Conversation.id).where(Conversation.workflow_id == workflow_id))
    return found or conversation_uuid(workflow_id)


async def relay_tokens(redis: Redis, conversation_id: uuid.UUID, send: Callable[[dict], Awaitable[None]]) -> None:
    """Runs until cancelled. Deltas are a preview: Redis away means the client simply gets the
    whole reply at the end, as it always does."""
    pubsub = redis.pubsub()
    try:
        await pubsub.subscribe(f"conv:{conversation_id}:tokens")
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None:
                await send(json.loads(message["data"]))
    except (RedisError, OSError) as exc:
        log.warning("token stream unavailable for this web chat", error=repr(exc)[:200])
    finally:
        await pubsub.aclose()
