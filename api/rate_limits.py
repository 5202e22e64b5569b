"""The 429 every rate-limited route answers with."""

from __future__ import annotations

import math

from api.problems import Problem
from core.rate_limit import RateDecision


def retry_after_header(decision: RateDecision) -> str:
    # Retry-After takes whole seconds; rounding down would invite a retry that is refused again.
    return str(max(1, math.ceil(decision.retry_after_s)))


def too_many_requests(decision: RateDecision, detail: str = "slow down and retry after the Retry-After delay") -> Problem:
    return Problem(429, "Too many requests", detail, {"Retry-After": retry_after_header(decision)})
