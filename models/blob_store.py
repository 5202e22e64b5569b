"""Where knowledge documents' bytes are kept: a directory (one host, or a volume every API and
ingest worker mounts) or an S3-compatible bucket (AWS S3, MinIO, Cloudflare R2, GCS's XML API),
so API and ingest workers on different hosts need no shared disk.

Keys are '/'-separated paths; a "prefix" is a key's directory part. Both stores write whole
objects only: a disk write goes to a temporary name and is renamed into place, and an S3 PUT
is visible whole or not at all, so a worker killed mid-write never leaves half a file. All
methods block: call them through asyncio.to_thread.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from core.atomic_file import write_atomically


class BlobStoreUnavailable(OSError):
    """The store could not be reached or refused the request (credentials, bucket): worth
    retrying later, unlike a missing object (FileNotFoundError)."""


class BlobStore(Protocol):
    def put(self, key: str, data: bytes, *, parents: bool = True) -> None:
        """Stores `data` under `key`. With parents=False the key's prefix must already hold
        something, else FileNotFoundError: a late write for a deleted document recreates nothing."""

    def get(self, key: str) -> bytes:
        """The object's bytes; FileNotFoundError when there is none."""

    def has(self, key: str) -> bool: ...

    def has_prefix(self, prefix: str) -> bool:
        """Whether anything is stored under `prefix/`."""

    def children(self, prefix: str) -> list[str]:
        """The names one level under `prefix/` (objects and sub-prefixes alike), sorted."""

    def delete_prefix(self, prefix: str) -> None:
        """Removes everything under `prefix/`; nothing there is not an error."""

    def describe(self, key: str) -> str:
        """Where `key` is, for an operator reading a log line."""


class DiskBlobs:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / key

    def put(self, key: str, data: bytes, *, parents: bool = True) -> None:
        write_atomically(self.path(key), data, make_parents=parents)

    def get(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def has(self, key: str) -> bool:
        return self.path(key).is_file()

    def has_prefix(self, prefix: str) -> bool:
        return self.path(prefix).is_dir()

    def children(self, prefix: str) -> list[str]:
        directory = self.path(prefix)
        return sorted(child.name for child in directory.iterdir()) if directory.is_dir() else []

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self.path(prefix), ignore_errors=True)

    def describe(self, key: str) -> str:
        return str(self.path(key))


class S3Blobs:
    """A bucket, optionally under a key prefix. Credentials and region come from boto3's usual
    chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION, a profile, an instance
    role); `endpoint_url` points it at MinIO, R2 or another S3-compatible server."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None, client: Any = None, page_size: int = 1000) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._page_size = min(page_size, 1000)  # keys per listing page, and per delete_objects (its limit)
        # Botocore retries throttling and 5xx itself (standard mode); what still fails is the
        # caller's: an ingestion activity is retried by Temporal, an upload answers 503.
        self._client = client or boto3.client(
            "s3", endpoint_url=endpoint_url, config=Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5, read_timeout=60)
        )

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, operation: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._client, operation)(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise FileNotFoundError(f"s3://{self.bucket}/{kwargs.get('Key', '')}") from None
            raise BlobStoreUnavailable(f"S3 {operation} on bucket {self.bucket!r} failed: {error.get('Code')} {error.get('Message', '')}".strip()) from exc
        except BotoCoreError as exc:
            raise BlobStoreUnavailable(f"S3 {operation} on bucket {self.bucket!r} failed: {exc}") from exc

    def put(self, key: str, data: bytes, *, parents: bool = True) -> None:
        parent = key.rpartition("/")[0]
        if not parents and parent and not self.has_prefix(parent):
            raise FileNotFoundError(f"nothing stored under s3://{self.bucket}/{self._key(parent)}/")
        self._call("put_object", Key=self._key(key), Body=data)

    def get(self, key: str) -> bytes:
        return self._call("get_object", Key=self._key(key))["Body"].read()

    def has(self, key: str) -> bool:
        try:
            self._call("head_object", Key=self._key(key))
        except FileNotFoundError:
            return False
        return True

    def has_prefix(self, prefix: str) -> bool:
        listed = self._call("list_objects_v2", Prefix=self._key(prefix) + "/", MaxKeys=1)
        return listed.get("KeyCount", 0) > 0

    def _pages(self, prefix: str, **kwargs: Any):
        token = None
        while True:
            more = {"ContinuationToken": token} if token else {}
            page = self._call("list_objects_v2", Prefix=self._key(prefix) + "/", MaxKeys=self._page_size, **kwargs, **more)
            yield page
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    def children(self, prefix: str) -> list[str]:
        start = len(self._key(prefix)) + 1
        names: set[str] = set()
        for page in self._pages(prefix, Delimiter="/"):
            names.update(p["Prefix"][start:].rstrip("/") for p in page.get("CommonPrefixes", []))
            names.update(o["Key"][start:] for o in page.get("Contents", []))
        return sorted(names)

    def delete_prefix(self, prefix: str) -> None:
        for page in self._pages(prefix):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self._call("delete_objects", Delete={"Objects": keys, "Quiet": True})

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"


def blob_store(location: str | Path, *, endpoint_url: str | None = None) -> BlobStore:
    """`s3://bucket/prefix` for a bucket, anything else a directory."""
    text = str(location)
    if not text.startswith("s3://"):
        return DiskBlobs(Path(location))
    parsed = urlparse(text)
    if not parsed.netloc:
        raise ValueError(f"{text!r} names no bucket: use s3://bucket or s3://bucket/prefix")
    return S3Blobs(parsed.netloc, parsed.path, endpoint_url=endpoint_url)
