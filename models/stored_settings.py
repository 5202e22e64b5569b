"""Reading a validated settings block back from a tenant's settings JSON."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from core.logging import get_logger

log = get_logger()

M = TypeVar("M", bound=BaseModel)


def parsed_or_default(model: type[M], stored: object, what: str) -> M:
    """`stored` as `model`, or the defaults when it does not validate: only the API writes these
    blocks, validated, and a hand-edited row must not stop every turn or search."""
    try:
        return model.model_validate(stored or {})
    except ValidationError as exc:
        log.warning(f"stored {what} settings are invalid; using defaults", error=str(exc)[:300])
        return model()
