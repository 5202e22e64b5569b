"""Running the model's tool calls: validated, tenant-confined, audited, and exactly once per
idempotency key.

One transaction per call: the audit row is inserted first (ON CONFLICT DO NOTHING on the key),
then the tool runs, then the row gets its result, then everything commits together. A retry
after a crash therefore finds the committed row and returns its result, or finds nothing because
the crashed transaction rolled back with the tool's writes. A concurrent attempt with the same
key waits on the first one's row lock, then sees its committed row: one refund, never two.
"""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps
from activities.knowledge import KnowledgeActivities, KnowledgePassage, SearchKnowledgeInput
from agent.tools.builtin import default_registry
from agent.tools.knowledge import KNOWLEDGE_SERVICE
from agent.tools.registry import Tool, ToolContext, ToolRefused, ToolRegistry
from core.logging import get_logger
from models import agent_tools_store as store
from models.agent_tools import ToolCall
from models.tenant_db import tenant_transaction

# ToolResult.status of a financial call made without the customer's yes: content["question"] is
# what to ask them; nothing ran and nothing was recorded.
NEEDS_CONFIRMATION = "needs_confirmation"
# Room for the workflow's "/confirmed" suffix on a confirmed call's key.
MAX_KEY_CHARS = ToolCall.__table__.c.idempotency_key.type.length - 16
MAX_CALL_ID_CHARS = ToolCall.__table__.c.call_id.type.length
MAX_TOOL_CHARS = ToolCall.__table__.c.tool.type.length

log = get_logger()


@dataclass
class RunToolInput:
    tenant_id: str
    conversation_id: str
    customer_id: str | None
    channel: str
    call_id: str  # the model's id for this call
    name: str
    arguments: dict[str, Any]
    idempotency_key: str  # stable across retries of this call (workflow id + turn + call id)
    allow_list: list[str] | None = None  # the agent's tools; None: all of them
    confirmed: bool = False  # the customer said yes (financial tools)


@dataclass
class ToolResult:
    call_id: str
    name: str
    status: str  # ok | refused | invalid | error
    content: dict[str, Any]  # what the model reads; {"error": why} unless ok
    latency_ms: int
    duplicate: bool = False  # an earlier attempt of this call had already answered it
    effect: str | None = None  # what the workflow does next on "ok": "followup" | "handoff"


@dataclass
class PrepareConfirmationInput:
    tenant_id: str
    conversation_id: str
    customer_id: str | None
    channel: str
    call_id: str
    name: str
    arguments: dict[str, Any]
    idempotency_key: str  # the key run_tool will be given for this call
    allow_list: list[str] | None = None


@dataclass
class ConfirmationQuestion:
    """Either the question to put to the customer, or the call's answer already (its arguments
    are invalid, or it would be refused: no such order, already shipped), recorded as run_tool
    would record it; the customer is then not asked in vain."""

    question: str | None = None
    answer: ToolResult | None = None


def _invalid(message: str) -> ApplicationError:
    return ApplicationError(message, type="InvalidInput", non_retryable=True)


def _uuid(value: str | None, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)  # type: ignore[arg-type]
    except (ValueError, TypeError, AttributeError):
        raise _invalid(f"{what} is not a UUID: {value!r}") from None


def _without_nul(value: Any) -> Any:
    """PostgreSQL's jsonb cannot hold U+0000: a model that writes one would fail every retry."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


@dataclass(frozen=True)
class _Call:
    """A call's input checked once: ids parsed, arguments cleaned, the tool looked up."""

    tenant_id: uuid.UUID
    conversation_id: uuid.UUID
    customer_id: uuid.UUID | None
    channel: str
    call_id: str
    name: str
    arguments: Any
    key: str
    tool: Tool | None
    problem: str | None  # why the registry refuses the call


class _KnowledgeSearch:
    """The turn's knowledge search (activities/knowledge.py) bound to one tool call's tenant and
    conversation; the call's key names the search, so a retried call records it once."""

    def __init__(self, knowledge: KnowledgeActivities, call: _Call) -> None:
        self._knowledge, self._call = knowledge, call

    async def search(self, query: str, top_k: int | None) -> Sequence[KnowledgePassage]:
        request = SearchKnowledgeInput(
            tenant_id=str(self._call.tenant_id), query=query, conversation_id=str(self._call.conversation_id), top_k=top_k,
            search_id=self._call.key, follow_up=False,
        )  # fmt: skip
        try:
            return (await self._knowledge.search_knowledge(request)).passages
        except ApplicationError as exc:
            if exc.non_retryable:  # e.g. this worker cannot embed for the tenant's index: an answer, not a retry
                raise ToolRefused(f"the knowledge base cannot be searched right now ({exc.message})") from exc
            raise


class ToolActivities:
    def __init__(self, deps: ActivityDeps, registry: ToolRegistry | None = None) -> None:
        self._deps = deps
        self._registry = default_registry() if registry is None else registry
        self._knowledge = KnowledgeActivities(deps)

    def _check(self, input: RunToolInput | PrepareConfirmationInput) -> _Call:
        key = (input.idempotency_key or "").strip()
        if not key or len(key) > MAX_KEY_CHARS:
            raise _invalid(f"idempotency_key must be 1 to {MAX_KEY_CHARS} characters")
        if not input.call_id or len(input.call_id) > MAX_CALL_ID_CHARS:
            raise _invalid(f"call_id must be 1 to {MAX_CALL_ID_CHARS} characters")
        arguments = _without_nul(input.arguments)
        tool, problem = self._registry.check_call(input.name, arguments, input.allow_list)
        return _Call(
            tenant_id=_uuid(input.tenant_id, "tenant_id"), conversation_id=_uuid(input.conversation_id, "conversation_id"),
            customer_id=_uuid(input.customer_id, "customer_id") if input.customer_id else None, channel=input.channel,
            call_id=input.call_id, name=input.name, arguments=arguments, key=key, tool=tool, problem=problem,
        )  # fmt: skip

    async def _customer(self, session: AsyncSession, call: _Call) -> uuid.UUID:
        """The conversation's own customer: the one every tool acts for, whatever the input says."""
        customer_id = await store.conversation_customer(session, call.tenant_id, call.conversation_id)
        if customer_id is None:
            raise _invalid(f"the tenant has no conversation {call.conversation_id}")
        if call.customer_id is not None and call.customer_id != customer_id:
            raise _invalid("customer_id is not the customer of this conversation")
        return customer_id

    def _context(self, call: _Call, customer_id: uuid.UUID) -> ToolContext:
        return ToolContext(
            tenant_id=str(call.tenant_id), conversation_id=str(call.conversation_id), customer_id=str(customer_id),
            channel=call.channel, idempotency_key=call.key, services={KNOWLEDGE_SERVICE: _KnowledgeSearch(self._knowledge, call)},
        )  # fmt: skip

    def _result(self, call: _Call, status: str, content: dict[str, Any], latency_ms: int, duplicate: bool = False) -> ToolResult:
        effect = call.tool.workflow_effect if call.tool is not None and status == "ok" else None
        return ToolResult(call.call_id, call.name, status, content, latency_ms, duplicate, effect)

    async def _earlier(self, session: AsyncSession, call: _Call, key: str) -> ToolResult | None:
        """The answer an earlier attempt of this call committed, if any."""
        stored = await store.stored_tool_call(session, call.tenant_id, key)
        if stored is None:
            return None
        if stored.tool != call.name[:MAX_TOOL_CHARS] or stored.arguments != call.arguments:
            raise _invalid(f"idempotency_key {key!r} was already used for a different tool call")
        return self._result(call, stored.status, stored.result or {}, stored.latency_ms or 0, duplicate=True)

    async def _answer_without_running(self, session: AsyncSession, call: _Call, key: str, status: str, why: str) -> ToolResult:
        """Records a call that is refused before its tool runs (once per key) and returns its answer."""
        claimed = await store.claim_tool_call(
            session, tenant_id=call.tenant_id, conversation_id=call.conversation_id, idempotency_key=key, call_id=call.call_id,
            tool=call.name[:MAX_TOOL_CHARS], arguments=call.arguments, status=status, result={"error": why}, error=why,
            latency_ms=0,
        )  # fmt: skip
        if claimed is None:
            earlier = await self._earlier(session, call, key)
            assert earlier is not None  # the conflict was on this committed row
            return earlier
        return self._result(call, status, {"error": why}, 0)

    @activity.defn
    async def run_tool(self, input: RunToolInput) -> ToolResult:
        call = self._check(input)
        async with tenant_transaction(self._deps.sessions, call.tenant_id) as session:
            customer_id = await self._customer(session, call)
            if call.tool is None:
                result = await self._answer_without_running(session, call, call.key, "invalid", call.problem or "invalid call")
            elif call.tool.financial and not input.confirmed:
                # Not run: the workflow puts the question to the customer and waits for a yes
                # (or gets the answer a question would be pointless for, recorded under the key).
                asked = await self._question(session, call, customer_id)
                result = asked.answer or self._result(call, NEEDS_CONFIRMATION, {"question": asked.question}, 0)
            else:
                result = await self._run(session, call, call.tool, customer_id)
        log.info(
            "tool call", tenant_id=str(call.tenant_id), conversation_id=str(call.conversation_id), tool=call.name,
            call_id=call.call_id, status=result.status, latency_ms=result.latency_ms, duplicate=result.duplicate,
        )  # fmt: skip
        return result

    async def _run(self, session: AsyncSession, call: _Call, tool: Tool, customer_id: uuid.UUID) -> ToolResult:
        row_id = await store.claim_tool_call(
            session, tenant_id=call.tenant_id, conversation_id=call.conversation_id, idempotency_key=call.key, call_id=call.call_id,
            tool=tool.name, arguments=call.arguments, status="running",
        )  # fmt: skip
        if row_id is None:
            earlier = await self._earlier(session, call, call.key)
            assert earlier is not None
            return earlier
        started = time.monotonic()
        try:
            # A savepoint: a refusal keeps the audit row but none of the tool's partial writes.
            async with session.begin_nested():
                content = await tool.handler(session, self._context(call, customer_id), dict(call.arguments))
            status, error = "ok", None
        except ToolRefused as refused:
            status, error = "refused", str(refused)
            content = {"error": error}
        except ApplicationError:
            raise  # already says whether Temporal should retry (a knowledge search's provider outage)
        except Exception as exc:
            # The whole transaction rolls back, audit row included: the retry starts clean.
            log.warning(
                "tool failed", tenant_id=str(call.tenant_id), conversation_id=str(call.conversation_id), tool=tool.name,
                error_type=type(exc).__name__,
            )  # fmt: skip
            raise ApplicationError(f"the tool {tool.name} failed: {type(exc).__name__}", type="ToolFailed") from exc
        latency_ms = round((time.monotonic() - started) * 1000)
        await store.finish_tool_call(
            session, call.tenant_id, row_id, status=status, result=content, error=error, latency_ms=latency_ms
        )
        return self._result(call, status, content, latency_ms)

    @activity.defn
    async def prepare_confirmation(self, input: PrepareConfirmationInput) -> ConfirmationQuestion:
        """The question for a financial call, written from our records (order number, items,
        total); or the call's answer when asking would be pointless."""
        call = self._check(input)
        if call.tool is not None and not call.tool.financial:
            raise _invalid(f"the tool {call.name} needs no confirmation")
        async with tenant_transaction(self._deps.sessions, call.tenant_id) as session:
            return await self._question(session, call, await self._customer(session, call))

    async def _question(self, session: AsyncSession, call: _Call, customer_id: uuid.UUID) -> ConfirmationQuestion:
        earlier = await self._earlier(session, call, call.key)
        if earlier is not None:
            return ConfirmationQuestion(answer=earlier)
        if call.tool is None:
            return ConfirmationQuestion(
                answer=await self._answer_without_running(session, call, call.key, "invalid", call.problem or "")
            )
        if call.tool.preview is None:
            question = (
                call.tool.confirmation(call.arguments)
                if call.tool.confirmation
                else f"Go ahead with {call.name}? Reply yes or no."
            )
            return ConfirmationQuestion(question=question)
        try:
            async with session.begin_nested():  # a preview only reads; the savepoint makes sure
                question = await call.tool.preview(session, self._context(call, customer_id), dict(call.arguments))
        except ToolRefused as refused:
            return ConfirmationQuestion(answer=await self._answer_without_running(session, call, call.key, "refused", str(refused)))
        return ConfirmationQuestion(question=question)
