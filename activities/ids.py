"""Ids in activity inputs: a malformed one is the caller's bug, final, never retried."""

from __future__ import annotations

import uuid

from temporalio.exceptions import ApplicationError


def uuid_arg(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApplicationError(f"{what} is not a UUID: {value!r}", type="InvalidInput", non_retryable=True) from None
