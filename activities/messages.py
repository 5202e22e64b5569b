"""Persisting a turn's inbound and outbound messages, idempotently."""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

from redis.exceptions import RedisError
from sqlalchemy.exc import DataError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps
from activities.ids import uuid_arg
from channels.base import Button, InboundMessage, OutboundMedia
from core import events
from core.logging import get_logger
from core.ttl_cache import TtlCache
from models import accounts_store, agent_profiles_store, agent_tools_store, consent_store
from models import messages_store as store
from models.knowledge_coverage import search_setup
from models.tenant_db import tenant_transaction

log = get_logger()

# A tenant's first upload or entry reaches its conversations' turns within this many seconds.
KNOWLEDGE_CHECK_SECONDS = 5.0


@dataclass
class PersistInboundInput:
    tenant_id: str
    channel_account_id: str
    channel: str
    workflow_id: str
    turn_id: str
    messages: list[InboundMessage]
    conversation_id: str | None = None
    customer_id: str | None = None


@dataclass
class PersistInboundResult:
    conversation_id: str
    customer_id: str
    new_external_ids: list[str] = field(default_factory=list)
    previous_reply: str | None = None
    # The tenant has a knowledge index: the turn searches it before replying.
    knowledge_indexed: bool = False


@dataclass
class PersistOutboundInput:
    tenant_id: str
    channel_account_id: str
    conversation_id: str
    idempotency_key: str
    turn_id: str
    text: str
    reply_to_external_id: str | None = None
    # Web-chat replies are delivered by the update's response itself; channel replies start
    # "pending" until the send activity records the channel's message id.
    status: str = "pending"
    fallback_reason: str | None = None
    media: OutboundMedia | None = None  # a voice reply: sent as audio, the text as its fallback
    buttons: list[Button] = field(default_factory=list)  # e.g. yes/no for a confirmation
    author: str | None = None  # the person who wrote it (a human reply); None: the assistant


@dataclass
class PushWebchatInput:
    """A message the open web-chat widget did not ask for (a person's reply, a follow-up)."""

    conversation_id: str
    message_id: str
    text: str
    author: str | None = None


@dataclass
class MarkFollowupInput:
    tenant_id: str
    followup_id: str
    sent: bool  # False: it fell due while a person had the conversation, so it was not sent


@dataclass
class PersistOutboundResult:
    message_id: str


@dataclass
class RecordTranscriptInput:
    tenant_id: str
    channel_account_id: str
    external_id: str
    text: str  # the transcript, or the marker the model reads when there is none
    language: str | None = None
    duration: float | None = None
    audio_path: str | None = None
    error: str | None = None  # why there is no transcript


@dataclass
class RecordTranscriptResult:
    # The account answers voice notes with voice notes (its `voice_replies` setting): the turn
    # asks right after transcribing, so it costs no extra step.
    voice_replies: bool = False


@dataclass
class FlagHandoffInput:
    tenant_id: str
    conversation_id: str
    reason: str


@contextmanager
def _bad_data_is_final() -> Iterator[None]:
    """Data the database rejects (too long, malformed) fails the same way on every retry."""
    try:
        yield
    except DataError as exc:
        raise ApplicationError(f"the database rejected the data: {exc.orig}", type="InvalidInput", non_retryable=True) from exc




class MessageActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self._deps = deps
        # Asked on every turn, true or false for months: one query per tenant per window.
        self._indexed: TtlCache[uuid.UUID, bool] = TtlCache(KNOWLEDGE_CHECK_SECONDS)

    async def _knowledge_indexed(self, tenant_id: uuid.UUID) -> bool:
        async def load() -> bool:
            async with self._deps.statements() as session:
                setup = await search_setup(session, tenant_id)
            return setup is not None and setup.embedder is not None

        return await self._indexed.get_or_load(tenant_id, load)

    @activity.defn
    async def persist_inbound(self, input: PersistInboundInput) -> PersistInboundResult:
        with _bad_data_is_final():
            return await self._persist_inbound(input)

    async def _persist_inbound(self, input: PersistInboundInput) -> PersistInboundResult:
        if not input.messages:
            raise ApplicationError("no messages to persist", type="InvalidInput", non_retryable=True)
        tenant_id = uuid_arg(input.tenant_id, "tenant_id")
        account_id = uuid_arg(input.channel_account_id, "channel_account_id")
        first = input.messages[0]
        if input.conversation_id and input.customer_id:
            conversation_id = uuid_arg(input.conversation_id, "conversation_id")
            customer_id = uuid_arg(input.customer_id, "customer_id")
        else:  # the conversation's first turn: customer, identity and conversation together
            async with self._deps.sessions.begin() as session:
                customer_id = await store.ensure_customer(
                    session, tenant_id, input.channel, first.contact_id, first.contact_name
                )
                conversation_id = await store.ensure_conversation(
                    session, tenant_id, account_id, customer_id, input.workflow_id
                )
        # Each insert is safe alone: a retry recognises its own rows by turn id.
        async with self._deps.statements() as session:
            new_ids, previous = await store.store_inbound(
                session,
                tenant_id,
                conversation_id,
                account_id,
                input.turn_id,
                [store.InboundRow(m.external_id, m.text, m.kind, m.sent_at, m.content()) for m in input.messages],
            )
        consents = [m for m in input.messages if m.consent and m.external_id in new_ids]
        if consents:
            async with self._deps.sessions.begin() as session:
                for m in consents:  # in order: "STOP" then "START" in one burst leaves them opted in
                    await consent_store.record_consent(
                        session, tenant_id, account_id, m.contact_id, opted_out=m.consent == "opt_out", keyword=m.text.strip()
                    )
        if new_ids:
            events.publish(
                self._deps.redis, input.tenant_id, "message.received",
                conversation_id=str(conversation_id), channel=input.channel, external_ids=new_ids,
            )  # fmt: skip
        return PersistInboundResult(
            conversation_id=str(conversation_id),
            customer_id=str(customer_id),
            new_external_ids=new_ids,
            previous_reply=previous,
            knowledge_indexed=bool(new_ids) and await self._knowledge_indexed(tenant_id),
        )

    @activity.defn
    async def persist_outbound(self, input: PersistOutboundInput) -> PersistOutboundResult:
        with _bad_data_is_final():
            return await self._persist_outbound(input)

    async def _persist_outbound(self, input: PersistOutboundInput) -> PersistOutboundResult:
        tenant_id = uuid_arg(input.tenant_id, "tenant_id")
        conversation_id = uuid_arg(input.conversation_id, "conversation_id")
        # Insert-or-find by idempotency key, then an idempotent flag: each safe alone on retry.
        async with self._deps.statements() as session:
            message_id = await store.store_outbound(
                session,
                tenant_id=tenant_id,
                conversation_id=conversation_id,
                channel_account_id=uuid_arg(input.channel_account_id, "channel_account_id"),
                idempotency_key=input.idempotency_key,
                turn_id=input.turn_id,
                text_=input.text,
                reply_to_external_id=input.reply_to_external_id,
                status=input.status,
                content={
                    **({"fallback_reason": input.fallback_reason} if input.fallback_reason else {}),
                    **({"media": asdict(input.media)} if input.media else {}),  # as OutboundMessage.rich_content keeps it
                    **({"buttons": [asdict(b) for b in input.buttons]} if input.buttons else {}),
                    **({"author": input.author} if input.author else {}),
                },
            )
            if input.fallback_reason:
                await store.set_handoff(session, tenant_id, conversation_id, input.fallback_reason)
        if input.fallback_reason:
            events.publish(
                self._deps.redis, input.tenant_id, "conversation.handoff", conversation_id=input.conversation_id, reason=input.fallback_reason
            )
        return PersistOutboundResult(message_id=str(message_id))

    @activity.defn
    async def push_webchat_message(self, input: PushWebchatInput) -> None:
        """Best effort, like the reply's tokens: the message is stored already, and the widget
        that missed it (closed, reconnecting) reads it from the history."""
        frame = {"type": "message", "id": input.message_id, "text": input.text, "author": input.author}
        try:
            await self._deps.redis.publish(events.conversation_channel(input.conversation_id), json.dumps(frame))
        except (RedisError, OSError) as exc:
            log.warning("web-chat message not pushed", conversation_id=input.conversation_id, error=repr(exc)[:200])

    @activity.defn
    async def mark_followup_sent(self, input: MarkFollowupInput) -> None:
        tenant_id = uuid_arg(input.tenant_id, "tenant_id")
        async with tenant_transaction(self._deps.sessions, tenant_id) as session:
            await agent_tools_store.finish_followup(session, tenant_id, uuid_arg(input.followup_id, "followup_id"), sent=input.sent)

    @activity.defn
    async def record_transcript(self, input: RecordTranscriptInput) -> RecordTranscriptResult:
        tenant_id = uuid_arg(input.tenant_id, "tenant_id")
        details = {
            "language": input.language, "duration": input.duration, "audio_path": input.audio_path, "error": input.error,
        }  # fmt: skip
        with _bad_data_is_final():
            async with self._deps.sessions.begin() as session:
                await store.record_transcript(
                    session,
                    tenant_id,
                    uuid_arg(input.channel_account_id, "channel_account_id"),
                    input.external_id,
                    input.text,
                    {k: v for k, v in details.items() if v is not None},
                )
                account = await accounts_store.channel_account_by_id(session, self._deps.secrets, input.channel_account_id)
                # The account's own setting, or the default agent profile's `voice_replies` feature.
                profile_wants = (await agent_profiles_store.default_settings(session, tenant_id)).voice_replies
        allowed = account is not None and account.tenant_id == tenant_id and (account.config.get("voice_replies") is True or profile_wants)
        return RecordTranscriptResult(voice_replies=allowed)

    @activity.defn
    async def flag_handoff(self, input: FlagHandoffInput) -> None:
        async with self._deps.sessions.begin() as session:
            await store.set_handoff(
                session, uuid_arg(input.tenant_id, "tenant_id"), uuid_arg(input.conversation_id, "conversation_id"), input.reason
            )
        events.publish(
            self._deps.redis, input.tenant_id, "conversation.handoff", conversation_id=input.conversation_id, reason=input.reason
        )
