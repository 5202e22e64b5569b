"""The registry in front of every tool: the model's bad calls come back to it as messages it can
act on, and an agent only ever gets the tools on its allow-list."""

from __future__ import annotations

import re

import jsonschema
import pytest

from agent.tools.builtin import default_registry
from agent.tools.money import money, parse_amount
from agent.tools.registry import DEFAULT_MAX_ROUNDS, Tool, ToolRefused, ToolRegistry, argument_errors
from models.agent_tools_store import order_number_key

BUILTIN = [
    "get_customer_profile", "list_orders", "track_order", "search_knowledge", "cancel_order", "refund_order",
    "create_payment_intent", "create_ticket", "schedule_followup", "handoff_to_human",
]  # fmt: skip


async def _noop(session, ctx, args):
    return {}


def test_the_default_registry_offers_every_builtin_tool_with_a_strict_schema():
    registry = default_registry()
    assert registry.names() == BUILTIN
    assert DEFAULT_MAX_ROUNDS == 5
    for tool in registry.allowed(None):
        definition = tool.definition()
        assert re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", definition.name)
        assert len(definition.description) > 40, tool.name  # enough for a small model to choose by
        assert definition.parameters["type"] == "object" and definition.parameters["additionalProperties"] is False, tool.name
        assert set(definition.parameters.get("required", [])) <= set(definition.parameters["properties"]), tool.name
    money_movers = {t.name for t in registry.allowed(None) if t.financial}
    assert money_movers == {"cancel_order", "refund_order", "create_payment_intent"}
    assert all(registry.get(name).confirmation is not None for name in money_movers)
    assert {t.name: t.workflow_effect for t in registry.allowed(None) if t.workflow_effect} == {
        "schedule_followup": "followup", "handoff_to_human": "handoff",
    }  # fmt: skip
    assert default_registry() is not registry  # each caller may add tools to its own


def test_unknown_tools_and_tools_off_the_allow_list_are_refused_by_name():
    registry = default_registry()
    tool, problem = registry.check_call("delete_customer", {}, None)
    assert tool is None and "there is no tool named 'delete_customer'" in problem and "track_order" in problem
    tool, problem = registry.check_call("refund_order", {"order_number": "1001"}, ["track_order", "list_orders"])
    assert tool is None and problem == "the tool 'refund_order' is not available to this agent"
    tool, problem = registry.check_call("track_order", {"order_number": "1001"}, ["track_order"])
    assert tool is registry.get("track_order") and problem is None
    assert [t.name for t in registry.allowed(["handoff_to_human", "track_order", "no_such_tool"])] == [
        "track_order",
        "handoff_to_human",
    ]
    assert registry.allowed([]) == []


@pytest.mark.parametrize(
    ("name", "arguments", "expected"),
    [
        ("track_order", {}, "arguments: 'order_number' is a required property"),
        ("track_order", {"order_number": ""}, "order_number: '' should be non-empty"),
        ("track_order", {"order_number": 1001}, "order_number: 1001 is not of type 'string'"),
        (
            "track_order",
            {"order_number": "1001", "customer_id": "x"},
            "Additional properties are not allowed ('customer_id' was unexpected)",
        ),
        ("list_orders", {"limit": 50}, "limit: 50 is greater than the maximum of 20"),
        ("refund_order", {"order_number": "1", "amount": -5}, "amount: -5 is less than or equal to the minimum of 0"),
        ("create_ticket", {"subject": "s", "description": "d", "priority": "asap"}, "priority: 'asap' is not one of"),
        ("create_payment_intent", {"amount": 5, "currency": "EURO", "description": "d"}, "currency: 'EURO' does not match"),
        ("schedule_followup", {"delay_minutes": 0, "message": "hi"}, "delay_minutes: 0 is less than the minimum of 1"),
        (
            "schedule_followup",
            {"delay_minutes": 43201, "message": "hi"},
            "delay_minutes: 43201 is greater than the maximum of 43200",
        ),
        ("get_customer_profile", "me", "arguments: 'me' is not of type 'object'"),
    ],
)
def test_bad_arguments_come_back_as_messages_the_model_can_act_on(name, arguments, expected):
    tool, problem = default_registry().check_call(name, arguments, None)
    assert tool is None and problem.startswith(f"invalid arguments for {name}: ")
    assert expected in problem, problem


def test_every_error_is_listed_up_to_the_limit():
    schema = default_registry().get("create_payment_intent").parameters
    errors = argument_errors(schema, {"amount": "ten", "currency": 3, "extra": 1})
    assert errors[0].startswith("arguments: ") and any(e.startswith("amount: 'ten' is not of type 'number'") for e in errors)
    assert len(argument_errors(schema, {f"x{i}": i for i in range(20)}, limit=2)) == 2


def test_a_tool_is_registered_once_and_only_with_a_valid_schema():
    registry = ToolRegistry()
    tool = Tool(name="echo", description="Echo.", parameters={"type": "object"}, handler=_noop)
    registry.register(tool)
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(tool)
    with pytest.raises(jsonschema.SchemaError):
        registry.register(Tool(name="bad", description="Bad.", parameters={"type": "objekt"}, handler=_noop))


def test_the_confirmation_questions_say_what_will_happen_in_plain_words():
    registry = default_registry()
    assert registry.get("cancel_order").confirmation({"order_number": "1001"}) == "Cancel order #1001? Reply yes or no."
    assert registry.get("refund_order").confirmation({"order_number": "#1001"}) == "Refund order #1001 in full? Reply yes or no."
    assert (
        registry.get("refund_order").confirmation({"order_number": "1001", "amount": 20})
        == "Refund 20 on order #1001? Reply yes or no."
    )
    question = registry.get("create_payment_intent").confirmation(
        {"amount": 12.5, "currency": "eur", "description": "Express shipping"}
    )
    assert question == "Create a payment request of 12.5 EUR for \u201cExpress shipping\u201d? Reply yes or no."


def test_order_numbers_match_however_the_customer_writes_them():
    assert order_number_key("#1001") == order_number_key("1001") == order_number_key("  # 1001 ") == "1001"
    assert order_number_key("000000042") == order_number_key("42") == "42"
    assert order_number_key("SO-77") == "so-77"
    assert order_number_key("#") == order_number_key("000") == ""


def test_amounts_are_checked_against_the_currency():
    assert money(parse_amount(20, "EUR"), "EUR") == "20.00"
    assert money(parse_amount(19.99, "USD"), "USD") == "19.99"
    assert money(parse_amount(1500, "JPY"), "JPY") == "1500"
    for value, currency, why in (
        (0, "EUR", "greater than zero"),
        (-1, "EUR", "greater than zero"),
        (10.555, "EUR", "at most two decimal places"),
        (10.5, "JPY", "no minor unit"),
        ("ten", "EUR", "is not an amount"),
        (float("nan"), "EUR", "greater than zero"),
        (10**13, "EUR", "too large"),
    ):
        with pytest.raises(ToolRefused, match=why):
            parse_amount(value, currency)
