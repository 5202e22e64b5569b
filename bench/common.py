"""What the benchmarks share: the stack (embedded unless env vars point elsewhere), the worker
and API as real processes, a seeded tenant, and memory sampling."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
from sqlalchemy import update

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.cpu_affinity import format_cpu_list, turn_cpus_beside_api, worker_env  # noqa: E402
from core.crypto import SecretBox  # noqa: E402
from core.embedded.ports import free_port, wait_http_ok  # noqa: E402
from core.embedded.stack import EmbeddedStack, start_stack  # noqa: E402
from core.settings import Settings  # noqa: E402
from models.db import one_off_sessions  # noqa: E402
from models.tenants import Tenant  # noqa: E402
from tests.factories import TestTenant, create_tenant  # noqa: E402


@dataclass
class RunningPlatform:
    stack: EmbeddedStack
    api_url: str
    processes: list[subprocess.Popen] = field(default_factory=list)
    # A Redis we did not start (the machine's) is still part of the stack's footprint.
    external_redis: list[psutil.Process] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    workers: list[subprocess.Popen] = field(default_factory=list)
    log: Any = None  # where the workers' and API's output goes (None: this terminal)
    turn_cpus: frozenset[int] | None = None  # where the workers and Temporal run (None: anywhere)

    def turn_cpus_text(self) -> str:
        """For the benchmarks' JSON lines."""
        return format_cpu_list(self.turn_cpus) if self.turn_cpus else "all"

    def start_worker(self) -> subprocess.Popen:
        worker = subprocess.Popen([sys.executable, "-m", "core.cli", "worker"], cwd=REPO, env=self.env, stdout=self.log, stderr=self.log)
        self.workers.append(worker)
        self.processes.insert(0, worker)
        return worker

    def all_processes(self) -> list[psutil.Process]:
        procs = self.stack.processes() + self.external_redis
        for popen in self.processes:
            if psutil.pid_exists(popen.pid):
                procs.append(psutil.Process(popen.pid))
        return procs


def _local_redis_processes(redis_url: str) -> list[psutil.Process]:
    port = urlsplit(redis_url).port or 6379
    found = []
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] and "redis-server" in proc.info["name"]:
            try:
                if any(c.laddr and c.laddr.port == port for c in proc.net_connections(kind="tcp")):
                    found.append(proc)
            except (psutil.AccessDenied, psutil.NoSuchProcess):
                continue
    return found


async def seed_tenant(running: RunningPlatform, openai_url: str, graph_url: str) -> TestTenant:
    """A tenant whose provider is the loopback OpenAI server and whose WhatsApp is the Graph one."""
    a = running.stack.addresses
    async with one_off_sessions(a.database_url) as sessions:
        tenant = await create_tenant(sessions, SecretBox(a.master_key), openai_url=openai_url, graph_url=graph_url)
        async with sessions.begin() as session:
            # Benchmarks time turns that reach the model: repeated questions must not be served
            # from the semantic cache (bench/gateway_overhead.py and the cache tests cover it).
            await session.execute(update(Tenant).where(Tenant.id == uuid.UUID(tenant.tenant_id)).values(settings={"llm": {"cache": {"enabled": False}}}))
        return tenant


def stack_from_env(data_dir: Path, turn_cpus: frozenset[int] | None = None) -> EmbeddedStack:
    """The embedded stack, with each part on the external server its env var names, if any."""
    settings = Settings()
    return start_stack(
        data_dir,
        temporal_address=settings.temporal_address,
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        master_key=settings.master_key.get_secret_value() if settings.master_key else None,
        temporal_headless=True,
        turn_cpus=turn_cpus,
    )


@contextmanager
def platform(task_queue: str = "bench", workers: int = 1, log_path: Path | None = None):
    data_dir = Path(tempfile.mkdtemp(prefix="frontdesk-bench-"))
    # As `frontdesk dev` runs them: the workers and Temporal leave a core to the API.
    turn_cpus = turn_cpus_beside_api(Settings().turn_cpus)
    stack = stack_from_env(data_dir, turn_cpus)
    port = free_port()
    env = {
        **os.environ,
        **stack.addresses.env(),
        **worker_env(turn_cpus),
        "FRONTDESK_TASK_QUEUE": task_queue,
        "FRONTDESK_LOG_LEVEL": "WARNING",
    }
    log = open(log_path, "ab") if log_path else None  # noqa: SIM115 - closed below
    running = RunningPlatform(stack=stack, api_url=f"http://127.0.0.1:{port}", env=env, log=log, turn_cpus=turn_cpus)
    if stack.redis is None or stack.redis.process is None:
        running.external_redis = _local_redis_processes(stack.addresses.redis_url)
    try:
        for _ in range(workers):
            running.start_worker()
        api = [sys.executable, "-m", "core.cli", "api", "--port", str(port)]
        running.processes.append(subprocess.Popen(api, cwd=REPO, env=env, stdout=log, stderr=log))
        wait_http_ok(f"{running.api_url}/readyz", 60, "the API")
        yield running
    finally:
        for proc in reversed(running.processes):
            proc.terminate()
        for proc in running.processes:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)  # a benchmark's data is not worth keeping
        if log:
            log.close()


class PeakRss:
    """Samples the resident memory of a set of processes in the background.

    `peak_bytes` sums each process's proportional set size (PSS): pages shared between
    processes (PostgreSQL's shared buffers, mapped by every backend) count once in total, as
    they do in the machine's memory. `peak_rss_sum_bytes` is the naive RSS sum, for comparison.
    """

    def __init__(self, processes_fn, interval: float = 1.0) -> None:
        self._fn = processes_fn
        self._interval = interval
        self.peak_bytes = 0
        self.peak_rss_sum_bytes = 0
        self._task: asyncio.Task | None = None

    def sample(self) -> int:
        pss = rss = 0
        for proc in self._fn():
            try:
                info = proc.memory_full_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            pss += getattr(info, "pss", info.rss)
            rss += info.rss
        self.peak_bytes = max(self.peak_bytes, pss)
        self.peak_rss_sum_bytes = max(self.peak_rss_sum_bytes, rss)
        return pss

    async def _loop(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self._interval)

    def __enter__(self) -> PeakRss:
        self._task = asyncio.get_running_loop().create_task(self._loop())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()
        self.sample()


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


class CpuByRole:
    """CPU seconds each part of the stack used during the block: where a saturated machine's
    time went (the API, the workers, Temporal, PostgreSQL, Redis, this benchmark process)."""

    def __init__(self, running: RunningPlatform) -> None:
        self._running = running
        self._start: dict[int, float] = {}
        self.seconds: dict[str, float] = {}

    def _roles(self) -> dict[str, list[psutil.Process]]:
        r, stack = self._running, self._running.stack
        worker_pids = {w.pid for w in r.workers}
        roles: dict[str, list[psutil.Process]] = {"api": [], "workers": [], "temporal": [], "postgres": [], "redis": [], "bench": [psutil.Process()]}
        for popen in r.processes:
            if psutil.pid_exists(popen.pid):
                roles["workers" if popen.pid in worker_pids else "api"].append(psutil.Process(popen.pid))
        if stack.temporal is not None and psutil.pid_exists(stack.temporal.process.pid):
            roles["temporal"].append(psutil.Process(stack.temporal.process.pid))
        if stack.postgres is not None:
            roles["postgres"] = stack.postgres.processes()
        roles["redis"] = ([psutil.Process(stack.redis.process.pid)] if stack.redis and stack.redis.process else []) + r.external_redis
        return roles

    @staticmethod
    def _used(proc: psutil.Process) -> float:
        try:
            t = proc.cpu_times()
            return t.user + t.system
        except psutil.Error:
            return 0.0

    def __enter__(self) -> CpuByRole:
        self._start = {p.pid: self._used(p) for procs in self._roles().values() for p in procs}
        return self

    def __exit__(self, *exc: object) -> None:
        # Processes started during the block (a restarted worker, new PostgreSQL backends)
        # count from 0; ones that ended during it are lost, which the caller should avoid.
        self.seconds = {
            role: round(sum(self._used(p) - self._start.get(p.pid, 0.0) for p in procs), 1) for role, procs in self._roles().items()
        }
