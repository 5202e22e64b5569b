"""The agent's side of a turn: the model answers, calling tools in rounds; a tool that moves
money or cancels something first asks the customer and the conversation waits for the answer.

Runs inside the conversation workflow (deterministic: no clocks but workflow.now, no I/O but
activities). Every tool call is an activity whose input and result stay in the Temporal history,
keyed for exactly-once: `{workflow}/{turn}/tool/{round}/{index}`, replay-stable because the turn id
comes from workflow.uuid4. A financial call made without the customer's yes runs nothing and
records nothing (it only returns the question), so the confirmed call later uses the same key.
"""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.context import TurnFeatures
    from activities.knowledge import KnowledgePassage
    from activities.replies import GeneratedReply, GenerateReplyInput
    from activities.store_sync import PAYMENT_TOOL, SYNCED_TOOLS, PaymentLinkInput, StoreSyncActivities, SyncOrderActionInput
    from activities.tools import NEEDS_CONFIRMATION, RunToolInput, ToolActivities, ToolResult
    from agent.confirmation import answer_buttons
    from agent.product_names import ProductCheck
    from channels.base import Button
    from llm.base import ChatMessage, ToolCall
    from workflows import policies

ROUND_LIMIT_NOTE = (
    "You have used every tool call allowed for this message. Answer the customer now with what you "
    "know, and say what you could not check; do not call a tool."
)
FALLBACK_TEXT = "Sorry, I can't answer right now. A person from our team will follow up here as soon as possible."
# What the model reads for a confirmation that did not come (the call was not made).
DECLINED = {"status": "declined", "detail": "The customer said no. Nothing was done; do not do it."}
NOT_CONFIRMED = {
    "status": "not_confirmed",
    "detail": "The customer did not answer yes or no, so nothing was done. Answer their new message; "
    "if they still want this, ask for their confirmation again.",
}
# Confirmed cancellations and refunds are carried out at the store (activities/store_sync.py);
# runs started before replay their records-only result.
STORE_SYNC_PATCH = "store-sync-order-actions"
TOOL_FAILED = {"status": "error", "detail": "The tool failed; nothing was done. Tell the customer you could not do it now."}


@dataclass
class PendingConfirmation:
    """A financial call waiting for the customer's yes; kept in the workflow's state (it survives
    continue-as-new and worker crashes) until the answer, or until `deadline` denies it."""

    call: ToolCall
    question: str
    idempotency_key: str
    # The turn so far: the calls and results before the round that asked, and that round's
    # calls already made with their results (the model's next request must answer every call).
    scratch: list[ChatMessage]
    done_calls: list[ToolCall]
    done_results: list[ChatMessage]
    rounds: int
    deadline: float  # workflow time, epoch seconds
    contact_id: str


@dataclass
class ScheduledFollowup:
    """A message the agent promised to send later (schedule_followup): a durable timer."""

    id: str
    due: float  # epoch seconds
    text: str


@dataclass
class AgentOutcome:
    text: str
    buttons: list[Button] = field(default_factory=list)
    fallback_reason: str | None = None  # set: `text` is the fallback, the model did not answer
    budget_exhausted: bool = False
    confirmation: PendingConfirmation | None = None
    handoff_reason: str | None = None  # the model called handoff_to_human
    followups: list[ScheduledFollowup] = field(default_factory=list)
    tool_failures: int = 0
    tool_successes: int = 0
    tools_used: list[str] = field(default_factory=list)
    language: str | None = None  # the customer's language, as the context builder read it
    summary_through_seq: int | None = None  # set: refresh the rolling summary up to this message
    suggested: list[str] = field(default_factory=list)  # proactive suggestions offered (their keys)
    product_check: ProductCheck | None = None  # set: `text` asks whether the customer means a product


@dataclass
class AgentTurnSetup:
    tenant_id: str
    conversation_id: str
    customer_id: str | None
    channel: str
    contact_id: str
    turn_id: str
    knowledge: list[KnowledgePassage]
    allowed_tools: list[str] | None  # None: every tool the worker's registry has
    max_rounds: int
    confirmation_timeout: timedelta
    tool_task_queue: str
    # The agent profile's features as this turn uses them; rich_messages off: no buttons (a
    # question says "reply yes or no" in its words).
    features: TurnFeatures = field(default_factory=TurnFeatures)
    tier: str | None = None  # the profile's default tier; None: the gateway routes by complexity
    fallback_tier: str | None = None


Generate = Callable[[GenerateReplyInput], Awaitable[GeneratedReply]]


class AgentTurn:
    def __init__(self, setup: AgentTurnSetup, generate: Generate) -> None:
        self._setup = setup
        self._generate = generate
        self._outcome = AgentOutcome(text="")

    async def run(self, scratch: list[ChatMessage] | None = None, rounds: int = 0) -> AgentOutcome:
        """Model ↔ tools until the model answers in words, asks for a confirmation or hands over."""
        s = self._setup
        scratch = list(scratch or [])
        while True:
            offer = rounds < s.max_rounds
            request = GenerateReplyInput(
                tenant_id=s.tenant_id,
                conversation_id=s.conversation_id,
                stream=s.channel == "webchat",
                knowledge=s.knowledge,
                offer_tools=offer,
                tool_names=s.allowed_tools,
                scratch=scratch,
                notes=[] if offer else [ROUND_LIMIT_NOTE],
                customer_id=s.customer_id,
                channel=s.channel,
                features=s.features,
                tier=s.tier,
                fallback_tier=s.fallback_tier,
            )
            try:
                reply = await self._generate(request)
            except FailureError as err:
                reason = failure_reason(err)
                workflow.logger.warning("reply generation failed, sending fallback", extra={"reason": reason})
                self._outcome.text, self._outcome.fallback_reason = FALLBACK_TEXT, reason or "reply generation failed"
                self._outcome.budget_exhausted = failure_type(err) == "BudgetExceeded"
                return self._outcome
            if reply.failovers:
                workflow.logger.warning("reply came after failover", extra={"decisions": reply.decisions})
            self._outcome.language = reply.language or self._outcome.language
            self._outcome.summary_through_seq = reply.summary_through_seq or self._outcome.summary_through_seq
            if not reply.tool_calls or not offer:
                self._outcome.text, self._outcome.buttons = reply.text, reply.buttons if s.features.rich_messages else []
                self._outcome.suggested, self._outcome.product_check = reply.suggested, reply.product_check
                return self._outcome
            rounds += 1
            done_calls: list[ToolCall] = []
            done_results: list[ChatMessage] = []
            for index, call in enumerate(reply.tool_calls):
                key = f"{workflow.info().workflow_id}/{s.turn_id}/tool/{rounds}/{index}"
                result = await self._after_tool(call, await self._run_tool(call, key, confirmed=False))
                if result is not None and result.status == NEEDS_CONFIRMATION:
                    return self._ask(call, key, result, scratch, done_calls, done_results, rounds)
                done_calls.append(call)
                done_results.append(self._record(call, result))
                if result is not None and result.effect == "handoff":
                    self._outcome.handoff_reason = str(result.content.get("reason") or "the assistant asked for a person")
                    return self._outcome
                if result is not None and result.effect == "followup":
                    self._schedule(result)
            scratch = scratch + [ChatMessage("assistant", reply.text, tool_calls=done_calls)] + done_results

    async def resume(self, pending: PendingConfirmation, answer: bool | None) -> AgentOutcome:
        """Continues the turn that asked, after the customer's answer (None: something else)."""
        if answer:
            result = await self._after_tool(pending.call, await self._run_tool(pending.call, pending.idempotency_key, confirmed=True))
            message = self._record(pending.call, result)
        else:
            content = DECLINED if answer is False else NOT_CONFIRMED
            message = ChatMessage("tool", json.dumps(content), tool_call_id=pending.call.id)
        scratch = pending.scratch + [
            ChatMessage("assistant", "", tool_calls=pending.done_calls + [pending.call]),
            *pending.done_results,
            message,
        ]
        return await self.run(scratch, rounds=pending.rounds)

    # -- internals -------------------------------------------------------------------------

    async def _run_tool(self, call: ToolCall, key: str, *, confirmed: bool) -> ToolResult | None:
        """The tool's result; None when it kept failing (the model is told it failed)."""
        s = self._setup
        try:
            return await workflow.execute_activity_method(
                ToolActivities.run_tool,
                RunToolInput(
                    tenant_id=s.tenant_id,
                    conversation_id=s.conversation_id,
                    customer_id=s.customer_id,
                    channel=s.channel,
                    call_id=call.id,
                    name=call.name,
                    arguments=call.arguments,
                    idempotency_key=key,
                    allow_list=s.allowed_tools,
                    confirmed=confirmed,
                ),
                task_queue=s.tool_task_queue,
                start_to_close_timeout=policies.TOOL_TIMEOUT,
                retry_policy=policies.TOOL_RETRY,
            )
        except FailureError as err:
            workflow.logger.warning("tool failed", extra={"tool": call.name, "reason": failure_reason(err)})
            return None

    async def _after_tool(self, call: ToolCall, result: ToolResult | None) -> ToolResult | None:
        """A cancellation or refund just recorded, carried out at the store too, and a payment
        request made a payment link; the model reads whether it was (`store_synced`, the link)
        and, when not, why."""
        content = result.content if result is not None and result.status == "ok" else {}
        action_id, intent_id = content.get("action_id"), content.get("payment_intent_id")
        if result is None or not (action_id or intent_id) or not workflow.patched(STORE_SYNC_PATCH):
            return result
        extra: dict = {}
        try:
            if call.name in SYNCED_TOOLS and action_id:
                synced = await self._store_step(
                    StoreSyncActivities.sync_order_action, SyncOrderActionInput(self._setup.tenant_id, str(action_id))
                )
            elif call.name == PAYMENT_TOOL and intent_id:
                synced = await self._store_step(
                    StoreSyncActivities.send_payment_link, PaymentLinkInput(self._setup.tenant_id, str(intent_id))
                )
                extra = {"payment_url": synced.payment_url} if synced.payment_url else {}
            else:
                return result
            store_synced, detail = synced.synced, synced.detail
        except FailureError as err:
            workflow.logger.warning("not carried out at the store", extra={"tool": call.name, "reason": failure_reason(err)})
            store_synced, detail = False, "the store did not answer; a person completes it"
        kept = {k: v for k, v in content.items() if k != "note" or not store_synced}
        result.content = {**kept, "store_synced": store_synced, "store": detail, **extra}
        return result

    async def _store_step(self, activity, argument):
        return await workflow.execute_activity_method(
            activity,
            argument,
            task_queue=self._setup.tool_task_queue,
            start_to_close_timeout=policies.STORE_SYNC_TIMEOUT,
            schedule_to_close_timeout=policies.STORE_SYNC_SCHEDULE_TO_CLOSE,
            retry_policy=policies.STORE_SYNC_RETRY,
        )

    def _record(self, call: ToolCall, result: ToolResult | None) -> ChatMessage:
        """The tool's answer as the model reads it; counts successes and failures for hand-over."""
        if result is None or result.status == "error":
            self._outcome.tool_failures += 1
            content = TOOL_FAILED if result is None else result.content
        else:
            if result.status == "ok":
                self._outcome.tool_successes += 1
            content = result.content
        self._outcome.tools_used.append(call.name)
        return ChatMessage("tool", json.dumps(content, ensure_ascii=False, default=str), tool_call_id=call.id)

    def _ask(
        self,
        call: ToolCall,
        key: str,
        result: ToolResult,
        scratch: list[ChatMessage],
        done_calls: list[ToolCall],
        done_results: list[ChatMessage],
        rounds: int,
    ) -> AgentOutcome:
        question = str(result.content.get("question") or f"Shall I go ahead with {call.name}? Please answer yes or no.")
        deadline = workflow.now() + self._setup.confirmation_timeout
        self._outcome.text = question
        self._outcome.buttons = answer_buttons() if self._setup.features.rich_messages else []
        self._outcome.confirmation = PendingConfirmation(
            call=call,
            question=question,
            idempotency_key=key,
            scratch=scratch,
            done_calls=done_calls,
            done_results=done_results,
            rounds=rounds,
            deadline=deadline.timestamp(),
            contact_id=self._setup.contact_id,
        )
        return self._outcome

    def _schedule(self, result: ToolResult) -> None:
        content = result.content
        try:
            due = datetime.fromisoformat(str(content["due_at"])).timestamp()
            self._outcome.followups.append(
                ScheduledFollowup(id=str(content["followup_id"]), due=due, text=str(content["message"]))
            )
        except (KeyError, ValueError) as exc:  # the tool's own contract broken: say so, send nothing
            workflow.logger.error("follow-up result unreadable", extra={"error": repr(exc)})


def failure_reason(err: FailureError) -> str:
    """The innermost message: an ActivityError wraps the activity's own failure."""
    while isinstance(err, ActivityError) and isinstance(err.cause, FailureError):
        err = err.cause
    return err.message or type(err).__name__


def failure_type(err: FailureError) -> str | None:
    while isinstance(err, ActivityError) and isinstance(err.cause, FailureError):
        err = err.cause
    return err.type if isinstance(err, ApplicationError) else None
