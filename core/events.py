"""Live events for a tenant's dashboards (new messages, handoffs), over Redis pub/sub.

Best effort by design: the database is the record; an event lost while Redis is away only
delays a dashboard until its next refresh, so a publish failure never fails a turn.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.logging import get_logger

log = get_logger()


def tenant_channel(tenant_id: str) -> str:
    return f"events:{tenant_id}"


def conversation_channel(conversation_id: str) -> str:
    """What an open web-chat widget hears: reply tokens as they are written, and messages
    nobody's message asked for (a person's reply, a follow-up)."""
    return f"conv:{conversation_id}:tokens"


# Publishes in flight, kept referenced until done (the event loop holds tasks only weakly).
_in_flight: set[asyncio.Task] = set()


async def _send(redis: Redis, tenant_id: str, message: str, event_type: str) -> None:
    try:
        await redis.publish(tenant_channel(tenant_id), message)
    except (RedisError, OSError) as exc:
        log.warning("dashboard event not published", event_type=event_type, error=repr(exc)[:200])


def publish(redis: Redis, tenant_id: str, event_type: str, **fields: Any) -> None:
    """Sends in the background: a turn never waits on a dashboard notification."""
    message = json.dumps({"type": event_type, **fields}, default=str)
    task = asyncio.get_running_loop().create_task(_send(redis, tenant_id, message, event_type))
    _in_flight.add(task)
    task.add_done_callback(_in_flight.discard)
