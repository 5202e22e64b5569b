"""Voice notes end to end: a WhatsApp voice note is downloaded, transcribed, answered from its
words, and (where the account allows it) answered with a voice note of our own."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from sqlalchemy import select, update
from temporalio.worker import Replayer

from channels.account_settings import ACCOUNT_SCHEMAS
from channels.base import Attachment, InboundMessage
from core.ids import conversation_workflow_id
from models.channel_accounts import ChannelAccount
from models.conversations import Message
from tests.factories import eventually, new_phone, new_wamid, signature
from tests.voice.speech_samples import probe, spoken_note, tiny_english_model
from workers.main import build_worker
from workflows.conversation import INBOUND_SIGNAL, UNTRANSCRIBED, ConversationInput, ConversationWorkflow

OGG = "audio/ogg; codecs=opus"


def voice_note_payload(phone_number_id: str, sender: str, wamid: str, media_id: str) -> bytes:
    """A Cloud API `messages` webhook for a recorded voice note (type audio, voice: true)."""
    message = {
        "from": sender,
        "id": wamid,
        "timestamp": str(int(time.time())),
        "type": "audio",
        "audio": {"mime_type": OGG, "sha256": "k6M1AYgpN5PlMGZVRwjTQaVW3xVNs6b1RWqkL3f1R9c=", "id": media_id, "voice": True},
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": phone_number_id},
        "contacts": [{"profile": {"name": "Voice Customer"}, "wa_id": sender}],
        "messages": [message],
    }
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": value}]}]}).encode()


@pytest.fixture
async def voice_setup(settings, make_api, temporal, deps):
    """An API and a worker on their own queue, transcribing with the tiny English model."""
    queue = f"voice-{uuid.uuid4().hex[:8]}"
    own = settings.model_copy(update={"task_queue": queue, "stt_model": tiny_english_model()})
    http = await make_api(task_queue=queue)
    worker = build_worker(temporal, deps, own)
    task = asyncio.create_task(worker.run())
    yield http, own
    await worker.shutdown()
    await task


async def _send_voice_note(http, tenant, graph_standin, audio: bytes) -> tuple[str, str]:
    phone, wamid = new_phone(), new_wamid()
    body = voice_note_payload(tenant.phone_number_id, phone, wamid, graph_standin.add_media(audio, OGG))
    response = await http.post(
        f"/webhooks/whatsapp/{tenant.whatsapp_id}",
        content=body,
        headers={"content-type": "application/json", "x-hub-signature-256": signature(body, tenant.app_secret)},
    )
    assert response.status_code == 200, response.text
    return phone, wamid


async def _row(deps, tenant, **where) -> Message | None:
    async with deps.sessions() as session:
        query = select(Message).where(Message.tenant_id == uuid.UUID(tenant.tenant_id))
        for column, value in where.items():
            query = query.where(getattr(Message, column) == value)
        return await session.scalar(query)


async def _sends(graph_standin, phone: str, n: int = 1) -> bool:
    return len(graph_standin.sends_to(phone)) >= n


async def test_voice_note_is_answered_from_its_transcript(voice_setup, tenant, graph_standin, openai_standin, deps, tmp_path):
    http, _ = voice_setup
    phone, wamid = await _send_voice_note(http, tenant, graph_standin, spoken_note(tmp_path).read_bytes())
    await eventually(lambda: _sends(graph_standin, phone), timeout=90, what="the reply to a voice note")

    stored = await _row(deps, tenant, external_id=wamid)
    heard = stored.text.lower()
    assert "track" in heard and "order" in heard, stored.text
    transcript = stored.content["transcript"]
    assert transcript["language"] == "en" and 1.5 < transcript["duration"] < 8
    assert transcript["audio_path"].startswith(f"{_media_root(voice_setup)}/{tenant.tenant_id}/")
    assert stored.content["attachments"][0]["kind"] == "voice"  # the note itself stays described

    # The model read the customer's words, not "[voice]".
    # (The note asks to track an order, so the model then calls track_order: the first request is the one.)
    prompt = next(c["messages"] for c in openai_standin.calls_for(tenant.model) if c["messages"][-1]["role"] == "user")
    assert prompt[-1]["content"] == stored.text
    [reply] = graph_standin.sends_to(phone)
    assert reply.type == "text" and reply.text.startswith(f"[{tenant.model}] ")  # voice replies are off by default


def _media_root(voice_setup) -> str:
    return str(voice_setup[1].media_files_dir().resolve())


async def test_voice_reply_is_sent_as_an_ogg_voice_note_when_the_account_allows_it(
    voice_setup, tenant, graph_standin, openai_standin, deps, tmp_path
):
    http, _ = voice_setup
    config = ACCOUNT_SCHEMAS["whatsapp"].config.model_validate(
        {"phone_number_id": tenant.phone_number_id, "graph_base_url": f"{graph_standin.url}/v21.0", "voice_replies": True}
    )
    async with deps.sessions.begin() as session:  # as PATCH /v1/channel-accounts/{id} stores it
        await session.execute(
            update(ChannelAccount).where(ChannelAccount.id == uuid.UUID(tenant.whatsapp_id)).values(config=config.model_dump(mode="json", exclude_none=True))
        )
    phone, wamid = await _send_voice_note(http, tenant, graph_standin, spoken_note(tmp_path).read_bytes())
    await eventually(lambda: _sends(graph_standin, phone), timeout=90, what="the voice reply")

    outbound = await _row(deps, tenant, reply_to_external_id=wamid, direction="outbound")
    # The answer (written after the agent looked the order up), kept as the fallback and the record.
    assert outbound.text.startswith(f"[{tenant.model}] ") and "12,345" in outbound.text
    media = outbound.content["media"]
    assert media["kind"] == "voice" and media["mime_type"] == "audio/ogg"
    assert media["path"].startswith(f"{_media_root(voice_setup)}/{tenant.tenant_id}/outbound/")

    audio = next(s for s in graph_standin.sends_to(phone) if s.type == "audio")
    uploaded = graph_standin.uploads[audio.body["audio"]["id"]]
    assert uploaded.mime_type.startswith("audio/ogg")
    sent_file = tmp_path / "sent.ogg"
    sent_file.write_bytes(uploaded.data)
    found = probe(sent_file)
    assert found["format"]["format_name"] == "ogg" and found["stream"]["codec_name"] == "opus"
    assert float(found["format"]["duration"]) > 1.0  # the reply, spoken


async def test_undecodable_voice_note_gets_an_honest_reply(voice_setup, tenant, graph_standin, openai_standin, deps):
    http, _ = voice_setup
    phone, wamid = await _send_voice_note(http, tenant, graph_standin, b"OggS" + bytes(range(256)) * 16)
    await eventually(lambda: _sends(graph_standin, phone), timeout=60, what="the reply to a broken voice note")

    stored = await _row(deps, tenant, external_id=wamid)
    assert stored.text == UNTRANSCRIBED
    assert "not audio" in stored.content["transcript"]["error"]
    assert openai_standin.calls_for(tenant.model)[-1]["messages"][-1]["content"] == UNTRANSCRIBED
    assert [s.text for s in graph_standin.sends_to(phone)] == [f"[{tenant.model}] {UNTRANSCRIBED}"]


async def test_voice_note_whose_media_expired_gets_an_honest_reply(voice_setup, tenant, graph_standin, deps):
    http, _ = voice_setup
    phone, wamid = new_phone(), new_wamid()
    body = voice_note_payload(tenant.phone_number_id, phone, wamid, "1234567890")  # unknown at Meta: 404
    response = await http.post(
        f"/webhooks/whatsapp/{tenant.whatsapp_id}",
        content=body,
        headers={"content-type": "application/json", "x-hub-signature-256": signature(body, tenant.app_secret)},
    )
    assert response.status_code == 200
    await eventually(lambda: _sends(graph_standin, phone), timeout=60, what="the reply to an expired voice note")
    stored = await _row(deps, tenant, external_id=wamid)
    assert stored.text == UNTRANSCRIBED and "404" in stored.content["transcript"]["error"]


async def test_voice_notes_are_transcribed_on_the_stt_queue(settings, temporal, deps, tenant, graph_standin, tmp_path):
    """With an stt queue, conversation workers only download; the stt worker transcribes."""
    conversations, stt = f"conv-{uuid.uuid4().hex[:8]}", f"stt-{uuid.uuid4().hex[:8]}"
    split = settings.model_copy(update={"task_queue": conversations, "stt_task_queue": stt, "stt_model": tiny_english_model()})
    workers = [build_worker(temporal, deps, split), build_worker(temporal, deps, split, stt)]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        phone, wamid = new_phone(), new_wamid()
        media_id = graph_standin.add_media(spoken_note(tmp_path).read_bytes(), OGG)
        note = InboundMessage(
            channel="whatsapp", channel_account_id=tenant.whatsapp_id, external_id=wamid, contact_id=phone, text="[voice]",
            kind="voice", attachments=[Attachment(kind="voice", media_id=media_id, mime_type=OGG)],
        )  # fmt: skip
        handle = await temporal.start_workflow(
            ConversationWorkflow.run,
            ConversationInput(tenant.tenant_id, tenant.whatsapp_id, "whatsapp", phone, debounce_seconds=0, stt_task_queue=stt),
            id=conversation_workflow_id(tenant.tenant_id, tenant.whatsapp_id, phone),
            task_queue=conversations,
            start_signal=INBOUND_SIGNAL,
            start_signal_args=[note],
        )
        await eventually(lambda: _sends(graph_standin, phone), timeout=90, what="the reply")
        stored = await _row(deps, tenant, external_id=wamid)
        assert "order" in stored.text.lower()
        history = await handle.fetch_history()
        queues = {
            e.activity_task_scheduled_event_attributes.activity_type.name: e.activity_task_scheduled_event_attributes.task_queue.name
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
        }
        assert queues["transcribe_audio"] == stt and queues["download_media"] == conversations
        # The voice path replays deterministically (the sandboxed replayer, as a restarted worker would).
        await Replayer(workflows=[ConversationWorkflow], data_converter=temporal.data_converter).replay_workflow(history)
    finally:
        for worker in workers:
            await worker.shutdown()
        await asyncio.gather(*tasks, return_exceptions=True)
