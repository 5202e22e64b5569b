"""When Temporal cannot take a message, the webhook says so (503) and the channel redelivers."""

from __future__ import annotations

import httpx

from api.main import create_app
from core.embedded.ports import free_port
from core.embedded.temporal import start_temporal
from core.temporal import connect, ensure_search_attributes
from tests.factories import new_phone, new_wamid, signature, whatsapp_payload
from tests.standins.serve import serve


async def test_webhook_answers_503_not_200_when_temporal_is_down(settings, tenant, tmp_path):
    doomed = start_temporal(tmp_path / "doomed.db", headless=True)
    try:
        await connect(doomed.address)  # up and answering before the API starts
        server = await serve(create_app(settings.model_copy(update={"temporal_address": doomed.address})))
        try:
            doomed.stop(timeout=5)
            body = whatsapp_payload(tenant.phone_number_id, [(new_phone(), new_wamid(), "are you there?")])
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
                response = await http.post(
                    f"/webhooks/whatsapp/{tenant.whatsapp_id}",
                    content=body,
                    headers={"x-hub-signature-256": signature(body, tenant.app_secret)},
                )
            assert response.status_code == 503
            assert response.headers["retry-after"]
            assert response.json()["title"] == "Could not accept the message yet"
        finally:
            await server.stop()
    finally:
        doomed.stop(timeout=5)


async def test_api_started_while_temporal_is_down_recovers_when_it_comes_up(settings, tenant, tmp_path):
    port = free_port()
    server = await serve(create_app(settings.model_copy(update={"temporal_address": f"127.0.0.1:{port}"})))
    later = None
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            body = whatsapp_payload(tenant.phone_number_id, [(new_phone(), new_wamid(), "anyone?")])
            headers = {"x-hub-signature-256": signature(body, tenant.app_secret)}
            down = await http.post(f"/webhooks/whatsapp/{tenant.whatsapp_id}", content=body, headers=headers)
            assert down.status_code == 503 and down.headers["retry-after"]
            ready = await http.get("/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["temporal"] != "ok"

            later = start_temporal(tmp_path / "later.db", port=port, headless=True)
            await ensure_search_attributes(later.address)
            up = await http.post(f"/webhooks/whatsapp/{tenant.whatsapp_id}", content=body, headers=headers)
            assert up.status_code == 200, up.text
    finally:
        await server.stop()
        if later:
            later.stop(timeout=5)
