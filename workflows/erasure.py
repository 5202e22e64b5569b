"""Erasing a customer at their request (POST /v1/customers/{id}/erase): one durable step, so an
erasure the API accepted is finished even if a worker or the database fails on the way.
models/erasure_store.py says what is erased and what is blanked."""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.erasure import EraseCustomerInput, ErasureActivities
    from models.erasure_store import ErasureCounts

ERASE_TIMEOUT = timedelta(minutes=10)
# A database outage is waited out: an accepted erasure is never dropped.
ERASE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1), non_retryable_error_types=["InvalidInput"])


def erase_workflow_id(tenant_id: str, customer_id: str) -> str:
    return f"customer-erase:{tenant_id}:{customer_id}"


@workflow.defn
class EraseCustomerWorkflow:
    @workflow.run
    async def run(self, input: EraseCustomerInput) -> ErasureCounts:
        return await workflow.execute_activity_method(
            ErasureActivities.erase_customer, input, start_to_close_timeout=ERASE_TIMEOUT, retry_policy=ERASE_RETRY
        )
