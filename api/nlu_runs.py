"""What the NLU routes ask of Temporal: a training run now, the tenant's retraining Schedule,
and a rollback signal to the tenant's IntentModelWorkflow (started if it is not running)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.problems import Problem
from core import temporal as sa
from core.logging import get_logger
from core.schedules import put_schedule
from core.settings import Settings
from models.nlu_settings import NluSettings
from workflows.nlu_model import IntentModelInput, IntentModelWorkflow, RollbackRequest, intent_model_workflow_id
from workflows.nlu_training import TrainIntentModelInput, TrainIntentModelWorkflow, train_workflow_id

log = get_logger()

RPC_TIMEOUT = timedelta(seconds=10)


def schedule_id(tenant_id: uuid.UUID) -> str:
    return f"nlu-retrain:{tenant_id}"


def _queue(settings: Settings) -> str:
    return settings.ingest_task_queue or settings.task_queue  # training runs beside ingestion


def _tenant_attributes(tenant_id: uuid.UUID) -> TypedSearchAttributes:
    return TypedSearchAttributes([SearchAttributePair(sa.TENANT_ID, str(tenant_id))])


def _unavailable(what: str, exc: RPCError) -> Problem:
    log.warning("temporal refused an nlu request", what=what, status=exc.status.name, error=exc.message[:200])
    return Problem(503, "Workflow service unavailable", f"{what} could not be started; retry shortly", {"Retry-After": "5"})


async def start_training(client: Client, settings: Settings, tenant_id: uuid.UUID, *, force: bool, requested_by: str) -> str:
    """Starts a training run; 409 while one the tenant asked for is still going."""
    workflow_id = train_workflow_id(str(tenant_id))
    try:
        await client.start_workflow(
            TrainIntentModelWorkflow.run,
            TrainIntentModelInput(str(tenant_id), force=force, requested_by=requested_by),
            id=workflow_id,
            task_queue=_queue(settings),
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=_tenant_attributes(tenant_id),
            rpc_timeout=RPC_TIMEOUT,
        )
    except WorkflowAlreadyStartedError:
        raise Problem(409, "Training in progress", f"a training run ({workflow_id}) is still going; wait for it to finish") from None
    except RPCError as exc:
        raise _unavailable("the training run", exc) from None
    return workflow_id


async def request_rollback(client: Client, settings: Settings, tenant_id: uuid.UUID, request: RollbackRequest) -> str:
    workflow_id = intent_model_workflow_id(str(tenant_id))
    try:
        await client.start_workflow(
            IntentModelWorkflow.run,
            IntentModelInput(str(tenant_id)),
            id=workflow_id,
            task_queue=_queue(settings),
            start_signal="rollback",  # IntentModelWorkflow.rollback
            start_signal_args=[request],
            search_attributes=_tenant_attributes(tenant_id),
            rpc_timeout=RPC_TIMEOUT,
        )
    except RPCError as exc:
        raise _unavailable("the rollback", exc) from None
    return workflow_id


def _schedule(settings: Settings, tenant_id: uuid.UUID, nlu: NluSettings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            TrainIntentModelWorkflow.run,
            TrainIntentModelInput(str(tenant_id)),
            id=train_workflow_id(str(tenant_id)),  # Temporal appends the scheduled time
            task_queue=_queue(settings),
            typed_search_attributes=_tenant_attributes(tenant_id),
        ),
        spec=ScheduleSpec(cron_expressions=[nlu.schedule_cron]),
        # A run still training when the next is due: the next one is skipped, never stacked.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(paused=not nlu.schedule_enabled, note="intent model retraining (PUT /v1/nlu/settings)"),
    )


async def ensure_training_schedule(
    client: Client, settings: Settings, tenant_id: uuid.UUID, nlu: NluSettings, *, replace: bool = True
) -> None:
    """Creates the tenant's retraining Schedule, or (`replace`) brings it in line with `nlu`. A
    cron expression Temporal refuses is a 422."""
    try:
        await put_schedule(client, schedule_id(tenant_id), _schedule(settings, tenant_id, nlu), rpc_timeout=RPC_TIMEOUT, replace=replace)
    except RPCError as exc:
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:
            raise Problem(422, "Schedule refused", f"the retraining schedule is not valid: {exc.message}") from None
        raise _unavailable("the retraining schedule", exc) from None


async def ensure_schedule_quietly(client: Client, settings: Settings, tenant_id: uuid.UUID, nlu: NluSettings) -> None:
    """The tenant's retraining Schedule created if it does not exist yet, as intents arrive
    (created or imported). What the caller saved stays saved either way: a Temporal hiccup here
    is mended by the next intent, training run or settings change."""
    try:
        await ensure_training_schedule(client, settings, tenant_id, nlu, replace=False)
    except Problem as exc:
        log.warning("retraining schedule not created yet", tenant_id=str(tenant_id), reason=exc.detail)
