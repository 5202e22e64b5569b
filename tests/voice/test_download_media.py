"""download_media: a customer's file fetched with the account's credentials, kept per tenant,
fetched once however often the activity is retried."""

from __future__ import annotations

import hashlib

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.media import DownloadMediaInput, MediaActivities
from channels.base import Attachment
from tests.factories import create_tenant, new_wamid
from voice.media_store import MediaStore

OGG = "audio/ogg; codecs=opus"


@pytest.fixture
def store(tmp_path) -> MediaStore:
    return MediaStore(tmp_path / "media")


def _note(graph_standin, data: bytes) -> Attachment:
    return Attachment(kind="voice", media_id=graph_standin.add_media(data, OGG), mime_type=OGG)


async def test_media_is_stored_per_tenant_and_fetched_once(deps, tenant, graph_standin, openai_standin, store):
    other = await create_tenant(deps.sessions, deps.secrets, openai_url=openai_standin.url, graph_url=graph_standin.url)
    graph_standin.valid_tokens.add(other.access_token)
    media = MediaActivities(deps, store, max_bytes=1 << 20)
    env = ActivityEnvironment()
    wamid = new_wamid()  # the same message id at two tenants must not share a file
    ours, theirs = b"OggS our customer's note", b"OggS another tenant's note"
    first = await env.run(media.download_media, DownloadMediaInput(tenant.tenant_id, tenant.whatsapp_id, wamid, _note(graph_standin, ours)))
    second = await env.run(media.download_media, DownloadMediaInput(other.tenant_id, other.whatsapp_id, wamid, _note(graph_standin, theirs)))

    assert first.path.startswith(f"{store.root}/{tenant.tenant_id}/") and first.path.endswith(".ogg")
    assert second.path.startswith(f"{store.root}/{other.tenant_id}/")
    assert open(first.path, "rb").read() == ours and open(second.path, "rb").read() == theirs
    assert first.mime_type == "audio/ogg" and first.size == len(ours)

    # A retry (or a replayed turn) finds the file: Meta is not asked again, even once the
    # media id has expired there.
    graph_standin.media.clear()
    again = await env.run(media.download_media, DownloadMediaInput(tenant.tenant_id, tenant.whatsapp_id, wamid, _note_without_media()))
    assert again.path == first.path and open(again.path, "rb").read() == ours


def _note_without_media() -> Attachment:
    return Attachment(kind="voice", media_id="999", mime_type=OGG)


async def test_names_from_the_channel_cannot_leave_the_tenant_directory(deps, tenant, graph_standin, store):
    media = MediaActivities(deps, store, max_bytes=1 << 20)
    hostile = "../../../etc/passwd"
    found = await ActivityEnvironment().run(
        media.download_media, DownloadMediaInput(tenant.tenant_id, tenant.whatsapp_id, hostile, _note(graph_standin, b"OggS x"))
    )
    assert found.path.startswith(f"{store.root}/{tenant.tenant_id}/inbound/{tenant.whatsapp_id}/")
    assert "/../" not in found.path and hashlib.sha256(hostile.encode()).hexdigest()[:12] in found.path


async def test_expired_media_fails_without_retrying(deps, tenant, store):
    media = MediaActivities(deps, store, max_bytes=1 << 20)
    gone = Attachment(kind="voice", media_id="1234567890", mime_type=OGG)  # never issued (or expired) at Meta
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(media.download_media, DownloadMediaInput(tenant.tenant_id, tenant.whatsapp_id, new_wamid(), gone))
    assert refused.value.type == "MediaUnavailable" and refused.value.non_retryable
    assert "404" in str(refused.value)


async def test_oversized_media_is_refused(deps, tenant, graph_standin, store):
    media = MediaActivities(deps, store, max_bytes=1000)
    big = _note(graph_standin, b"OggS" + bytes(2000))
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(media.download_media, DownloadMediaInput(tenant.tenant_id, tenant.whatsapp_id, new_wamid(), big))
    assert refused.value.type == "MediaUnavailable" and "at most 1000" in str(refused.value)
    assert not any(store.root.rglob("*.ogg"))


async def test_another_tenants_account_is_refused(deps, tenant, graph_standin, openai_standin, store):
    other = await create_tenant(deps.sessions, deps.secrets, openai_url=openai_standin.url, graph_url=graph_standin.url)
    media = MediaActivities(deps, store, max_bytes=1 << 20)
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(
            media.download_media, DownloadMediaInput(tenant.tenant_id, other.whatsapp_id, new_wamid(), _note(graph_standin, b"OggS"))
        )
    assert refused.value.type == "InvalidInput" and refused.value.non_retryable
