"""Hand inbound messages (and the team's actions) to the conversation workflow
(signal-with-start / update-with-start)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.service import RPCError

from channels.base import InboundMessage
from core import temporal as sa
from core.ids import conversation_workflow_id
from core.settings import Settings
from models.accounts_store import ResolvedChannelAccount
from workflows.conversation import INBOUND_SIGNAL, ChatReply, ConversationInput, ConversationState, ConversationWorkflow

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
        confirmation_timeout_seconds=settings.confirmation_timeout_seconds,
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


async def signal_conversation(
    client: Client,
    account: ResolvedChannelAccount,
    contact_id: str,
    signal: str,
    payload: Any,
    settings: Settings,
    *,
    known: ConversationState | None = None,
) -> str:
    """Signal-with-start of any conversation signal (the admin API's takeover, reply, release,
    close): a conversation whose run ended while idle starts again to take it. `known` seeds only
    such a new run (a running one keeps its own state), e.g. with the stored conversation's id.
    Returns the workflow id; raises like `signal_inbound` when Temporal does not accept it."""
    start_input, options = _start_options(account, contact_id, settings)
    start_input.state = known
    structlog.contextvars.bind_contextvars(tenant_id=str(account.tenant_id), workflow_id=options["id"])
    await client.start_workflow(
        ConversationWorkflow.run,
        start_input,
        start_signal=signal,
        start_signal_args=[payload],
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        rpc_timeout=SIGNAL_RPC_TIMEOUT,
        **options,
    )
    return options["id"]


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
