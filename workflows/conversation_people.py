"""The conversation workflow's side that involves people and time: hand-over to the team, the
team's actions (takeover, reply, release, close), and the durable timers of confirmations and
follow-ups. A mixin of ConversationWorkflow: it reads the workflow's `_input` and `_state`."""

from datetime import datetime, timedelta, timezone

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.handoff import HandoffActivities, HandoffStateInput
    from activities.messages import MarkFollowupInput, MessageActivities, PersistOutboundInput, PushWebchatInput
    from agent.handoff import HandoffCounters
    from agent.notices import notice
    from core import temporal as sa
    from core.ids import outbound_idempotency_key
    from workflows.conversation_types import AdminAction, ConversationInput, ConversationState, TurnReply
    from workflows.steps import database_step

APPLIED_REQUESTS_KEPT = 200


class PeopleAndTimers:
    _input: ConversationInput
    _state: ConversationState
    _last_activity: datetime

    async def _hand_over(self, reason: str, before: str = "") -> TurnReply:
        """Stops the AI and tells the customer a person is coming (never a silent hand-over)."""
        state = self._state
        state.mode, state.confirmation, state.counters = "handoff", None, HandoffCounters()
        self._mark_needs_human()
        await self._record_state("handoff", reason)
        said = notice("handoff", state.reply_language or state.language)
        return TurnReply(text=f"{before.strip()}\n\n{said}" if before.strip() else said)

    async def _record_state(self, state: str, reason: str | None, agent_id: str | None = None) -> None:
        if self._state.conversation_id is None:
            return  # no message yet: nothing stored to mark
        await database_step(
            HandoffActivities.record_handoff_state,
            HandoffStateInput(
                tenant_id=self._input.tenant_id,
                conversation_id=self._state.conversation_id,
                state=state,
                reason=reason,
                agent_id=agent_id,
            ),
        )

    def _queue_admin(self, action: AdminAction) -> None:
        if action.request_id in self._state.applied_requests or any(a.request_id == action.request_id for a in self._state.admin):
            return  # a retried API call
        self._state.admin.append(action)

    async def _apply_admin_actions(self) -> None:
        state = self._state
        while state.admin:
            action = state.admin.pop(0)
            state.applied_requests.append(action.request_id)
            del state.applied_requests[:-APPLIED_REQUESTS_KEPT]
            if action.kind in ("takeover", "reply") and (state.mode != "human" or state.assigned_agent != action.agent_id):
                state.mode, state.assigned_agent, state.confirmation = "human", action.agent_id, None
                self._mark_needs_human("assigned")
                await self._record_state("assigned", None, action.agent_id)
            if action.kind == "reply":
                await self._send_unprompted(action.text, f"human/{action.request_id}", author=action.agent_id)
            elif action.kind in ("release", "close"):
                state.mode = "ai" if action.kind == "release" else "closed"
                state.assigned_agent, state.confirmation, state.counters = None, None, HandoffCounters()
                self._clear_needs_human("open" if action.kind == "release" else "closed")
                await self._record_state("released" if action.kind == "release" else "closed", action.reason, action.agent_id)
            self._last_activity = workflow.now()

    async def _send_unprompted(self, text: str, key_suffix: str, author: str | None = None) -> None:
        """A message nobody's message asked for (a person's reply, a follow-up, a confirmation
        that expired): stored, then sent on the channel; web chat shows it on the open widget."""
        inp = self._input
        if self._state.conversation_id is None:
            workflow.logger.warning("nothing to send to: the conversation has no message yet")
            return
        webchat = inp.channel == "webchat"
        outbound = await database_step(
            MessageActivities.persist_outbound,
            PersistOutboundInput(
                tenant_id=inp.tenant_id,
                channel_account_id=inp.channel_account_id,
                conversation_id=self._state.conversation_id,
                idempotency_key=outbound_idempotency_key(workflow.info().workflow_id, key_suffix),
                turn_id=key_suffix[:64],
                text=text,
                status="delivered" if webchat else "pending",
                author=author,
            ),
        )
        if webchat:
            await database_step(
                MessageActivities.push_webchat_message,
                PushWebchatInput(
                    conversation_id=self._state.conversation_id, message_id=outbound.message_id, text=text, author=author
                ),
            )
        else:
            await self._deliver(outbound.message_id, inp.contact_id)

    def _until_next_wake(self) -> timedelta:
        """Until the idle timeout, an expiring confirmation or a follow-up falls due."""
        now = workflow.now()
        wake = self._last_activity + timedelta(seconds=self._input.idle_timeout_seconds)
        for due in self._timer_deadlines():
            wake = min(wake, due)
        return max(wake - now, timedelta(seconds=1))

    def _timer_deadlines(self) -> list[datetime]:
        deadlines = [_at(f.due) for f in self._state.followups]
        if self._state.confirmation is not None:
            deadlines.append(_at(self._state.confirmation.deadline))
        return deadlines

    def _waiting_on_timers(self) -> bool:
        return bool(self._timer_deadlines())

    def _due_timers(self) -> bool:
        now = workflow.now()
        return any(due <= now for due in self._timer_deadlines())

    async def _run_due_timers(self) -> None:
        now = workflow.now()
        confirmation = self._state.confirmation
        if confirmation is not None and _at(confirmation.deadline) <= now:
            # No answer means no: the customer is told nothing was done.
            self._state.confirmation = None
            await self._send_unprompted(
                notice("confirmation_expired", self._state.reply_language or self._state.language),
                f"{confirmation.idempotency_key}/expired",
            )
        due = [f for f in self._state.followups if _at(f.due) <= now]
        self._state.followups = [f for f in self._state.followups if _at(f.due) > now]
        for followup in due:
            if self._state.mode in ("ai", "handoff"):  # a person on it, or closed: their call, not ours
                await self._send_unprompted(followup.text, f"followup/{followup.id}")
            await database_step(
                MessageActivities.mark_followup_sent,
                MarkFollowupInput(self._input.tenant_id, followup.id, sent=self._state.mode in ("ai", "handoff")),
            )

    def _mark_needs_human(self, status: str = "handoff") -> None:
        if not self._state.needs_human or status != "handoff":
            self._state.needs_human = True
            workflow.upsert_search_attributes([sa.CONVERSATION_STATUS.value_set(status)])

    def _clear_needs_human(self, status: str) -> None:
        self._state.needs_human = False
        workflow.upsert_search_attributes([sa.CONVERSATION_STATUS.value_set(status)])


def _at(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, tz=timezone.utc)
