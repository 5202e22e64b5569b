"""One entity workflow per customer per channel account; each turn is a visible piece of it.

A turn: persist inbound → transcribe voice notes → generate reply → (voice the reply) →
persist outbound → send (channels) or answer the update (web chat). Steps that touch only our
database and the LLM run as local activities: measured on the dev server they cut a turn from
~47 ms to ~19 ms p50, and they still appear in the history (as markers), are retried by
Temporal and are idempotent.
"""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
import asyncio
from collections.abc import Awaitable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.delivery import AcknowledgeInboundInput, DeliveryActivities, SendReplyInput
    from activities.knowledge import KnowledgePassage
    from activities.messages import (
        FlagHandoffInput,
        MessageActivities,
        PersistInboundInput,
        PersistOutboundInput,
    )
    from activities.replies import GenerateReplyInput
    from channels.base import InboundMessage
    from channels.registry import ACKNOWLEDGING_CHANNELS
    from core import temporal as sa
    from core.ids import outbound_idempotency_key
    from workflows import policies
    from workflows.admin_signals import (
        AGENT_REPLY_SIGNAL,
        CLOSE_SIGNAL,
        RELEASE_SIGNAL,
        TAKEOVER_SIGNAL,
        AgentReply,
        Close,
        Release,
        Takeover,
    )
    from workflows.agent_turn import FALLBACK_TEXT, failure_reason
    from workflows.conversation_agent import AgentSteps
    from workflows.conversation_people import PeopleAndTimers
    from workflows.conversation_types import (
        AdminAction,
        ChatReply,
        ConversationInput,
        ConversationSnapshot,
        ConversationState,
        TurnReply,
    )
    from workflows.conversation_voice import UNTRANSCRIBED, VoiceSteps, voice_note
    from workflows.steps import database_step

__all__ = ["ChatReply", "ConversationInput", "ConversationState", "ConversationWorkflow", "FALLBACK_TEXT", "UNTRANSCRIBED"]

INBOUND_SIGNAL = "inbound"  # named: signal-with-start takes the signal by name
VOICE_NOTES_PATCH = "transcribe-voice-notes"  # runs started before answered "[audio]" as it was
ACKNOWLEDGE_PATCH = "acknowledge-inbound"  # read receipts / tap answers; earlier runs sent none
# Tools, confirmations, hand-over triggers and people's actions (issue 8); earlier runs replay
# their plain model reply.
AGENT_PATCH = "agent-tools-and-handoff"
MAX_TEXT_CHARS = 4096
RECENT_IDS_KEPT = 500  # redeliveries older than this are caught by the database constraint
RECENT_REPLIES_KEPT = 100
MAX_DEBOUNCE_FACTOR = 4  # a customer who never pauses still gets an answer


@workflow.defn
class ConversationWorkflow(AgentSteps, PeopleAndTimers, VoiceSteps):
    @workflow.init
    def __init__(self, input: ConversationInput) -> None:
        self._input = input
        self._state = input.state or ConversationState()
        self._recent = set(self._state.recent_ids)
        self._turn_lock = asyncio.Lock()
        self._turns_this_run = 0
        self._last_activity = workflow.now()

    @workflow.run
    async def run(self, input: ConversationInput) -> None:
        while True:
            # A confirmation asked or a follow-up scheduled during the wait (a web-chat update
            # runs its turn outside this loop) moves the next wake-up: wake to re-arm the timer.
            deadlines = self._timer_deadlines()
            try:
                await workflow.wait_condition(
                    lambda armed=deadlines: (
                        bool(self._state.pending)
                        or bool(self._state.admin)
                        or self._should_continue_as_new()
                        or self._timer_deadlines() != armed
                    ),
                    timeout=self._until_next_wake(),
                )
            except asyncio.TimeoutError:
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self._idle() and not self._state.pending and not self._waiting_on_timers():
                    workflow.logger.info("conversation idle, ending run")
                    return
            if self._due_timers() or self._state.admin:
                async with self._turn_lock:
                    await self._run_due_timers()
                    await self._apply_admin_actions()
            if self._state.pending:
                await self._debounce()
                batch, self._state.pending = self._state.pending, []
                async with self._turn_lock:
                    try:
                        await self._run_turn(batch, deliver=True)
                    except FailureError as err:
                        # A turn that cannot succeed (its data was refused) must not end the
                        # conversation; the customer needs a person instead.
                        workflow.logger.error("turn failed", extra={"reason": failure_reason(err)})
                        self._mark_needs_human()
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    ConversationInput(
                        tenant_id=input.tenant_id,
                        channel_account_id=input.channel_account_id,
                        channel=input.channel,
                        contact_id=input.contact_id,
                        debounce_seconds=input.debounce_seconds,
                        idle_timeout_seconds=input.idle_timeout_seconds,
                        turns_per_run=input.turns_per_run,
                        llm_task_queue=input.llm_task_queue,
                        stt_task_queue=input.stt_task_queue,
                        confirmation_timeout_seconds=input.confirmation_timeout_seconds,
                        state=self._state,
                    )
                )

    @workflow.signal(name=INBOUND_SIGNAL)
    def inbound(self, message: InboundMessage) -> None:
        """A channel message (signal-with-start from the webhook). Redeliveries are dropped."""
        if self._remember(message.external_id):
            self._state.pending.append(message)

    @workflow.signal(name=TAKEOVER_SIGNAL)
    def takeover(self, action: Takeover) -> None:
        self._queue_admin(AdminAction("takeover", action.request_id, action.agent_id))

    @workflow.signal(name=AGENT_REPLY_SIGNAL)
    def agent_reply(self, action: AgentReply) -> None:
        self._queue_admin(AdminAction("reply", action.request_id, action.agent_id, text=action.text))

    @workflow.signal(name=RELEASE_SIGNAL)
    def release(self, action: Release) -> None:
        self._queue_admin(AdminAction("release", action.request_id, action.agent_id))

    @workflow.signal(name=CLOSE_SIGNAL)
    def close(self, action: Close) -> None:
        self._queue_admin(AdminAction("close", action.request_id, action.agent_id, reason=action.reason))

    @workflow.update
    async def webchat_message(self, message: InboundMessage) -> ChatReply:
        """A web-chat message; the update id is the client_message_id, so Temporal itself
        answers a retried POST with the first result while the run lasts."""
        known = self._state.recent_replies.get(message.external_id)
        if known is not None:
            return ChatReply(text=known, in_reply_to=message.external_id, needs_human=self._state.needs_human, duplicate=True)
        self._remember(message.external_id)
        async with self._turn_lock:
            return await self._run_turn([message], deliver=False)

    @webchat_message.validator
    def _validate_webchat_message(self, message: InboundMessage) -> None:
        if not message.text.strip():
            raise ValueError("text must not be empty")
        if len(message.text) > MAX_TEXT_CHARS:
            raise ValueError(f"text is longer than {MAX_TEXT_CHARS} characters")

    @workflow.query
    def snapshot(self) -> ConversationSnapshot:
        return ConversationSnapshot(
            conversation_id=self._state.conversation_id,
            needs_human=self._state.needs_human,
            turns=self._state.turns,
            pending=len(self._state.pending),
            mode=self._state.mode,
            assigned_agent=self._state.assigned_agent,
            awaiting_confirmation=self._state.confirmation.question if self._state.confirmation else None,
            followups=len(self._state.followups),
        )

    # -- internals -------------------------------------------------------------------------

    def _remember(self, external_id: str) -> bool:
        """True when the id is new to this conversation's recent memory."""
        if external_id in self._recent:
            return False
        self._recent.add(external_id)
        self._state.recent_ids.append(external_id)
        if len(self._state.recent_ids) > RECENT_IDS_KEPT:
            self._recent.discard(self._state.recent_ids.pop(0))
        return True

    def _idle(self) -> bool:
        """No turn (web chat included) within the idle timeout."""
        return workflow.now() - self._last_activity >= timedelta(seconds=self._input.idle_timeout_seconds)

    def _should_continue_as_new(self) -> bool:
        return self._turns_this_run >= self._input.turns_per_run or workflow.info().is_continue_as_new_suggested()

    async def _debounce(self) -> None:
        """Wait until the customer pauses for the debounce window (capped), so a burst of
        messages gets one answer."""
        window = self._input.debounce_seconds
        if window <= 0:
            return
        deadline = workflow.now() + timedelta(seconds=window * MAX_DEBOUNCE_FACTOR)
        while workflow.now() < deadline:
            seen = len(self._state.pending)
            try:
                await workflow.wait_condition(
                    lambda seen=seen: len(self._state.pending) > seen, timeout=timedelta(seconds=window)
                )
            except asyncio.TimeoutError:
                return

    async def _run_turn(self, batch: list[InboundMessage], *, deliver: bool) -> ChatReply:
        inp = self._input
        turn_id = str(workflow.uuid4())
        last = batch[-1]
        stored = await database_step(
            MessageActivities.persist_inbound,
            PersistInboundInput(
                tenant_id=inp.tenant_id,
                channel_account_id=inp.channel_account_id,
                channel=inp.channel,
                workflow_id=workflow.info().workflow_id,
                turn_id=turn_id,
                messages=batch,
                conversation_id=self._state.conversation_id,
                customer_id=self._state.customer_id,
            ),
        )
        if self._state.customer_id is None:
            workflow.upsert_search_attributes([sa.CUSTOMER_ID.value_set(stored.customer_id)])
        self._state.conversation_id = stored.conversation_id
        self._state.customer_id = stored.customer_id
        if not stored.new_external_ids:
            # Every message was answered by an earlier run (redelivered after the workflow ended).
            return ChatReply(text=stored.previous_reply or "", in_reply_to=last.external_id, duplicate=True)
        if all(m.consent for m in batch):
            # STOP / START: the channel confirms those itself (Twilio does), and an opted-out
            # customer must not get another message from us.
            self._last_activity = workflow.now()
            return ChatReply(text="", in_reply_to=last.external_id, needs_human=self._state.needs_human)

        acknowledged = self._acknowledge([m for m in batch if m.external_id in stored.new_external_ids]) if deliver else None
        voice_notes = [(m, note) for m in batch if m.external_id in stored.new_external_ids and (note := voice_note(m))]
        reply_language = None  # set: the customer spoke last and the account answers in voice
        if voice_notes and workflow.patched(VOICE_NOTES_PATCH):
            for message, (index, audio) in voice_notes:  # each note's words replace its "[audio]" marker
                language = await self._transcribe(message, index, audio)
                reply_language = language if message is last else None
        if workflow.patched(AGENT_PATCH):
            reply = await self._agent_reply([m for m in batch if m.external_id in stored.new_external_ids], stored, turn_id)
        else:
            knowledge = await self._search_knowledge(stored.conversation_id, turn_id, batch) if stored.knowledge_indexed else []
            reply = TurnReply(*await self._generate_reply(stored.conversation_id, knowledge))
        text = reply.text
        if reply.fallback_reason:
            self._mark_needs_human()
        if text:  # empty: a person answers this conversation now
            idempotency_key = outbound_idempotency_key(workflow.info().workflow_id, turn_id)
            media = await self._voice(text, reply_language, idempotency_key) if reply_language and deliver else None
            outbound = await database_step(
                MessageActivities.persist_outbound,
                PersistOutboundInput(
                    tenant_id=inp.tenant_id,
                    channel_account_id=inp.channel_account_id,
                    conversation_id=stored.conversation_id,
                    idempotency_key=idempotency_key,
                    turn_id=turn_id,
                    text=text,
                    reply_to_external_id=last.external_id,
                    status="pending" if deliver else "delivered",
                    fallback_reason=reply.fallback_reason,
                    media=media,
                    buttons=reply.buttons,
                ),
            )
            if deliver:
                await self._deliver(outbound.message_id, last.contact_id)
        if acknowledged is not None:
            try:
                await acknowledged
            except ActivityError as err:
                workflow.logger.warning("channel acknowledgement failed", extra={"reason": failure_reason(err)})
        self._state.turns += 1
        self._turns_this_run += 1
        self._last_activity = workflow.now()
        self._state.recent_replies[last.external_id] = text
        while len(self._state.recent_replies) > RECENT_REPLIES_KEPT:
            self._state.recent_replies.pop(next(iter(self._state.recent_replies)))
        return ChatReply(text=text, in_reply_to=last.external_id, needs_human=self._state.needs_human)

    def _acknowledge(self, messages: list[InboundMessage]) -> Awaitable[None] | None:
        """Starts telling the channel the messages were seen, alongside the turn (the reply does
        not wait for it); None where the channel has nothing to be told."""
        if not messages or self._input.channel not in ACKNOWLEDGING_CHANNELS or not workflow.patched(ACKNOWLEDGE_PATCH):
            return None
        return workflow.start_activity_method(
            DeliveryActivities.acknowledge_inbound,
            AcknowledgeInboundInput(self._input.tenant_id, self._input.channel_account_id, messages),
            start_to_close_timeout=policies.ACKNOWLEDGE_TIMEOUT,
            retry_policy=policies.ACKNOWLEDGE_RETRY,
        )

    async def _generate_reply(self, conversation_id: str, knowledge: list[KnowledgePassage]) -> tuple[str, str | None]:
        """The reply text, and why it is the fallback (None when the model answered): the
        plain reply of runs started before AGENT_PATCH."""
        try:
            reply_input = GenerateReplyInput(
                tenant_id=self._input.tenant_id,
                conversation_id=conversation_id,
                stream=self._input.channel == "webchat",
                knowledge=knowledge,
            )
            reply = await self._call_model(reply_input)
        except FailureError as err:  # an ActivityError, or the failure itself from a local activity
            reason = failure_reason(err)
            workflow.logger.warning("reply generation failed, sending fallback", extra={"reason": reason})
            return FALLBACK_TEXT, reason or "reply generation failed"
        if reply.failovers:
            workflow.logger.warning("reply came after failover", extra={"decisions": reply.decisions})
        return reply.text, None

    async def _deliver(self, message_id: str, to: str) -> None:
        try:
            await workflow.execute_activity_method(
                DeliveryActivities.send_reply,
                SendReplyInput(
                    tenant_id=self._input.tenant_id,
                    channel_account_id=self._input.channel_account_id,
                    message_id=message_id,
                    to=to,
                ),
                start_to_close_timeout=policies.SEND_START_TO_CLOSE,
                schedule_to_close_timeout=policies.SEND_SCHEDULE_TO_CLOSE,
                retry_policy=policies.SEND_RETRY,
            )
        except FailureError as err:
            # The channel refused or stayed down for a day: a person must reach the customer.
            self._mark_needs_human()
            await database_step(
                MessageActivities.flag_handoff,
                FlagHandoffInput(
                    tenant_id=self._input.tenant_id,
                    conversation_id=self._state.conversation_id or "",
                    reason=f"reply could not be delivered: {failure_reason(err)}",
                ),
            )
