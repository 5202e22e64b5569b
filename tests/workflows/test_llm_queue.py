"""Replies are generated on the LLM task queue when one is configured (`frontdesk dev` runs a
worker for it); without that worker, turns wait for it instead of failing."""

from __future__ import annotations

import asyncio
import uuid

from workers.main import build_worker


async def _chat(http, tenant, session_id: str, text: str, message_id: str | None = None):
    body = {"session_id": session_id, "client_message_id": message_id or uuid.uuid4().hex, "text": text}
    return await http.post(f"/v1/webchat/{tenant.webchat_id}/messages", json=body)


async def test_replies_come_from_the_llm_queue_worker(make_api, settings, temporal, deps, tenant, openai_standin):
    conversations, llm_queue = f"conv-{uuid.uuid4().hex[:8]}", f"llm-{uuid.uuid4().hex[:8]}"
    split = settings.model_copy(update={"task_queue": conversations, "llm_task_queue": llm_queue})
    http = await make_api(task_queue=conversations, llm_task_queue=llm_queue, webchat_reply_timeout_seconds=3)
    workers = [build_worker(temporal, deps, split)]  # conversations only: replies belong to the LLM queue
    tasks = [asyncio.create_task(workers[0].run())]
    try:
        waiting = await _chat(http, tenant, "q-1", "is anyone writing replies?", message_id="first")
        assert waiting.status_code == 504  # no LLM worker yet: the turn waits, nobody gets a fallback
        assert openai_standin.calls_for(tenant.model) == []

        workers.append(build_worker(temporal, deps, split, llm_queue))
        tasks.append(asyncio.create_task(workers[1].run()))
        retried = await _chat(http, tenant, "q-1", "is anyone writing replies?", message_id="first")
        assert retried.status_code == 200, retried.text
        assert retried.json()["reply"] == f"[{tenant.model}] is anyone writing replies?"
        assert len(openai_standin.calls_for(tenant.model)) == 1
    finally:
        for worker in workers:
            await worker.shutdown()
        await asyncio.gather(*tasks, return_exceptions=True)
