"""A worker killed mid-turn: the turn completes exactly once after a new worker starts."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from sqlalchemy import func, select

from models.conversations import Message
from tests.factories import eventually, new_phone, new_wamid, signature, whatsapp_payload

REPO = Path(__file__).resolve().parents[2]


def _start_worker(settings, task_queue: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "FRONTDESK_MASTER_KEY": settings.master_key.get_secret_value(),
        "FRONTDESK_TASK_QUEUE": task_queue,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "core.cli", "worker", "--queue", "frontdesk"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def test_sigkill_mid_turn_completes_exactly_once(make_api, settings, tenant, openai_standin, graph_standin, deps):
    queue = f"crash-{uuid.uuid4()}"
    http = await make_api(task_queue=queue)
    openai_standin.slow_seconds = 3.0
    worker = _start_worker(settings, queue)
    try:
        phone, wamid = new_phone(), new_wamid()
        body = whatsapp_payload(tenant.phone_number_id, [(phone, wamid, "SLOW: where is order 77?")])
        r = await http.post(f"/webhooks/whatsapp/{tenant.whatsapp_id}", content=body,
                            headers={"x-hub-signature-256": signature(body, tenant.app_secret)})  # fmt: skip
        assert r.status_code == 200

        async def llm_call_in_flight() -> bool:
            return len(openai_standin.calls_for(tenant.model)) >= 1

        await eventually(llm_call_in_flight, timeout=30, what="the LLM call to start")
        worker.send_signal(signal.SIGKILL)  # mid-turn: inbound stored, reply being generated
        worker.wait()
        assert len(graph_standin.sends_to(phone)) == 0

        worker = _start_worker(settings, queue)

        async def replied() -> bool:
            return len(graph_standin.sends_to(phone)) >= 1

        await eventually(replied, timeout=60, what="the reply after restart")
        await asyncio.sleep(2)
        sends = graph_standin.sends_to(phone)
        assert len(sends) == 1
        assert sends[0].text == f"[{tenant.model}] SLOW: where is order 77?"
        async with deps.sessions() as session:
            rows = (
                await session.execute(
                    select(Message.direction, func.count())
                    .where(Message.tenant_id == uuid.UUID(tenant.tenant_id))
                    .group_by(Message.direction)
                )
            ).all()
        assert dict(rows) == {"inbound": 1, "outbound": 1}
    finally:
        worker.kill()
        worker.wait()
