"""When Temporal cannot take a message, the webhook says so (503) and the channel redelivers."""

from __future__ import annotations

import httpx

from api.main import create_app
from core.embedded.temporal import start_temporal
from core.temporal import connect
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
