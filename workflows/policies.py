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
LLM_TIMEOUT = timedelta(seconds=90)
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
