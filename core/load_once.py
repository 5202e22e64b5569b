"""A value built on first use, once per process, whichever thread asks first: models that take
seconds and tens of megabytes to load, which a process may never need."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LoadOnce(Generic[T]):
    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        with self._lock:  # callers run in worker threads (asyncio.to_thread)
            if self._value is None:
                self._value = self._build()
            return self._value
