"""Temporal payloads are encrypted at rest: the server's history holds ciphertext, the platform's
own clients read it back, and channel credentials are in neither."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from cryptography.exceptions import InvalidTag
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from core.crypto import generate_master_key
from core.ids import conversation_workflow_id
from core.payload_codec import ENCODING, KEY_ID_METADATA, EncryptionCodec, PayloadKeyError
from core.temporal import connect
from tests.factories import eventually, new_phone, new_wamid, signature, whatsapp_payload


def _json_payload(value: object) -> Payload:
    return DataConverter.default.payload_converter.to_payloads([value])[0]


async def test_round_trip_restores_the_payload_exactly():
    codec = EncryptionCodec(generate_master_key())
    original = _json_payload({"text": "Where is my parcel?", "turn": 3})
    [sealed] = await codec.encode([original])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID_METADATA] == codec.key_id.encode()
    assert b"parcel" not in sealed.SerializeToString() and b"json/plain" not in sealed.SerializeToString()
    assert await codec.decode([sealed]) == [original]


async def test_history_written_before_encryption_reads_as_it_was():
    plain = _json_payload("hello from an old run")
    assert await EncryptionCodec(generate_master_key()).decode([plain]) == [plain]


async def test_previous_key_decodes_and_unknown_key_is_named():
    old, new = generate_master_key(), generate_master_key()
    [sealed] = await EncryptionCodec(old).encode([_json_payload("before the rotation")])
    assert await EncryptionCodec(new, previous=[old]).decode([sealed]) == [_json_payload("before the rotation")]
    with pytest.raises(PayloadKeyError, match=EncryptionCodec(old).key_id):
        await EncryptionCodec(new).decode([sealed])


async def test_tampered_payload_is_refused():
    codec = EncryptionCodec(generate_master_key())
    [sealed] = await codec.encode([_json_payload("x")])
    sealed.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(InvalidTag):
        await codec.decode([sealed])


# --- a real conversation's history ------------------------------------------------------------


def _payloads(message: Message) -> Iterator[Payload]:
    """Every Payload anywhere in a proto message (inputs, results, signals, headers, memos...)."""
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        if field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            items = list(value.values()) if value_field.type == FieldDescriptor.TYPE_MESSAGE else []
        elif field.is_repeated:
            items = list(value)
        else:
            items = [value]
        for item in items:
            if isinstance(item, Payload):
                yield item
            else:
                yield from _payloads(item)


def _readable(history: WorkflowHistory, payloads: list[Payload]) -> str:
    """What someone reading this history sees: its JSON and every payload, base64 undone."""
    parts = [history.to_json()]
    for p in payloads:
        parts.append(p.data.decode("utf-8", errors="replace"))
        parts += [v.decode("utf-8", errors="replace") for v in p.metadata.values()]
    return "\n".join(parts)


async def test_history_holds_ciphertext_and_never_credentials(http, tenant, temporal, settings, graph_standin):
    phone, text = new_phone(), f"My order number is ORD-{new_wamid()[-10:]}"
    body = whatsapp_payload(tenant.phone_number_id, [(phone, new_wamid(), text)])
    response = await http.post(
        f"/webhooks/whatsapp/{tenant.whatsapp_id}",
        content=body,
        headers={"content-type": "application/json", "x-hub-signature-256": signature(body, tenant.app_secret)},
    )
    assert response.status_code == 200, response.text

    async def replied() -> bool:
        return bool(graph_standin.sends_to(phone))

    await eventually(replied, what="reply sent through Graph")  # the send activity used the access token
    workflow_id = conversation_workflow_id(tenant.tenant_id, tenant.whatsapp_id, phone)
    credentials = (tenant.access_token, tenant.app_secret, tenant.verify_token)

    # What the Temporal server stores (and its UI shows without the codec): ciphertext.
    plain_client = await connect(settings.temporal_address or "", settings.temporal_namespace)
    stored = await plain_client.get_workflow_handle(workflow_id).fetch_history()
    stored_payloads = [p for e in stored.events for p in _payloads(e)]
    assert any(p.metadata.get("encoding") == ENCODING for p in stored_payloads)
    seen = _readable(stored, stored_payloads)
    assert text not in seen and "ORD-" not in seen
    assert base64.b64encode(text.encode()).decode() not in seen
    for secret in credentials:
        assert secret not in seen

    # What the platform's client (and an operator through /codec) reads: the conversation, still
    # without credentials, because activities fetch those themselves.
    decoded_history = await temporal.get_workflow_handle(workflow_id).fetch_history()
    codec = temporal.data_converter.payload_codec
    assert codec is not None
    decoded = await codec.decode([p for e in decoded_history.events for p in _payloads(e)])
    readable = _readable(decoded_history, decoded)
    assert text in readable
    assert f"[{tenant.model}] {text}" in readable  # the reply, from the activity result
    for secret in credentials:
        assert secret not in readable
