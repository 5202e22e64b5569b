"""Where a knowledge document's bytes live: the upload itself and, while it is being ingested,
its staged intermediate results.

    {root}/{tenant_id}/{document_id}/original             the uploaded bytes, kept for re-indexing
    {root}/{tenant_id}/{document_id}/g{generation}/       one ingestion run's staging:
        document.json      extracted sections          chunks.json     the chunks
        vectors-000000.npy one embedded batch (float32), written once the batch is done

Uploads are files rather than workflow payloads (Temporal stores every payload in history, and
shows it) and rather than rows, so a 25 MB PDF is never copied through the database or held
in a transaction. Staging is per generation: a re-index never reads a superseded run's
leftovers, and each finished batch is a file, so a retried embedding step resumes from what is
on disk. Every write goes to a temporary name and is renamed into place: a worker killed
mid-write leaves no half file behind. All methods block: call them through asyncio.to_thread.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np

_GENERATION_DIR = re.compile(r"^g(\d+)$")


def _atomic_write(path: Path, write) -> None:
    """Writes through `write(file)` to a temporary file in `path`'s directory, then renames it
    over `path`. The directory must exist: staging for a deleted document is not recreated."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class Staging:
    """One ingestion run's intermediate results."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def create(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def exists(self) -> bool:
        return self.directory.is_dir()

    def write_json(self, name: str, value: Any) -> None:
        data = json.dumps(value, ensure_ascii=False).encode()
        _atomic_write(self.directory / name, lambda file: file.write(data))

    def read_json(self, name: str) -> Any:
        return json.loads((self.directory / name).read_bytes())

    def _vectors_path(self, batch: int) -> Path:
        return self.directory / f"vectors-{batch:06d}.npy"

    def has_vectors(self, batch: int) -> bool:
        return self._vectors_path(batch).is_file()

    def write_vectors(self, batch: int, vectors: np.ndarray) -> None:
        _atomic_write(self._vectors_path(batch), lambda file: np.save(file, np.asarray(vectors, dtype=np.float32)))

    def read_vectors(self, batch: int) -> np.ndarray:
        return np.load(self._vectors_path(batch), allow_pickle=False)


class DocumentFiles:
    def __init__(self, root: Path) -> None:
        self.root = root

    def document_dir(self, tenant_id: uuid.UUID | str, document_id: uuid.UUID | str) -> Path:
        # Parsed, so an id can only ever name a directory under the root.
        return self.root / str(uuid.UUID(str(tenant_id))) / str(uuid.UUID(str(document_id)))

    def save_upload(self, tenant_id: uuid.UUID | str, document_id: uuid.UUID | str, data: bytes) -> None:
        directory = self.document_dir(tenant_id, document_id)
        directory.mkdir(parents=True, exist_ok=True)
        _atomic_write(directory / "original", lambda file: file.write(data))

    def read_upload(self, tenant_id: uuid.UUID | str, document_id: uuid.UUID | str) -> bytes:
        """The uploaded bytes; FileNotFoundError if they are not (or no longer) stored here."""
        return (self.document_dir(tenant_id, document_id) / "original").read_bytes()

    def remove_document(self, tenant_id: uuid.UUID | str, document_id: uuid.UUID | str) -> None:
        shutil.rmtree(self.document_dir(tenant_id, document_id), ignore_errors=True)

    def staging(self, tenant_id: uuid.UUID | str, document_id: uuid.UUID | str, generation: int) -> Staging:
        return Staging(self.document_dir(tenant_id, document_id) / f"g{generation}")

    def discard_staging(self, tenant_id: uuid.UUID | str, document_id: uuid.UUID | str, up_to_generation: int) -> int:
        """Removes the staging of this generation and of every earlier (superseded) one; a newer
        run's staging is left alone. Returns how many directories went."""
        directory = self.document_dir(tenant_id, document_id)
        removed = 0
        if not directory.is_dir():
            return removed
        for child in directory.iterdir():
            match = _GENERATION_DIR.match(child.name)
            if match and int(match.group(1)) <= up_to_generation:
                shutil.rmtree(child, ignore_errors=True)
                removed += 1
        return removed
