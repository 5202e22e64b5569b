"""A small in-process cache with expiry, for configuration read on every turn."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(self, seconds: float, max_entries: int = 10_000) -> None:
        self._seconds = seconds
        self._max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}

    async def get_or_load(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and now - hit[0] < self._seconds:
            return hit[1]
        value = await load()
        if len(self._entries) >= self._max_entries:  # unknown keys must not grow it without bound
            self._entries.clear()
        self._entries[key] = (now, value)
        return value

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)

    def peek(self, key: K) -> V | None:
        """The value held for `key`, expired or not: a reload can reuse what did not change."""
        hit = self._entries.get(key)
        return hit[1] if hit is not None else None
