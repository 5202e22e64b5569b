"""Restarting the embedded Temporal dev server and PostgreSQL in place, mid-run: same port,
same data, so every client has to reconnect on its own."""

from __future__ import annotations

import time

from core.embedded.postgres import start_postgres
from core.embedded.stack import EmbeddedStack
from core.embedded.temporal import start_temporal
from core.logging import get_logger

log = get_logger()


def restart_temporal(stack: EmbeddedStack, down_seconds: float = 2.0) -> None:
    server = stack.temporal
    assert server is not None, "Temporal is external: nothing to restart"
    port = int(server.address.rsplit(":", 1)[1])
    log.warning("chaos: stopping the Temporal dev server", address=server.address)
    server.stop()
    time.sleep(down_seconds)
    stack.temporal = start_temporal(
        stack.data_dir / "temporal.db", port=port, headless=True, log_file=stack.data_dir / "temporal.log", cpus=server.cpus
    )
    log.warning("chaos: Temporal dev server is back", address=stack.temporal.address)


def restart_postgres(stack: EmbeddedStack, down_seconds: float = 2.0) -> None:
    server = stack.postgres
    assert server is not None, "PostgreSQL is external: nothing to restart"
    log.warning("chaos: stopping PostgreSQL", datadir=str(server.datadir))
    server.stop()
    time.sleep(down_seconds)
    stack.postgres = start_postgres(server.datadir)
    assert stack.postgres.url == server.url, "PostgreSQL came back at another address"
    log.warning("chaos: PostgreSQL is back")
