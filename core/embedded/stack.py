"""The embedded stack (Temporal dev server, PostgreSQL + pgvector, Redis) for `frontdesk dev`,
the test suite and the benchmarks. Each part is skipped when its URL points elsewhere."""

from __future__ import annotations

import asyncio
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from core.crypto import generate_master_key
from core.embedded.postgres import EmbeddedPostgres, start_postgres
from core.embedded.redis import EmbeddedRedis, start_redis
from core.embedded.temporal import TemporalDevServer, start_temporal
from core.temporal import ensure_search_attributes
from models.migrate import upgrade_to_head


@dataclass
class StackAddresses:
    temporal_address: str
    database_url: str
    redis_url: str
    master_key: str
    temporal_ui_url: str | None = None
    # The key before the last `frontdesk rotate-master-key` (master.key.previous): Temporal
    # history written before the rotation is encrypted under it.
    master_key_previous: str | None = None
    admin_key: str | None = None  # the platform operator's key (tenant management, codec)

    def env(self) -> dict[str, str]:
        """What a worker or API child process needs to reach this stack."""
        env = {
            "TEMPORAL_ADDRESS": self.temporal_address,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "FRONTDESK_MASTER_KEY": self.master_key,
        }
        if self.master_key_previous:
            env["FRONTDESK_MASTER_KEY_PREVIOUS"] = self.master_key_previous
        if self.admin_key:
            env["FRONTDESK_ADMIN_KEY"] = self.admin_key
        return env


@dataclass
class EmbeddedStack:
    data_dir: Path
    addresses: StackAddresses
    temporal: TemporalDevServer | None = None
    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None
    children: list[psutil.Process] = field(default_factory=list)

    def processes(self) -> list[psutil.Process]:
        """Every process of the stack we started, for memory accounting."""
        procs: list[psutil.Process] = []
        for popen in (self.temporal and self.temporal.process, self.redis and self.redis.process):
            if popen is not None and psutil.pid_exists(popen.pid):
                procs.append(psutil.Process(popen.pid))
        if self.postgres is not None:
            procs += self.postgres.processes()
        return procs

    def stop(self) -> None:
        for part in (self.redis, self.postgres, self.temporal):
            if part is not None:
                try:
                    part.stop()
                except Exception:  # stopping the rest matters more than one failure
                    pass


def _load_or_create_key(path: Path, generate) -> str:
    """A key kept in the data dir (mode 600) so every `frontdesk dev` run uses the same one."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def load_or_create_master_key(data_dir: Path) -> str:
    return _load_or_create_key(data_dir / "master.key", generate_master_key)


def load_or_create_admin_key(data_dir: Path) -> str:
    return _load_or_create_key(data_dir / "admin.key", lambda: "fdadmin_" + secrets.token_urlsafe(32))


def _previous_master_key(data_dir: Path) -> str | None:
    path = data_dir / "master.key.previous"
    return path.read_text().strip() if path.exists() else None


def start_stack(
    data_dir: Path,
    *,
    temporal_address: str | None = None,
    database_url: str | None = None,
    redis_url: str | None = None,
    master_key: str | None = None,
    temporal_port: int | None = None,
    temporal_ui_port: int | None = None,
    prefer_system_redis: bool = True,
    redis_db: int = 0,
    temporal_headless: bool = False,
    temporal_ui_codec_endpoint: str | None = None,
    admin_key: str | None = None,
    turn_cpus: frozenset[int] | None = None,
) -> EmbeddedStack:
    """`turn_cpus`: the CPUs the embedded Temporal server is confined to (core/cpu_affinity.py)."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    stack = EmbeddedStack(data_dir=data_dir, addresses=StackAddresses("", "", "", ""))
    try:
        ui_url = None
        if temporal_address is None:
            stack.temporal = start_temporal(
                data_dir / "temporal.db",
                port=temporal_port,
                ui_port=temporal_ui_port,
                log_file=data_dir / "temporal.log",
                headless=temporal_headless,
                ui_codec_endpoint=temporal_ui_codec_endpoint,
                cpus=turn_cpus,
            )
            temporal_address = stack.temporal.address
            ui_url = None if temporal_headless else f"http://127.0.0.1:{stack.temporal.ui_port}"
        if database_url is None:
            stack.postgres = start_postgres(data_dir / "pg")
            database_url = stack.postgres.url
        if redis_url is None:
            stack.redis = start_redis(data_dir / "redis", prefer_system=prefer_system_redis, db=redis_db)
            redis_url = stack.redis.url
        stack.addresses = StackAddresses(
            temporal_address=temporal_address,
            database_url=database_url,
            redis_url=redis_url,
            master_key=master_key or load_or_create_master_key(data_dir),
            temporal_ui_url=ui_url,
            master_key_previous=None if master_key else _previous_master_key(data_dir),
            admin_key=admin_key or load_or_create_admin_key(data_dir),
        )
        prepare(stack.addresses)
    except BaseException:
        stack.stop()
        raise
    return stack


def prepare(addresses: StackAddresses) -> None:
    """Migrations and search attributes: safe to run on every start."""
    upgrade_to_head(addresses.database_url)
    asyncio.run(ensure_search_attributes(addresses.temporal_address))
