"""After a chaos run: does what the channels saw match the database and Temporal?"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import text
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from bench.common import RunningPlatform
from core.ids import conversation_workflow_id
from core.settings import Settings
from core.temporal import connect_platform
from models.db import one_off_sessions
from tests.factories import TestTenant
from tests.standins.graph_server import GraphStandIn
from workflows import policies
from workflows.conversation import ConversationWorkflow

if TYPE_CHECKING:
    from bench.chaos import Ledger


@dataclass
class Reconciliation:
    lost: int = 0
    duplicated: int = 0
    stuck: int = 0
    problems: list[str] = field(default_factory=list)
    llm_outcomes: dict[str, int] = field(default_factory=dict)

    def note(self, kind: str, problem: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        self.problems.append(f"{kind}: {problem}")


async def _settle(graph: GraphStandIn, ledger: Ledger, seconds: float, database_url: str, tenant_id: str) -> None:
    """Give the last turns (and any retried sends) time to finish before judging."""

    def complete() -> bool:
        whatsapp = all(len(graph.sends_to(phone)) >= len(ids) for phone, ids in ledger.whatsapp.items())
        return whatsapp and all(all(r) for replies in ledger.webchat.values() for r in replies.values())

    async def unrecorded() -> int:
        recorded = {r.provider_message_id for r in await _rows(database_url, tenant_id) if r.provider_message_id}
        return sum(send.wamid not in recorded for phone in ledger.whatsapp for send in graph.sends_to(phone))

    deadline = time.monotonic() + seconds
    while not complete() and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    # A worker killed between the channel's answer and our record leaves a send Graph has and
    # the database not yet: its retry starts only once the attempt's start-to-close has passed.
    deadline = time.monotonic() + policies.SEND_START_TO_CLOSE.total_seconds() + seconds
    while await unrecorded() and time.monotonic() < deadline:
        await asyncio.sleep(1.0)
    await asyncio.sleep(min(5.0, seconds))  # a duplicate send would arrive after the first


async def _rows(database_url: str, tenant_id: str) -> list:
    async with one_off_sessions(database_url) as sessions, sessions() as session:
        result = await session.execute(
            text(
                "SELECT direction, external_id, reply_to_external_id, provider_message_id, status, conversation_id, "
                "turn_id, idempotency_key, seq FROM messages WHERE tenant_id = :tenant ORDER BY seq"
            ),
            {"tenant": uuid.UUID(tenant_id)},
        )
        return list(result.all())


def _check_whatsapp(result: Reconciliation, ledger: Ledger, graph: GraphStandIn, rows: list) -> None:
    inbound = {r.external_id for r in rows if r.direction == "inbound"}
    replies: dict[str, list] = defaultdict(list)
    for r in rows:
        if r.direction == "outbound":
            replies[r.reply_to_external_id].append(r)
    recorded_sends = {r.provider_message_id for r in rows if r.direction == "outbound" and r.provider_message_id}
    for phone, wamids in ledger.whatsapp.items():
        for wamid in wamids:
            answers = replies.get(wamid, [])
            if wamid not in inbound:
                result.note("lost", f"whatsapp {wamid} was accepted but never stored")
            elif not answers:
                result.note("lost", f"whatsapp {wamid} has no reply")
                result.problems += [f"    row {tuple(r)}" for r in _conversation_rows(rows, wamid)]
            elif len(answers) > 1:
                result.note("duplicated", f"whatsapp {wamid} has {len(answers)} replies")
            elif not answers[0].provider_message_id:
                result.note("lost", f"whatsapp {wamid}: reply never sent (status {answers[0].status})")
        per_key = Counter(send.client_reference for send in graph.sends_to(phone))
        for key, count in per_key.items():
            if count > 1:
                result.note("duplicated", f"Graph got {count} sends under idempotency key {key}")
        for send in graph.sends_to(phone):
            if send.wamid not in recorded_sends and per_key[send.client_reference] == 1:
                result.note("duplicated", f"Graph got a send ({send.wamid}, {send.text[:40]!r}) the database does not know")
        sent_count = len(graph.sends_to(phone))
        if sent_count > len(wamids):
            result.problems.append(f"note: {phone} got {sent_count} sends for {len(wamids)} messages")
    extra = inbound - {w for ids in ledger.whatsapp.values() for w in ids} - {e for e in inbound if ":" in e}
    for external_id in extra:
        result.note("duplicated", f"database holds whatsapp message {external_id} the channel never sent")


def _conversation_rows(rows: list, external_id: str) -> list:
    """Every row of the conversation holding `external_id`, for the report."""
    conversation = next((r.conversation_id for r in rows if r.external_id == external_id), None)
    return [r for r in rows if r.conversation_id == conversation]


def _check_webchat(result: Reconciliation, ledger: Ledger, rows: list) -> None:
    inbound = {r.external_id for r in rows if r.direction == "inbound"}
    answers = Counter(r.reply_to_external_id for r in rows if r.direction == "outbound")
    for session, by_id in ledger.webchat.items():
        for client_id, seen in by_id.items():
            external_id = f"{session}:{client_id}"
            if not seen:
                result.note("lost", f"web chat {external_id} never got an answer")
            elif len(seen) > 1:
                result.note("duplicated", f"web chat {external_id} got {len(seen)} different answers")
            if external_id not in inbound:
                result.note("lost", f"web chat {external_id} was answered but never stored")
            elif answers[external_id] != 1:
                kind = "lost" if answers[external_id] == 0 else "duplicated"
                result.note(kind, f"web chat {external_id} has {answers[external_id]} stored replies")


async def _check_workflows(result: Reconciliation, running: RunningPlatform, tenant: TestTenant, ledger: Ledger) -> None:
    a = running.stack.addresses
    client = await connect_platform(Settings(temporal_address=a.temporal_address, master_key=a.master_key))
    ids = [conversation_workflow_id(tenant.tenant_id, tenant.whatsapp_id, phone) for phone in ledger.whatsapp]
    ids += [conversation_workflow_id(tenant.tenant_id, tenant.webchat_id, session) for session in ledger.webchat]
    for workflow_id in ids:
        handle = client.get_workflow_handle(workflow_id)
        try:
            description = await handle.describe()
            if description.status != WorkflowExecutionStatus.RUNNING:
                result.note("stuck", f"{workflow_id} is {description.status.name}")
                continue
            snapshot = await handle.query(ConversationWorkflow.snapshot)
            pending_activities = len(description.raw_description.pending_activities)
        except RPCError as exc:
            result.note("stuck", f"{workflow_id} cannot be inspected: {exc.message}")
            continue
        if snapshot.pending or pending_activities:
            result.note("stuck", f"{workflow_id}: {snapshot.pending} pending messages, {pending_activities} pending activities")


async def _check_journal(result: Reconciliation, database_url: str, tenant_id: str) -> None:
    """An acknowledged webhook still in the inbound journal never reached its workflow."""
    async with one_off_sessions(database_url) as sessions, sessions() as session:
        waiting = await session.execute(
            text("SELECT external_id, attempts, last_error FROM inbound_journal WHERE tenant_id = :tenant"), {"tenant": uuid.UUID(tenant_id)}
        )
        for external_id, attempts, last_error in waiting.all():
            result.note("stuck", f"{external_id} still in the inbound journal after {attempts} attempts: {last_error}")


async def reconcile(running: RunningPlatform, tenant: TestTenant, graph: GraphStandIn, ledger: Ledger, settle_s: float) -> Reconciliation:
    await _settle(graph, ledger, settle_s, running.stack.addresses.database_url, tenant.tenant_id)
    result = Reconciliation()
    rows = await _rows(running.stack.addresses.database_url, tenant.tenant_id)
    _check_whatsapp(result, ledger, graph, rows)
    _check_webchat(result, ledger, rows)
    await _check_workflows(result, running, tenant, ledger)
    await _check_journal(result, running.stack.addresses.database_url, tenant.tenant_id)
    return result
