"""Platform-wide Temporal Schedules, created by the conversation workers as they start (the
first one to start creates them; the others find them there)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.service import RPCError

from core.logging import get_logger
from core.schedules import put_schedule
from workflows.retention import RETENTION_WORKFLOW_ID, RetentionSweepInput, RetentionSweepWorkflow

log = get_logger()

RETENTION_SCHEDULE_ID = "retention-sweep"
RETENTION_EVERY = timedelta(hours=1)
RPC_TIMEOUT = timedelta(seconds=10)


def retention_schedule(task_queue: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RetentionSweepWorkflow.run, RetentionSweepInput(), id=RETENTION_WORKFLOW_ID, task_queue=task_queue
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=RETENTION_EVERY)]),
        # A sweep still going when the next is due (a first purge of years of messages): skipped, never stacked.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(note="purges what tenants' customers wrote before their retention_days"),
    )


async def ensure_platform_schedules(client: Client, task_queue: str) -> None:
    """Creates the retention sweep's Schedule, or brings one left by an earlier version or
    another conversation queue name in line. A Temporal hiccup is logged, not fatal: the worker
    serves turns either way, and its next start tries again."""
    wanted = retention_schedule(task_queue)

    def unchanged(current: Schedule) -> bool:
        action = current.action
        return isinstance(action, ScheduleActionStartWorkflow) and action.task_queue == task_queue and current.spec.intervals == wanted.spec.intervals

    try:
        outcome = await put_schedule(client, RETENTION_SCHEDULE_ID, wanted, rpc_timeout=RPC_TIMEOUT, unchanged=unchanged)
    except RPCError as exc:
        log.warning("retention schedule not created yet", error=str(exc)[:200])
        return
    if outcome != "kept":
        log.info("retention schedule in place", outcome=outcome, every_s=RETENTION_EVERY.total_seconds(), task_queue=task_queue)
