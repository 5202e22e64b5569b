"""The web-chat live preview: the first words at once, then a few words per publish, and all of
them by the time the reply is complete."""

from __future__ import annotations

import asyncio
import json
import uuid

from redis.asyncio import Redis

from activities.token_preview import TokenPreview
from core import events


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _published(redis: Redis, channel: str, pubsub, count: int) -> list[str]:
    texts: list[str] = []
    while len(texts) < count:
        message = await asyncio.wait_for(pubsub.get_message(ignore_subscribe_messages=True, timeout=2.0), 5)
        if message is not None:
            frame = json.loads(message["data"])
            assert frame["type"] == "delta"
            texts.append(frame["text"])
    return texts


async def test_deltas_are_sent_together_and_none_is_left_behind(deps):
    conversation_id = str(uuid.uuid4())
    pubsub = deps.redis.pubsub()
    await pubsub.subscribe(events.conversation_channel(conversation_id))
    clock = Clock()
    preview = TokenPreview(deps.redis, conversation_id, every_s=0.05, clock=clock)
    try:
        for word in ("Your ", "order ", "ships ", "today"):
            await preview(word)
            clock.now += 0.01
        clock.now += 0.1
        await preview(", promise.")  # the interval has passed: sent with what waited
        await preview(" Anything")
        await preview(" else?")
        await preview.flush()  # the reply is complete
        await preview.flush()  # nothing left: nothing sent
        texts = await _published(deps.redis, events.conversation_channel(conversation_id), pubsub, 3)
        assert texts == ["Your ", "order ships today, promise.", " Anything else?"]
        assert await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.3) is None
    finally:
        await pubsub.aclose()


async def test_a_redis_outage_never_fails_the_reply():
    broken = Redis.from_url("redis://127.0.0.1:1/0")  # nothing listens there
    preview = TokenPreview(broken, str(uuid.uuid4()))
    await preview("Hello")
    await preview.flush()
    await broken.aclose()
