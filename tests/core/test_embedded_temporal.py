"""The embedded Temporal dev server: an orphan left on our data file is replaced, not collided with."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil

from core.embedded.ports import free_port, port_open
from core.embedded.temporal import start_temporal

REPO = Path(__file__).resolve().parents[2]


def test_orphaned_dev_server_on_our_file_is_replaced(tmp_path):
    db_file, port = tmp_path / "temporal.db", free_port()
    # A process that starts the server and dies without stopping it, like a SIGKILLed supervisor.
    subprocess.run(
        [sys.executable, "-c", (
            "import os; from pathlib import Path; from core.embedded.temporal import start_temporal; "
            f"start_temporal(Path({str(db_file)!r}), port={port}, headless=True); os._exit(0)"
        )],
        cwd=REPO, check=True, timeout=60,
    )  # fmt: skip
    assert port_open("127.0.0.1", port)
    [orphan] = [p for p in psutil.process_iter(["cmdline"]) if str(db_file) in (p.info["cmdline"] or [])]

    fresh = start_temporal(db_file, port=port, headless=True)
    try:
        assert not orphan.is_running() or orphan.status() == psutil.STATUS_ZOMBIE
        assert fresh.process.poll() is None and fresh.address == f"127.0.0.1:{port}"
    finally:
        fresh.stop()
