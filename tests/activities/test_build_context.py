"""The context builder on the real database: the budget holds with the newest turns and the
summary, idle customers start afresh but keep their key facts, returning customers are asked about
their previous topic, replies follow the customer's language, and one tenant never reads another's
memory."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.context import AgentContext, BuildContextInput, ContextActivities
from activities.knowledge import KnowledgePassage
from channels.whatsapp import WhatsAppAdapter
from models import conversation_memory_store as memories
from models import messages_store
from models.commerce import Order
from models.conversations import Message
from models.customers import CustomerIdentity
from tests.factories import TestTenant, create_tenant

PERSONA = "You are Maya, the assistant of Acme Shoes."
START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@dataclass
class Chat:
    tenant: TestTenant
    conversation_id: uuid.UUID
    customer_id: uuid.UUID
    account_id: uuid.UUID
    channel: str


async def _chat(
    deps, tenant: TestTenant, *, channel: str = "webchat", customer_id: uuid.UUID | None = None, name: str = "Asha Rao"
) -> Chat:
    account = uuid.UUID(tenant.webchat_id if channel == "webchat" else tenant.whatsapp_id)
    contact = uuid.uuid4().hex[:12] if channel == "webchat" else "91" + str(uuid.uuid4().int)[:10]
    tenant_id = uuid.UUID(tenant.tenant_id)
    async with deps.sessions.begin() as session:
        if customer_id is None:
            customer_id = await messages_store.ensure_customer(session, tenant_id, channel, contact, name)
        else:  # the same person on another channel
            session.add(CustomerIdentity(tenant_id=tenant_id, customer_id=customer_id, channel=channel, external_id=contact))
        conversation_id = await messages_store.ensure_conversation(
            session, tenant_id, account, customer_id, f"conv:{tenant_id}:{account}:{contact}"
        )
    return Chat(tenant, conversation_id, customer_id, account, channel)


async def _say(deps, chat: Chat, lines: list[tuple[str, str, datetime]]) -> list[int]:
    """Stores (direction, text, at) messages in order; returns their seqs."""
    rows = [
        dict(
            id=uuid.uuid4(),
            tenant_id=uuid.UUID(chat.tenant.tenant_id),
            conversation_id=chat.conversation_id,
            channel_account_id=chat.account_id,
            direction=direction,
            text=text,
            content={},
            created_at=at,
            external_id=uuid.uuid4().hex if direction == "inbound" else None,
            status="received" if direction == "inbound" else "sent",
        )  # fmt: skip
        for direction, text, at in lines
    ]
    async with deps.sessions.begin() as session:
        for row in rows:  # one by one: seq follows the order they were said in
            await session.execute(insert(Message.__table__).values(**row))
    async with deps.sessions() as session:
        turns = await memories.recent_turns(session, uuid.UUID(chat.tenant.tenant_id), chat.conversation_id, len(lines))
    return [t.seq for t in turns]


async def _remember(
    deps, chat: Chat, through_seq: int, summary: str, facts: dict | None = None, topic: str | None = None
) -> bool:
    async with deps.sessions.begin() as session:
        return await memories.save_summary(
            session, uuid.UUID(chat.tenant.tenant_id), chat.conversation_id,
            summary=summary, key_facts=facts or {}, last_topic=topic, through_seq=through_seq,
        )  # fmt: skip


async def _build(deps, chat: Chat, **extra) -> AgentContext:
    input = BuildContextInput(
        tenant_id=chat.tenant.tenant_id, conversation_id=str(chat.conversation_id), customer_id=str(chat.customer_id),
        channel=chat.channel, system_prompt=PERSONA, **extra,
    )  # fmt: skip
    return await ActivityEnvironment().run(ContextActivities(deps).build_context, input)


def _system(context: AgentContext) -> str:
    assert context.messages[0].role == "system"
    return context.messages[0].content


def _exchange(n: int, at: datetime, every: timedelta = timedelta(minutes=1)) -> list[tuple[str, str, datetime]]:
    """n messages, customer and assistant in turn, ending with the customer's."""
    lines = []
    for i in range(n):
        inbound = (n - 1 - i) % 2 == 0
        text = (
            f"customer message {i}: my parcel still has not come, please check again"
            if inbound
            else (f"assistant message {i}: I checked with the courier and it is on its way to you")
        )
        lines.append(("inbound" if inbound else "outbound", text, at + i * every))
    return lines


async def test_a_long_conversation_fits_the_budget_with_the_newest_turns_and_the_summary(deps, tenant):
    chat = await _chat(deps, tenant)
    lines = _exchange(200, START)
    seqs = await _say(deps, chat, lines)
    await _remember(deps, chat, seqs[149], "The customer has waited two weeks for order #1042 and was promised a refund.")

    context = await _build(deps, chat, budget_tokens=1000, reserve_for_reply=300)

    assert context.tokens <= 700
    turns = context.messages[1:]
    assert turns[-1].role == "user" and turns[-1].content == lines[-1][1]
    # The newest messages, in order and without a gap.
    assert [t.content for t in turns] == [text for _, text, _ in lines[-len(turns) :]]
    assert 6 <= len(turns) < 60
    system = _system(context)
    assert system.startswith(PERSONA) and "promised a refund" in system and "Reply in English." in system
    assert any(d.endswith("older messages") for d in context.dropped)
    # More than a few messages the model no longer sees are not in the summary: refresh it,
    # up to the newest of them.
    assert context.summary_due and context.summary_through_seq == seqs[-len(turns) - 1]
    assert context.newest_seq == seqs[-1] and context.language == "en" and not context.expired


async def test_a_short_conversation_needs_no_summary(deps, tenant):
    chat = await _chat(deps, tenant)
    lines = _exchange(5, START)
    await _say(deps, chat, lines)
    context = await _build(deps, chat)
    assert [m.content for m in context.messages[1:]] == [text for _, text, _ in lines]
    assert not context.summary_due and context.summary_through_seq is None and context.dropped == []


async def test_after_an_idle_pause_old_turns_leave_but_key_facts_stay(deps, tenant):
    chat = await _chat(deps, tenant)
    seqs = await _say(
        deps,
        chat,
        [
            ("inbound", "my order #1042 has not arrived, email me at asha@example.com", START),
            ("outbound", "Sorry! I have asked the courier about #1042.", START + timedelta(minutes=1)),
            ("inbound", "hello again", START + timedelta(hours=2)),
        ],
    )
    context = await _build(deps, chat, idle_expiry_minutes=30)

    # The customer starts afresh...
    assert [(m.role, m.content) for m in context.messages[1:]] == [("user", "hello again")]
    assert context.expired and "2 messages from before the customer was away" in context.dropped
    # ...and the agent still knows the facts, and asks about what they wrote about before.
    system = _system(context)
    assert "#1042" in system and "asha@example.com" in system
    assert context.returning_topic and "#1042" in context.returning_topic and "Greet them" in system
    # Their words are summarised in the background now, while they are still worth keeping.
    assert context.summary_due and context.summary_through_seq == seqs[1]

    # Within a longer idle window the same conversation goes on as it was.
    ongoing = await _build(deps, chat, idle_expiry_minutes=180)
    assert len(ongoing.messages) == 4 and not ongoing.expired and ongoing.returning_topic is None
    assert "Greet them" not in _system(ongoing)

    # The next turn of the new session still leaves the old turns out, and greets no more.
    await _say(
        deps,
        chat,
        [
            ("outbound", "Welcome back! Is it about order #1042?", START + timedelta(hours=2, minutes=1)),
            ("inbound", "yes, any news?", START + timedelta(hours=2, minutes=2)),
        ],
    )
    later = await _build(deps, chat, idle_expiry_minutes=30)
    assert [m.content for m in later.messages[1:]] == ["hello again", "Welcome back! Is it about order #1042?", "yes, any news?"]
    assert later.expired and later.returning_topic is None and "Greet them" not in _system(later)
    assert "#1042" in _system(later) and "asha@example.com" in _system(later)


async def test_an_expired_conversation_carries_its_summary_and_topic(deps, tenant):
    chat = await _chat(deps, tenant)
    seqs = await _say(
        deps,
        chat,
        [
            ("inbound", "I want to return the red sneakers", START),
            ("outbound", "Sure, I have started the return.", START + timedelta(minutes=1)),
            ("inbound", "hi", START + timedelta(days=3)),
        ],
    )
    await _remember(
        deps, chat, seqs[1], "The customer is returning red sneakers from order #2002; a return was started.",
        facts={"order_numbers": ["#2002"], "name": "Asha"}, topic="return of red sneakers (order #2002)",
    )  # fmt: skip
    context = await _build(deps, chat)
    system = _system(context)
    assert "a return was started" in system and "return of red sneakers (order #2002)" in system
    assert "Customer's name: Asha" in system
    assert [m.content for m in context.messages[1:]] == ["hi"]
    # The summary already covers what left the window.
    assert not context.summary_due


async def test_a_returning_customer_on_another_channel_is_asked_about_the_previous_topic(deps, tenant):
    web = await _chat(deps, tenant)
    seqs = await _say(deps, web, _exchange(3, START))
    await _remember(
        deps,
        web,
        seqs[-1],
        "Asked for a refund of order #3003.",
        facts={"order_numbers": ["#3003"]},
        topic="refund of order #3003",
    )

    whatsapp = await _chat(deps, tenant, channel="whatsapp", customer_id=web.customer_id)
    await _say(deps, whatsapp, [("inbound", "hello", START + timedelta(days=1))])
    context = await _build(deps, whatsapp)
    system = _system(context)
    assert context.returning_topic == "refund of order #3003"
    assert "talked to us before about: refund of order #3003" in system and "#3003" in system

    # Someone new is not greeted with anybody's past.
    stranger = await _chat(deps, tenant, channel="whatsapp", name="Ravi")
    await _say(deps, stranger, [("inbound", "hello", START + timedelta(days=1))])
    fresh = await _build(deps, stranger)
    assert fresh.returning_topic is None and "#3003" not in _system(fresh)


async def test_the_customer_their_orders_the_channel_and_the_knowledge_are_in_the_context(deps, tenant):
    chat = await _chat(deps, tenant, channel="whatsapp", name="Asha Rao")
    tenant_id = uuid.UUID(tenant.tenant_id)
    async with deps.sessions.begin() as session:
        for n, (status, fulfillment) in enumerate(
            [("closed", "fulfilled"), ("open", "fulfilled"), ("open", None), ("open", "partial")]
        ):
            session.add(
                Order(
                    tenant_id=tenant_id,
                    channel_account_id=uuid.uuid4(),
                    source="shopify",
                    external_id=str(9000 + n),
                    number=f"#{1000 + n}",
                    customer_id=chat.customer_id,
                    status=status,
                    financial_status="paid",
                    fulfillment_status=fulfillment,
                    total=Decimal("2499.00"),
                    currency="INR",
                    items=[],
                    tracking=[],
                    placed_at=START + timedelta(days=n),
                )  # fmt: skip
            )
    await _say(deps, chat, [("inbound", "where is my latest order?", START)])
    passage = KnowledgePassage(text="Orders ship within 2 days.", score=0.9, title="Shipping", chunk_id="c1")
    context = await _build(deps, chat, knowledge=[passage])
    system = _system(context)

    assert "Name: Asha Rao" in system and "WhatsApp (+" in system
    # The three most recent orders, newest first; the oldest is left out.
    assert system.index("#1003") < system.index("#1002") < system.index("#1001") and "#1000" not in system
    assert "- #1002 placed 2025-03-03: open, payment paid, fulfillment not started, total 2499.00 INR" in system
    assert f"up to {WhatsAppAdapter.capabilities.max_buttons} buttons" in system
    assert "[1] (Shipping)\nOrders ship within 2 days." in system


async def test_a_small_budget_keeps_the_persona_and_drops_the_least_useful_parts(deps, tenant):
    chat = await _chat(deps, tenant, channel="whatsapp")
    await _say(deps, chat, [("inbound", "refund status?", START)])
    passages = [
        KnowledgePassage(text=f"Refund rule {i}: " + "details " * 30, score=0.9 - i / 10, title=f"Refunds {i}") for i in range(6)
    ]
    context = await _build(deps, chat, knowledge=passages, budget_tokens=400, reserve_for_reply=100)
    system = _system(context)
    assert system.startswith(PERSONA) and context.messages[-1].content == "refund status?"
    assert context.tokens <= 300
    # The channel notes go before the knowledge, and the best passages stay.
    assert "channel" in context.dropped and "knowledge (truncated)" in context.dropped
    assert "Refund rule 0" in system and "Refund rule 5" not in system


@pytest.mark.parametrize(
    ("said", "language", "instruction"),
    [
        (["mera order kab aayega?", "ok"], "hinglish", "Reply in Hinglish"),
        (["मेरा ऑर्डर कहाँ है?", "ok"], "hi", "Reply in Hindi, in Devanagari script"),
        (["Where is my order?", "ok"], "en", "Reply in English."),
    ],
)
async def test_the_reply_follows_the_customers_language(deps, tenant, said, language, instruction):
    chat = await _chat(deps, tenant)
    lines = []
    for i, text in enumerate(said):
        lines += [("inbound", text, START + timedelta(minutes=2 * i)), ("outbound", "…", START + timedelta(minutes=2 * i + 1))]
    await _say(deps, chat, lines[:-1])
    context = await _build(deps, chat)
    assert context.language == language and instruction in _system(context)


async def test_save_summary_never_goes_backwards(deps, tenant):
    chat = await _chat(deps, tenant)
    tenant_id = uuid.UUID(tenant.tenant_id)
    assert await _remember(deps, chat, 500, "newer summary", {"name": "Asha"}, "newer topic")
    # A late retry of an older summary, and a retry of the same one, change nothing.
    assert not await _remember(deps, chat, 400, "older summary", {}, "older topic")
    assert not await _remember(deps, chat, 500, "same seq, other words", {}, None)
    async with deps.sessions() as session:
        memory = await memories.load_memory(session, tenant_id, chat.conversation_id)
    assert (memory.summary, memory.summarised_through_seq, memory.key_facts, memory.last_topic) == (
        "newer summary", 500, {"name": "Asha"}, "newer topic",
    )  # fmt: skip
    assert await _remember(deps, chat, 600, "newest summary", {"name": "Asha", "order_numbers": ["#7"]}, "newest topic")
    async with deps.sessions() as session:
        memory = await memories.load_memory(session, tenant_id, chat.conversation_id)
    assert (memory.summary, memory.summarised_through_seq, memory.key_facts["order_numbers"]) == ("newest summary", 600, ["#7"])


async def test_one_tenant_never_reads_or_writes_another_tenants_memory(deps, tenant, graph_standin):
    a = await _chat(deps, tenant)
    seqs = await _say(deps, a, _exchange(3, START))
    await _remember(deps, a, seqs[-1], "SECRET of tenant A: order #4242", {"order_numbers": ["#4242"]}, "tenant A topic")

    other = await create_tenant(deps.sessions, deps.secrets, openai_url=None, graph_url=graph_standin.url)
    b = await _chat(deps, other)
    await _say(deps, b, [("inbound", "hello", START)])

    # Tenant B naming A's conversation (or A's customer) gets nothing of it.
    for conversation_id, customer_id in ((a.conversation_id, b.customer_id), (a.conversation_id, a.customer_id)):
        with pytest.raises(ApplicationError) as caught:
            await _build(deps, Chat(other, conversation_id, customer_id, b.account_id, "webchat"))
        assert caught.value.type == "InvalidInput" and caught.value.non_retryable
    own = await _build(deps, Chat(other, b.conversation_id, a.customer_id, b.account_id, "webchat"))
    assert "SECRET" not in _system(own) and "#4242" not in _system(own) and own.returning_topic is None

    # Nor can B's summariser write over A's memory.
    async with deps.sessions.begin() as session:
        written = await memories.save_summary(
            session,
            uuid.UUID(other.tenant_id),
            a.conversation_id,
            summary="B was here",
            key_facts={},
            last_topic=None,
            through_seq=10**12,
        )
    async with deps.sessions() as session:
        kept = await memories.load_memory(session, uuid.UUID(tenant.tenant_id), a.conversation_id)
        assert await memories.load_memory(session, uuid.UUID(other.tenant_id), a.conversation_id) is None
    assert not written and kept.summary.startswith("SECRET of tenant A")


async def test_bad_input_fails_without_retries(deps, tenant):
    chat = await _chat(deps, tenant)
    await _say(deps, chat, [("inbound", "hi", START)])
    good = dict(
        tenant_id=tenant.tenant_id,
        conversation_id=str(chat.conversation_id),
        customer_id=str(chat.customer_id),
        channel="webchat",
        system_prompt=PERSONA,
    )
    for bad in (
        {"tenant_id": "nope"},
        {"conversation_id": str(uuid.uuid4())},
        {"budget_tokens": 200, "reserve_for_reply": 300},
        {"idle_expiry_minutes": 0},
    ):
        with pytest.raises(ApplicationError) as caught:
            await ActivityEnvironment().run(ContextActivities(deps).build_context, BuildContextInput(**(good | bad)))
        assert caught.value.type == "InvalidInput" and caught.value.non_retryable, bad
