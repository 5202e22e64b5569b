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
)
from temporalio.service import RPCError

from core.logging import get_logger
from workflows.retention import RETENTION_WORKFLOW_ID, RetentionSweepInput, RetentionSweepWorkflow

log = get_logger()

RETENTION_SCHEDULE_ID = "retention-sweep"
RETENTION_EVERY = timedelta(hours=1)


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
    """Creates the retention sweep's Schedule if it is missing. A Temporal hiccup is logged,
    not fatal: the worker serves turns either way, and its next start tries again."""
    try:
        await client.create_schedule(RETENTION_SCHEDULE_ID, retention_schedule(task_queue), rpc_timeout=timedelta(seconds=10))
        log.info("retention schedule created", every_s=RETENTION_EVERY.total_seconds(), task_queue=task_queue)
    except ScheduleAlreadyRunningError:
        pass
    except RPCError as exc:
        log.warning("retention schedule not created yet", error=str(exc)[:200])
