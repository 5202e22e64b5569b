"""Session fixtures: the real embedded stack, loopback stand-ins for third parties, a worker and the API."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import sys
import uuid

import httpx
import pytest
import structlog
from temporalio.client import Client

from api.main import create_app
from core.embedded.stack import start_stack
from core.settings import Settings
from core.temporal import connect_platform
from tests.factories import create_tenant
from tests.standins.graph_server import GraphStandIn
from tests.standins.openai_server import OpenAIStandIn
from tests.standins.s3_server import s3_standin
from tests.standins.serve import serve, served
from workers.main import build_worker
from workers.wiring import activity_deps

TEST_DEBOUNCE_SECONDS = 0.8
TEST_ADMIN_KEY = "test-platform-admin-key-0123456789"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_EXIT] = int(exitstatus)


_EXIT = pytest.StashKey[int]()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # temporalio 1.35 can segfault at interpreter exit after a green run (MODELS.md): leave with
    # pytest's own verdict before that can happen.
    if _EXIT in config.stash:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(config.stash[_EXIT])


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory):
    # Our own servers on free ports, so a running `frontdesk dev` never collides with the tests.
    running = start_stack(tmp_path_factory.mktemp("stack"), temporal_headless=True, redis_db=15)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def settings(stack, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    a = stack.addresses
    return Settings(
        env="test",
        data_dir=tmp_path_factory.mktemp("data"),  # uploads and models stay out of the checkout
        temporal_address=a.temporal_address,
        database_url=a.database_url,
        redis_url=a.redis_url,
        master_key=a.master_key,
        admin_key=TEST_ADMIN_KEY,
        task_queue=f"test-{uuid.uuid4()}",
        debounce_seconds=TEST_DEBOUNCE_SECONDS,
        webchat_reply_timeout_seconds=20,
        workflow_sandbox=True,  # catches non-deterministic workflow code
    )


@pytest.fixture(scope="session")
async def openai_standin():
    async with served(OpenAIStandIn()) as standin:
        yield standin


@pytest.fixture(scope="session")
def s3():
    with s3_standin() as standin:
        yield standin


@pytest.fixture(scope="session")
async def graph_standin():
    async with served(GraphStandIn()) as standin:
        yield standin


@pytest.fixture(scope="session")
async def deps(settings):
    async with activity_deps(settings) as built:
        yield built


@pytest.fixture(scope="session")
async def temporal(settings) -> Client:
    # The platform client (encrypting codec): the worker and the API must agree on it.
    return await connect_platform(settings)


@pytest.fixture(scope="session")
async def worker(settings, deps, temporal):
    built = build_worker(temporal, deps, settings)
    task = asyncio.create_task(built.run())
    yield built
    await built.shutdown()
    await task


@pytest.fixture(scope="session")
async def api(settings, worker):
    server = await serve(create_app(settings))
    yield server
    await server.stop()


@pytest.fixture(scope="session")
async def http(api):
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        yield client


@pytest.fixture
async def tenant(deps, openai_standin, graph_standin):
    t = await create_tenant(deps.sessions, deps.secrets, openai_url=openai_standin.url, graph_url=graph_standin.url)
    graph_standin.valid_tokens.add(t.access_token)
    return t


@pytest.fixture(autouse=True)
def _reset_standins(request):
    yield
    for name in ("openai_standin",):
        if name in request.fixturenames:
            standin = request.getfixturevalue(name)
            standin.fail_with = None
            standin.slow_seconds = standin.word_seconds = 0.0


@pytest.fixture
def captured_output():
    """A buffer for `configure_logging(..., stream=captured_output)`; the test session's logging
    is restored afterwards."""
    config = structlog.get_config()
    saved = {**config, "processors": list(config["processors"])}
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    buffer = io.StringIO()
    yield buffer
    config["processors"][:] = saved.pop("processors")
    structlog.configure(processors=config["processors"], **saved)
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
async def make_api(settings, worker):
    """Serve another API instance whose settings differ (continue-as-new limits, task queue)."""
    started: list = []

    async def make(**overrides) -> httpx.AsyncClient:
        server = await serve(create_app(settings.model_copy(update=overrides)))
        client = httpx.AsyncClient(base_url=server.url, timeout=30)
        started.append((server, client))
        return client

    yield make
    for server, client in started:
        await client.aclose()
        await server.stop()
