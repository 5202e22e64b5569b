"""Worker entry point: `frontdesk worker --queue frontdesk`."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from activities.delivery import DeliveryActivities
from activities.deps import ActivityDeps
from activities.erasure import ErasureActivities
from activities.handoff import HandoffActivities
from activities.ingestion import IngestActivities
from activities.knowledge import KnowledgeActivities
from activities.media import MediaActivities
from activities.messages import MessageActivities
from activities.nlu import NluActivities
from activities.nlu_training import NluTrainingActivities
from activities.reembed import ReembedActivities
from activities.replies import ReplyActivities
from activities.retention import RetentionActivities
from activities.store_sync import StoreSyncActivities
from activities.tools import ToolActivities
from activities.voice import VoiceActivities
from agent.tools.builtin import default_registry
from agent.tools.registry import ToolRegistry
from core.logging import get_logger
from core.settings import Settings
from core.temporal import TaskQueue, connect_platform
from voice.media_store import MediaStore
from voice.stt import Transcriber
from voice.tts import Synthesizer
from workers.log_context import worker_interceptors
from workers.schedules import ensure_platform_schedules
from workers.wiring import activity_deps, require
from workflows.conversation import ConversationWorkflow
from workflows.erasure import EraseCustomerWorkflow
from workflows.ingestion import IngestDocumentWorkflow
from workflows.nlu_model import IntentModelWorkflow
from workflows.nlu_training import TrainIntentModelWorkflow
from workflows.reembed import ReembedKnowledgeWorkflow
from workflows.retention import RetentionSweepWorkflow

log = get_logger()

# An stt worker does speech work one note at a time (activities/voice.py); a few more in flight
# wait there, and the rest wait in Temporal's queue where another stt worker can take them.
STT_MAX_CONCURRENT_ACTIVITIES = 4


def voice_activities(settings: Settings) -> VoiceActivities:
    transcriber = Transcriber(
        settings.stt_model,
        settings.local_models_dir(),
        device=settings.stt_device,
        compute_type=settings.stt_compute_type,
        max_seconds=settings.stt_max_audio_seconds,
    )
    return VoiceActivities(MediaStore(settings.media_files_dir()), transcriber, Synthesizer())


def build_worker(
    client: Client, deps: ActivityDeps, settings: Settings, queue: str | None = None, tools: ToolRegistry | None = None
) -> Worker:
    """The worker for one queue (`queue` None: the conversation queue, settings.task_queue),
    serving every role whose queue it is: conversations; replies (the LLM queue, else the
    conversation queue); document ingestion (the ingest queue, else the conversation queue);
    speech (the stt queue, else the conversation queue). `tools`: the agent's tool registry
    (None: the built-in tools; the τ²-bench evaluation brings its own)."""
    queue = queue or settings.task_queue
    workflows: list[type] = []
    activities: list[Callable] = []
    max_concurrent = settings.worker_max_concurrent_activities
    if queue == settings.task_queue:
        messages, delivery = MessageActivities(deps), DeliveryActivities(deps)
        media_store = MediaStore(settings.media_files_dir())
        media = MediaActivities(deps, media_store, settings.media_max_bytes)
        workflows.append(ConversationWorkflow)
        activities += [messages.persist_inbound, messages.persist_outbound, messages.flag_handoff, delivery.send_reply]
        activities.append(delivery.acknowledge_inbound)
        activities += [messages.record_transcript, media.download_media]
        activities += [messages.push_webchat_message, messages.mark_followup_sent]
        handoff = HandoffActivities(deps)
        activities += [handoff.assess_message, handoff.record_handoff_state]
        nlu = NluActivities(deps)  # the turn's intent: local activities, numpy only
        activities += [nlu.classify_intent, nlu.record_intent]
        # The retention sweep and customer erasure delete media files too: they run where the media directory is.
        retention = RetentionActivities(deps, media_store)
        workflows += [RetentionSweepWorkflow, EraseCustomerWorkflow]
        activities += [retention.list_retention_tenants, retention.purge_expired]
        activities.append(ErasureActivities(deps, media_store).erase_customer)
    if queue == (settings.llm_task_queue or settings.task_queue):
        # The turn's knowledge search sits with the replies: both embed text with the same model.
        tools = tools or default_registry()
        replies = ReplyActivities(deps, tools, local_model_tools=settings.local_model_tools)
        activities += [replies.generate_reply, replies.summarize_conversation, KnowledgeActivities(deps).search_knowledge]
        activities.append(replies.classify_intent_with_llm)
        activities.append(ToolActivities(deps, tools).run_tool)  # beside the embedder: search_knowledge
        store_sync = StoreSyncActivities(deps)  # where run_tool is: the turn runs them after it
        activities += [store_sync.sync_order_action, store_sync.send_payment_link]
    if queue == (settings.ingest_task_queue or settings.task_queue):
        workflows += [IngestDocumentWorkflow, ReembedKnowledgeWorkflow]
        reembed = ReembedActivities(deps)
        activities += IngestActivities(deps).all()
        activities += [reembed.list_stale_knowledge, reembed.reembed_entries, reembed.begin_document_reindex]
        # Intent model training is CPU work like ingestion's, and its workflows live beside it.
        workflows += [TrainIntentModelWorkflow, IntentModelWorkflow]
        training = NluTrainingActivities(deps)
        activities += [training.snapshot_training_samples, training.train_intent_version, training.decide_intent_version]
        activities += [training.fail_intent_version, training.rollback_intent_model, training.live_intent_confidence]
    if queue == (settings.stt_task_queue or settings.task_queue):
        voice = voice_activities(settings)
        activities += [voice.transcribe_audio, voice.synthesize_speech]
        if queue == settings.stt_task_queue and not workflows:
            max_concurrent = min(max_concurrent, STT_MAX_CONCURRENT_ACTIVITIES)
    return Worker(
        client,
        task_queue=queue,
        workflows=workflows,
        activities=activities,
        max_concurrent_activities=max_concurrent,
        max_concurrent_local_activities=settings.worker_max_concurrent_activities,
        # More than 5 pollers per worker measured worse on the dev server (MODELS.md).
        max_concurrent_workflow_task_polls=5,
        max_concurrent_activity_task_polls=5,
        interceptors=worker_interceptors(client),  # log ids; request ids if the client lacks them
        # On SIGTERM, let in-flight sends finish before cancelling them.
        graceful_shutdown_timeout=timedelta(seconds=15),
        workflow_runner=SandboxedWorkflowRunner() if settings.workflow_sandbox else UnsandboxedWorkflowRunner(),
    )


async def run_worker(settings: Settings, queue: str) -> None:
    # `queue` names a role; the queues' names come from settings (tests and benchmarks rename them).
    roles = {
        TaskQueue.FRONTDESK: settings.task_queue,
        TaskQueue.LLM: settings.llm_task_queue or TaskQueue.LLM,
        TaskQueue.INGEST: settings.ingest_task_queue or TaskQueue.INGEST,
        TaskQueue.STT: settings.stt_task_queue or TaskQueue.STT,
    }
    if queue not in roles:
        raise SystemExit(f"unknown queue {queue!r}; workers serve {sorted(roles)}")
    if queue == TaskQueue.LLM and not settings.llm_task_queue:
        raise SystemExit("set FRONTDESK_LLM_TASK_QUEUE=llm so conversations send their replies to this worker")
    if queue == TaskQueue.INGEST and not settings.ingest_task_queue:
        raise SystemExit("set FRONTDESK_INGEST_TASK_QUEUE=ingest so the API sends document ingestion to this worker")
    if queue == TaskQueue.STT and not settings.stt_task_queue:
        raise SystemExit("set FRONTDESK_STT_TASK_QUEUE=stt so conversations send their voice notes to this worker")
    queue = roles[queue]
    address, *_ = require(settings)
    # A worker can do nothing without Temporal: wait as long as it takes, saying so every 10 s.
    client = await connect_platform(settings, wait_seconds=float("inf"))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with activity_deps(settings) as deps:
        if queue == (settings.ingest_task_queue or settings.task_queue):
            deps.embedders.default()  # a misconfigured embedder stops the worker here, not each document
        if queue == settings.stt_task_queue:
            # Assembles and loads the speech model now: a broken set-up stops the worker here,
            # and the first voice note does not wait for the load.
            await asyncio.to_thread(voice_activities(settings).warm_up)
        worker = build_worker(client, deps, settings, queue)
        if queue == settings.task_queue:
            await ensure_platform_schedules(client, queue)
        log.info("worker started", task_queue=queue, temporal=address)
        async with worker:
            await stop.wait()
            log.info("worker stopping: finishing in-flight tasks")
