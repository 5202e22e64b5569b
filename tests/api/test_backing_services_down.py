"""PostgreSQL or Redis going away: webhooks get 503 with Retry-After (never a 500, never a
200 for a message not handed over), a clear log line says what is missing, and everything
works again once the service is back, without restarting the API."""

from __future__ import annotations

import asyncio

import httpx

from api.main import create_app
from core.embedded.ports import free_port
from core.embedded.postgres import start_postgres
from core.logging import configure_logging
from models.db import one_off_sessions
from models.migrate import upgrade_to_head
from tests.factories import create_tenant, new_phone, new_wamid, signature, whatsapp_payload
from tests.standins.serve import serve


def _delivery(tenant) -> tuple[bytes, dict[str, str]]:
    body = whatsapp_payload(tenant.phone_number_id, [(new_phone(), new_wamid(), "hello?")])
    return body, {"x-hub-signature-256": signature(body, tenant.app_secret)}


async def test_postgres_going_away_gives_503_and_recovers(settings, deps, graph_standin, tmp_path, captured_output):
    configure_logging(json=True, stream=captured_output)
    postgres = start_postgres(tmp_path / "pg")
    try:
        await asyncio.to_thread(upgrade_to_head, postgres.url)  # alembic runs its own event loop
        async with one_off_sessions(postgres.url) as sessions:
            tenant = await create_tenant(sessions, deps.secrets, openai_url=None, graph_url=graph_standin.url)
        # A task queue no worker polls: this test is about the API's side only.
        app_settings = settings.model_copy(update={"database_url": postgres.url, "task_queue": f"{settings.task_queue}-nobody"})
        server = await serve(create_app(app_settings))
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                postgres.stop()
                body, headers = _delivery(tenant)
                down = await http.post(f"/webhooks/whatsapp/{tenant.whatsapp_id}", content=body, headers=headers)
                assert down.status_code == 503 and int(down.headers["retry-after"]) >= 1
                assert down.headers["content-type"] == "application/problem+json"
                assert "backing service unavailable" in captured_output.getvalue()
                ready = await http.get("/readyz")
                assert ready.status_code == 503 and ready.json()["checks"]["database"] != "ok"

                postgres = start_postgres(tmp_path / "pg")
                again = await http.post(f"/webhooks/whatsapp/{tenant.whatsapp_id}", content=body, headers=headers)
                if again.status_code == 503:  # a pooled connection from before the restart fails once
                    again = await http.post(f"/webhooks/whatsapp/{tenant.whatsapp_id}", content=body, headers=headers)
                assert again.status_code == 200, again.text
                assert (await http.get("/readyz")).status_code == 200
        finally:
            await server.stop()
    finally:
        postgres.stop()


async def test_redis_away_does_not_stop_webhooks(settings, tenant, captured_output):
    configure_logging(json=True, stream=captured_output)
    nothing_there = f"redis://127.0.0.1:{free_port()}/0"
    server = await serve(create_app(settings.model_copy(update={"redis_url": nothing_there, "task_queue": f"{settings.task_queue}-nobody"})))
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            body, headers = _delivery(tenant)
            # Rate limiting cannot decide without Redis; it lets the message through (said in the log).
            response = await http.post(f"/webhooks/whatsapp/{tenant.whatsapp_id}", content=body, headers=headers)
            assert response.status_code == 200, response.text
            assert "rate limiter cannot reach Redis" in captured_output.getvalue()
            assert (await http.get("/readyz")).json()["checks"]["redis"] != "ok"
    finally:
        await server.stop()
