"""How a store or payment provider's API said no: for now (retry) or for good (a person acts)."""

from __future__ import annotations


class StoreUnavailable(Exception):
    """It could not answer now (rate limit, server error, network): worth retrying."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreRefused(Exception):
    """It said no (4xx): retrying would get the same answer."""
