"""The agent calls tools inside the conversation's turn: results reach the customer's answer,
bad calls go back to the model, money moves only after the customer's yes."""

from __future__ import annotations

import asyncio
import json
import uuid

from sqlalchemy import func, select

from agent.confirmation import NO_PAYLOAD
from agent.notices import notice
from core.ids import conversation_workflow_id
from models.agent_tools import OrderAction, ToolCall
from tests.workflows.agent_helpers import chat, conversation_of, give_order, order_state, outbound_texts


async def _customer(http, deps, tenant, session: str):
    await chat(http, tenant.webchat_id, session, "hello")
    conversation = await conversation_of(deps, tenant.tenant_id, session)
    return conversation


async def _tool_calls(deps, conversation_id) -> list[ToolCall]:
    async with deps.sessions() as session:
        return list(await session.scalars(select(ToolCall).where(ToolCall.conversation_id == conversation_id).order_by(ToolCall.created_at)))


async def _refunds(deps, order_id) -> int:
    async with deps.sessions() as session:
        return await session.scalar(select(func.count()).select_from(OrderAction).where(OrderAction.order_id == order_id, OrderAction.kind == "refund"))


async def test_a_tracked_order_reaches_the_answer(http, deps, tenant, temporal):
    conversation = await _customer(http, deps, tenant, "track-1")
    await give_order(deps, tenant.tenant_id, conversation.customer_id, tracking=[{"number": "1Z999AA1", "company": "UPS", "url": None}])

    reply = await chat(http, tenant.webchat_id, "track-1", "Please track my order 1001")

    assert "1Z999AA1" in reply["reply"] and "#1001" in reply["reply"]
    [call] = await _tool_calls(deps, conversation.id)
    assert (call.tool, call.status, call.arguments) == ("track_order", "ok", {"order_number": "1001"})
    # Visible where an operator looks: the tool activity with its input in the workflow history.
    handle = temporal.get_workflow_handle(conversation_workflow_id(tenant.tenant_id, tenant.webchat_id, "track-1"))
    history = await handle.fetch_history()
    scheduled = [e.activity_task_scheduled_event_attributes for e in history.events if e.HasField("activity_task_scheduled_event_attributes")]
    assert "run_tool" in [s.activity_type.name for s in scheduled]


async def test_another_customers_order_is_not_found(http, deps, tenant):
    owner = await _customer(http, deps, tenant, "owner-1")
    await give_order(deps, tenant.tenant_id, owner.customer_id, number="#2002", tracking=[{"number": "SECRET-TRACK", "company": "DHL"}])
    await _customer(http, deps, tenant, "stranger-1")

    reply = await chat(http, tenant.webchat_id, "stranger-1", "Please track my order 2002")

    assert "SECRET-TRACK" not in reply["reply"] and "no order #2002" in reply["reply"]


async def test_bad_arguments_go_back_to_the_model_not_the_database(http, deps, tenant, openai_standin):
    conversation = await _customer(http, deps, tenant, "badargs-1")
    openai_standin.scripted_tool_calls.append(("track_order", {"order_number": 1001, "color": "red"}))

    reply = await chat(http, tenant.webchat_id, "badargs-1", "where is it")

    assert "invalid arguments for track_order" in reply["reply"]
    [call] = await _tool_calls(deps, conversation.id)
    assert call.status == "invalid"
    # The model read the refusal as the tool's result, and was asked again with it.
    last_request = openai_standin.calls_for(tenant.model)[-1]
    assert last_request["messages"][-1]["role"] == "tool" and "invalid arguments" in last_request["messages"][-1]["content"]


async def test_tool_rounds_stop_at_the_limit(http, deps, tenant, openai_standin):
    conversation = await _customer(http, deps, tenant, "rounds-1")
    openai_standin.scripted_tool_calls.extend([("get_customer_profile", {})] * 9)
    before = len(openai_standin.calls_for(tenant.model))

    reply = await chat(http, tenant.webchat_id, "rounds-1", "who am i")

    calls = await _tool_calls(deps, conversation.id)
    assert len(calls) == 5  # the default limit of model ↔ tool rounds per turn
    requests = openai_standin.calls_for(tenant.model)[before:]
    assert len(requests) == 6 and not requests[-1]["tools"]  # the last request offered no tools...
    assert reply["reply"]  # ...and the customer got an answer
    openai_standin.scripted_tool_calls.clear()


async def test_refund_runs_only_after_yes(http, deps, tenant):
    conversation = await _customer(http, deps, tenant, "refund-yes")
    order_id = await give_order(deps, tenant.tenant_id, conversation.customer_id)

    asked = await chat(http, tenant.webchat_id, "refund-yes", "Please refund order 1001")

    assert "#1001" in asked["reply"] and "59.90" in asked["reply"]
    assert [b["id"] for b in asked["buttons"]] == ["confirm:yes", "confirm:no"]
    assert await order_state(deps, order_id) == ("open", "paid")
    assert await _refunds(deps, order_id) == 0

    done = await chat(http, tenant.webchat_id, "refund-yes", "yes")

    assert await order_state(deps, order_id) == ("open", "refunded")
    assert await _refunds(deps, order_id) == 1
    assert "refunded" in done["reply"]


async def test_refund_declined_with_the_no_button_does_nothing(http, deps, tenant):
    conversation = await _customer(http, deps, tenant, "refund-no")
    order_id = await give_order(deps, tenant.tenant_id, conversation.customer_id)
    await chat(http, tenant.webchat_id, "refund-no", "Please refund order 1001")

    reply = await chat(http, tenant.webchat_id, "refund-no", "No", reply_payload=NO_PAYLOAD)

    assert await order_state(deps, order_id) == ("open", "paid") and await _refunds(deps, order_id) == 0
    assert json.loads(reply["reply"].split("] ", 1)[1])["status"] == "declined"


async def test_something_else_than_yes_is_not_a_yes(http, deps, tenant):
    conversation = await _customer(http, deps, tenant, "refund-other")
    order_id = await give_order(deps, tenant.tenant_id, conversation.customer_id)
    await chat(http, tenant.webchat_id, "refund-other", "Please refund order 1001")

    await chat(http, tenant.webchat_id, "refund-other", "yes but what about the shipping fee?")

    assert await order_state(deps, order_id) == ("open", "paid") and await _refunds(deps, order_id) == 0


async def test_unanswered_confirmation_expires_as_no(make_api, deps, tenant):
    http = await make_api(confirmation_timeout_seconds=2)
    session = f"refund-timeout-{uuid.uuid4().hex[:6]}"
    conversation = await _customer(http, deps, tenant, session)
    order_id = await give_order(deps, tenant.tenant_id, conversation.customer_id)
    await chat(http, tenant.webchat_id, session, "Please refund order 1001")

    expired = notice("confirmation_expired", None)
    for _ in range(40):
        if expired in await outbound_texts(deps, conversation.id):
            break
        await asyncio.sleep(0.25)
    assert expired in await outbound_texts(deps, conversation.id)

    late = await chat(http, tenant.webchat_id, session, "yes")  # too late: an ordinary message now
    assert await order_state(deps, order_id) == ("open", "paid") and await _refunds(deps, order_id) == 0
    assert late["reply"] == f"[{tenant.model}] yes"
