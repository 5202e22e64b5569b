"""Timeouts and retry policies for every activity call: Temporal owns retries."""

from datetime import timedelta

from temporalio.common import RetryPolicy

# Database writes are idempotent; a database outage is waited out, never turned into a lost turn.
DB_TIMEOUT = timedelta(seconds=10)
DB_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=["InvalidInput"],
)

# The provider chain fails over inside one attempt; a few attempts, then the honest fallback.
# An attempt may be long: the offline model with tools (Settings.local_model_tools) measured up
# to 100 s a call on 2 CPU cores. A dead worker is noticed sooner, by the heartbeat timeout.
LLM_TIMEOUT = timedelta(seconds=180)
# The LLM activity heartbeats while it waits on a provider: a worker that dies mid-call is
# noticed after this, not after LLM_TIMEOUT, and the turn moves to another worker.
LLM_HEARTBEAT_TIMEOUT = timedelta(seconds=10)
LLM_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=3,
    non_retryable_error_types=["InvalidInput", "NoProviderConfigured", "ProvidersRejected", "BudgetExceeded"],
)

# A channel that is down for hours still gets the reply once it is back.
SEND_START_TO_CLOSE = timedelta(seconds=30)
SEND_SCHEDULE_TO_CLOSE = timedelta(days=1)
SEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    non_retryable_error_types=["InvalidInput", "ChannelRejected"],
)

# The turn's knowledge search: a reply without passages beats a customer kept waiting, so a
# few quick attempts, then the turn goes on without them.
# Read receipts and button-tap answers: worth a few quick tries, never worth holding a turn.
ACKNOWLEDGE_TIMEOUT = timedelta(seconds=10)
ACKNOWLEDGE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500), backoff_coefficient=2.0, maximum_attempts=3, non_retryable_error_types=["InvalidInput"]
)

KNOWLEDGE_TIMEOUT = timedelta(seconds=10)
KNOWLEDGE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=300),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=2),
    maximum_attempts=3,
    non_retryable_error_types=["InvalidInput"],
)

# Knowledge ingestion (workflows/ingestion.py). Parsing untrusted files: a parser that crashes
# on a file crashes on it every time, so a few attempts (a killed worker is one), then the
# document is marked failed instead of looping.
INGEST_PARSE_TIMEOUT = timedelta(minutes=5)
INGEST_PARSE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=3,
    non_retryable_error_types=["InvalidInput", "DocumentRejected", "Superseded"],
)
# Long activities heartbeat every few seconds from a background task: a dead worker is noticed
# after this, whatever a batch takes, and the retry resumes from the staged batches.
INGEST_HEARTBEAT_TIMEOUT = timedelta(seconds=15)
# One embedding step (EMBED_CHUNKS_PER_ACTIVITY chunks); a provider that stays down for the
# schedule-to-close budget fails the document with a reason instead of hanging it.
INGEST_EMBED_TIMEOUT = timedelta(minutes=10)
INGEST_EMBED_SCHEDULE_TO_CLOSE = timedelta(hours=1)
INGEST_EMBED_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=["InvalidInput", "Superseded"],
)
# The atomic swap of a document's chunks: one transaction, idempotent, waits out an outage.
INGEST_INDEX_TIMEOUT = timedelta(minutes=2)
INGEST_DB_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=["InvalidInput", "Superseded"],
)

# Voice notes (issue 7). Downloading a customer's file: a channel outage is retried for a few
# minutes, then the turn answers that the note could not be heard instead of keeping them waiting.
MEDIA_TIMEOUT = timedelta(seconds=60)
MEDIA_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=6,
    non_retryable_error_types=["InvalidInput", "MediaUnavailable"],
)
# Transcription on the stt queue: notes up to 10 minutes at a real-time factor of ~0.2, plus a
# wait behind the worker's other notes. Bad audio fails at once (AudioRejected); a missing stt
# worker fails the note after STT_SCHEDULE_TO_CLOSE, never the conversation.
STT_TIMEOUT = timedelta(minutes=5)
STT_HEARTBEAT_TIMEOUT = timedelta(seconds=30)
STT_SCHEDULE_TO_CLOSE = timedelta(minutes=20)
STT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=3,
    non_retryable_error_types=["InvalidInput", "AudioRejected", "MediaMissing"],
)
# A voice reply is a nicety: if it cannot be made soon, the text goes out alone.
TTS_TIMEOUT = timedelta(minutes=2)
TTS_SCHEDULE_TO_CLOSE = timedelta(minutes=3)
TTS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_attempts=2,
    non_retryable_error_types=["InvalidInput", "SpeechFailed"],
)

# The agent's tools (activities/tools.py): exactly-once by idempotency key, so retrying is safe;
# a tool that keeps failing is reported to the model (and counts toward hand-over) rather than
# holding the customer's answer for long.
TOOL_TIMEOUT = timedelta(seconds=30)
# A confirmed cancellation or refund carried out at the store, while the customer waits for the
# answer: a store down for longer gets the "a person completes it" answer instead.
STORE_SYNC_TIMEOUT = timedelta(seconds=30)
STORE_SYNC_SCHEDULE_TO_CLOSE = timedelta(minutes=2)
STORE_SYNC_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=20),
    non_retryable_error_types=["InvalidInput"],
)
TOOL_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=4,
    non_retryable_error_types=["InvalidInput"],
)
# A financial tool's question waits this long for the customer's yes; no answer means no.
CONFIRMATION_TIMEOUT = timedelta(minutes=15)

# Intent model training (issue 9): CPU work on the ingest queue. Banking77's 10k samples train in
# under a minute on 2 cores; a worker that dies mid-run is noticed by the heartbeat timeout and
# the step is retried from the run's snapshot. Bad data ends the run at once.
NLU_TRAIN_TIMEOUT = timedelta(minutes=30)
NLU_TRAIN_HEARTBEAT_TIMEOUT = timedelta(seconds=30)
NLU_TRAIN_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=3,
    non_retryable_error_types=["InvalidInput", "NotEnoughData"],
)
# Version bookkeeping: one transaction each, idempotent, waits out a database outage.
NLU_DB_TIMEOUT = timedelta(seconds=30)
NLU_DB_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=["InvalidInput", "NotEnoughData", "NothingToRollBackTo"],
)
# A turn's question to the LLM about a message the intent model was unsure of: one quick try
# (the reply itself must not wait long for a label that only routes and queues).
INTENT_LLM_TIMEOUT = timedelta(seconds=20)
INTENT_LLM_RETRY = RetryPolicy(maximum_attempts=2, non_retryable_error_types=["InvalidInput"])
