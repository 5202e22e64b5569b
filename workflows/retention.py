"""The retention sweep: every tenant that set `retention_days` loses what its customers wrote
before that period (models/retention_store.py says what, and what waits for deduplication).

One platform-wide Temporal Schedule (workers/schedules.py) starts it hourly, skipping a start
while the previous sweep still runs. Tenants are read a page at a time and purged one after
the other; a purge that keeps failing is logged and the sweep goes on with the next tenant,
so one tenant's trouble never holds the others' data past their period. A long sweep continues
as new with its place in the tenant list, keeping its history short.
"""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.retention import PurgeInput, RetentionActivities, RetentionPage
    from models.retention_store import PurgeCounts
    from workflows import policies

RETENTION_WORKFLOW_ID = "retention-sweep"
PURGE_TIMEOUT = timedelta(hours=2)
PURGE_HEARTBEAT = timedelta(minutes=2)  # a step deletes at most a few thousand rows per table
PURGE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=2), maximum_attempts=5)
TENANTS_PER_RUN = 500
FAILED_KEPT = 100  # tenant ids named in the result; the log names every one


@dataclass
class RetentionSweepInput:
    after: str | None = None  # where a continued sweep picks up
    purged: PurgeCounts = field(default_factory=PurgeCounts)
    tenants: int = 0
    failed: list[str] = field(default_factory=list)


@dataclass
class RetentionSweepResult:
    tenants: int
    purged: PurgeCounts
    failed: list[str]  # tenants whose purge failed this time (the next sweep tries again)


@workflow.defn
class RetentionSweepWorkflow:
    @workflow.run
    async def run(self, input: RetentionSweepInput | None = None) -> RetentionSweepResult:
        state = input or RetentionSweepInput()
        after, done_this_run = state.after, 0
        while True:
            page: RetentionPage = await workflow.execute_activity_method(
                RetentionActivities.list_retention_tenants, after,
                start_to_close_timeout=policies.DB_TIMEOUT, retry_policy=policies.DB_RETRY,
            )  # fmt: skip
            for tenant in page.tenants:
                try:
                    purged: PurgeCounts = await workflow.execute_activity_method(
                        RetentionActivities.purge_expired, PurgeInput(tenant.tenant_id, tenant.days),
                        start_to_close_timeout=PURGE_TIMEOUT, heartbeat_timeout=PURGE_HEARTBEAT, retry_policy=PURGE_RETRY,
                    )  # fmt: skip
                    state.purged.add(purged)
                except ActivityError as err:
                    workflow.logger.warning("retention purge failed", extra={"tenant_id": tenant.tenant_id, "reason": str(err.cause)})
                    if len(state.failed) < FAILED_KEPT:
                        state.failed.append(tenant.tenant_id)
                state.tenants += 1
                done_this_run += 1
            if page.next_after is None:
                return RetentionSweepResult(state.tenants, state.purged, state.failed)
            after = page.next_after
            if done_this_run >= TENANTS_PER_RUN or workflow.info().is_continue_as_new_suggested():
                state.after = after
                workflow.continue_as_new(state)
