"""Helpers the conversation workflow's parts share."""

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import policies

I = TypeVar("I")
O = TypeVar("O")


async def database_step(method: Callable[[Any, I], Awaitable[O]], arg: I) -> O:
    """A local activity that only touches our database: retried until the database is back."""
    return await workflow.execute_local_activity_method(
        method, arg, start_to_close_timeout=policies.DB_TIMEOUT, retry_policy=policies.DB_RETRY
    )
