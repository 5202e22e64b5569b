"""Support staff find conversations and customers and read what was said."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.admin.conftest import admin_key_for, bearer
from tests.factories import create_tenant, eventually, new_phone, new_wamid, signature, whatsapp_payload


async def test_conversations_filters_messages_and_customer_search(http, deps, openai_standin, graph_standin):
    t = await create_tenant(deps.sessions, deps.secrets, openai_url=openai_standin.url, graph_url=graph_standin.url)
    graph_standin.valid_tokens.add(t.access_token)
    admin = bearer(await admin_key_for(deps, t.tenant_id))
    started = datetime.now(UTC) - timedelta(seconds=1)

    phone = new_phone()
    body = whatsapp_payload(t.phone_number_id, [(phone, new_wamid(), "my parcel is late")])
    await http.post(f"/webhooks/whatsapp/{t.whatsapp_id}", content=body, headers={"x-hub-signature-256": signature(body, t.app_secret)})
    for n in range(2):
        r = await http.post(f"/v1/webchat/{t.webchat_id}/messages", json={"session_id": f"visitor-{n}", "client_message_id": "m1", "text": f"hello {n}"})
        assert r.status_code == 200

    async def whatsapp_answered() -> bool:
        return bool(graph_standin.sends_to(phone))

    await eventually(whatsapp_answered, what="the WhatsApp reply")

    everything = (await http.get("/v1/conversations", headers=admin)).json()["items"]
    assert len(everything) == 3
    whatsapp = (await http.get("/v1/conversations", params={"channel": "whatsapp"}, headers=admin)).json()["items"]
    assert [c["channel"] for c in whatsapp] == ["whatsapp"] and whatsapp[0]["customer_name"] == "Test Customer"
    assert len((await http.get("/v1/conversations", params={"status": "open", "since": started.isoformat()}, headers=admin)).json()["items"]) == 3
    assert (await http.get("/v1/conversations", params={"until": started.isoformat()}, headers=admin)).json()["items"] == []
    page = (await http.get("/v1/conversations", params={"limit": 2}, headers=admin)).json()
    rest = (await http.get("/v1/conversations", params={"limit": 2, "cursor": page["next_cursor"]}, headers=admin)).json()
    assert len(page["items"]) == 2 and len(rest["items"]) == 1 and rest["next_cursor"] is None

    async def replied() -> bool:
        m = (await http.get(f"/v1/conversations/{whatsapp[0]['id']}/messages", headers=admin)).json()["items"]
        return len(m) == 2 and m[1]["status"] in ("sent", "delivered", "read")

    await eventually(replied, what="the reply recorded as sent")
    messages = (await http.get(f"/v1/conversations/{whatsapp[0]['id']}/messages", headers=admin)).json()["items"]
    assert [(m["direction"], m["text"]) for m in messages] == [("inbound", "my parcel is late"), ("outbound", f"[{t.model}] my parcel is late")]
    one = (await http.get(f"/v1/conversations/{whatsapp[0]['id']}/messages", params={"limit": 1}, headers=admin)).json()
    after = (await http.get(f"/v1/conversations/{whatsapp[0]['id']}/messages", params={"cursor": one["next_cursor"]}, headers=admin)).json()
    assert [m["direction"] for m in one["items"] + after["items"]] == ["inbound", "outbound"]

    # Customers: found by the number they wrote from, in any common spelling.
    spaced = f"+{phone[:2]} {phone[2:7]}-{phone[7:]}"
    found = (await http.get("/v1/customers", params={"phone": spaced}, headers=admin)).json()["items"]
    assert len(found) == 1 and found[0]["phone"] == "+" + phone
    customer_id = found[0]["id"]
    detail = (await http.get(f"/v1/customers/{customer_id}", headers=admin)).json()
    assert detail["identities"] == [{"channel": "whatsapp", "external_id": phone, "created_at": detail["identities"][0]["created_at"]}]
    convs = (await http.get(f"/v1/customers/{customer_id}/conversations", headers=admin)).json()["items"]
    assert [c["id"] for c in convs] == [whatsapp[0]["id"]]
    assert (await http.get("/v1/conversations", params={"customer_id": customer_id}, headers=admin)).json()["items"] == convs

    r = await http.patch(f"/v1/customers/{customer_id}", json={"display_name": "Meera Iyer", "email": "Meera@Example.com"}, headers=admin)
    assert r.status_code == 200 and r.json()["email"] == "meera@example.com"
    for params in ({"q": "meera"}, {"email": "meera@example.com"}, {"name": "Iyer"}, {"q": phone[-6:]}):
        hits = (await http.get("/v1/customers", params=params, headers=admin)).json()["items"]
        assert [h["id"] for h in hits] == [customer_id], params
    assert (await http.get("/v1/customers", params={"q": "100%_"}, headers=admin)).json()["items"] == []
    assert (await http.patch(f"/v1/customers/{customer_id}", json={"phone": "12345"}, headers=admin)).status_code == 422
