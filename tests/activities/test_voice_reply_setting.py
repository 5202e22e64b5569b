"""Whether a voice note is answered with a voice note: the channel account's `voice_replies`, or
the default agent profile's `voice_replies` feature."""

from __future__ import annotations

from temporalio.testing import ActivityEnvironment

from activities.messages import MessageActivities, RecordTranscriptInput
from tests.api.admin.conftest import admin_key_for, bearer


async def _voice_replies(deps, tenant) -> bool:
    note = RecordTranscriptInput(tenant_id=tenant.tenant_id, channel_account_id=tenant.whatsapp_id, external_id="wamid.none", text="hi")
    return (await ActivityEnvironment().run(MessageActivities(deps).record_transcript, note)).voice_replies


async def test_the_default_profiles_voice_replies_feature_turns_voice_replies_on(http, deps, tenant):
    assert await _voice_replies(deps, tenant) is False  # neither the account nor a profile asks for it

    body = {"name": "Voice agent", "persona": {"display_name": "Asha", "tone": "warm", "traits": []}, "features": {"voice_replies": True}}
    created = await http.post("/v1/agent-profiles", json=body, headers=bearer(await admin_key_for(deps, tenant.tenant_id)))
    assert created.status_code == 201, created.text

    assert await _voice_replies(deps, tenant) is True
