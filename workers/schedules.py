"""Platform-wide Temporal Schedules, created by the conversation workers as they start (the
first one to start creates them; the others find them there)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError

from core.logging import get_logger
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
    try:
        try:
            await client.create_schedule(RETENTION_SCHEDULE_ID, wanted, rpc_timeout=RPC_TIMEOUT)
            log.info("retention schedule created", every_s=RETENTION_EVERY.total_seconds(), task_queue=task_queue)
            return
        except ScheduleAlreadyRunningError:
            pass
        handle = client.get_schedule_handle(RETENTION_SCHEDULE_ID)
        current = (await handle.describe(rpc_timeout=RPC_TIMEOUT)).schedule
        action = current.action
        if isinstance(action, ScheduleActionStartWorkflow) and action.task_queue == task_queue and current.spec.intervals == wanted.spec.intervals:
            return

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=wanted)

        await handle.update(replace, rpc_timeout=RPC_TIMEOUT)
        log.info("retention schedule updated", task_queue=task_queue)
    except RPCError as exc:
        log.warning("retention schedule not created yet", error=str(exc)[:200])
