"""Operators manage tenants; tenants connect channels whose credentials never come back out."""

from __future__ import annotations

import json
import secrets

from sqlalchemy import text

from core.logging import configure_logging
from tests.api.admin.conftest import PLATFORM, new_admin_tenant
from tests.factories import eventually, new_phone, new_wamid, signature, whatsapp_payload


async def test_operator_creates_lists_and_suspends_tenants(http):
    t = await new_admin_tenant(http)
    dup = await http.post("/v1/tenants", json={"slug": t.slug, "name": "again"}, headers=PLATFORM)
    assert dup.status_code == 409
    bad = await http.post("/v1/tenants", json={"slug": "Bad Slug!", "name": "x"}, headers=PLATFORM)
    assert bad.status_code == 422

    r = await http.patch(f"/v1/tenants/{t.id}", json={"settings": {"timezone": "Asia/Kolkata"}}, headers=PLATFORM)
    assert r.status_code == 200 and r.json()["settings"]["timezone"] == "Asia/Kolkata"
    assert (await http.patch(f"/v1/tenants/{t.id}", json={"settings": {"timezone": "Mars/Olympus"}}, headers=PLATFORM)).status_code == 422
    # The tenant sees and edits its own settings; merging keeps what it did not send.
    r = await http.patch("/v1/tenant", json={"settings": {"default_language": "hi"}}, headers=t.headers)
    assert r.json()["settings"] == {**r.json()["settings"], "timezone": "Asia/Kolkata", "default_language": "hi"}
    assert (await http.patch("/v1/tenant", json={"status": "active"}, headers=t.headers)).status_code == 422  # not its call

    suspended = await http.patch(f"/v1/tenants/{t.id}", json={"status": "suspended"}, headers=PLATFORM)
    assert suspended.json()["status"] == "suspended"
    refused = await http.get("/v1/tenant", headers=t.headers)
    assert refused.status_code == 403 and "suspended" in refused.json()["detail"]
    listed = (await http.get("/v1/tenants", params={"status": "suspended", "limit": 200}, headers=PLATFORM)).json()["items"]
    assert t.id in {x["id"] for x in listed}
    await http.patch(f"/v1/tenants/{t.id}", json={"status": "active"}, headers=PLATFORM)
    assert (await http.get("/v1/tenant", headers=t.headers)).status_code == 200


async def test_whatsapp_account_set_up_through_the_api_answers_customers(http, graph_standin, openai_standin, deps):
    t = await new_admin_tenant(http)
    app_secret, access_token = secrets.token_hex(16), "EAAG" + secrets.token_urlsafe(30)
    phone_number_id = str(secrets.randbelow(10**12) + 10**11)
    graph_standin.valid_tokens.add(access_token)
    created = await http.post(
        "/v1/channel-accounts",
        json={
            "channel": "whatsapp",
            "name": "Support",
            "config": {"phone_number_id": phone_number_id, "graph_base_url": f"{graph_standin.url}/v21.0"},
            "credentials": {"app_secret": app_secret, "access_token": access_token},
        },
        headers=t.headers,
    )
    assert created.status_code == 201, created.text
    account = created.json()
    assert account["webhook_url"].endswith(f"/webhooks/whatsapp/{account['id']}")
    assert account["credentials_set"] == ["access_token", "app_secret", "verify_token"]
    assert len(account["verify_token"]) >= 16

    # The handshake Meta makes with that URL and token succeeds.
    hub = {"hub.mode": "subscribe", "hub.verify_token": account["verify_token"], "hub.challenge": "1158201444"}
    assert (await http.get(f"/webhooks/whatsapp/{account['id']}", params=hub)).text == "1158201444"

    # Rotating the app secret through the API: the old one stops opening the webhook.
    new_secret = secrets.token_hex(16)
    r = await http.patch(f"/v1/channel-accounts/{account['id']}", json={"credentials": {"app_secret": new_secret}}, headers=t.headers)
    assert r.status_code == 200 and r.json()["credentials_set"] == ["access_token", "app_secret", "verify_token"]
    phone = new_phone()
    body = whatsapp_payload(phone_number_id, [(phone, new_wamid(), "hello")])
    old = await http.post(f"/webhooks/whatsapp/{account['id']}", content=body, headers={"x-hub-signature-256": signature(body, app_secret)})
    assert old.status_code == 401
    ok = await http.post(f"/webhooks/whatsapp/{account['id']}", content=body, headers={"x-hub-signature-256": signature(body, new_secret)})
    assert ok.status_code == 200

    async def answered() -> bool:
        return bool(graph_standin.sends_to(phone))

    await eventually(answered, what="the reply through the API-made account")
    assert graph_standin.sends_to(phone)[0].token == access_token

    # Disabled accounts stop taking webhooks.
    assert (await http.delete(f"/v1/channel-accounts/{account['id']}", headers=t.headers)).status_code == 204
    again = await http.post(f"/webhooks/whatsapp/{account['id']}", content=body, headers={"x-hub-signature-256": signature(body, new_secret)})
    assert again.status_code == 403


async def test_channel_account_input_is_validated_per_channel(http):
    t = await new_admin_tenant(http)
    cases = [
        {"channel": "whatsapp", "name": "x", "config": {}, "credentials": {"app_secret": "abcdefgh", "access_token": "tokentokentoken"}},
        {"channel": "whatsapp", "name": "x", "config": {"phone_number_id": "123456"}, "credentials": {"app_secret": "abcdefgh"}},
        {"channel": "whatsapp", "name": "x", "config": {"phone_number_id": "123456", "surprise": 1}, "credentials": {}},
        {"channel": "pigeon", "name": "x"},
        {"channel": "webchat", "name": "x", "credentials": {"password": "nope"}},
    ]
    for body in cases:
        r = await http.post("/v1/channel-accounts", json=body, headers=t.headers)
        assert r.status_code == 422, (body, r.text)
        assert "nope" not in r.text and "abcdefgh" not in r.text  # refused credentials are not echoed back
    web = await http.post("/v1/channel-accounts", json={"channel": "webchat", "name": "site", "config": {"brand_color": "#112233"}}, headers=t.headers)
    assert web.status_code == 201 and web.json()["webhook_url"].endswith(f"/v1/webchat/{web.json()['id']}/messages")


async def test_credentials_never_come_back_out_nor_reach_the_logs(http, deps, graph_standin, captured_output):
    configure_logging(json=True, level="DEBUG", stream=captured_output)  # everything the processes log, rendered
    t = await new_admin_tenant(http)
    app_secret, access_token = "app-secret-" + secrets.token_hex(8), "EAAG" + secrets.token_urlsafe(30)
    phone_number_id = str(secrets.randbelow(10**12) + 10**11)
    graph_standin.valid_tokens |= {access_token, access_token + "x"}
    created = await http.post(
        "/v1/channel-accounts",
        json={
            "channel": "whatsapp", "name": "S",
            "config": {"phone_number_id": phone_number_id, "graph_base_url": f"{graph_standin.url}/v21.0"},
            "credentials": {"app_secret": app_secret, "access_token": access_token},
        },
        headers=t.headers,
    )  # fmt: skip
    account_id = created.json()["id"]
    await http.patch(f"/v1/channel-accounts/{account_id}", json={"credentials": {"access_token": access_token + "x"}}, headers=t.headers)
    # A customer turn uses both credentials: the signature check and the reply's send.
    phone = new_phone()
    body = whatsapp_payload(phone_number_id, [(phone, new_wamid(), "hi")])
    await http.post(f"/webhooks/whatsapp/{account_id}", content=body, headers={"x-hub-signature-256": signature(body, app_secret)})

    async def answered() -> bool:
        return bool(graph_standin.sends_to(phone))

    await eventually(answered, what="the reply")
    responses = [created]
    for path in (f"/v1/channel-accounts/{account_id}", "/v1/channel-accounts", "/v1/audit-log", "/v1/audit-log/export", "/v1/audit-log/export?format=csv"):
        responses.append(await http.get(path, headers=t.headers))
    for r in responses:
        assert r.status_code in (200, 201)
        assert app_secret not in r.text and access_token not in r.text
    logged = captured_output.getvalue()
    assert "channel_account" in logged or "activity" in logged  # the run was logged at all
    assert app_secret not in logged and access_token not in logged and t.key not in logged
    # Stored encrypted, not as text.
    async with deps.sessions() as session:
        stored = await session.scalar(text("SELECT secrets_encrypted FROM channel_accounts WHERE id = :id"), {"id": account_id})
    assert app_secret not in stored and access_token not in stored
    audit = [json.loads(line) for line in responses[-2].text.splitlines()]
    update = next(e for e in audit if e["action"] == "channel_account.update")
    assert update["changes"] == {"credentials_changed": ["access_token"]}


async def test_suspended_tenants_channels_stop(http):
    t = await new_admin_tenant(http)
    web = (await http.post("/v1/channel-accounts", json={"channel": "webchat", "name": "site"}, headers=t.headers)).json()
    await http.patch(f"/v1/tenants/{t.id}", json={"status": "suspended"}, headers=PLATFORM)
    r = await http.post(f"/v1/webchat/{web['id']}/messages", json={"session_id": "s1", "client_message_id": "m1", "text": "hi"})
    assert r.status_code in (403, 404)


async def test_a_generated_signing_secret_is_shown_once(http):
    t = await new_admin_tenant(http)
    created = await http.post(
        "/v1/channel-accounts",
        json={"channel": "webhook", "name": "CRM bridge", "config": {"callback_url": "https://crm.example/frontdesk"}},
        headers=t.headers,
    )
    assert created.status_code == 201, created.text
    secret = created.json()["shown_credentials"]["webhook_secret"]
    assert len(secret) >= 16 and created.json()["credentials_set"] == ["webhook_secret"]
    read = (await http.get(f"/v1/channel-accounts/{created.json()['id']}", headers=t.headers)).json()
    assert read["shown_credentials"] is None and secret not in str(read)
    renamed = (await http.patch(f"/v1/channel-accounts/{created.json()['id']}", json={"name": "CRM"}, headers=t.headers)).json()
    assert renamed["shown_credentials"] is None
    rekeyed = await http.patch(
        f"/v1/channel-accounts/{created.json()['id']}", json={"credentials": {"webhook_secret": "s" * 32}}, headers=t.headers
    )
    assert rekeyed.json()["shown_credentials"] == {"webhook_secret": "s" * 32}
