"""Run an ASGI app on a loopback port inside the current event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import uvicorn

from core.embedded.ports import free_port


@dataclass
class RunningServer:
    url: str
    server: uvicorn.Server
    task: asyncio.Task

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task


async def serve(app, port: int | None = None) -> RunningServer:
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # the test runner owns signals
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # surfaces the start-up error
        await asyncio.sleep(0.02)
    return RunningServer(url=f"http://127.0.0.1:{port}", server=server, task=task)


@asynccontextmanager
async def served(standin) -> AsyncIterator:
    """A stand-in (anything with `.app()` and a `.url` to fill in) on a loopback port for the block."""
    server = await serve(standin.app())
    standin.url = server.url
    try:
        yield standin
    finally:
        await server.stop()
