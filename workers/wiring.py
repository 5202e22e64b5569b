"""Builds the clients a worker process shares between its activities."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from activities.deps import ActivityDeps
from channels.registry import ChannelRegistry
from core.crypto import SecretBox
from core.settings import Settings
from llm.registry import ProviderRegistry
from models.db import make_autocommit_session_maker, make_engine, make_session_maker
from models.knowledge_files import document_files
from rag.embedding import EmbedderRegistry


def require(settings: Settings) -> tuple[str, str, str, str]:
    """(temporal address, database URL, Redis URL, master key), or exit saying what is unset."""
    if missing := settings.missing_servers():
        raise SystemExit(f"set {', '.join(missing)} (or run `frontdesk dev`, which sets them)")
    assert settings.master_key is not None
    return (
        settings.temporal_address or "",
        settings.database_url or "",
        settings.redis_url or "",
        settings.master_key.get_secret_value(),
    )


def secret_box(settings: Settings) -> SecretBox:
    """The master key, plus the one before the last rotation so values not yet re-wrapped (or
    a process not yet restarted after `frontdesk rotate-master-key`) still read."""
    _, _, _, master_key = require(settings)
    previous = [settings.master_key_previous.get_secret_value()] if settings.master_key_previous else []
    return SecretBox(master_key, previous=previous)


@asynccontextmanager
async def activity_deps(settings: Settings) -> AsyncIterator[ActivityDeps]:
    _, database_url, redis_url, _ = require(settings)
    engine = make_engine(database_url, pool_size=settings.db_pool_size)
    # Redis only speeds things up or guards them (breakers, budgets, previews): when it is away a
    # turn must not sit through redis-py's default retries with backoff (~3 s a call measured).
    redis = Redis.from_url(redis_url, retry=Retry(NoBackoff(), 1), socket_connect_timeout=1.0)
    # Connection pooling to channels and providers; timeouts below the activity timeouts.
    http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0), limits=httpx.Limits(max_connections=200))
    providers = ProviderRegistry(http)
    try:
        yield ActivityDeps(
            sessions=make_session_maker(engine),
            statements=make_autocommit_session_maker(engine),
            secrets=secret_box(settings),
            redis=redis,
            http=http,
            channels=ChannelRegistry(http),
            providers=providers,
            documents=document_files(settings.knowledge_store(), settings.knowledge_s3_endpoint_url),
            embedders=EmbedderRegistry(settings, http),
        )
    finally:
        await providers.aclose()
        await http.aclose()
        await redis.aclose()
        await engine.dispose()
