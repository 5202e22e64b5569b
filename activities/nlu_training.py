"""TrainIntentModelWorkflow's and IntentModelWorkflow's steps: snapshot the approved samples,
train and evaluate, promote or reject, roll back, and read the live low-confidence rate.
Training runs on the ingest queue: it is CPU work like extraction and embedding."""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps
from activities.heartbeats import heartbeating
from activities.ids import uuid_arg
from models import nlu_store, nlu_versions_store
from models.nlu_settings import nlu_settings
from models.tenant_db import tenant_transaction
from nlu.evaluation import Evaluation, Sample, evaluate, predictions, score, split_samples
from nlu.model import IntentModel, ModelFormatError
from nlu.training import NotEnoughData, train_intent_model
from rag.embedding import EmbedderRegistry, PassageEmbedder

MIN_INTENTS = 2


@dataclass
class SnapshotInput:
    tenant_id: str
    workflow_id: str
    forced: bool = False


@dataclass
class Snapshot:
    version: int
    samples: int
    intents: int


@dataclass
class TrainVersionInput:
    tenant_id: str
    version: int


@dataclass
class TrainedVersion:
    version: int
    accuracy: float
    macro_f1: float
    test_samples: int
    low_confidence_rate: float  # held-out messages below the tenant's threshold
    active_version: int | None = None  # the version serving when this one was evaluated
    active_accuracy: float | None = None  # ...scored on the same held-out samples
    active_macro_f1: float | None = None


@dataclass
class DecideVersionInput:
    tenant_id: str
    version: int
    promote: bool
    decision: str


@dataclass
class Promotion:
    active_version: int | None  # the version serving now
    previous_version: int | None  # the one it replaced (None: nothing changed)


@dataclass
class RollbackInput:
    tenant_id: str
    reason: str
    from_version: int | None = None  # roll back only if this is still the active one (auto rollback)
    to_version: int | None = None  # None: the newest earlier version that served


@dataclass
class LiveRateInput:
    tenant_id: str
    version: int
    since: float  # epoch seconds


@dataclass
class LiveRate:
    predictions: int
    low_confidence: int
    # The tenant's watch settings as they are now (models/nlu_settings.py).
    margin: float = 0.15
    min_predictions: int = 30
    watch_seconds: float = 86_400.0
    check_seconds: float = 300.0


class NluTrainingActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self._deps = deps

    @activity.defn
    async def snapshot_training_samples(self, input: SnapshotInput) -> Snapshot:
        tenant_id = uuid_arg(input.tenant_id, "tenant_id")
        async with tenant_transaction(self._deps.sessions, tenant_id) as session:
            samples = await nlu_store.approved_samples(session, tenant_id)
            intents = {s.intent for s in samples}
            if len(intents) < MIN_INTENTS:
                raise ApplicationError(
                    f"training needs approved samples of at least {MIN_INTENTS} intents; there are {len(intents)}",
                    type="NotEnoughData",
                    non_retryable=True,
                )
            row = await nlu_versions_store.begin_version(session, tenant_id, input.workflow_id, forced=input.forced, samples=samples)
            return Snapshot(row.version, len(samples), len(intents))

    @activity.defn
    async def train_intent_version(self, input: TrainVersionInput) -> TrainedVersion:
        tenant_id = uuid_arg(input.tenant_id, "tenant_id")
        async with tenant_transaction(self._deps.sessions, tenant_id) as session:
            row = await nlu_versions_store.version_row(session, tenant_id, input.version)
            if row is None or row.snapshot is None:
                raise ApplicationError(f"intent model version {input.version} has no snapshot", type="InvalidInput", non_retryable=True)
            active = await nlu_versions_store.active_version(session, tenant_id)
            settings = await nlu_settings(session, tenant_id)
            snapshot = nlu_versions_store.unpack_snapshot(row.snapshot)
            active_version, active_bytes = (active.version, active.artifact) if active is not None else (None, None)
        train, test = split_samples(snapshot)
        active_model = _readable(active_bytes)
        stage = "embedding"
        async with heartbeating(lambda: stage):
            vectors = _Vectors(self._deps.embedders)
            embedder = self._deps_embedder() if settings.features == "ngrams+embeddings" else None
            train_vectors = await vectors.of(embedder, train)
            test_vectors = await vectors.of(embedder, test)
            # The active model is scored as it serves: with its own embedder's vectors, if any.
            active_vectors = await vectors.of(active_model.embedder, test) if active_model and active_model.embedder else None
            stage = "training"
            try:
                # CPU-bound for seconds to minutes: a thread keeps the worker's event loop (and
                # the heartbeats) going.
                model = await asyncio.to_thread(
                    train_intent_model, [s.text for s in train], [s.intent for s in train],
                    embeddings=train_vectors, embedder=embedder.name if embedder else None,
                )  # fmt: skip
            except NotEnoughData as exc:
                raise ApplicationError(str(exc), type="NotEnoughData", non_retryable=True) from None
            scores, low_rate = await asyncio.to_thread(_score, model, test, test_vectors, settings.confidence_threshold)
            baseline = await asyncio.to_thread(evaluate, active_model, test, active_vectors) if active_model and test else None
        metrics = scores.as_dict() | {"low_confidence_rate": round(low_rate, 4), "temperature": model.temperature, "features": settings.features}
        async with tenant_transaction(self._deps.sessions, tenant_id) as session:
            row = await nlu_versions_store.version_row(session, tenant_id, input.version, lock=True)
            assert row is not None
            row.artifact, row.metrics = model.to_bytes(), metrics
            row.baseline = baseline.as_dict() | {"version": active_version} if baseline else {}
            row.train_samples, row.test_samples, row.intents = len(train), len(test), model.intents
        return TrainedVersion(
            version=input.version,
            accuracy=scores.accuracy,
            macro_f1=scores.macro_f1,
            test_samples=len(test),
            low_confidence_rate=round(low_rate, 4),
            active_version=active_version,
            active_accuracy=baseline.accuracy if baseline else None,
            active_macro_f1=baseline.macro_f1 if baseline else None,
        )

    def _deps_embedder(self) -> PassageEmbedder:
        try:
            return self._deps.embedders.default()
        except (LookupError, ValueError) as exc:
            raise ApplicationError(f"sentence embeddings are unavailable here: {exc}", type="InvalidInput", non_retryable=True) from None

    @activity.defn
    async def decide_intent_version(self, input: DecideVersionInput) -> Promotion:
        """Promotes the version (the active one becomes inactive, kept for rollback) or records
        why it was not; idempotent."""
        tenant_id = uuid_arg(input.tenant_id, "tenant_id")
        async with tenant_transaction(self._deps.sessions, tenant_id) as session:
            if input.promote:
                previous = await nlu_versions_store.activate(session, tenant_id, input.version, input.decision)
                return Promotion(active_version=input.version, previous_version=previous)
            row = await nlu_versions_store.version_row(session, tenant_id, input.version, lock=True)
            if row is not None and row.status == "training":
                row.status, row.decision = "rejected", input.decision
            active = await nlu_versions_store.active_version(session, tenant_id)
            await nlu_versions_store.prune(session, tenant_id)
            return Promotion(active_version=active.version if active else None, previous_version=None)

    @activity.defn
    async def fail_intent_version(self, input: DecideVersionInput) -> None:
        tenant_id = uuid_arg(input.tenant_id, "tenant_id")
        async with tenant_transaction(self._deps.sessions, tenant_id) as session:
            row = await nlu_versions_store.version_row(session, tenant_id, input.version, lock=True)
            if row is not None and row.status == "training":
                row.status, row.decision, row.snapshot = "failed", input.decision, None

    @activity.defn
    async def rollback_intent_model(self, input: RollbackInput) -> Promotion:
        tenant_id = uuid_arg(input.tenant_id, "tenant_id")
        async with tenant_transaction(self._deps.sessions, tenant_id) as session:
            active = await nlu_versions_store.active_version(session, tenant_id)
            current = active.version if active else None
            if input.from_version is not None and current != input.from_version:
                return Promotion(active_version=current, previous_version=None)  # someone acted first
            target = input.to_version
            if target is None and current is not None:
                target = await nlu_versions_store.rollback_target(session, tenant_id, current)
            if target is None:
                raise ApplicationError("there is no earlier intent model version to roll back to", type="NothingToRollBackTo", non_retryable=True)
            try:
                previous = await nlu_versions_store.activate(session, tenant_id, target, f"rollback: {input.reason}")
            except LookupError as exc:
                raise ApplicationError(str(exc), type="InvalidInput", non_retryable=True) from None
            return Promotion(active_version=target, previous_version=previous)

    @activity.defn
    async def live_intent_confidence(self, input: LiveRateInput) -> LiveRate:
        tenant_id = uuid_arg(input.tenant_id, "tenant_id")
        async with tenant_transaction(self._deps.sessions, tenant_id) as session:
            since = datetime.fromtimestamp(input.since, UTC)
            predictions, low = await nlu_store.live_confidence(session, tenant_id, input.version, since)
            settings = await nlu_settings(session, tenant_id)
        return LiveRate(
            predictions,
            low,
            margin=settings.rollback_margin,
            min_predictions=settings.rollback_min_predictions,
            watch_seconds=settings.watch_hours * 3600,
            check_seconds=float(settings.rollback_check_seconds),
        )


def _readable(artifact: bytes | None) -> IntentModel | None:
    """The active model, or None when there is none or it cannot be read (then the new
    version is compared with nothing, like a first model)."""
    if artifact is None:
        return None
    try:
        return IntentModel.from_bytes(artifact)
    except ModelFormatError:
        return None


def _score(model: IntentModel, test: list[Sample], vectors: np.ndarray | None, threshold: float) -> tuple[Evaluation, float]:
    """The model's scores on the held-out samples, and the share of them it is unsure of (what
    its live share is expected to be)."""
    predicted = predictions(model, test, vectors)
    unsure = sum(1 for p in predicted if p.confidence < threshold)
    return score([s.intent for s in test], [p.intent for p in predicted]), unsure / len(test) if test else 0.0


class _Vectors:
    """Sentence embeddings of samples, per embedder, computed once per run."""

    def __init__(self, registry: EmbedderRegistry) -> None:
        self._registry = registry

    async def of(self, embedder: PassageEmbedder | str | None, samples: list[Sample]) -> np.ndarray | None:
        if embedder is None:
            return None
        if isinstance(embedder, str):
            try:
                embedder = self._registry.get(embedder)
            except (LookupError, ValueError) as exc:
                raise ApplicationError(f"the active model's embedder is unavailable: {exc}", type="InvalidInput", non_retryable=True) from None
        size = self._registry.batch_size(embedder)
        texts = [s.text for s in samples]
        out = [await embedder.embed_queries(texts[i : i + size]) for i in range(0, len(texts), size)]
        return np.asarray([v for batch in out for v in batch], dtype=np.float32).reshape(len(texts), embedder.dimension)
