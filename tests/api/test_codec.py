"""The codec endpoints the Temporal UI calls to show encrypted history: same codec as the workers,
the admin key required outside development, CORS for the UI's origin only."""

from __future__ import annotations

import base64

import pytest
from pydantic import SecretStr
from temporalio.converter import DataConverter

from core.crypto import generate_master_key
from core.payload_codec import EncryptionCodec, codec_for

ADMIN_KEY = "adm-codec-test-key-0123456789"
AUTH = {"authorization": f"Bearer {ADMIN_KEY}"}


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _json_payload_body(value: object) -> dict:
    """A payload as the UI sends it: protobuf JSON, bytes in base64."""
    payload = DataConverter.default.payload_converter.to_payloads([value])[0]
    return {"metadata": {k: _b64(v) for k, v in payload.metadata.items()}, "data": _b64(payload.data)}


@pytest.fixture
async def codec_api(make_api):
    return await make_api(admin_key=SecretStr(ADMIN_KEY))


async def test_encode_then_decode_round_trips_and_matches_the_workers_codec(codec_api, settings):
    original = {"payloads": [_json_payload_body({"text": "Where is my parcel?"}), _json_payload_body("second")]}
    encoded = await codec_api.post("/codec/encode", json=original, headers=AUTH)
    assert encoded.status_code == 200, encoded.text
    sealed = encoded.json()["payloads"]
    assert [base64.b64decode(p["metadata"]["encoding"]) for p in sealed] == [b"binary/encrypted"] * 2
    assert "parcel" not in base64.b64decode(sealed[0]["data"]).decode(errors="replace")

    decoded = await codec_api.post("/codec/decode", json={"payloads": sealed}, headers=AUTH)
    assert decoded.status_code == 200, decoded.text
    assert decoded.json() == original

    # What a worker wrote into history decodes here too (the UI shows the real turn).
    from_worker = await codec_for(settings).encode(DataConverter.default.payload_converter.to_payloads(["from a worker"]))
    body = {"payloads": [{"metadata": {k: _b64(v) for k, v in p.metadata.items()}, "data": _b64(p.data)} for p in from_worker]}
    shown = await codec_api.post("/codec/decode", json=body, headers=AUTH)
    assert shown.json() == {"payloads": [_json_payload_body("from a worker")]}


async def test_unencrypted_payloads_decode_unchanged(codec_api):
    body = {"payloads": [_json_payload_body("written before encryption")]}
    response = await codec_api.post("/codec/decode", json=body, headers=AUTH)
    assert response.status_code == 200 and response.json() == body


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer not-the-admin-key"}, {"authorization": "Basic YTpi"}])
async def test_calls_without_the_admin_key_are_401_even_from_loopback(codec_api, headers):
    for path in ("/codec/decode", "/codec/encode"):
        response = await codec_api.post(path, json={"payloads": []}, headers=headers)
        assert response.status_code == 401, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["www-authenticate"] == "Bearer"


async def test_without_an_admin_key_configured_nothing_is_decoded(make_api):
    api = await make_api(admin_key=None)
    response = await api.post("/codec/decode", json={"payloads": []}, headers={"authorization": "Bearer anything"})
    assert response.status_code == 401


async def test_development_on_loopback_needs_no_token(make_api):
    # `frontdesk dev` starts the UI pointed at the codec and it sends no credentials.
    dev = await make_api(env="development", admin_key=None)
    response = await dev.post("/codec/decode", json={"payloads": [_json_payload_body("hi")]})
    assert response.status_code == 200, response.text
    assert (await dev.post("/codec/decode", json={"payloads": []}, headers={"authorization": "Bearer wrong"})).status_code == 401


async def test_preflight_answers_the_ui_origin_only(codec_api, settings):
    ui = settings.temporal_ui_origin
    preflight = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type,x-namespace",
    }
    ok = await codec_api.options("/codec/decode", headers={"origin": ui, **preflight})
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == ui
    assert ok.headers["access-control-allow-credentials"] == "true"
    assert {"authorization", "content-type", "x-namespace"} <= {
        h.strip() for h in ok.headers["access-control-allow-headers"].split(",")
    }
    assert "POST" in ok.headers["access-control-allow-methods"]

    other = await codec_api.options("/codec/decode", headers={"origin": "https://evil.example", **preflight})
    assert other.status_code == 403 and "access-control-allow-origin" not in other.headers

    # The actual calls carry the header too, errors included, so the UI can read them.
    call = await codec_api.post("/codec/decode", json={"payloads": []}, headers={"origin": ui, **AUTH})
    assert call.status_code == 200 and call.headers["access-control-allow-origin"] == ui
    refused = await codec_api.post("/codec/decode", json={"payloads": []}, headers={"origin": ui})
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == ui
    # No CORS anywhere else in the API.
    health = await codec_api.get("/healthz", headers={"origin": ui})
    assert "access-control-allow-origin" not in health.headers


async def test_bad_bodies_get_reasons_not_server_errors(codec_api):
    sealed_elsewhere = await EncryptionCodec(generate_master_key()).encode(
        DataConverter.default.payload_converter.to_payloads(["other deployment"])
    )
    foreign = {"metadata": {k: _b64(v) for k, v in sealed_elsewhere[0].metadata.items()}, "data": _b64(sealed_elsewhere[0].data)}
    cases = [
        ("/codec/decode", {"payloads": [{"data": "not base64 !!"}]}, 400, "base64"),
        ("/codec/decode", {"payloads": [foreign]}, 400, base64.b64decode(foreign["metadata"]["encryption-key-id"]).decode()),
        ("/codec/encode", {"payloads": "nope"}, 422, None),
        ("/codec/decode", [1, 2], 422, None),
    ]
    for path, body, status, reason in cases:
        response = await codec_api.post(path, json=body, headers=AUTH)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        if reason:
            assert reason in str(response.json()["detail"])
    # Right key id, wrong bytes: refused, not a 500.
    good = await codec_api.post("/codec/encode", json={"payloads": [_json_payload_body("x")]}, headers=AUTH)
    forged = good.json()["payloads"][0]
    raw = base64.b64decode(forged["data"])
    forged["data"] = _b64(raw[:-1] + bytes([raw[-1] ^ 1]))
    response = await codec_api.post("/codec/decode", json={"payloads": [forged]}, headers=AUTH)
    assert response.status_code == 400, response.text
