"""The offline model for real: Qwen2.5-Coder-1.5B in-process (assembled from its PyPI parts on
first use under FRONTDESK_DATA_DIR/models). Greedy decoding and small max_tokens keep each
generation to a few seconds on 2 cores."""

from __future__ import annotations

import pytest

from llm.base import ChatMessage, CompletionRequest, ProviderConfig, ToolCall, ToolDefinition
from llm.local import LocalProvider, load_local_model

TRACK_ORDER = ToolDefinition(
    name="track_order",
    description="Look up where a customer's order is and when it will arrive.",
    parameters={
        "type": "object",
        "properties": {"order_id": {"type": "string", "description": "The order number"}},
        "required": ["order_id"],
    },
)
SYSTEM = ChatMessage("system", "You are the customer-service assistant of an online shop. Be brief.")


@pytest.fixture(scope="module")
def local_provider() -> LocalProvider:
    provider = LocalProvider(ProviderConfig(name="local", kind="local", base_url="", model=""))
    load_local_model(provider.model_path())  # once per module: the tests then time only generation
    return provider


async def test_answers_a_question(local_provider: LocalProvider):
    request = CompletionRequest(
        messages=[SYSTEM, ChatMessage("user", "What is the capital of France? One word.")], max_tokens=16, temperature=0
    )
    completion = await local_provider.complete(request)
    assert "Paris" in completion.text
    assert completion.finish_reason in ("stop", "length")
    assert completion.usage.input_tokens > 0 and completion.usage.output_tokens > 0
    assert completion.tool_calls == []


async def test_calls_a_tool_through_constrained_output(local_provider: LocalProvider):
    request = CompletionRequest(
        messages=[SYSTEM, ChatMessage("user", "Where is my order 12345?")], tools=[TRACK_ORDER], max_tokens=48, temperature=0
    )
    completion = await local_provider.complete(request)
    assert completion.finish_reason == "tool_calls", completion.text
    [call] = completion.tool_calls
    assert call.name == "track_order" and "12345" in call.arguments["order_id"]
    assert call.id.startswith("call_") and completion.text == ""


async def test_answers_from_a_tool_result(local_provider: LocalProvider):
    call = ToolCall(id="call_1", name="track_order", arguments={"order_id": "12345"})
    request = CompletionRequest(
        messages=[
            SYSTEM,
            ChatMessage("user", "Where is my order 12345?"),
            ChatMessage("assistant", tool_calls=[call]),
            ChatMessage("tool", '{"status": "shipped", "arrives": "Friday"}', tool_call_id="call_1"),
        ],
        tools=[TRACK_ORDER],
        max_tokens=48,
        temperature=0,
    )
    deltas: list[str] = []

    async def on_text(delta: str) -> None:
        deltas.append(delta)

    completion = await local_provider.complete(request, on_text)
    assert completion.finish_reason == "stop" and completion.tool_calls == []
    assert "Friday" in completion.text
    assert "".join(deltas) == completion.text  # the reply streams out of the JSON as it is written


async def test_streams_the_text_it_returns(local_provider: LocalProvider):
    request = CompletionRequest(
        messages=[SYSTEM, ChatMessage("user", "Say hello to a new customer in one sentence.")], max_tokens=24, temperature=0
    )
    deltas: list[str] = []

    async def on_text(delta: str) -> None:
        deltas.append(delta)

    completion = await local_provider.complete(request, on_text)
    assert len(deltas) > 1 and "".join(deltas) == completion.text != ""
    assert completion.usage.output_tokens > 0
