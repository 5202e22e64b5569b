"""The chaos soak, short: ~100 turns with worker kills, a Temporal restart and a PostgreSQL
restart, on a stack of its own. Nothing may be lost, answered twice or left stuck."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXTERNAL = ("TEMPORAL_ADDRESS", "DATABASE_URL", "REDIS_URL", "FRONTDESK_MASTER_KEY")


async def test_short_chaos_run_loses_and_duplicates_nothing():
    env = {k: v for k, v in os.environ.items() if k not in EXTERNAL}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.chaos", "--turns", "100", "--conversations", "10", "--kill-every", "5", "--seed", "7",
        cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=600)
    lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    assert lines, err.decode()[-3000:]
    result = lines[-1]
    assert (result["lost"], result["duplicated"], result["stuck"]) == (0, 0, 0), err.decode()[-3000:]
    assert result["turns"] == 100
    assert result["worker_kills"] >= 1 and result["restarts"] >= 1
    assert result["llm_calls"].get("ok") and sum(v for k, v in result["llm_calls"].items() if k != "ok") > 0
    assert process.returncode == 0
