"""The turn's intent steps: classify the customer's message with the tenant's active model (a
local activity: numpy on the conversation worker, well under a millisecond), and record what the
turn decided, queueing a message the model was unsure of for review."""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
import uuid
from dataclasses import dataclass, field

from temporalio import activity

from activities.deps import ActivityDeps
from activities.ids import uuid_arg
from core.logging import get_logger
from core.ttl_cache import TtlCache
from models import nlu_store
from models.nlu_active_models import ActiveIntentModels
from models.nlu_settings import nlu_settings
from models.nlu_store import IntentInfo, PredictionRecord
from models.tenant_db import tenant_transaction
from nlu.llm_fallback import MAX_DESCRIPTION_CHARS
from nlu.model import IntentModel, ModelFormatError

log = get_logger()

# A promotion or rollback reaches every turn within this many seconds (per worker).
MODEL_CACHE_SECONDS = 15.0


@dataclass
class IntentChoice:
    name: str
    description: str
    tool_hints: list[str] = field(default_factory=list)
    handoff: bool = False


@dataclass
class ClassifyIntentInput:
    tenant_id: str
    text: str


@dataclass
class ClassifiedIntent:
    intent: str | None = None  # what the turn acts on: sure enough and not out of scope
    model_intent: str | None = None  # the model's best guess, however unsure
    confidence: float = 0.0
    model_version: int | None = None  # None: no model is active (the tenant has intents, none trained yet)
    low_confidence: bool = False  # set: ask the LLM (choices) and queue the message for review
    choices: list[IntentChoice] = field(default_factory=list)
    tool_hints: list[str] = field(default_factory=list)
    handoff: bool = False  # the intent is one people handle
    has_intents: bool = False  # False: the tenant uses no intents; nothing else is set


@dataclass
class RecordIntentInput:
    tenant_id: str
    turn_id: str
    text: str
    classified: ClassifiedIntent
    conversation_id: str | None = None
    llm_intent: str | None = None  # the LLM's pick for a low-confidence message


@dataclass
class _TenantNlu:
    version: int | None
    model: IntentModel | None
    threshold: float
    intents: dict[str, IntentInfo]


class NluActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self._deps = deps
        self._tenants: TtlCache[uuid.UUID, _TenantNlu] = TtlCache(MODEL_CACHE_SECONDS, max_entries=1_000)
        self._models = ActiveIntentModels()

    async def _tenant(self, tenant_id: uuid.UUID) -> _TenantNlu:
        async def load() -> _TenantNlu:
            async with tenant_transaction(self._deps.sessions, tenant_id) as session:
                try:
                    version, model = await self._models.current(session, tenant_id)
                except ModelFormatError as exc:
                    log.error("active intent model cannot be read; classifying without it", error=str(exc))
                    version, model = None, None
                settings = await nlu_settings(session, tenant_id)
                intents = await nlu_store.active_intents(session, tenant_id)
            return _TenantNlu(version, model, settings.confidence_threshold, intents)

        return await self._tenants.get_or_load(tenant_id, load)

    @activity.defn
    async def classify_intent(self, input: ClassifyIntentInput) -> ClassifiedIntent:
        nlu = await self._tenant(uuid_arg(input.tenant_id, "tenant_id"))
        if not nlu.intents:
            return ClassifiedIntent()
        # Descriptions cut to what the LLM is shown: the choices travel in the workflow's history.
        choices = [IntentChoice(i.name, i.description[:MAX_DESCRIPTION_CHARS], i.tool_hints, i.handoff) for i in nlu.intents.values()]
        if nlu.model is None:
            return ClassifiedIntent(low_confidence=True, choices=choices, has_intents=True)
        embedding = await self._embedding(nlu.model, input.text)
        if nlu.model.embedder is not None and embedding is None:
            return ClassifiedIntent(low_confidence=True, choices=choices, has_intents=True)
        prediction = nlu.model.predict(input.text, embedding)
        accepted = prediction.accepted(nlu.threshold)
        # An intent deactivated since training is not acted on.
        info = nlu.intents.get(accepted) if accepted is not None else None
        unsure = prediction.confidence < nlu.threshold
        return ClassifiedIntent(
            intent=info.name if info else None,
            model_intent=prediction.intent,
            confidence=prediction.confidence,
            model_version=nlu.version,
            low_confidence=unsure,
            choices=choices if unsure else [],
            tool_hints=info.tool_hints if info else [],
            handoff=info.handoff if info else False,
            has_intents=True,
        )

    async def _embedding(self, model: IntentModel, text: str) -> list[float] | None:
        """The message's sentence embedding for a model that reads them (NluSettings.features);
        None when the model does not, or the embedder is unavailable (the LLM labels the message
        then: a turn never waits on an embedding provider's outage)."""
        if model.embedder is None:
            return None
        try:
            return await self._deps.embedders.embed_query(model.embedder, text)
        except Exception as exc:  # noqa: BLE001 - any failure of the embedder: classify without the model
            log.warning("intent embedding failed; the LLM labels this message", embedder=model.embedder, error=str(exc)[:200])
            return None

    @activity.defn
    async def record_intent(self, input: RecordIntentInput) -> bool:
        """The turn's prediction, once per turn; a low-confidence message joins the review queue
        labelled with the LLM's pick (else the model's guess). True when newly recorded."""
        tenant_id = uuid_arg(input.tenant_id, "tenant_id")
        c = input.classified
        conversation_id = uuid.UUID(input.conversation_id) if input.conversation_id else None
        source = "model" if c.intent else ("llm" if input.llm_intent else "none")
        record = PredictionRecord(
            turn_id=input.turn_id,
            conversation_id=conversation_id,
            model_version=c.model_version,
            intent=c.intent or input.llm_intent,
            model_intent=c.model_intent,
            confidence=c.confidence,
            low_confidence=c.low_confidence,
            source=source,
        )
        async with tenant_transaction(self._deps.sessions, tenant_id) as session:
            recorded = await nlu_store.record_prediction(session, tenant_id, record)
            if recorded and c.low_confidence and input.text.strip():
                await nlu_store.queue_for_review(
                    session,
                    tenant_id,
                    text=input.text,
                    guessed_intent=input.llm_intent or c.model_intent,
                    predicted_by="llm" if input.llm_intent else "model",
                    confidence=c.confidence,
                    conversation_id=conversation_id,
                )
        return recorded

