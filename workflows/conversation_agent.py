"""The conversation workflow's agent steps (AGENT_PATCH): a confirmation or a "did you mean
...?" answered, a hand-over triggered, or the model with its tools; and the knowledge search and
model call a turn makes. A mixin of ConversationWorkflow: it reads the workflow's `_input` and
`_state`, and hands over through PeopleAndTimers (`_hand_over`, `_record_state`)."""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities.context import TurnFeatures
    from activities.handoff import AssessMessageInput, HandoffActivities
    from activities.knowledge import KnowledgeActivities, KnowledgePassage, SearchKnowledgeInput
    from activities.nlu import ClassifiedIntent, ClassifyIntentInput, IntentChoice, NluActivities, RecordIntentInput
    from activities.replies import GeneratedReply, GenerateReplyInput, IntentByLlmInput, ReplyActivities, SummarizeInput
    from agent.confirmation import read_answer
    from agent.handoff import HandoffCounters, after_turn, budget_exhausted
    from agent.product_names import ProductCheck
    from channels.base import InboundMessage
    from nlu.model import OUT_OF_SCOPE
    from workflows import policies
    from workflows.agent_turn import AgentOutcome, AgentTurn, AgentTurnSetup, failure_reason
    from workflows.conversation_types import ConversationInput, ConversationState, TurnReply
    from workflows.steps import database_step

LLM_QUEUE_PATCH = "generate-reply-on-llm-queue"
NLU_PATCH = "classify-intent"  # runs started before replay their turns without the intent steps
SUGGESTIONS_KEPT = 50


class AgentSteps:
    _input: ConversationInput
    _state: ConversationState

    async def _agent_reply(self, messages: list[InboundMessage], stored: Any, turn_id: str) -> TurnReply:
        """The answer to the customer's new messages: a confirmation answered, a hand-over
        triggered, or the model with its tools. Empty text when a person answers instead."""
        inp, state = self._input, self._state
        said = "\n".join(m.text for m in messages if m.text.strip())
        if state.mode == "closed":
            # A resolved conversation reopens with the AI answering, never straight into hand-over.
            state.mode, state.counters = "ai", HandoffCounters()
            await self._record_state("released", "the customer wrote again after it was closed")
        if state.mode != "ai":
            return TurnReply(text="")  # stored for the person on it; the AI stays quiet
        assessed = await database_step(HandoffActivities.assess_message, AssessMessageInput(inp.tenant_id, said))
        settings = assessed.settings
        state.reply_language = assessed.language or state.reply_language  # a notice before any model call speaks it too
        pending, answer = state.confirmation, None
        if pending is not None:
            state.confirmation = None
            last = messages[-1] if messages else None
            if last is not None and last.contact_id == pending.contact_id:
                answer = read_answer(last.text, last.reply_payload)
        if answer is None and assessed.trigger is not None:
            return await self._hand_over(assessed.trigger.reason)
        product_answer = self._product_answer(messages)
        intent = None
        if answer is None and said and product_answer is None and workflow.patched(NLU_PATCH):
            intent = await self._classify_intent(stored.conversation_id, turn_id, said)
            if intent is not None and intent.handoff:
                return await self._hand_over(f"intent '{intent.name}' is handled by people")
        knowledge = []
        if stored.knowledge_indexed and answer is None and said and product_answer is None:
            knowledge = await self._search_knowledge(stored.conversation_id, turn_id, messages)
        agent = AgentTurn(
            AgentTurnSetup(
                tenant_id=inp.tenant_id,
                conversation_id=stored.conversation_id,
                customer_id=stored.customer_id,
                channel=inp.channel,
                contact_id=inp.contact_id,
                turn_id=turn_id,
                knowledge=knowledge,
                allowed_tools=settings.allowed_tools,
                max_rounds=settings.max_tool_rounds,
                confirmation_timeout=timedelta(seconds=inp.confirmation_timeout_seconds),
                tool_task_queue=inp.llm_task_queue or workflow.info().task_queue,
                features=TurnFeatures(
                    suggest=settings.proactive_suggestions,
                    already_suggested=list(state.suggested),
                    correct_spelling=settings.spelling_correction,
                    rich_messages=settings.rich_messages,
                    product_answer=product_answer,
                    intent=intent.name if intent else None,
                    intent_tools=list(intent.tool_hints) if intent else [],
                ),
                # A tenant without a profile keeps the gateway's routing by complexity.
                tier=settings.default_tier if settings.profile_id else None,
                fallback_tier=settings.fallback_tier,
            ),
            self._call_model,
        )
        outcome = await (agent.resume(pending, answer) if pending is not None else agent.run())
        state.reply_language = outcome.language or state.reply_language
        if outcome.summary_through_seq is not None:
            self._summarize(stored.conversation_id, outcome.summary_through_seq)
        state.confirmation = outcome.confirmation
        state.followups += outcome.followups
        state.suggested = (state.suggested + outcome.suggested)[-SUGGESTIONS_KEPT:]
        if outcome.product_check is not None:
            outcome.product_check.contact_id = messages[-1].contact_id if messages else inp.contact_id
            state.product_check = outcome.product_check
            return TurnReply(text=outcome.text, buttons=outcome.buttons)  # a question, not an answer to judge
        if outcome.handoff_reason:
            return await self._hand_over(outcome.handoff_reason, before=outcome.text)
        if outcome.budget_exhausted:
            return await self._hand_over(budget_exhausted().reason)
        state.counters, trigger = after_turn(
            state.counters,
            confidence=_confidence(knowledge, outcome) if stored.knowledge_indexed else None,
            threshold=settings.confidence_threshold,
            tool_failures=outcome.tool_failures,
            tool_successes=outcome.tool_successes,
            settings=settings.handoff,
        )
        if trigger is not None and outcome.confirmation is None:
            return await self._hand_over(trigger.reason, before=outcome.text)
        return TurnReply(text=outcome.text, buttons=outcome.buttons, fallback_reason=outcome.fallback_reason)

    async def _classify_intent(self, conversation_id: str, turn_id: str, said: str) -> IntentChoice | None:
        """The intent of the customer's message: the tenant's model when it is sure, else the
        LLM's pick (and the message is queued for review). None when the tenant uses no intents
        or nothing fits; the turn goes on either way."""
        tenant_id = self._input.tenant_id
        classified: ClassifiedIntent = await database_step(NluActivities.classify_intent, ClassifyIntentInput(tenant_id, said))
        if not classified.has_intents:
            return None
        llm_intent = None
        if classified.low_confidence:
            try:
                llm_intent = await workflow.execute_activity_method(
                    ReplyActivities.classify_intent_with_llm,
                    IntentByLlmInput(tenant_id, said, classified.choices, conversation_id),
                    task_queue=self._input.llm_task_queue or workflow.info().task_queue,
                    start_to_close_timeout=policies.INTENT_LLM_TIMEOUT,
                    retry_policy=policies.INTENT_LLM_RETRY,
                )
            except FailureError as err:
                workflow.logger.warning("intent by LLM failed; replying without an intent", extra={"reason": failure_reason(err)})
        record = RecordIntentInput(tenant_id, turn_id, said, classified, conversation_id=conversation_id, llm_intent=llm_intent)
        await database_step(NluActivities.record_intent, record)
        if not classified.low_confidence:
            return _sure(classified)
        # "None of ours" (the tenant's out_of_scope intent) is recorded, not acted on.
        return next((c for c in classified.choices if c.name == llm_intent and c.name != OUT_OF_SCOPE), None)

    def _product_answer(self, messages: list[InboundMessage]) -> ProductCheck | None:
        """The customer's answer to the last turn's "did you mean <product>?" (only theirs counts);
        None when nothing was asked or the customer wrote about something else. Asked once: the
        question is forgotten after this turn."""
        check, self._state.product_check = self._state.product_check, None
        last = messages[-1] if messages else None
        if check is None or last is None or last.contact_id != check.contact_id:
            return None
        accepted = read_answer(last.text, last.reply_payload)
        return ProductCheck(check.written, check.product, check.contact_id, accepted) if accepted is not None else None

    def _summarize(self, conversation_id: str, through_seq: int) -> None:
        """Refreshes the rolling summary in the background: the customer's answer never waits
        for it, and a summary that fails is tried again after a later turn."""
        workflow.start_activity_method(
            ReplyActivities.summarize_conversation,
            SummarizeInput(tenant_id=self._input.tenant_id, conversation_id=conversation_id, through_seq=through_seq),
            task_queue=self._input.llm_task_queue or workflow.info().task_queue,
            start_to_close_timeout=policies.LLM_TIMEOUT,
            heartbeat_timeout=policies.LLM_HEARTBEAT_TIMEOUT,
            retry_policy=policies.LLM_RETRY,
        )

    async def _search_knowledge(self, conversation_id: str, turn_id: str, batch: list[InboundMessage]) -> list[KnowledgePassage]:
        """Passages from the tenant's knowledge base for what the customer just wrote; none when
        the search keeps failing (the reply then says it is unsure instead of waiting)."""
        query = "\n".join(m.text for m in batch if m.text.strip())
        if not query:
            return []
        try:
            found = await workflow.execute_activity_method(
                KnowledgeActivities.search_knowledge,
                SearchKnowledgeInput(
                    tenant_id=self._input.tenant_id, query=query, conversation_id=conversation_id, search_id=turn_id
                ),
                # Beside the replies: the LLM workers already hold the embedding model.
                task_queue=self._input.llm_task_queue or workflow.info().task_queue,
                start_to_close_timeout=policies.KNOWLEDGE_TIMEOUT,
                retry_policy=policies.KNOWLEDGE_RETRY,
            )
        except FailureError as err:
            workflow.logger.warning("knowledge search failed, replying without it", extra={"reason": failure_reason(err)})
            return []
        return found.passages

    async def _call_model(self, reply_input: GenerateReplyInput) -> GeneratedReply:
        """One model call; raises the FailureError of a call that kept failing."""
        if workflow.patched(LLM_QUEUE_PATCH):
            # An activity on the LLM queue: LLM workers scale (and hold a local model) apart
            # from the conversation workers.
            return await workflow.execute_activity_method(
                ReplyActivities.generate_reply,
                reply_input,
                task_queue=self._input.llm_task_queue or workflow.info().task_queue,
                start_to_close_timeout=policies.LLM_TIMEOUT,
                heartbeat_timeout=policies.LLM_HEARTBEAT_TIMEOUT,
                retry_policy=policies.LLM_RETRY,
            )
        # Runs started before the patch replay their local activity.
        return await workflow.execute_local_activity_method(
            ReplyActivities.generate_reply,
            reply_input,
            start_to_close_timeout=policies.LLM_TIMEOUT,
            retry_policy=policies.LLM_RETRY,
        )


def _sure(classified: ClassifiedIntent) -> IntentChoice | None:
    if classified.intent is None:
        return None
    return IntentChoice(classified.intent, "", classified.tool_hints, classified.handoff)


def _confidence(knowledge: list[KnowledgePassage], outcome: AgentOutcome) -> float:
    """How sure the turn's answer is, for the low-confidence hand-over: a tool that answered
    makes it sure; otherwise the best knowledge passage's score (0 when nothing was found).
    The intent model's confidence (issue 9) will join this."""
    if outcome.tool_successes:
        return 1.0
    return max((p.score for p in knowledge), default=0.0)
