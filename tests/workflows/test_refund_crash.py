"""A worker killed after the customer's yes: the refund is made once, and the answer still comes."""

from __future__ import annotations

import asyncio
import signal
import uuid

from sqlalchemy import func, select

from models.agent_tools import OrderAction
from tests.factories import eventually
from tests.workflows.agent_helpers import chat, conversation_of, give_order, order_state
from tests.workflows.test_worker_crash import _start_worker


async def _post(http, account_id: str, session: str, message_id: str) -> None:
    body = {"session_id": session, "client_message_id": message_id, "text": "yes"}
    await http.post(f"/v1/webchat/{account_id}/messages", json=body)  # may time out (504): the resend collects it


async def _resend_until_answered(http, account_id: str, session: str, message_id: str) -> dict:
    body = {"session_id": session, "client_message_id": message_id, "text": "yes"}
    for _ in range(4):
        r = await http.post(f"/v1/webchat/{account_id}/messages", json=body)
        if r.status_code != 504:
            break
    assert r.status_code == 200, r.text
    return r.json()


async def test_refund_confirmed_then_worker_killed_refunds_once(make_api, settings, tenant, openai_standin, deps):
    queue = f"refund-crash-{uuid.uuid4()}"
    http = await make_api(task_queue=queue)
    worker = _start_worker(settings, queue)
    session = f"refund-crash-{uuid.uuid4().hex[:6]}"
    marker, slow = openai_standin.slow_marker, openai_standin.slow_seconds
    try:
        await chat(http, tenant.webchat_id, session, "hello")
        conversation = await conversation_of(deps, tenant.tenant_id, session)
        order_id = await give_order(deps, tenant.tenant_id, conversation.customer_id)
        asked = await chat(http, tenant.webchat_id, session, "Please refund order 1001")
        assert "Reply yes or no" in asked["reply"]

        # The model's answer after the refund stalls: the worker dies with the refund made and
        # the turn unfinished.
        openai_standin.slow_marker, openai_standin.slow_seconds = "yes", 4.0
        calls_before = len(openai_standin.calls_for(tenant.model))
        yes_id = uuid.uuid4().hex
        answered = asyncio.create_task(_post(http, tenant.webchat_id, session, yes_id))

        async def answering() -> bool:
            return len(openai_standin.calls_for(tenant.model)) > calls_before

        await eventually(answering, timeout=30, what="the model call after the refund")
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        openai_standin.slow_seconds = 0.0
        worker = _start_worker(settings, queue)

        await asyncio.wait({answered}, timeout=60)
        # The widget sends a message again (same id) while its reply is slow: it gets the one answer.
        reply = await _resend_until_answered(http, tenant.webchat_id, session, yes_id)
        assert "refunded" in reply["reply"]
        assert await order_state(deps, order_id) == ("open", "refunded")
        async with deps.sessions() as db:
            refunds = await db.scalar(select(func.count()).select_from(OrderAction).where(OrderAction.order_id == order_id))
        assert refunds == 1
    finally:
        openai_standin.slow_marker, openai_standin.slow_seconds = marker, slow
        worker.kill()
        worker.wait()
