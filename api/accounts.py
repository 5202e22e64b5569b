"""Channel accounts looked up by id, cached briefly: every webhook needs one before verifying."""

from __future__ import annotations

import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.problems import Problem
from core.crypto import SecretBox
from models.accounts_store import ResolvedChannelAccount, channel_account_by_id

CACHE_SECONDS = 30.0  # credential changes reach the API within this


class ChannelAccountCache:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], box: SecretBox) -> None:
        self._sessions = sessions
        self._box = box
        self._entries: dict[str, tuple[float, ResolvedChannelAccount | None]] = {}

    async def get(self, channel_account_id: str) -> ResolvedChannelAccount | None:
        now = time.monotonic()
        cached = self._entries.get(channel_account_id)
        if cached and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        async with self._sessions() as session:
            account = await channel_account_by_id(session, self._box, channel_account_id)
        if len(self._entries) > 10_000:  # unknown ids must not grow this without bound
            self._entries.clear()
        self._entries[channel_account_id] = (now, account)
        return account

    async def require(self, channel_account_id: str, channel: str) -> ResolvedChannelAccount:
        account = await self.get(channel_account_id)
        if account is None or account.channel != channel:
            raise Problem(404, "Unknown channel account", f"no active {channel} channel account {channel_account_id}")
        if account.status != "active":
            raise Problem(403, "Channel account disabled")
        return account
