"""The OpenAI stand-in served in a process of its own, so a benchmark's client and the server
it calls do not share an event loop (or a GIL): `python -m bench.loopback_openai --port N`."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from core.embedded.ports import free_port, wait_for_port
from core.embedded.redis import start_redis
from core.settings import Settings
from tests.standins.openai_server import OpenAIStandIn

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def standin_processes(module: str, *flag_sets: list[str], nice: int = 0, cpus: frozenset[int] | None = None) -> Iterator[list[str]]:
    """One `python -m {module} --port N {flags}` process per flag set; yields their root URLs.
    `nice` and `cpus`: the stand-ins play servers on other machines, so a benchmark that
    measures this machine's own latency can keep them off the CPU its API is left."""

    def set_priority() -> None:
        if nice:
            os.nice(nice)
        if cpus:
            os.sched_setaffinity(0, cpus)

    ports = [free_port() for _ in flag_sets]
    servers = [
        subprocess.Popen([sys.executable, "-m", module, "--port", str(port), *flags], cwd=REPO, preexec_fn=set_priority)  # noqa: PLW1509
        for port, flags in zip(ports, flag_sets, strict=True)
    ]
    try:
        for port in ports:
            wait_for_port("127.0.0.1", port, 30, f"a loopback server ({module})")
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        for server in servers:
            server.terminate()
            server.wait(10)


@contextmanager
def loopback_servers(*flag_sets: list[str], nice: int = 0) -> Iterator[list[str]]:
    """One OpenAI server process per flag set (e.g. `["--fail-with", "500"]`); yields their base URLs."""
    with standin_processes("bench.loopback_openai", *flag_sets, nice=nice) as urls:
        yield [f"{url}/v1" for url in urls]


@contextmanager
def bench_redis() -> Iterator[str]:
    """REDIS_URL when set, else an embedded Redis for the run."""
    settings = Settings()
    if settings.redis_url:
        yield settings.redis_url
        return
    embedded = start_redis(Path(tempfile.mkdtemp(prefix="frontdesk-bench-redis-")))
    try:
        yield embedded.url
    finally:
        embedded.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fail-with", type=int, default=None, help="answer every call with this HTTP status")
    parser.add_argument("--retry-after", default=None, help="with --fail-with 429: this Retry-After header")
    args = parser.parse_args()
    uvicorn.run(OpenAIStandIn(fail_with=args.fail_with, retry_after=args.retry_after).app(), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
