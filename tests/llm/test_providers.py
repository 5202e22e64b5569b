"""Every provider kind, against loopback servers that speak the vendors' wire formats, must hand
the agent the same Completion: same text, finish reason, token counts and tool calls, streamed
or not, and the same typed errors for Temporal's retry decisions."""

from __future__ import annotations

import dataclasses
import math

import pytest

from llm.base import (
    ChatMessage,
    Completion,
    CompletionRequest,
    ProviderConfig,
    ProviderHTTPError,
    ToolCall,
    ToolDefinition,
    Usage,
)
from tests.standins.openai_server import fake_embedding

MODEL = "standin-model"
KINDS = ["openai", "openai_compatible", "anthropic"]
SYSTEM = ChatMessage("system", "You are the assistant of Acme.")
TOOLS = [
    ToolDefinition(
        "lookup_faq",
        "Answer from the FAQ",
        {"type": "object", "properties": {"question": {"type": "string"}}, "required": ["question"]},
    ),
    ToolDefinition(
        "track_order",
        "Where an order is",
        {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
    ),
]
ORDER_QUESTION = ChatMessage("user", "Please track my order A-1001")


@pytest.fixture
def standins(openai_standin, anthropic_standin):
    return {"openai": openai_standin, "openai_compatible": openai_standin, "anthropic": anthropic_standin}


@pytest.fixture
def make(registry, standins):
    def make(kind: str, **overrides):
        standin = standins[kind]
        base_url = standin.url if kind == "anthropic" else f"{standin.url}/v1"  # each SDK's convention
        api_key = getattr(standin, "api_key", "sk-test")
        config = ProviderConfig(name=f"{kind}-test", kind=kind, base_url=base_url, model=MODEL, api_key=api_key)
        return registry.build(dataclasses.replace(config, **overrides))

    return make


def without_ids(completion: Completion) -> Completion:
    """Tool call ids are the vendor's own (call_…, toolu_…): everything else must match."""
    calls = [dataclasses.replace(c, id="") for c in completion.tool_calls]
    return dataclasses.replace(completion, tool_calls=calls)


async def collect(provider, request: CompletionRequest) -> tuple[Completion, list[str]]:
    deltas: list[str] = []

    async def on_text(delta: str) -> None:
        deltas.append(delta)

    return await provider.complete(request, on_text=on_text), deltas


async def test_every_kind_gives_the_same_answer(make, anthropic_standin):
    request = CompletionRequest([SYSTEM, ChatMessage("user", "Do you ship to Norway?")])

    answers = {kind: await make(kind).complete(request) for kind in KINDS}

    expected = Completion(
        text=f"[{MODEL}] Do you ship to Norway?",
        model=MODEL,
        finish_reason="stop",
        usage=Usage(input_tokens=12, output_tokens=7, cached_tokens=4),  # Anthropic's cache writes counted as input
    )
    assert answers == dict.fromkeys(KINDS, expected)
    assert anthropic_standin.calls[-1]["body"]["system"] == SYSTEM.content  # top-level, as the API wants it


@pytest.mark.parametrize("kind", KINDS)
async def test_a_reply_cut_at_max_tokens_says_length(make, kind):
    completion = await make(kind).complete(
        CompletionRequest([ChatMessage("user", "tell me everything about returns")], max_tokens=3)
    )

    assert completion.text == f"[{MODEL}] tell me"
    assert completion.finish_reason == "length"


@pytest.mark.parametrize("kind", KINDS)
async def test_tool_call_round_trip(make, kind):
    provider = make(kind)
    messages = [SYSTEM, ORDER_QUESTION]

    asked = await provider.complete(CompletionRequest(messages, tools=TOOLS))

    assert asked.finish_reason == "tool_calls"
    assert asked.text == ""
    assert [(c.name, c.arguments) for c in asked.tool_calls] == [("track_order", {"order_id": "A-1001"})]
    assert asked.tool_calls[0].id
    result = ChatMessage("tool", "Order A-1001 ships tomorrow.", tool_call_id=asked.tool_calls[0].id)
    messages += [ChatMessage("assistant", tool_calls=asked.tool_calls), result]

    answered = await provider.complete(CompletionRequest(messages, tools=TOOLS))

    assert answered.text == f"[{MODEL}] Order A-1001 ships tomorrow."
    assert answered.finish_reason == "stop"
    assert answered.tool_calls == []


@pytest.mark.parametrize("kind", KINDS)
async def test_results_of_two_tool_calls_go_back_together(make, kind):
    # Anthropic refuses the second result in a message of its own: they must be merged.
    calls = [ToolCall("call_a", "track_order", {"order_id": "A-1"}), ToolCall("call_b", "track_order", {"order_id": "B-2"})]
    messages = [
        ChatMessage("user", "Where are my orders A-1 and B-2?"),
        ChatMessage("assistant", "Let me check both.", tool_calls=calls),
        ChatMessage("tool", "A-1 left the warehouse.", tool_call_id="call_a"),
        ChatMessage("tool", "B-2 was delivered.", tool_call_id="call_b"),
    ]

    completion = await make(kind).complete(CompletionRequest(messages, tools=TOOLS))

    assert completion.text == f"[{MODEL}] B-2 was delivered."


@pytest.mark.parametrize("kind", KINDS)
async def test_tool_choice_is_honoured(make, kind):
    provider = make(kind)
    greeting = [ChatMessage("user", "Hello!")]

    refused = await provider.complete(CompletionRequest([ORDER_QUESTION], tools=TOOLS, tool_choice="none"))
    forced = await provider.complete(CompletionRequest(greeting, tools=TOOLS, tool_choice="required"))
    free = await provider.complete(CompletionRequest(greeting, tools=TOOLS))

    assert (refused.tool_calls, refused.text) == ([], f"[{MODEL}] Please track my order A-1001")
    assert [c.name for c in forced.tool_calls] == ["lookup_faq"]
    assert (free.tool_calls, free.text) == ([], f"[{MODEL}] Hello!")


async def test_tool_calls_look_the_same_from_every_kind(make):
    request = CompletionRequest([SYSTEM, ORDER_QUESTION], tools=TOOLS)

    answers = [without_ids(await make(kind).complete(request)) for kind in KINDS]

    assert answers[0].tool_calls
    assert answers[1:] == [answers[0]] * 2


@pytest.mark.parametrize("kind", KINDS)
async def test_streaming_delivers_the_text_as_it_comes(make, kind):
    provider = make(kind)
    request = CompletionRequest([SYSTEM, ChatMessage("user", "What are your opening hours on Sunday?")])

    streamed, deltas = await collect(provider, request)

    assert len(deltas) > 3  # word by word, not one lump at the end
    assert "".join(deltas) == streamed.text == f"[{MODEL}] What are your opening hours on Sunday?"
    assert streamed == await provider.complete(request)  # same finish reason, model and usage
    assert streamed.usage == Usage(input_tokens=12, output_tokens=7, cached_tokens=4)


@pytest.mark.parametrize("kind", KINDS)
async def test_streamed_tool_calls_are_assembled(make, kind):
    provider = make(kind)
    request = CompletionRequest([ORDER_QUESTION], tools=TOOLS)

    streamed, deltas = await collect(provider, request)

    assert deltas == []
    assert without_ids(streamed) == without_ids(await provider.complete(request))
    assert [(c.name, c.arguments) for c in streamed.tool_calls] == [("track_order", {"order_id": "A-1001"})]


@pytest.mark.parametrize("stream", [False, True])
async def test_broken_tool_arguments_are_a_bad_gateway(make, openai_standin, stream):
    openai_standin.raw_tool_arguments = '{"order_id": "A-10'
    request = CompletionRequest([ORDER_QUESTION], tools=TOOLS)
    provider = make("openai_compatible")

    with pytest.raises(ProviderHTTPError) as caught:
        await (collect(provider, request) if stream else provider.complete(request))

    assert (caught.value.status, caught.value.retryable) == (502, True)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (503, True), (429, True), (400, False), (404, False)],
)
async def test_error_statuses_tell_temporal_whether_to_retry(make, standins, kind, status, retryable):
    standins[kind].fail_with = status

    with pytest.raises(ProviderHTTPError) as caught:
        await make(kind).complete(CompletionRequest([ChatMessage("user", "hi")]))

    assert (caught.value.status, caught.value.retryable) == (status, retryable)
    assert caught.value.provider == f"{kind}-test"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("stream", [False, True])
async def test_rate_limit_carries_retry_after(make, standins, kind, stream):
    standins[kind].fail_with, standins[kind].retry_after = 429, "7"
    provider = make(kind)
    request = CompletionRequest([ChatMessage("user", "hi")])

    with pytest.raises(ProviderHTTPError) as caught:
        await (collect(provider, request) if stream else provider.complete(request))

    assert (caught.value.status, caught.value.retry_after) == (429, 7.0)


async def test_anthropic_overloaded_is_retryable(make, anthropic_standin):
    anthropic_standin.fail_with = 529

    with pytest.raises(ProviderHTTPError) as caught:
        await make("anthropic").complete(CompletionRequest([ChatMessage("user", "hi")]))

    assert (caught.value.status, caught.value.retryable) == (529, True)


async def test_anthropic_overloaded_mid_stream_is_retryable(make, anthropic_standin):
    anthropic_standin.stream_error = "overloaded_error"

    with pytest.raises(ProviderHTTPError) as caught:
        await collect(make("anthropic"), CompletionRequest([ChatMessage("user", "a long answer please")]))

    assert (caught.value.status, caught.value.retryable) == (529, True)


async def test_a_wrong_anthropic_key_is_not_retried(make):
    with pytest.raises(ProviderHTTPError) as caught:
        await make("anthropic", api_key="sk-ant-wrong").complete(CompletionRequest([ChatMessage("user", "hi")]))

    assert (caught.value.status, caught.value.retryable) == (401, False)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("stream", [False, True])
async def test_a_stalled_provider_times_out_as_no_response(make, standins, kind, stream):
    standins[kind].slow_seconds = 2.0
    provider = make(kind, timeout_seconds=0.3)
    request = CompletionRequest([ChatMessage("user", "SLOW please")])

    with pytest.raises(ProviderHTTPError) as caught:
        await (collect(provider, request) if stream else provider.complete(request))

    assert (caught.value.status, caught.value.retryable) == (None, True)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("stream", [False, True])
async def test_a_dropped_connection_is_no_response(make, kind, stream):
    provider = make(kind)
    request = CompletionRequest([ChatMessage("user", "DROP this answer halfway")])

    with pytest.raises(ProviderHTTPError) as caught:
        await (collect(provider, request) if stream else provider.complete(request))

    assert (caught.value.status, caught.value.retryable) == (None, True)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_stream_that_ends_early_is_no_response(make, kind):
    # A proxy that closes the stream cleanly halfway: the half answer must not pass for a whole one.
    with pytest.raises(ProviderHTTPError) as caught:
        await collect(make(kind), CompletionRequest([ChatMessage("user", "CUT this answer short")]))

    assert (caught.value.status, caught.value.retryable) == (None, True)


async def test_an_unreachable_provider_is_no_response(make):
    provider = make("openai_compatible", base_url="http://127.0.0.1:9/v1", connect_timeout_seconds=0.5)

    with pytest.raises(ProviderHTTPError) as caught:
        await provider.complete(CompletionRequest([ChatMessage("user", "hi")]))

    assert caught.value.status is None


async def test_embeddings_keep_the_order_of_the_texts(make, openai_standin):
    texts = ["What is your refund policy?", "refund policy", "Opening hours on Sunday"]

    vectors = await make("openai_compatible", model="embed-model").embed(texts)

    assert [len(v) for v in vectors] == [openai_standin.embedding_dimensions] * 3
    assert vectors == [fake_embedding(t, openai_standin.embedding_dimensions) for t in texts]
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    assert openai_standin.calls[-1]["model"] == "embed-model"


async def test_embedding_errors_are_typed(make, openai_standin):
    openai_standin.fail_with = 503

    with pytest.raises(ProviderHTTPError) as caught:
        await make("openai").embed(["hello"])

    assert (caught.value.status, caught.value.retryable) == (503, True)


def test_registry_builds_each_kind_once(registry, make):
    assert {"openai", "openai_compatible", "anthropic"} <= set(registry.kinds())
    assert make("anthropic") is make("anthropic")
    assert make("anthropic") is not make("anthropic", timeout_seconds=5.0)
    with pytest.raises(LookupError):
        registry.build(ProviderConfig(name="x", kind="carrier-pigeon", base_url="", model=MODEL))


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (math.hypot(*a) * math.hypot(*b))
