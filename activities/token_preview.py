"""The live preview of a reply in an open web-chat widget: the model's text as it streams,
published to the conversation's Redis channel (api/token_stream.py relays it).

A model streams a token or a word per chunk; publishing each one cost a Redis round trip per
word, awaited inside the stream. Deltas that arrive within `every_s` of the last publish are
sent together instead: the first at once (time to first token is what a customer notices), then
at most one publish per interval, and the rest when the reply is complete.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from redis.asyncio import Redis

from core import events
from core.logging import get_logger

log = get_logger()

PREVIEW_EVERY_S = 0.05


class TokenPreview:
    def __init__(self, redis: Redis, conversation_id: str, every_s: float = PREVIEW_EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._redis = redis
        self._channel = events.conversation_channel(conversation_id)
        self._every_s = every_s
        self._clock = clock
        self._pending: list[str] = []
        self._last_sent = float("-inf")

    async def __call__(self, delta: str) -> None:
        """The gateway's text sink: called with each streamed piece of the reply."""
        self._pending.append(delta)
        if self._clock() - self._last_sent >= self._every_s:
            await self.flush()

    async def flush(self) -> None:
        """Publishes what is waiting. Best effort: a lost delta only makes the preview stutter;
        the reply itself is the workflow's result, not these."""
        if not self._pending:
            return
        text, self._pending = "".join(self._pending), []
        self._last_sent = self._clock()
        try:
            await self._redis.publish(self._channel, json.dumps({"type": "delta", "text": text}))
        except Exception as exc:  # noqa: BLE001 - never fail a turn over a preview
            log.debug("token delta not published", error=repr(exc)[:200])
