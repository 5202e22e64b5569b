"""Live events for a tenant's dashboards (new messages, handoffs), over Redis pub/sub.

Best effort by design: the database is the record; an event lost while Redis is away only
delays a dashboard until its next refresh, so a publish failure never fails a turn.
"""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.logging import get_logger

log = get_logger()


def tenant_channel(tenant_id: str) -> str:
    return f"events:{tenant_id}"


async def publish(redis: Redis, tenant_id: str, event_type: str, **fields: Any) -> None:
    try:
        await redis.publish(tenant_channel(tenant_id), json.dumps({"type": event_type, **fields}, default=str))
    except (RedisError, OSError) as exc:
        log.warning("dashboard event not published", event_type=event_type, error=repr(exc)[:200])
