"""Relays a conversation's token deltas (published by the LLM activity to Redis
`conv:{conversation_id}:tokens`) to a web-chat WebSocket while it is open."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.events import conversation_channel
from core.ids import conversation_uuid
from core.logging import get_logger
from models.conversations import Conversation

log = get_logger()

Send = Callable[[dict], Awaitable[None]]


async def conversation_id_for(sessions: async_sessionmaker[AsyncSession], workflow_id: str) -> uuid.UUID:
    """The stored conversation's id; a conversation not created yet will get the derived one."""
    try:
        async with sessions() as session:
            found = await session.scalar(select(Conversation.id).where(Conversation.workflow_id == workflow_id))
    except (SQLAlchemyError, OSError) as exc:
        # Only the live preview depends on this; the turn itself reports a database outage.
        log.warning("conversation lookup failed; streaming under the derived id", error=repr(exc)[:200])
        found = None
    return found or conversation_uuid(workflow_id)


@asynccontextmanager
async def token_relay(redis: Redis, conversation_id: uuid.UUID, send: Send) -> AsyncIterator[None]:
    """Subscribed on entry, so no token of a turn started inside the block is missed; each delta
    goes out as `{"type": "token", "text": ...}` until the block exits. Deltas are a preview:
    Redis away means the client simply gets the whole reply at the end, as it always does."""
    pubsub = redis.pubsub()
    pump: asyncio.Task | None = None
    try:
        await pubsub.subscribe(conversation_channel(str(conversation_id)))
        pump = asyncio.create_task(_pump(pubsub, send))
    except (RedisError, OSError) as exc:
        log.warning("token stream unavailable for this web chat", error=repr(exc)[:200])
    try:
        yield
    finally:
        if pump is not None:
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
        try:
            await pubsub.aclose()
        except (RedisError, OSError):
            pass


async def _pump(pubsub: PubSub, send: Send) -> None:
    try:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None:
                continue
            try:
                frame = json.loads(message["data"])
                kind, text = frame.get("type"), frame.get("text")
            except (ValueError, AttributeError):
                continue  # not a frame this module knows: skip it rather than end the stream
            if not isinstance(text, str) or not text:
                continue
            if kind == "delta":
                await send({"type": "token", "text": text})
            elif kind == "message":  # a person's reply or a follow-up: shown as a whole message
                await send({"type": "message", "id": frame.get("id"), "text": text, "author": frame.get("author")})
    except (RedisError, OSError) as exc:
        log.warning("token stream lost for this web chat", error=repr(exc)[:200])
