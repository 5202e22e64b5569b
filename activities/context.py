"""Building what the model reads for a turn: the persona, the customer, their orders, the channel,
the knowledge found, the conversation's memory and as many recent turns as the budget allows.

Read-only: the one effect is reading the tenant's rows, inside a tenant transaction (row-level
security on top of the tenant filters). The fitting itself is agent/context.py's, pure, so a
retry with the same rows builds the same messages.
"""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps
from activities.knowledge import KnowledgePassage, knowledge_prompt
from activities.product_catalogue import ProductCatalogue
from agent.context import SESSION_IDLE_MINUTES, ContextSection, Turn, current_turn_start, fit_context
from agent.language import ENGLISH, Language, conversation_language, reply_language_instruction
from agent.memory import extract_facts, facts_text, merge_facts
from agent.product_names import ProductCheck, check_answer_text, corrections_text
from agent.recovery import turn_guidance
from agent.suggestions import Suggestion, suggest, suggestions_text
from agent.summary import needs_summary
from channels.base import Capabilities
from llm.base import ChatMessage
from llm.embeddings import Embedder
from models import conversation_memory_store as store
from models.agent_tools_store import CustomerProfile, customer_profile
from models.messages_store import PHONE_CHANNELS, contact_phone
from models.tenant_db import tenant_transaction
from nlu.prompt import intent_text

# More than a 3000-token budget ever holds: the rest of the conversation is the summary's.
HISTORY_LOAD_LIMIT = 60
LANGUAGE_SAMPLE_MESSAGES = 6
MAX_TOPIC_QUOTE_CHARS = 200

# What is kept longest when the budget is short (agent/context.HistoryPolicy puts the last six
# turns at 75 and older ones at 25). The persona and the reply language are required.
GUIDANCE_PRIORITY = 95  # the questions to answer this turn, product names as the catalogue spells them
SUMMARY_PRIORITY = 90
KEY_FACTS_PRIORITY = 85
RETURNING_PRIORITY = 80
KNOWLEDGE_PRIORITY = 70
ORDERS_PRIORITY = 60
PROFILE_PRIORITY = 50
CHANNEL_PRIORITY = 40
SUGGESTIONS_PRIORITY = 30
# A channel without buttons has no title limit: the suggestion is a line of the reply.
TEXT_SUGGESTION_CHARS = 40

# Channels that reach us without a webhook adapter (channels/registry.py) and what they show.
# Web chat's widget (web/widget/widget.js) renders buttons under a reply.
OTHER_CHANNEL_CAPABILITIES = {"webchat": Capabilities(max_text_chars=4000, max_buttons=5, max_button_title_chars=40)}
# The summariser's "preferred_language" key fact, for a conversation whose messages say nothing.
PREFERRED_LANGUAGES = {"english": ENGLISH, "hindi": Language("hi", "devanagari"), "hinglish": Language("hinglish", "latin")}
CHANNEL_LABELS = {
    "whatsapp": "WhatsApp",
    "webchat": "the web chat",
    "messenger": "Facebook Messenger",
    "instagram": "Instagram",
    "telegram": "Telegram",
    "twilio": "SMS",
    "webhook": "the tenant's own app",
}


@dataclass
class TurnFeatures:
    """The agent profile's features as one turn uses them, passed unchanged from the workflow
    through the reply activity to the context builder."""

    suggest: bool = False  # offer next steps, never one already offered in this conversation
    already_suggested: list[str] = field(default_factory=list)
    correct_spelling: bool = False  # check product names the customer spells their own way
    rich_messages: bool = True  # off: no buttons, whatever the channel shows
    # The customer's answer to the last turn's "did you mean ...?" (its `accepted` set).
    product_answer: ProductCheck | None = None
    # What the tenant's intent model (or, when it was unsure, the LLM) read in the message,
    # and the tools the tenant says usually answer that intent.
    intent: str | None = None
    intent_tools: list[str] = field(default_factory=list)


@dataclass
class BuildContextInput:
    tenant_id: str
    conversation_id: str
    # Checked as a UUID; whose conversation it is comes from the conversation row itself.
    customer_id: str
    channel: str
    system_prompt: str  # the agent profile's rendered persona prompt
    # What the turn's search_knowledge found for the question, best first.
    knowledge: list[KnowledgePassage] = field(default_factory=list)
    budget_tokens: int = 3000
    reserve_for_reply: int = 300
    # A customer silent this long starts afresh: older turns leave, their summary and key facts stay.
    idle_expiry_minutes: int = SESSION_IDLE_MINUTES
    features: TurnFeatures = field(default_factory=TurnFeatures)


@dataclass
class AgentContext:
    messages: list[ChatMessage]
    tokens: int
    # What did not fit (section names, "<n> older messages"): shown in the turn's history.
    dropped: list[str]
    language: str  # "en", "hi", "hinglish", ... (agent/language.py)
    # Refresh the rolling summary after this turn, of the messages up to summary_through_seq.
    summary_due: bool
    newest_seq: int
    summary_through_seq: int | None = None
    # Turns from before the customer's last pause of more than idle_expiry_minutes were left out.
    expired: bool = False
    returning_topic: str | None = None  # the previous topic they were asked about
    suggestions: list[Suggestion] = field(default_factory=list)
    suggestions_as_buttons: bool = False  # else they are a line the model may end with
    # A product name too unsure to take as meant: the customer is asked before the model answers.
    product_check: ProductCheck | None = None
    # The prompt holds what we know of this customer (contact details, orders, tickets, facts, a
    # summary): an answer written from it is never stored for other customers' questions.
    personal: bool = False


def _invalid(message: str) -> ApplicationError:
    return ApplicationError(message, type="InvalidInput", non_retryable=True)


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise _invalid(f"{what} is not a UUID: {value!r}") from None


def channel_text(channel: str, capabilities: Capabilities | None) -> str:
    label = CHANNEL_LABELS.get(channel, channel)
    if capabilities is None:
        return f"The customer writes on {label}. Reply in plain text and keep it short."
    lines = [
        f"The customer writes on {label}. A reply holds at most {capabilities.max_text_chars} characters; a few sentences is best."
    ]
    if capabilities.max_buttons:
        lines.append(
            f"It can show up to {capabilities.max_buttons} buttons: when the customer must choose, offer at most that many clear choices."
        )
    else:
        lines.append("It shows no buttons: when the customer must choose, offer a short numbered list.")
    return "\n".join(lines)


def profile_text(profile: CustomerProfile | None) -> str:
    if profile is None:
        return ""
    lines = ["About the customer:"]
    customer = profile.customer
    if customer.display_name:
        lines.append(f"- Name: {customer.display_name}")
    if customer.email:
        lines.append(f"- E-mail: {customer.email}")
    if customer.phone:
        lines.append(f"- Phone: {customer.phone}")
    # A web-chat session id or a Telegram chat id means nothing to anyone: only the channel is shown.
    reaches = [
        f"{CHANNEL_LABELS.get(channel, channel)} ({contact_phone(channel, external_id) or external_id})"
        if channel in PHONE_CHANNELS
        else CHANNEL_LABELS.get(channel, channel)
        for channel, external_id in profile.identities
    ]
    if reaches:
        lines.append("- Reaches us on: " + ", ".join(dict.fromkeys(reaches)))
    for ticket in profile.open_tickets[:3]:
        lines.append(f"- Open ticket: {ticket.subject} ({ticket.status}, {ticket.priority})")
    return "\n".join(lines) if len(lines) > 1 else ""


def orders_text(orders: Sequence[store.OrderSummary]) -> str:
    if not orders:
        return ""
    lines = ["The customer's most recent orders, newest first:"]
    for o in orders:
        placed = f" placed {o.placed_at.date().isoformat()}" if o.placed_at else ""
        parts = [o.status]
        if o.financial_status:
            parts.append(f"payment {o.financial_status}")
        parts.append(f"fulfillment {o.fulfillment_status or 'not started'}")
        if o.total is not None:
            parts.append(f"total {o.total} {o.currency or ''}".rstrip())
        lines.append(f"- {o.number}{placed}: " + ", ".join(parts))
    return "\n".join(lines)


def returning_text(topic: str) -> str:
    return (
        f"The customer talked to us before about: {topic}. Greet them and, unless their message is clearly "
        "about something else, ask whether they are writing about that."
    )


def _language(turns: Sequence[Turn], facts: dict) -> Language:
    texts = [t.text for t in turns if t.role == "user"][-LANGUAGE_SAMPLE_MESSAGES:]
    lang = conversation_language(texts)
    if lang.evidence == 0:
        # Nothing the customer wrote says it ("ok", an order number): what the summary noted does.
        return PREFERRED_LANGUAGES.get(str(facts.get("preferred_language") or "").strip().lower(), lang)
    return lang


class ContextActivities:
    def __init__(self, deps: ActivityDeps, embedder: Embedder | None = None) -> None:
        self._deps = deps
        self._catalogue = ProductCatalogue(embedder)

    def _capabilities(self, channel: str) -> Capabilities | None:
        if channel in self._deps.channels:
            return self._deps.channels.get(channel).capabilities
        return OTHER_CHANNEL_CAPABILITIES.get(channel)

    @activity.defn
    async def build_context(self, input: BuildContextInput) -> AgentContext:
        tenant_id = _uuid(input.tenant_id, "tenant_id")
        conversation_id = _uuid(input.conversation_id, "conversation_id")
        _uuid(input.customer_id, "customer_id")
        if input.budget_tokens <= input.reserve_for_reply or input.reserve_for_reply < 0:
            raise _invalid(f"budget_tokens ({input.budget_tokens}) must exceed reserve_for_reply ({input.reserve_for_reply})")
        if input.idle_expiry_minutes <= 0:
            raise _invalid("idle_expiry_minutes must be positive")

        async with tenant_transaction(self._deps.sessions, tenant_id) as session:
            # The conversation row says whose it is (another tenant's id finds no row at all).
            customer_id = await store.conversation_customer(session, tenant_id, conversation_id)
            if customer_id is None:
                raise _invalid(f"tenant {tenant_id} has no conversation {conversation_id}")
            loaded = await store.recent_turns(session, tenant_id, conversation_id, HISTORY_LOAD_LIMIT + 1)
            # One more than the limit: if it came, older messages exist and its seq is the newest of them.
            earlier_seq = loaded.pop(0).seq if len(loaded) > HISTORY_LOAD_LIMIT else None
            loaded = [t for t in loaded if t.text]
            memory = await store.load_memory(session, tenant_id, conversation_id)
            profile = await customer_profile(session, tenant_id, customer_id, ticket_limit=3)
            orders = await store.recent_orders(session, tenant_id, customer_id)
            start = current_turn_start(loaded)
            session_start = _session_start(loaded, start, timedelta(minutes=input.idle_expiry_minutes))
            # Greeted with the previous topic: the first message of a conversation, or the first
            # after a pause (later turns of that session have already been greeted).
            fresh_start = (session_start == start and start > 0) or (start == 0 and earlier_seq is None)
            previous = await store.previous_memory(session, tenant_id, customer_id) if fresh_start else None
            features = input.features
            check_spelling = features.correct_spelling and features.product_answer is None
            catalogue = await self._catalogue.names(session, tenant_id) if check_spelling else []

        history = loaded[session_start:]
        expired_turns = loaded[:session_start]
        summarised = memory.summarised_through_seq if memory else 0
        facts = merge_facts(previous.key_facts if previous else {}, memory.key_facts if memory else {})
        # What the customer typed since the last summary: order numbers and contacts are known
        # at once, before (and whatever) the summariser writes.
        facts = merge_facts(extract_facts([t.text for t in loaded if t.role == "user" and t.seq > summarised]), facts)
        topic = _previous_topic(previous, expired_turns) if fresh_start else None
        lang = _language(loaded, facts)
        products = await self._catalogue.match(catalogue, "\n".join(t.text for t in loaded[start:] if t.role == "user"))
        capabilities = self._capabilities(input.channel)
        if capabilities is not None and not features.rich_messages:
            capabilities = replace(capabilities, max_buttons=0, max_list_rows=0)
        as_buttons = capabilities is not None and capabilities.max_buttons > 0
        suggestions = (
            suggest(
                orders,
                profile.open_tickets if profile else [],
                set(features.already_suggested),
                capabilities.max_button_title_chars if as_buttons and capabilities else TEXT_SUGGESTION_CHARS,
            )
            if features.suggest
            else []
        )
        unsure = next((m for m in products if not m.sure), None)

        sections = [
            ContextSection("persona", input.system_prompt, 100, required=True),
            ContextSection("channel", channel_text(input.channel, capabilities), CHANNEL_PRIORITY),
            ContextSection("turn guidance", turn_guidance(loaded, start), GUIDANCE_PRIORITY),
            ContextSection("product names", corrections_text(products), GUIDANCE_PRIORITY),
            ContextSection("intent", intent_text(features.intent, features.intent_tools), GUIDANCE_PRIORITY),
            ContextSection(
                "product answer", check_answer_text(features.product_answer) if features.product_answer else "", 100, required=True
            ),
            ContextSection("customer profile", profile_text(profile), PROFILE_PRIORITY),
            ContextSection("orders", orders_text(orders), ORDERS_PRIORITY),
            ContextSection("previous topic", returning_text(topic) if topic else "", RETURNING_PRIORITY),
            ContextSection(
                "key facts", "Key facts about this customer:\n" + facts_text(facts) if facts else "", KEY_FACTS_PRIORITY
            ),
            ContextSection("knowledge", knowledge_prompt(input.knowledge) if input.knowledge else "", KNOWLEDGE_PRIORITY),
            ContextSection("suggestions", suggestions_text(suggestions, as_buttons) if suggestions else "", SUGGESTIONS_PRIORITY),
            ContextSection("language", reply_language_instruction(lang), 100, required=True),
        ]
        summary = None
        if memory and memory.summary:
            heading = "Summary of the earlier conversation" + (" (the customer has been away since)" if expired_turns else "")
            summary = ContextSection("summary", f"{heading}:\n{memory.summary}", SUMMARY_PRIORITY)
        fitted = fit_context(
            sections,
            history,
            input.budget_tokens,
            input.reserve_for_reply,
            summary=summary,
            history_complete=not expired_turns and earlier_seq is None,
        )
        dropped = list(fitted.dropped)
        if expired_turns:
            dropped.append(f"{len(expired_turns)} messages from before the customer was away")
        cut = fitted.summarised_through_seq
        expired_seqs = [t.seq for t in expired_turns]
        out_of_window = expired_seqs + [t.seq for t in history if cut is not None and t.seq <= cut]
        due = (
            # After a pause is when the key facts must reach the memory: any expired turn counts.
            needs_summary(expired_seqs, summarised, min_new=1)
            or needs_summary(out_of_window, summarised, earlier_seq=earlier_seq)
        )
        return AgentContext(
            messages=fitted.messages,
            tokens=fitted.tokens,
            dropped=dropped,
            language=lang.code,
            summary_due=due,
            newest_seq=loaded[-1].seq if loaded else 0,
            summary_through_seq=max(out_of_window, default=earlier_seq) if due else None,
            expired=bool(expired_turns),
            returning_topic=topic,
            suggestions=suggestions,
            suggestions_as_buttons=as_buttons,
            product_check=ProductCheck(unsure.written, unsure.product) if unsure else None,
            personal=_knows_customer(profile, orders, facts, memory, topic),
        )


def _knows_customer(profile: CustomerProfile | None, orders: Sequence, facts: dict, memory: store.Memory | None, topic: str | None) -> bool:
    customer = profile.customer if profile else None
    contact = customer is not None and bool(customer.display_name or customer.email or customer.phone)
    tickets = bool(profile and profile.open_tickets)
    return contact or tickets or bool(orders) or bool(facts) or bool(memory and memory.summary) or bool(topic)


def _session_start(turns: Sequence[Turn], start: int, idle: timedelta) -> int:
    """Index of the first turn after the customer's last pause longer than `idle` (0: none).

    Up to `start`, the customer's current message: the pause before it starts a new session, and
    so does one before any earlier turn, so the turns before a pause stay out on later turns too."""
    for index in range(min(start, len(turns) - 1), 0, -1):
        before, after = turns[index - 1].created_at, turns[index].created_at
        if before is not None and after is not None and after - before > idle:
            return index
    return 0


def _previous_topic(previous: store.Memory | None, expired_turns: Sequence[Turn]) -> str | None:
    if previous and previous.last_topic:
        return previous.last_topic
    # Not summarised yet (the summary runs after the turn): the customer's last words then are the topic.
    last_words = next((t.text for t in reversed(expired_turns) if t.role == "user"), None)
    if last_words is None:
        return None
    quote = last_words.strip().replace("\n", " ")
    return f'"{quote[:MAX_TOPIC_QUOTE_CHARS]}{"…" if len(quote) > MAX_TOPIC_QUOTE_CHARS else ""}"'
