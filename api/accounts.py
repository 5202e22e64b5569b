"""Channel accounts looked up by id, cached briefly: every webhook needs one before verifying."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.problems import Problem
from core.crypto import SecretBox
from core.ttl_cache import TtlCache
from models.accounts_store import ResolvedChannelAccount, channel_account_by_id

CACHE_SECONDS = 30.0  # credential changes reach the API within this


class ChannelAccountCache:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], box: SecretBox) -> None:
        self._sessions = sessions
        self._box = box
        self._cache: TtlCache[str, ResolvedChannelAccount | None] = TtlCache(CACHE_SECONDS)

    async def get(self, channel_account_id: str) -> ResolvedChannelAccount | None:
        async def load() -> ResolvedChannelAccount | None:
            async with self._sessions() as session:
                return await channel_account_by_id(session, self._box, channel_account_id)

        return await self._cache.get_or_load(channel_account_id, load)

    async def require(self, channel_account_id: str, channel: str) -> ResolvedChannelAccount:
        account = await self.get(channel_account_id)
        if account is None or account.channel != channel:
            raise Problem(404, "Unknown channel account", f"no active {channel} channel account {channel_account_id}")
        if account.status != "active":
            raise Problem(403, "Channel account disabled")
        return account

    def forget(self, channel_account_id: str) -> None:
        """After an admin change: this process sees it at once, others within CACHE_SECONDS."""
        self._cache.forget(channel_account_id)
