"""A tenant's intent model after training: rollbacks asked for by an admin (a signal, sent with
signal-with-start by POST /v1/nlu/models/rollback), and the watch of a newly promoted version.

While a version is watched, its live share of low-confidence messages is checked every few
minutes against the version it replaced (that version's live share before the switch, or, when
it served too few messages to tell, the new version's own share on its held-out samples). Past
the tenant's margin, once enough messages were classified, the new version is rolled back. The
workflow ends when it has nothing to watch and no request for a while; the next promotion or
rollback starts it again.
"""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.nlu_training import LiveRate, LiveRateInput, NluTrainingActivities, Promotion, RollbackInput
    from workflows import policies

IDLE_END = timedelta(minutes=10)
BASELINE_WINDOW = timedelta(days=7)  # the replaced version's live share is read over this
MAX_ROLLBACKS_PER_RUN = 100  # then continue-as-new (history stays short)


def intent_model_workflow_id(tenant_id: str) -> str:
    return f"nlu-model:{tenant_id}"


@dataclass
class WatchRequest:
    version: int
    previous_version: int
    expected_low_rate: float  # the new version's low-confidence share on its held-out samples


@dataclass
class RollbackRequest:
    reason: str
    to_version: int | None = None  # None: the newest earlier version that served
    requested_by: str | None = None


@dataclass
class Watch:
    request: WatchRequest
    started: float  # epoch seconds
    baseline: float | None = None  # the low-confidence share it must not exceed by the margin


@dataclass
class IntentModelInput:
    tenant_id: str
    watch: WatchRequest | None = None
    carried_watch: Watch | None = None  # continue-as-new
    rollbacks: list[RollbackRequest] = field(default_factory=list)


@dataclass
class RollbackOutcome:
    reason: str
    active_version: int | None
    error: str | None = None


@workflow.defn
class IntentModelWorkflow:
    def __init__(self) -> None:
        self._rollbacks: list[RollbackRequest] = []
        self._new_watch: WatchRequest | None = None
        self._watch: Watch | None = None
        self._outcomes: list[RollbackOutcome] = []

    @workflow.signal
    def rollback(self, request: RollbackRequest) -> None:
        self._rollbacks.append(request)

    @workflow.signal
    def watch(self, request: WatchRequest) -> None:
        self._new_watch = request

    @workflow.query
    def status(self) -> dict:
        watch = self._watch
        return {
            "watching": watch.request.version if watch else None,
            "baseline": watch.baseline if watch else None,
            "rollbacks": [vars(o) for o in self._outcomes[-10:]],
        }

    @workflow.run
    async def run(self, input: IntentModelInput) -> None:
        self._rollbacks = list(input.rollbacks)
        self._new_watch, self._watch = input.watch, input.carried_watch
        check_every = timedelta(seconds=1)  # the first look reads the tenant's own interval
        handled = 0
        while handled < MAX_ROLLBACKS_PER_RUN:
            if self._new_watch is not None:
                self._watch = Watch(self._new_watch, workflow.now().timestamp())
                self._new_watch = None
            if self._rollbacks:
                request = self._rollbacks.pop(0)
                await self._roll_back(input.tenant_id, RollbackInput(input.tenant_id, _reason(request), to_version=request.to_version))
                self._watch = None  # a person chose the version: nothing to judge
                handled += 1
                continue
            if self._watch is not None:
                check_every = await self._check(input.tenant_id, self._watch)
            wait = check_every if self._watch is not None else IDLE_END
            try:
                await workflow.wait_condition(lambda: bool(self._rollbacks) or self._new_watch is not None, timeout=wait)
            except TimeoutError:
                if self._watch is None:
                    break  # idle: nothing to watch, nobody asking
            if workflow.info().is_continue_as_new_suggested():
                break
        if self._rollbacks or self._watch is not None or self._new_watch is not None:
            await workflow.wait_condition(workflow.all_handlers_finished)
            workflow.continue_as_new(
                IntentModelInput(input.tenant_id, watch=self._new_watch, carried_watch=self._watch, rollbacks=self._rollbacks)
            )

    async def _check(self, tenant_id: str, watch: Watch) -> timedelta:
        """Judges the watched version once; returns when to look again."""
        request = watch.request
        if watch.baseline is None:
            before = workflow.now() - BASELINE_WINDOW
            previous: LiveRate = await self._live(LiveRateInput(tenant_id, request.previous_version, before.timestamp()))
            enough = previous.predictions >= previous.min_predictions
            watch.baseline = previous.low_confidence / previous.predictions if enough else request.expected_low_rate
        live: LiveRate = await self._live(LiveRateInput(tenant_id, request.version, watch.started))
        if workflow.now().timestamp() - watch.started > live.watch_seconds:
            self._watch = None
        elif live.predictions >= live.min_predictions:
            rate = live.low_confidence / live.predictions
            if rate > watch.baseline + live.margin:
                reason = (
                    f"automatic: version {request.version} left {rate:.0%} of {live.predictions} messages below the "
                    f"confidence threshold, against {watch.baseline:.0%} before (margin {live.margin:.0%})"
                )
                workflow.logger.warning(reason)
                rollback = RollbackInput(tenant_id, reason, from_version=request.version, to_version=request.previous_version)
                await self._roll_back(tenant_id, rollback)
                self._watch = None
        return timedelta(seconds=live.check_seconds)

    async def _live(self, arg: LiveRateInput) -> LiveRate:
        return await workflow.execute_activity_method(
            NluTrainingActivities.live_intent_confidence,
            arg,
            start_to_close_timeout=policies.NLU_DB_TIMEOUT,
            retry_policy=policies.NLU_DB_RETRY,
        )

    async def _roll_back(self, tenant_id: str, arg: RollbackInput) -> None:
        try:
            done: Promotion = await workflow.execute_activity_method(
                NluTrainingActivities.rollback_intent_model,
                arg,
                start_to_close_timeout=policies.NLU_DB_TIMEOUT,
                retry_policy=policies.NLU_DB_RETRY,
            )
            self._outcomes.append(RollbackOutcome(arg.reason, done.active_version))
        except ActivityError as err:
            # Nothing to roll back to, or a version that no longer exists: said, not retried.
            self._outcomes.append(RollbackOutcome(arg.reason, None, error=str(err.cause or err)))


def _reason(request: RollbackRequest) -> str:
    return f"{request.reason} (by {request.requested_by})" if request.requested_by else request.reason
