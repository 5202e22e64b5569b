"""Training a tenant's intent model: snapshot the approved samples → train → evaluate on the
held-out samples, the active model too → promote only a better model (or when forced) → watch
the new one live (IntentModelWorkflow), which rolls it back if its share of low-confidence
messages rises past the tenant's margin.

Started on demand (POST /v1/nlu/models/train) and by the tenant's Temporal Schedule (nightly by
default, overlap "skip": a run still going makes the next one skip). `progress` (a query) and
the activity names show the stage in the Temporal UI.
"""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
from dataclasses import dataclass

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.nlu_training import (
        DecideVersionInput,
        NluTrainingActivities,
        Promotion,
        Snapshot,
        SnapshotInput,
        TrainedVersion,
        TrainVersionInput,
    )
    from nlu.promotion import Candidate, promotion_decision
    from workflows import policies
    from workflows.nlu_model import IntentModelInput, IntentModelWorkflow, WatchRequest, intent_model_workflow_id


def train_workflow_id(tenant_id: str) -> str:
    return f"nlu-train:{tenant_id}"


@dataclass
class TrainIntentModelInput:
    tenant_id: str
    force: bool = False  # promote even if it does not beat the active version
    requested_by: str | None = None  # None: the schedule


@dataclass
class TrainIntentModelResult:
    version: int | None = None  # None: nothing was trained (not enough data)
    promoted: bool = False
    decision: str = ""
    accuracy: float | None = None
    macro_f1: float | None = None
    active_version: int | None = None  # serving when the run ended


@workflow.defn
class TrainIntentModelWorkflow:
    def __init__(self) -> None:
        self._stage = "starting"

    @workflow.query
    def progress(self) -> str:
        return self._stage

    @workflow.run
    async def run(self, input: TrainIntentModelInput) -> TrainIntentModelResult:
        self._stage = "snapshot"
        try:
            snapshot: Snapshot = await self._db(
                NluTrainingActivities.snapshot_training_samples,
                # The run, not the workflow id: every run asked for by the API shares one id.
                SnapshotInput(input.tenant_id, f"{workflow.info().workflow_id}/{workflow.info().run_id}", input.force),
            )
        except ActivityError as err:
            if _error_type(err) == "NotEnoughData":
                self._stage = "not enough data"
                return TrainIntentModelResult(decision=str(err.cause))
            raise
        self._stage = f"training version {snapshot.version} on {snapshot.samples} samples of {snapshot.intents} intents"
        try:
            trained: TrainedVersion = await workflow.execute_activity_method(
                NluTrainingActivities.train_intent_version,
                TrainVersionInput(input.tenant_id, snapshot.version),
                start_to_close_timeout=policies.NLU_TRAIN_TIMEOUT,
                heartbeat_timeout=policies.NLU_TRAIN_HEARTBEAT_TIMEOUT,
                retry_policy=policies.NLU_TRAIN_RETRY,
            )
        except ActivityError as err:
            reason = str(err.cause or err)
            await self._db(NluTrainingActivities.fail_intent_version, DecideVersionInput(input.tenant_id, snapshot.version, False, reason))
            self._stage = "failed"
            raise ApplicationError(f"training version {snapshot.version} failed: {reason}", non_retryable=True) from err
        candidate = Candidate(
            trained.version, trained.accuracy, trained.macro_f1, trained.test_samples,
            trained.active_version, trained.active_accuracy, trained.active_macro_f1,
        )  # fmt: skip
        promote, decision = promotion_decision(candidate, forced=input.force)
        if input.force and input.requested_by:
            decision += f"; by {input.requested_by}"
        self._stage = "promoting" if promote else "keeping the active version"
        promotion: Promotion = await self._db(
            NluTrainingActivities.decide_intent_version, DecideVersionInput(input.tenant_id, trained.version, promote, decision)
        )
        if promote and promotion.previous_version is not None:
            await self._watch(input.tenant_id, WatchRequest(trained.version, promotion.previous_version, trained.low_confidence_rate))
        self._stage = "done"
        return TrainIntentModelResult(
            version=trained.version,
            promoted=promote,
            decision=decision,
            accuracy=trained.accuracy,
            macro_f1=trained.macro_f1,
            active_version=promotion.active_version,
        )

    async def _db(self, method, arg):
        return await workflow.execute_activity_method(
            method, arg, start_to_close_timeout=policies.NLU_DB_TIMEOUT, retry_policy=policies.NLU_DB_RETRY
        )

    async def _watch(self, tenant_id: str, request: WatchRequest) -> None:
        """Hands the new version to the tenant's IntentModelWorkflow, starting it if it is not
        running (it outlives this run: abandoned, not cancelled, when this run ends)."""
        workflow_id = intent_model_workflow_id(tenant_id)
        try:
            await workflow.start_child_workflow(
                IntentModelWorkflow.run,
                IntentModelInput(tenant_id, watch=request),
                id=workflow_id,
                parent_close_policy=ParentClosePolicy.ABANDON,
            )
        except WorkflowAlreadyStartedError:
            await workflow.get_external_workflow_handle_for(IntentModelWorkflow.run, workflow_id).signal(IntentModelWorkflow.watch, request)


def _error_type(err: ActivityError) -> str | None:
    cause = err.cause
    return cause.type if isinstance(cause, ApplicationError) else None
