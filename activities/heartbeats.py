"""Heartbeats while an activity waits on something that reports no progress of its own (a
provider call, CPU-bound work in a thread), so Temporal notices a dead worker within the
heartbeat timeout whatever the step takes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from temporalio import activity

HEARTBEAT_EVERY_S = 2.0


@asynccontextmanager
async def heartbeating(progress: Callable[[], object] | None = None, every_s: float = HEARTBEAT_EVERY_S) -> AsyncIterator[None]:
    """Beats every `every_s` while the body runs, with `progress()` as the details. Not at once:
    the heartbeat timeout already runs from the start, and most calls end before the first beat
    is due (a heartbeat is a write on the Temporal server). Outside an activity: a no-op."""
    if not activity.in_activity():
        yield
        return

    async def beat() -> None:
        while True:
            await asyncio.sleep(every_s)
            activity.heartbeat(*([progress()] if progress else []))

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
