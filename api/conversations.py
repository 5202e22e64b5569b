"""Hand inbound messages to the conversation workflow (signal-with-start / update-with-start)."""

from __future__ import annotations

from datetime import timedelta

import structlog
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.service import RPCError

from channels.base import InboundMessage
from core import temporal as sa
from core.ids import conversation_workflow_id
from core.settings import Settings
from models.accounts_store import ResolvedChannelAccount
from workflows.conversation import INBOUND_SIGNAL, ChatReply, ConversationInput, ConversationWorkflow

SIGNAL_RPC_TIMEOUT = timedelta(seconds=10)
# What a hand-over to Temporal raises when Temporal is unreachable: an RPC error, or, from the
# API's lazily connecting client that has not reached the server yet, its connect RuntimeError.
TEMPORAL_UNAVAILABLE = (RPCError, RuntimeError)


def _start_options(account: ResolvedChannelAccount, contact_id: str, settings: Settings) -> tuple[ConversationInput, dict]:
    workflow_id = conversation_workflow_id(str(account.tenant_id), str(account.id), contact_id)
    start_input = ConversationInput(
        tenant_id=str(account.tenant_id),
        channel_account_id=str(account.id),
        channel=account.channel,
        contact_id=contact_id,
        debounce_seconds=float(account.config.get("debounce_seconds", settings.debounce_seconds)),
        idle_timeout_seconds=settings.idle_timeout_seconds,
        turns_per_run=settings.turns_per_run,
        llm_task_queue=settings.llm_task_queue,
        stt_task_queue=settings.stt_task_queue,
    )
    options = {
        "id": workflow_id,
        "task_queue": settings.task_queue,
        "search_attributes": TypedSearchAttributes(
            [
                SearchAttributePair(sa.TENANT_ID, str(account.tenant_id)),
                SearchAttributePair(sa.CHANNEL, account.channel),
                SearchAttributePair(sa.CONVERSATION_STATUS, "open"),
            ]
        ),
    }
    return start_input, options


async def signal_inbound(
    client: Client, account: ResolvedChannelAccount, message: InboundMessage, settings: Settings
) -> None:
    """Returns once Temporal has durably accepted the message (or raises)."""
    start_input, options = _start_options(account, message.contact_id, settings)
    structlog.contextvars.bind_contextvars(tenant_id=str(account.tenant_id), workflow_id=options["id"])
    await client.start_workflow(
        ConversationWorkflow.run,
        start_input,
        start_signal=INBOUND_SIGNAL,
        start_signal_args=[message],
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        # Channels give up on slow webhooks; failing fast with 503 makes them redeliver sooner.
        rpc_timeout=SIGNAL_RPC_TIMEOUT,
        **options,
    )


async def webchat_turn(
    client: Client, account: ResolvedChannelAccount, message: InboundMessage, update_id: str, settings: Settings
) -> ChatReply:
    start_input, options = _start_options(account, message.contact_id, settings)
    structlog.contextvars.bind_contextvars(tenant_id=str(account.tenant_id), workflow_id=options["id"])
    operation = WithStartWorkflowOperation(
        ConversationWorkflow.run,
        start_input,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        **options,
    )
    try:
        return await client.execute_update_with_start_workflow(
            ConversationWorkflow.webchat_message,
            message,
            start_workflow_operation=operation,
            # The client's message id is the update id: a retried POST joins the first turn.
            id=update_id,
        )
    finally:
        _consume_start_outcome(operation)


def _consume_start_outcome(operation: WithStartWorkflowOperation) -> None:
    """The SDK parks the start's failure in a future only `operation.workflow_handle()` reads; we
    never need the handle, and an unread failed future logs "Future exception was never
    retrieved" (thousands of lines while Temporal refuses updates)."""
    started = operation._workflow_handle  # no public way to peek without awaiting
    if started.done() and not started.cancelled():
        started.exception()
