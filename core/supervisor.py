"""Runs the worker and API as child processes, restarts them if they die, stops them in order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from core.logging import get_logger

log = get_logger()


@dataclass
class Child:
    name: str
    args: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    next_start: float = 0.0

    def start(self) -> None:
        # Own session: Ctrl-C reaches the supervisor only, which stops children in order.
        self.process = subprocess.Popen(self.args, env=self.env, start_new_session=True)
        self.started_at = time.monotonic()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def terminate(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)

    def wait_or_kill(self, timeout: float = 20) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Supervisor:
    children: list[Child] = field(default_factory=list)
    _stopping: bool = False

    def add(self, name: str, cli_args: list[str], env: dict[str, str]) -> Child:
        """Children stop in reverse: add the API last."""
        child = Child(name, [sys.executable, "-m", "core.cli", *cli_args], {**os.environ, **env})
        self.children.append(child)
        return child

    def request_stop(self, *_: object) -> None:
        self._stopping = True

    def run(self) -> None:
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)
        for child in self.children:
            child.start()
        try:
            while not self._stopping:
                self._restart_dead()
                time.sleep(0.5)
        finally:
            # The API first, so nothing new reaches the workers; then the workers together.
            api, workers = self.children[-1:], self.children[:-1]
            for group in (api, workers):
                for child in group:
                    child.terminate()
                for child in group:
                    child.wait_or_kill()

    def _restart_dead(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.alive():
                continue
            if child.next_start == 0.0:
                code = child.process.returncode if child.process else None
                # Back off when it keeps dying right after start; restart at once after a long run.
                quick = now - child.started_at < 10
                delay = min(30.0, 2.0 ** min(child.restarts, 5)) if quick else 0.5
                log.warning("process exited; restarting", process=child.name, exit_code=code, delay_s=delay)
                child.next_start = now + delay
            if now >= child.next_start:
                child.restarts += 1
                child.next_start = 0.0
                child.start()
