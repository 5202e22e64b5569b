"""`frontdesk dev` starts the embedded platform, stops it cleanly, keeps data, and switches each
part to an external server when its URL is set."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import psutil

from core.embedded.ports import free_port, wait_http_ok
from models.seed import DEMO_WEBCHAT_ID
from workflows.conversation import FALLBACK_TEXT

REPO = Path(__file__).resolve().parents[2]
EXTERNAL_VARS = ("TEMPORAL_ADDRESS", "DATABASE_URL", "REDIS_URL", "FRONTDESK_MASTER_KEY")


class DevRun:
    def __init__(self, data_dir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.api_port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in EXTERNAL_VARS and not k.startswith("FRONTDESK_")}
        env.update(
            FRONTDESK_DATA_DIR=str(data_dir),
            FRONTDESK_API_PORT=str(self.api_port),
            FRONTDESK_TEMPORAL_PORT=str(free_port()),
            FRONTDESK_TEMPORAL_UI_PORT=str(free_port()),
            FRONTDESK_WORKER_PROCESSES="1",
            # The local model's file, assembled once and shared with tests/llm/test_local_model.py.
            FRONTDESK_MODELS_DIR=str(REPO / ".frontdesk" / "models"),
            **(extra_env or {}),
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "core.cli", "dev"], cwd=REPO, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                assert self.process.poll() is None, "frontdesk dev exited:\n" + "".join(self.output[-40:])
                continue
            self.output.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r}:\n" + "".join(self.output[-40:]))

    def banner(self) -> str:
        self.wait_for("Frontdesk is running")
        return self.wait_for("Chat model") and "".join(self.output)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def wait_ready(self, timeout: float = 60) -> None:
        try:
            wait_http_ok(f"{self.api}/readyz", timeout, "the API")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}:\n" + "".join(self.output[-40:])) from None

    def stop(self) -> int:
        descendants = psutil.Process(self.process.pid).children(recursive=True)
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(60)
        gone, alive = psutil.wait_procs(descendants, timeout=15)
        assert not [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE], alive
        return code


def _wait_for(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _chat(api: str, session: str, text: str) -> dict:
    body = {"session_id": session, "client_message_id": uuid.uuid4().hex, "text": text}
    # The offline model on a CPU can take longer than one request waits (504 "retry with the same
    # client_message_id"): resent with the same id as the widget does, it gets the one reply.
    for _ in range(4):
        response = httpx.post(f"{api}/v1/webchat/{DEMO_WEBCHAT_ID}/messages", json=body, timeout=40)
        if response.status_code != 504:
            break
    assert response.status_code == 200, response.text
    return response.json()


def _postgres_running_in(data_dir: Path) -> bool:
    for proc in psutil.process_iter(["cmdline"]):
        if any(str(data_dir) in part for part in proc.info["cmdline"] or []) and "postgres" in " ".join(proc.info["cmdline"] or []):
            return True
    return False


def _serves(process: psutil.Process, queue: str) -> bool:
    cmdline = process.cmdline()
    return "worker" in cmdline and queue in cmdline


def test_dev_runs_stops_and_keeps_data(tmp_path):
    data_dir = tmp_path / "fd"
    first = DevRun(data_dir)
    try:
        banner = first.banner()
        first.wait_ready()
        assert f"http://127.0.0.1:{first.api_port}" in banner
        assert "Temporal UI    http://127.0.0.1:" in banner
        ui_url = re.search(r"Temporal UI\s+(\S+)", banner).group(1)
        assert httpx.get(ui_url, timeout=10).status_code == 200
        token = re.search(r"verify token: (\S+)", banner).group(1)
        admin_key = re.search(r"Authorization: Bearer (\S+)", banner).group(1)
        made = httpx.post(f"{first.api}/v1/tenants", json={"slug": "dev-shop", "name": "Dev Shop"}, headers={"Authorization": f"Bearer {admin_key}"})
        assert made.status_code == 201, made.text
        # No vendor key: the offline local model answers (on the LLM worker).
        assert "Chat model     local Qwen2.5-Coder-1.5B" in banner
        reply = _chat(first.api, "visitor-1", "Hello, anyone there?")
        assert reply["reply"].strip() and reply["reply"] != FALLBACK_TEXT and reply["needs_human"] is False

        # The workers and the Temporal server leave the first CPU to the API (core/cpu_affinity.py).
        everywhere = set(os.sched_getaffinity(0))
        turn_cpus = everywhere - {min(everywhere)} if len(everywhere) >= 2 else everywhere
        children = psutil.Process(first.process.pid).children()
        [temporal] = [p for p in children if "start-dev" in p.cmdline()]
        assert all(set(p.cpu_affinity()) == turn_cpus for p in children if "worker" in p.cmdline() or p == temporal)
        assert [set(p.cpu_affinity()) for p in children if "api" in p.cmdline()] == [everywhere]
        assert "Turn engine    " in banner

        # Supervision: a worker that dies is replaced, and conversations carry on.
        [worker] = [p for p in psutil.Process(first.process.pid).children() if _serves(p, "frontdesk")]
        worker.kill()
        worker.wait(10)
        _wait_for(lambda: any(_serves(p, "frontdesk") for p in psutil.Process(first.process.pid).children()), 30)
        assert _chat(first.api, "visitor-2", "still there?")["reply"] != FALLBACK_TEXT
    finally:
        code = first.stop()
    assert code == 0
    assert (data_dir / "temporal.db").exists() and (data_dir / "pg" / "PG_VERSION").exists()
    assert not _postgres_running_in(data_dir)

    second = DevRun(data_dir)
    try:
        banner = second.banner()
        second.wait_ready()
        assert re.search(r"verify token: (\S+)", banner).group(1) == token  # the seed did not rotate it
        assert re.search(r"Authorization: Bearer (\S+)", banner).group(1) == admin_key
        history = httpx.get(f"{second.api}/v1/webchat/{DEMO_WEBCHAT_ID}/messages", params={"session_id": "visitor-1"}).json()
        assert [m["text"] for m in history["messages"]] == ["Hello, anyone there?", reply["reply"]]
    finally:
        assert second.stop() == 0


def test_dev_uses_external_servers_when_urls_are_set(tmp_path, stack):
    external = {**stack.addresses.env()}
    run = DevRun(tmp_path / "ext", external)
    try:
        banner = run.banner()
        run.wait_ready()
        assert "external (DATABASE_URL)" in banner
        assert f"Temporal       {stack.addresses.temporal_address}" in banner
        assert not (tmp_path / "ext" / "pg").exists()
        assert not (tmp_path / "ext" / "temporal.db").exists()
        reply = _chat(run.api, f"ext-{uuid.uuid4().hex[:6]}", "ping")  # the local model, on the external servers
        assert reply["reply"].strip() and reply["reply"] != FALLBACK_TEXT
    finally:
        assert run.stop() == 0


def test_dev_refuses_a_port_already_in_use(tmp_path, api):
    port = int(api.url.rsplit(":", 1)[1])
    env = {k: v for k, v in os.environ.items() if k not in EXTERNAL_VARS and not k.startswith("FRONTDESK_")}
    env.update(FRONTDESK_DATA_DIR=str(tmp_path / "busy"), FRONTDESK_API_PORT=str(port))
    result = subprocess.run([sys.executable, "-m", "core.cli", "dev"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f"port {port} is already in use" in result.stderr
    assert not (tmp_path / "busy").exists()  # nothing was started
