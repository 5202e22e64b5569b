"""`frontdesk rotate-master-key`: re-wrap every stored secret under a new master key.

Where the keys live decides the last step. A key from FRONTDESK_MASTER_KEY is the operator's to
replace (we print the new one once); the development key in `<data dir>/master.key` is ours, so
we replace the file and keep the old key beside it for Temporal history written under it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from core.crypto import SecretBox, decode_master_key, generate_master_key, master_key_id
from core.settings import Settings
from models.db import one_off_sessions
from models.secret_rotation import RewrapCount, rewrap_all

KEY_FILE = "master.key"
PREVIOUS_KEY_FILE = "master.key.previous"
# Written before the database commits: if we die between the commit and replacing master.key,
# the key the database now needs is still on disk.
NEXT_KEY_FILE = "master.key.next"


class RotationError(Exception):
    """The rotation cannot start; the message says what to do. Nothing was changed."""


@dataclass
class RotationResult:
    old_key_id: str
    new_key_id: str
    new_key: str
    count: RewrapCount
    key_file: Path | None  # the file now holding the new key; None when the operator must set it


def current_master_key(settings: Settings) -> tuple[str, Path | None]:
    """(the key in use, the file it came from or None when it came from the environment)."""
    if settings.master_key is not None:
        return settings.master_key.get_secret_value(), None
    path = settings.data_dir / KEY_FILE
    if not path.exists():
        raise RotationError(f"no master key to rotate: FRONTDESK_MASTER_KEY is unset and {path} does not exist")
    return path.read_text().strip(), path


async def rotate_master_key(settings: Settings, new_key: str | None = None) -> RotationResult:
    old_key, key_file = current_master_key(settings)
    new_key = new_key.strip() if new_key else generate_master_key()
    try:
        decode_master_key(new_key)
    except ValueError as exc:
        raise RotationError(f"the new key is not usable: {exc}") from None
    # Reads accept the current key and the one before it (a rotation that was never finished
    # by the operator leaves values under either); everything is written under the new key.
    previous = [old_key] + ([settings.master_key_previous.get_secret_value()] if settings.master_key_previous else [])
    box = SecretBox(new_key, previous=previous)
    committed = False
    try:
        async with _database(settings) as database_url, one_off_sessions(database_url) as sessions:
            if key_file is not None:
                _write_private(key_file.with_name(NEXT_KEY_FILE), new_key)
            async with sessions.begin() as session:  # one transaction: all values move, or none
                count = await rewrap_all(session, box)
            committed = True
    finally:
        if key_file is not None and not committed:
            key_file.with_name(NEXT_KEY_FILE).unlink(missing_ok=True)
    if key_file is not None and old_key != new_key:
        _write_private(key_file.with_name(PREVIOUS_KEY_FILE), old_key)
        os.replace(key_file.with_name(NEXT_KEY_FILE), key_file)
    elif key_file is not None:
        key_file.with_name(NEXT_KEY_FILE).unlink(missing_ok=True)
    return RotationResult(
        old_key_id=master_key_id(decode_master_key(old_key)),
        new_key_id=box.key_id,
        new_key=new_key,
        count=count,
        key_file=key_file,
    )


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[str]:
    """DATABASE_URL, or the embedded development database started just for this command."""
    if settings.database_url:
        yield settings.database_url
        return
    pgdata = (settings.data_dir / "pg").resolve()
    if not (pgdata / "PG_VERSION").exists():
        raise RotationError(f"no database to rotate: DATABASE_URL is unset and {pgdata} holds no embedded database")
    if _postgres_running(pgdata):
        # Its worker and API hold the old key in memory and would fail on every re-wrapped
        # secret until restarted; rotating while stopped avoids that window.
        raise RotationError("`frontdesk dev` is running on this data directory: stop it, rotate, then start it again")
    from core.embedded.postgres import start_postgres  # only the embedded path needs pgserver

    server = start_postgres(pgdata)
    try:
        yield server.url
    finally:
        server.stop()


def _postgres_running(pgdata: Path) -> bool:
    import psutil

    pid_file = pgdata / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return False
    return psutil.pid_exists(pid)


def _write_private(path: Path, content: str) -> None:
    """Atomically (write a temporary file, fsync, rename) and readable by the owner only."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
