"""Channel media on disk, one directory per tenant.

Voice notes are the first user: a conversation worker downloads the customer's note here, an
stt worker transcribes it from here, and synthesised replies are written here for the send to
upload. So every worker of a deployment must see the same directory (one host, or a shared
volume). Names come from ids the channel chose, so they are made safe before they touch a path.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import uuid
from pathlib import Path

from core.atomic_file import write_atomically

# Mime types Python's table lacks or guesses oddly for what channels send.
_EXTENSIONS = {
    "audio/ogg": ".ogg",
    "audio/opus": ".opus",
    "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a",
    "audio/aac": ".aac",
    "audio/amr": ".amr",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "image/jpeg": ".jpg",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
MAX_STEM_CHARS = 60


def safe_name(value: str) -> str:
    """A file name that says what it came from but can never climb out of its directory, and
    stays distinct for ids that differ only in characters the cleaning drops."""
    readable = _UNSAFE.sub("_", value).strip("_")[:MAX_STEM_CHARS] or "media"
    return f"{readable}-{hashlib.sha256(value.encode()).hexdigest()[:12]}"


def extension_for(mime_type: str | None) -> str:
    if not mime_type:
        return ".bin"
    base = mime_type.split(";", 1)[0].strip().lower()  # "audio/ogg; codecs=opus"
    return _EXTENSIONS.get(base) or mimetypes.guess_extension(base) or ".bin"


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def _tenant_dir(self, tenant_id: str) -> Path:
        return self.root / str(uuid.UUID(tenant_id))  # raises ValueError for anything but a UUID

    def inbound_path(self, tenant_id: str, channel_account_id: str, external_id: str, index: int, mime_type: str | None) -> Path:
        """Where attachment `index` of an inbound message lies: the same place on every retry."""
        account = str(uuid.UUID(channel_account_id))
        return self._tenant_dir(tenant_id) / "inbound" / account / f"{safe_name(external_id)}-{index}{extension_for(mime_type)}"

    def outbound_path(self, tenant_id: str, key: str, suffix: str) -> Path:
        """Where a reply's media lies, named by the reply's idempotency key."""
        return self._tenant_dir(tenant_id) / "outbound" / f"{safe_name(key)}{suffix}"

    def contains(self, path: Path) -> bool:
        """True for a path inside this store: activities take paths from workflow payloads."""
        return Path(path).resolve().is_relative_to(self.root)

    def write(self, path: Path, data: bytes) -> None:
        """Atomically: a file that exists is complete, so a retry may trust it."""
        write_atomically(path, data, make_parents=True)

    def remove_older_than(self, tenant_id: str, cutoff: float) -> int:
        """Deletes the tenant's media last written before `cutoff` (a Unix time), leftover
        partial writes included; returns how many files went."""
        removed = 0
        tenant_dir = self._tenant_dir(tenant_id)
        if not tenant_dir.is_dir():
            return removed
        for path in tenant_dir.rglob("*"):
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue  # removed meanwhile (another sweep, or a retry of this one)
        return removed
