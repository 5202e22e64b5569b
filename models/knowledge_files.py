"""Where a knowledge document's bytes live: the upload itself and, while it is being ingested,
its staged intermediate results, in a blob store (models/blob_store.py: a directory or a bucket).

    {tenant_id}/{document_id}/original             the uploaded bytes, kept for re-indexing
    {tenant_id}/{document_id}/g{generation}/       one ingestion run's staging:
        document.json      extracted sections          chunks.json     the chunks
        vectors-000000.npy one embedded batch (float32), written once the batch is done

Uploads are files rather than workflow payloads (Temporal stores every payload in history, and
shows it) and rather than rows, so a 25 MB PDF is never copied through the database or held
in a transaction. Staging is per generation: a re-index never reads a superseded run's
leftovers, and each finished batch is a file, so a retried embedding step resumes from what is
in the store. A write is whole or absent (the store's promise): a worker killed mid-write leaves
no half file behind. All methods block: call them through asyncio.to_thread.
"""

from __future__ import annotations

import functools
import io
import json
import re
import uuid
from typing import Any

import numpy as np

from models.blob_store import BlobStore, blob_store

_GENERATION = re.compile(r"^g(\d+)$")
# Written when a run's staging is created: an S3 prefix exists only while something is in it.
_STAGING_MARKER = ".staging"


class Staging:
    """One ingestion run's intermediate results. Writes need the staging to exist: one for a
    document deleted meanwhile fails (FileNotFoundError) instead of recreating it."""

    def __init__(self, blobs: BlobStore, prefix: str) -> None:
        self._blobs = blobs
        self.prefix = prefix

    def create(self) -> None:
        self._blobs.put(f"{self.prefix}/{_STAGING_MARKER}", b"")

    def exists(self) -> bool:
        return self._blobs.has_prefix(self.prefix)

    def write_json(self, name: str, value: Any) -> None:
        self._blobs.put(f"{self.prefix}/{name}", json.dumps(value, ensure_ascii=False).encode(), parents=False)

    def read_json(self, name: str) -> Any:
        return json.loads(self._blobs.get(f"{self.prefix}/{name}"))

    def _vectors_key(self, batch: int) -> str:
        return f"{self.prefix}/vectors-{batch:06d}.npy"

    def has_vectors(self, batch: int) -> bool:
        return self._blobs.has(self._vectors_key(batch))

    def write_vectors(self, batch: int, vectors: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(vectors, dtype=np.float32))
        self._blobs.put(self._vectors_key(batch), buffer.getvalue(), parents=False)

    def read_vectors(self, batch: int) -> np.ndarray:
        return np.load(io.BytesIO(self._blobs.get(self._vectors_key(batch))), allow_pickle=False)


class DocumentFiles:
    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs

    @staticmethod
    def document_prefix(tenant_id: uuid.UUID | str, document_id: uuid.UUID | str) -> str:
        # Parsed, so an id can only ever name a prefix of its own.
        return f"{uuid.UUID(str(tenant_id))}/{uuid.UUID(str(document_id))}"

    def save_upload(self, tenant_id: uuid.UUID | str, document_id: uuid.UUID | str, data: bytes) -> None:
        self.blobs.put(f"{self.document_prefix(tenant_id, document_id)}/original", data)

    def read_upload(self, tenant_id: uuid.UUID | str, document_id: uuid.UUID | str) -> bytes:
        """The uploaded bytes; FileNotFoundError if they are not (or no longer) stored here."""
        return self.blobs.get(f"{self.document_prefix(tenant_id, document_id)}/original")

    def where(self, tenant_id: uuid.UUID | str, document_id: uuid.UUID | str) -> str:
        """The upload's location, for an operator reading a log line."""
        return self.blobs.describe(f"{self.document_prefix(tenant_id, document_id)}/original")

    def stored_names(self, tenant_id: uuid.UUID | str, document_id: uuid.UUID | str) -> list[str]:
        """What is kept for the document: "original", and a "g<generation>" per run's staging."""
        return self.blobs.children(self.document_prefix(tenant_id, document_id))

    def remove_document(self, tenant_id: uuid.UUID | str, document_id: uuid.UUID | str) -> None:
        self.blobs.delete_prefix(self.document_prefix(tenant_id, document_id))

    def staging(self, tenant_id: uuid.UUID | str, document_id: uuid.UUID | str, generation: int) -> Staging:
        return Staging(self.blobs, f"{self.document_prefix(tenant_id, document_id)}/g{generation}")

    def discard_staging(self, tenant_id: uuid.UUID | str, document_id: uuid.UUID | str, up_to_generation: int) -> int:
        """Removes the staging of this generation and of every earlier (superseded) one; a newer
        run's staging is left alone. Returns how many runs' staging went."""
        prefix = self.document_prefix(tenant_id, document_id)
        removed = 0
        for name in self.blobs.children(prefix):
            match = _GENERATION.match(name)
            if match and int(match.group(1)) <= up_to_generation:
                self.blobs.delete_prefix(f"{prefix}/{name}")
                removed += 1
        return removed


@functools.cache
def document_files(store: str, s3_endpoint_url: str | None = None) -> DocumentFiles:
    """The store `Settings.knowledge_store()` names; one per process (an S3 client is built once
    and shared by every request and activity thread: boto3 clients are thread-safe)."""
    return DocumentFiles(blob_store(store, endpoint_url=s3_endpoint_url))
