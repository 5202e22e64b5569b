"""τ²-bench retail scoring, without any model: the reference solutions run through our retail
tools (the handlers the worker runs, called directly) earn reward 1; a wrong action, or an answer
that leaves out what the customer had to be told, earns 0."""

from __future__ import annotations

import uuid

import pytest

from agent.confirmation import answer_buttons
from agent.tools.registry import ToolContext, ToolRefused
from bench.tau2.conversation import button_tap
from bench.tau2.domain import DomainUnavailable, RetailTask, load_domain
from bench.tau2.env import RetailEnv
from bench.tau2.scoring import AGENT_STOP, MAX_TURNS, USER_STOP, gold_env, pass_1, score_task
from bench.tau2.tools import RETAIL_TOOL_NAMES, bind_env, release_env, retail_registry

try:
    DOMAIN = load_domain()
except DomainUnavailable as exc:
    # `make install` installs the data package: without it these tests must fail, saying how to get it.
    raise RuntimeError(str(exc)) from exc

REGISTRY = retail_registry()
# One task for each write tool (exchange, return, modify items, cancel, pending-order address,
# user address, payment method) and one that ends with a transfer to a person.
WRITE_TASKS = ["0", "2", "3", "16", "17", "22", "40", "10"]


class Run:
    """A task's store bound to a tenant of its own, as the bench binds it for the worker."""

    def __init__(self) -> None:
        self.env = RetailEnv(DOMAIN.fresh_db())
        self.ctx = ToolContext(
            tenant_id=str(uuid.uuid4()),
            conversation_id=str(uuid.uuid4()),
            customer_id=None,
            channel="webchat",
            idempotency_key="k",
        )
        bind_env(self.ctx.tenant_id, self.env)

    async def call(self, name: str, arguments: dict) -> dict:
        tool, problem = REGISTRY.check_call(name, arguments, None)
        assert tool is not None, problem
        return await tool.handler(None, self.ctx, arguments)  # type: ignore[arg-type] - no database behind these tools

    async def replay(self, task: RetailTask) -> None:
        for action in task.actions:
            try:
                await self.call(action.name, dict(action.arguments))
            except ToolRefused:
                pass


@pytest.fixture
def run():
    r = Run()
    yield r
    release_env(r.ctx.tenant_id)


def _said(task: RetailTask) -> list[str]:
    """Agent messages that state every required fact, the way an agent would write them."""
    return ["Hi! How can I help you today?"] + [f"Sure: the figure you asked about is {info}." for info in task.communicate_info]


@pytest.mark.parametrize("task_id", WRITE_TASKS)
async def test_gold_actions_through_our_tools_score_1(run, task_id):
    task = DOMAIN.task(task_id)
    await run.replay(task)
    assert run.env.hash() != RetailEnv(DOMAIN.fresh_db()).hash() or task_id == "10"  # the store really changed
    score = score_task(DOMAIN, task, run.env, _said(task), USER_STOP)
    assert score.reward == 1.0, score.summary()
    assert score.db_match and score.actions_matched == score.actions_total == len(task.actions)


async def test_every_retail_task_scores_1_with_its_gold_actions(run):
    scores = []
    for task in DOMAIN.tasks:
        r = Run()
        await r.replay(task)
        scores.append(score_task(DOMAIN, task, r.env, _said(task), USER_STOP))
        release_env(r.ctx.tenant_id)
    assert len(scores) == 114 and pass_1(scores) == 1.0, [s.summary() for s in scores if s.reward < 1]


async def test_cancelling_the_wrong_order_scores_0(run):
    task = DOMAIN.task("30")  # the customer cancels #W9373487 and keeps their other pending order, #W5481803
    assert [a.arguments["order_id"] for a in task.actions if a.name == "cancel_pending_order"] == ["#W9373487"]
    assert run.env.db["orders"]["#W5481803"]["status"] == "pending"
    for action in task.actions:
        arguments = dict(action.arguments)
        if action.name == "cancel_pending_order":
            arguments["order_id"] = "#W5481803"
        try:
            await run.call(action.name, arguments)
        except ToolRefused:
            pass
    score = score_task(DOMAIN, task, run.env, _said(task), USER_STOP)
    assert score.reward == 0.0 and score.db_match is False
    assert score.missing_info == []  # the failure is the database, not the words


async def test_doing_nothing_scores_0(run):
    task = DOMAIN.task("0")
    score = score_task(DOMAIN, task, run.env, _said(task), USER_STOP)
    assert (score.reward, score.db_match) == (0.0, False)


async def test_an_answer_without_the_required_figure_scores_0(run):
    task = DOMAIN.task("16")  # the customer must be told the refund total, 8276.23
    await run.replay(task)
    silent = score_task(DOMAIN, task, run.env, ["Your orders are cancelled."], USER_STOP)
    assert (silent.reward, silent.db_match, silent.missing_info) == (0.0, True, ["8276.23"])
    # τ² drops commas from the agent's words before looking: a thousands separator still counts.
    told = score_task(DOMAIN, task, run.env, ["You will get 8,276.23 back."], USER_STOP)
    assert told.reward == 1.0


async def test_a_run_cut_off_at_the_turn_limit_scores_0_even_when_the_database_is_right(run):
    task = DOMAIN.task("0")
    await run.replay(task)
    assert score_task(DOMAIN, task, run.env, _said(task), MAX_TURNS).reward == 0.0
    assert score_task(DOMAIN, task, run.env, _said(task), AGENT_STOP).reward == 1.0


async def test_a_refused_gold_step_is_skipped_in_the_reference_as_in_tau2():
    task = DOMAIN.task("0")
    reference = gold_env(DOMAIN, task)
    order = reference.db["orders"]["#W2378156"]
    assert order["status"] == "exchange requested" and order["exchange_new_items"] == ["7706410293", "7747408585"]


async def test_store_refusals_reach_the_model_as_tool_answers(run):
    with pytest.raises(ToolRefused, match="Order not found"):
        await run.call("get_order_details", {"order_id": "W2378156"})  # the '#' left out
    with pytest.raises(ToolRefused, match="Non-pending order cannot be cancelled"):
        await run.call("cancel_pending_order", {"order_id": "#W2378156", "reason": "no longer needed"})
    assert run.env.hash() == RetailEnv(DOMAIN.fresh_db()).hash()
    assert await run.call("calculate", {"expression": "(54.04 + 41.64) * 2"}) == {"result": "191.36"}
    # A reason outside the policy's two never reaches the store: the schema refuses it first.
    _, problem = REGISTRY.check_call("cancel_pending_order", {"order_id": "#W2378156", "reason": "too expensive"}, None)
    assert problem and "reason" in problem


async def test_financial_tools_are_the_ones_that_move_money_or_cancel():
    financial = {t for t in RETAIL_TOOL_NAMES if REGISTRY.get(t).financial}
    assert financial == {
        "cancel_pending_order",
        "modify_pending_order_items",
        "modify_pending_order_payment",
        "return_delivered_order_items",
        "exchange_delivered_order_items",
    }
    assert all(REGISTRY.get(t).preview is not None for t in financial)


async def test_the_confirmation_question_lists_the_action_and_changes_nothing(run):
    exchange = REGISTRY.get("exchange_delivered_order_items")
    gold = next(a for a in DOMAIN.task("0").actions if a.name == exchange.name)
    question = await exchange.preview(None, run.ctx, dict(gold.arguments))  # type: ignore[misc,arg-type]
    assert "#W2378156" in question and "1151293680" in question and "7706410293" in question and "yes or no" in question
    assert "credit card ending in" in question
    assert run.env.hash() == RetailEnv(DOMAIN.fresh_db()).hash() and run.env.calls == []
    cancel = REGISTRY.get("cancel_pending_order")
    with pytest.raises(ToolRefused, match="Non-pending"):  # refused at once: the customer is not asked in vain
        await cancel.preview(None, run.ctx, {"order_id": "#W2378156", "reason": "no longer needed"})  # type: ignore[misc,arg-type]


def test_a_clear_yes_or_no_taps_the_confirmation_button_and_anything_else_is_typed():
    buttons = [{"id": b.id, "title": b.title} for b in answer_buttons()]
    assert button_tap("Yes, please go ahead with the exchange.", buttons) == ("Yes", "confirm:yes")
    assert button_tap("No. I changed my mind.", buttons) == ("No", "confirm:no")
    assert button_tap("Wait, can it be the blue one instead?", buttons) is None
    assert button_tap("Yes, please go ahead.", []) is None  # nothing to tap: the words go as written
