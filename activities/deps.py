"""What activities need, built once per worker process (see workers/main.py)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.registry import ChannelRegistry
from core.crypto import SecretBox
from llm.registry import ProviderRegistry
from models.knowledge_files import DocumentFiles
from rag.embedding import EmbedderRegistry


@dataclass
class ActivityDeps:
    sessions: async_sessionmaker[AsyncSession]
    # Autocommit: the hot path's single statements skip BEGIN/COMMIT (see models/db.py).
    statements: async_sessionmaker[AsyncSession]
    secrets: SecretBox
    redis: Redis
    http: httpx.AsyncClient
    channels: ChannelRegistry
    providers: ProviderRegistry
    # Knowledge ingestion: uploads and staging on disk, and the embedders by name.
    documents: DocumentFiles
    embedders: EmbedderRegistry
