"""Writing a file whole or not at all: to a temporary name beside it, then renamed into place.
A process killed mid-write leaves no half file where a retry (or a reader) would trust it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_atomically(path: Path, content: bytes | Callable[[BinaryIO], object], *, make_parents: bool = False) -> None:
    """`content`: the bytes, or a function writing them to the open file. Without make_parents
    a missing directory is FileNotFoundError (what was deleted meanwhile stays deleted)."""
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as file:
            if isinstance(content, bytes):
                file.write(content)
            else:
                content(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
