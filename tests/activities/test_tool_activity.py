"""The tool activity: every call audited, a refund retried after a crash refunds once, bad calls
and unconfirmed money movements write nothing, and a failing tool leaves no trace for its retry."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.tools import NEEDS_CONFIRMATION, PrepareConfirmationInput, RunToolInput, ToolActivities, ToolResult
from agent.tools.builtin import BUILTIN_TOOLS, default_registry
from agent.tools.registry import Tool, ToolRefused, ToolRegistry
from agent.tools.scope import conversation_of, customer_of, tenant_of
from models import agent_tools_store as store
from models.agent_tools import Ticket, ToolCall
from tests.agent.shop import Shopper, add_order, new_shopper, order_actions, order_row
from tests.api.admin.conftest import admin_key_for, bearer


def _input(shopper: Shopper, name: str, arguments: dict, *, key: str | None = None, **extra) -> RunToolInput:
    return RunToolInput(
        tenant_id=shopper.tenant_id, conversation_id=shopper.conversation_id, customer_id=shopper.customer_id, channel="whatsapp",
        call_id=f"call_{uuid.uuid4().hex[:8]}", name=name, arguments=arguments, idempotency_key=key or f"conv:test:{uuid.uuid4()}",
        **extra,
    )  # fmt: skip


async def run(deps, input: RunToolInput, registry: ToolRegistry | None = None) -> ToolResult:
    return await ActivityEnvironment().run(ToolActivities(deps, registry).run_tool, input)


async def audit(deps, shopper: Shopper) -> list[tuple[str, str, str | None]]:
    async with deps.sessions() as session:
        rows = await session.execute(
            select(ToolCall.tool, ToolCall.status, ToolCall.error)
            .where(ToolCall.conversation_id == uuid.UUID(shopper.conversation_id))
            .order_by(ToolCall.created_at, ToolCall.id)
        )
    return [tuple(r) for r in rows]


@pytest.fixture
async def shopper(deps, tenant) -> Shopper:
    return await new_shopper(deps.sessions, tenant)


async def test_a_refund_retried_with_its_key_refunds_once_and_answers_the_same(deps, shopper):
    order_id = await add_order(deps.sessions, shopper, "#1001")
    refund = _input(shopper, "refund_order", {"order_number": "1001", "amount": 20}, confirmed=True)
    first = await run(deps, refund)
    assert (first.status, first.duplicate, first.content["refunded"], first.content["remaining"]) == (
        "ok",
        False,
        "20.00",
        "39.90",
    )
    again = await run(deps, refund)  # the worker died after committing, before Temporal heard back
    assert (again.status, again.duplicate, again.content, again.call_id) == ("ok", True, first.content, refund.call_id)
    assert await order_actions(deps.sessions, order_id) == [("refund", Decimal("20.00"), "requested")]
    assert await audit(deps, shopper) == [("refund_order", "ok", None)]
    async with deps.sessions() as session:
        row = await session.scalar(select(ToolCall).where(ToolCall.idempotency_key == refund.idempotency_key))
    assert (row.arguments, row.result, row.call_id) == ({"order_number": "1001", "amount": 20}, first.content, refund.call_id)
    assert row.latency_ms == first.latency_ms >= 0


async def test_concurrent_attempts_with_one_key_refund_once(deps, shopper):
    order_id = await add_order(deps.sessions, shopper, "#1002")
    refund = _input(shopper, "refund_order", {"order_number": "#1002"}, confirmed=True)
    results = await asyncio.gather(*(run(deps, refund) for _ in range(4)))
    assert sorted(r.duplicate for r in results) == [False, True, True, True]
    assert {r.content["refunded"] for r in results} == {"59.90"}
    assert await order_actions(deps.sessions, order_id) == [("refund", Decimal("59.90"), "requested")]
    assert (await order_row(deps.sessions, order_id)).financial_status == "refunded"


async def test_two_different_refunds_at_once_never_exceed_the_total(deps, shopper):
    order_id = await add_order(deps.sessions, shopper, "#1003", total="50.00")
    calls = [_input(shopper, "refund_order", {"order_number": "1003", "amount": 30}, confirmed=True) for _ in range(2)]
    results = await asyncio.gather(*(run(deps, c) for c in calls))
    assert sorted(r.status for r in results) == ["ok", "refused"]
    refused = next(r for r in results if r.status == "refused")
    assert "at most 20.00 EUR can be refunded" in refused.content["error"]
    assert await order_actions(deps.sessions, order_id) == [("refund", Decimal("30.00"), "requested")]


async def test_invalid_arguments_are_recorded_as_invalid_and_write_nothing(deps, shopper):
    order_id = await add_order(deps.sessions, shopper, "#1004")
    bad = await run(deps, _input(shopper, "refund_order", {"order_number": "1004", "amount": "all of it"}, confirmed=True))
    assert bad.status == "invalid" and bad.content["error"].startswith("invalid arguments for refund_order: amount: 'all of it'")
    off_list = await run(
        deps, _input(shopper, "refund_order", {"order_number": "1004"}, confirmed=True, allow_list=["track_order"])
    )
    assert (off_list.status, off_list.content) == ("invalid", {"error": "the tool 'refund_order' is not available to this agent"})
    unknown = await run(deps, _input(shopper, "wire_money", {"to": "me"}))
    assert unknown.status == "invalid" and "there is no tool named 'wire_money'" in unknown.content["error"]
    assert await order_actions(deps.sessions, order_id) == []
    assert [(tool, status) for tool, status, _ in await audit(deps, shopper)] == [
        ("refund_order", "invalid"), ("refund_order", "invalid"), ("wire_money", "invalid"),
    ]  # fmt: skip


async def test_money_never_moves_without_the_customers_yes(deps, shopper):
    order_id = await add_order(deps.sessions, shopper, "#1005")
    key = f"conv:test:{uuid.uuid4()}"
    for name, args in (("refund_order", {"order_number": "1005"}), ("cancel_order", {"order_number": "1005"})):
        unconfirmed = await run(deps, _input(shopper, name, args, key=key if name == "refund_order" else None))
        assert unconfirmed.status == NEEDS_CONFIRMATION and "#1005" in unconfirmed.content["question"]
    intent = await run(
        deps, _input(shopper, "create_payment_intent", {"amount": 5, "currency": "EUR", "description": "gift wrap"})
    )
    assert intent.status == NEEDS_CONFIRMATION and "5" in intent.content["question"]
    assert await order_actions(deps.sessions, order_id) == []
    assert (await order_row(deps.sessions, order_id)).financial_status == "paid"
    assert await audit(deps, shopper) == []  # asking runs nothing and records nothing

    # The customer then says yes: the same call, confirmed, goes through under its own key.
    confirmed = await run(deps, _input(shopper, "refund_order", {"order_number": "1005"}, key=key, confirmed=True))
    assert (confirmed.status, confirmed.duplicate, confirmed.content["refunded"]) == ("ok", False, "59.90")
    assert await order_actions(deps.sessions, order_id) == [("refund", Decimal("59.90"), "requested")]


async def test_a_refusal_is_an_answer_recorded_once(deps, shopper):
    await add_order(deps.sessions, shopper, "#1006", fulfillment_status="fulfilled")
    cancel = _input(shopper, "cancel_order", {"order_number": "1006"}, confirmed=True)
    first = await run(deps, cancel)
    assert first.status == "refused" and "already been shipped" in first.content["error"] and first.effect is None
    again = await run(deps, cancel)
    assert (again.status, again.content, again.duplicate) == ("refused", first.content, True)
    assert await audit(deps, shopper) == [("cancel_order", "refused", first.content["error"])]


async def test_the_workflow_is_told_which_tools_it_acts_on(deps, shopper):
    followup = await run(deps, _input(shopper, "schedule_followup", {"delay_minutes": 60, "message": "Did it fit?"}))
    handoff = await run(deps, _input(shopper, "handoff_to_human", {"reason": "wants a manager"}))
    profile = await run(deps, _input(shopper, "get_customer_profile", {}))
    assert (followup.status, followup.effect, "due_at" in followup.content) == ("ok", "followup", True)
    assert (handoff.effect, handoff.content) == ("handoff", {"handoff": True, "reason": "wants a manager"})
    assert (profile.effect, profile.content["name"]) == (None, "Asha Rao")


async def test_a_crashing_tool_leaves_nothing_and_its_retry_runs_once(deps, shopper):
    attempts = []

    async def flaky_ticket(session, ctx, args):
        await store.add_ticket(
            session, tenant_id=tenant_of(ctx), customer_id=customer_of(ctx), conversation_id=conversation_of(ctx), subject="Flaky",
            description="made by a tool that crashes once", priority="normal", created_by="agent",
        )  # fmt: skip
        attempts.append(ctx.idempotency_key)
        if len(attempts) == 1:
            raise ConnectionResetError("the database went away")  # after its write: the write must not survive
        return {"made": True}

    registry = ToolRegistry(
        [Tool(name="flaky_ticket", description="Makes a ticket.", parameters={"type": "object"}, handler=flaky_ticket)]
    )
    call = _input(shopper, "flaky_ticket", {})
    with pytest.raises(ApplicationError) as failed:
        await run(deps, call, registry)
    assert failed.value.type == "ToolFailed" and not failed.value.non_retryable and "ConnectionResetError" in failed.value.message
    assert await audit(deps, shopper) == [] and await _tickets(deps, shopper) == 0

    retried = await run(deps, call, registry)  # Temporal's retry
    assert (retried.status, retried.content, retried.duplicate) == ("ok", {"made": True}, False)
    assert await run(deps, call, registry) == replace(retried, duplicate=True)
    assert await _tickets(deps, shopper) == 1 and len(attempts) == 2


async def test_a_refusing_tool_keeps_the_audit_but_none_of_its_writes(deps, shopper):
    async def half_done(session, ctx, args):
        await store.add_ticket(
            session, tenant_id=tenant_of(ctx), customer_id=customer_of(ctx), conversation_id=conversation_of(ctx), subject="Half",
            description="written before the refusal", priority="normal", created_by="agent",
        )  # fmt: skip
        raise ToolRefused("changed my mind")

    registry = ToolRegistry(
        [Tool(name="half_done", description="Refuses late.", parameters={"type": "object"}, handler=half_done)]
    )
    result = await run(deps, _input(shopper, "half_done", {}), registry)
    assert (result.status, result.content) == ("refused", {"error": "changed my mind"})
    assert await audit(deps, shopper) == [("half_done", "refused", "changed my mind")] and await _tickets(deps, shopper) == 0


async def _tickets(deps, shopper: Shopper) -> int:
    async with deps.sessions() as session:
        return await session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.customer_id == uuid.UUID(shopper.customer_id))
        )


async def test_calls_outside_the_conversation_are_rejected(deps, tenant, shopper):
    other = await new_shopper(deps.sessions, tenant, name="Someone Else")
    wrong_customer = _input(shopper, "get_customer_profile", {})
    wrong_customer.customer_id = other.customer_id
    no_conversation = _input(shopper, "get_customer_profile", {})
    no_conversation.conversation_id = str(uuid.uuid4())
    other_tenant = _input(shopper, "get_customer_profile", {})
    other_tenant.tenant_id = str(uuid.uuid4())
    for bad in (wrong_customer, no_conversation, other_tenant, replace(_input(shopper, "list_orders", {}), idempotency_key=" ")):
        with pytest.raises(ApplicationError) as caught:
            await run(deps, bad)
        assert caught.value.type == "InvalidInput" and caught.value.non_retryable
    # The customer comes from the conversation when the workflow does not say.
    unnamed = await run(deps, replace(_input(shopper, "get_customer_profile", {}), customer_id=None))
    assert unnamed.content["name"] == "Asha Rao"
    assert await audit(deps, other) == []


async def test_a_key_reused_for_another_call_is_a_bug_not_an_answer(deps, shopper):
    key = f"conv:test:{uuid.uuid4()}"
    await run(deps, _input(shopper, "list_orders", {}, key=key))
    with pytest.raises(ApplicationError) as caught:
        await run(deps, _input(shopper, "get_customer_profile", {}, key=key))
    assert caught.value.type == "InvalidInput" and "already used for a different tool call" in caught.value.message


async def test_the_confirmation_question_comes_from_our_records(deps, shopper):
    await add_order(deps.sessions, shopper, "#1007", total="59.90")
    await add_order(deps.sessions, shopper, "#1008", fulfillment_status="fulfilled")
    activities = ToolActivities(deps)

    def ask(name: str, args: dict) -> PrepareConfirmationInput:
        c = _input(shopper, name, args)
        return PrepareConfirmationInput(
            tenant_id=c.tenant_id, conversation_id=c.conversation_id, customer_id=c.customer_id, channel=c.channel,
            call_id=c.call_id, name=name, arguments=args, idempotency_key=c.idempotency_key,
        )  # fmt: skip

    env = ActivityEnvironment()
    cancel = await env.run(activities.prepare_confirmation, ask("cancel_order", {"order_number": "1007"}))
    assert (cancel.question, cancel.answer) == ("Cancel order #1007 (2 items, 59.90 EUR)? Reply yes or no.", None)
    payment = await env.run(
        activities.prepare_confirmation,
        ask("create_payment_intent", {"amount": 5, "currency": "EUR", "description": "gift wrap"}),
    )
    assert payment.question == "Create a payment request of 5 EUR for \u201cgift wrap\u201d? Reply yes or no."

    shipped = ask("cancel_order", {"order_number": "1008"})
    answered = await env.run(activities.prepare_confirmation, shipped)
    assert (
        answered.question is None
        and answered.answer.status == "refused"
        and "already been shipped" in answered.answer.content["error"]
    )
    # The workflow runs the call anyway: it gets the recorded refusal, nothing is cancelled.
    later = await run(
        deps, _input(shopper, "cancel_order", {"order_number": "1008"}, key=shipped.idempotency_key, confirmed=True)
    )
    assert (later.status, later.duplicate, later.content) == ("refused", True, answered.answer.content)
    with pytest.raises(ApplicationError, match="needs no confirmation"):
        await env.run(activities.prepare_confirmation, ask("track_order", {"order_number": "1007"}))


async def test_knowledge_search_returns_the_tenants_passages_with_citations(deps, tenant, shopper, http):
    key = await admin_key_for(deps, tenant.tenant_id)
    entry = {"type": "policy", "title": "Returns", "content": "Unworn shoes can be returned within 30 days for a full refund."}
    r = await http.post("/v1/knowledge/entries", json=entry, headers=bearer(key))
    assert r.status_code == 201, r.text
    found = await run(deps, _input(shopper, "search_knowledge", {"query": "how long do I have to return shoes?"}))
    assert found.status == "ok" and found.content["answered"] is True
    best = found.content["passages"][0]
    assert (best["citation"], best["title"], best["entry_id"]) == ("[1] Returns", "Returns", r.json()["id"])
    assert "30 days" in best["text"]
    nothing = await run(
        deps, _input(shopper, "search_knowledge", {"query": "what is the airspeed velocity of an unladen swallow?"})
    )
    assert nothing.content["answered"] is False and "do not guess" in nothing.content["note"]


def test_the_activity_serves_the_builtin_registry_by_default():
    assert [t.name for t in BUILTIN_TOOLS] == default_registry().names()
