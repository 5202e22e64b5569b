"""Creating a Temporal Schedule, or bringing an existing one in line: shared by the tenants'
retraining schedules (api/nlu_runs.py) and the platform's (workers/schedules.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Literal

from temporalio.client import Client, Schedule, ScheduleAlreadyRunningError, ScheduleUpdate, ScheduleUpdateInput


async def put_schedule(
    client: Client,
    schedule_id: str,
    schedule: Schedule,
    *,
    rpc_timeout: timedelta,
    replace: bool = True,
    unchanged: Callable[[Schedule], bool] | None = None,
) -> Literal["created", "updated", "kept"]:
    """Creates the schedule; one that exists is replaced by `schedule` when `replace`, unless
    `unchanged(current)` says it already is what is wanted (an update is a write on the server,
    and every worker start asks). Temporal's RPCError is the caller's to map."""
    try:
        await client.create_schedule(schedule_id, schedule, rpc_timeout=rpc_timeout)
        return "created"
    except ScheduleAlreadyRunningError:
        if not replace:
            return "kept"
    handle = client.get_schedule_handle(schedule_id)
    if unchanged is not None and unchanged((await handle.describe(rpc_timeout=rpc_timeout)).schedule):
        return "kept"

    def replaced(_: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(schedule=schedule)

    await handle.update(replaced, rpc_timeout=rpc_timeout)
    return "updated"
