"""Downloading what a customer sent (a voice note, a photo) into the tenant's media store."""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps
from channels.base import Attachment, ChannelError
from models import accounts_store
from voice.media_store import MediaStore


@dataclass
class DownloadMediaInput:
    tenant_id: str
    channel_account_id: str
    external_id: str  # the inbound message's id: names the file, so a retry finds it
    attachment: Attachment
    index: int = 0  # which of the message's attachments


@dataclass
class DownloadMediaResult:
    path: str
    mime_type: str | None
    size: int


class MediaActivities:
    def __init__(self, deps: ActivityDeps, store: MediaStore, max_bytes: int) -> None:
        self._deps = deps
        self._store = store
        self._max_bytes = max_bytes

    @activity.defn
    async def download_media(self, input: DownloadMediaInput) -> DownloadMediaResult:
        try:
            path = self._store.inbound_path(
                input.tenant_id, input.channel_account_id, input.external_id, input.index, input.attachment.mime_type
            )
        except ValueError:
            raise ApplicationError("tenant_id and channel_account_id must be UUIDs", type="InvalidInput", non_retryable=True) from None
        if path.is_file():  # written whole by an earlier attempt (or an earlier run)
            return DownloadMediaResult(path=str(path), mime_type=input.attachment.mime_type, size=path.stat().st_size)

        async with self._deps.sessions() as session:
            account = await accounts_store.channel_account_by_id(session, self._deps.secrets, input.channel_account_id)
        if account is None or account.tenant_id != uuid.UUID(input.tenant_id):
            raise ApplicationError("channel account not found", type="InvalidInput", non_retryable=True)
        adapter = self._deps.channels.get(account.channel)
        try:
            data, mime_type = await adapter.fetch_media(input.attachment, account.config, account.secrets)
        except ChannelError as exc:
            if exc.retryable:
                raise ApplicationError(
                    str(exc),
                    type="ChannelUnavailable",
                    next_retry_delay=timedelta(seconds=exc.retry_after) if exc.retry_after else None,
                ) from exc
            # Expired media ids (WhatsApp keeps media ~30 days), unknown files, refused tokens.
            raise ApplicationError(str(exc), type="MediaUnavailable", non_retryable=True) from exc
        if not data:
            raise ApplicationError("the channel sent an empty file", type="MediaUnavailable", non_retryable=True)
        if len(data) > self._max_bytes:
            raise ApplicationError(
                f"the file has {len(data)} bytes; at most {self._max_bytes} are kept", type="MediaUnavailable", non_retryable=True
            )
        await asyncio.to_thread(self._store.write, path, data)
        return DownloadMediaResult(path=str(path), mime_type=mime_type or input.attachment.mime_type, size=len(data))
