"""Sending a stored outbound message through its channel, effectively once."""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
import uuid
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps
from channels.base import ChannelError, OutboundMessage
from core import events
from models import accounts_store, messages_store


@dataclass
class SendReplyInput:
    tenant_id: str
    channel_account_id: str
    message_id: str
    to: str


@dataclass
class SendReplyResult:
    provider_message_id: str
    already_sent: bool = False


class DeliveryActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self._deps = deps

    @activity.defn
    async def send_reply(self, input: SendReplyInput) -> SendReplyResult:
        tenant_id = uuid.UUID(input.tenant_id)
        message_id = uuid.UUID(input.message_id)
        async with self._deps.sessions() as session:
            message = await messages_store.outbound_message(session, tenant_id, message_id)
            if message is None:
                raise ApplicationError("outbound message not found", type="InvalidInput", non_retryable=True)
            # Checked before the channel call: a retry after a recorded send sends nothing.
            if message.provider_message_id:
                return SendReplyResult(provider_message_id=message.provider_message_id, already_sent=True)
            account = await accounts_store.channel_account_by_id(session, self._deps.secrets, input.channel_account_id)
        if account is None or account.tenant_id != tenant_id:
            raise ApplicationError("channel account not found", type="InvalidInput", non_retryable=True)

        adapter = self._deps.channels.get(account.channel)
        outbound = OutboundMessage(to=input.to, text=message.text, idempotency_key=message.idempotency_key or "")
        try:
            sent = await adapter.send(outbound, account.config, account.secrets)
        except ChannelError as exc:
            if exc.retryable:
                raise ApplicationError(
                    str(exc),
                    type="ChannelUnavailable",
                    next_retry_delay=timedelta(seconds=exc.retry_after) if exc.retry_after else None,
                ) from exc
            async with self._deps.sessions.begin() as session:
                await messages_store.record_send_failure(session, tenant_id, message_id, str(exc))
            raise ApplicationError(str(exc), type="ChannelRejected", non_retryable=True) from exc
        # Remaining window: a crash after the channel accepted the message but before this commit
        # makes the retry send it again. The Cloud API has no idempotency header to close it;
        # the window is the duration of one local commit.
        async with self._deps.sessions.begin() as session:
            await messages_store.record_sent(session, tenant_id, message_id, sent.provider_message_id)
        await events.publish(
            self._deps.redis, input.tenant_id, "message.sent", message_id=input.message_id, provider_message_id=sent.provider_message_id
        )
        return SendReplyResult(provider_message_id=sent.provider_message_id)
