"""Sending a stored outbound message through its channel, effectively once."""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps
from channels.base import Capabilities, ChannelError, InboundMessage, OutboundMessage, TemplateRequired
from channels.render import fit
from core import events
from core.rate_limit import RateLimiter, bucket_key
from models import accounts_store, consent_store, delivery_store

# How long after an attempt a retry waits for that attempt's receipt before sending again.
# Meta's "sent" receipts usually arrive within seconds; retries come after the activity's
# start-to-close timeout (30 s) when a worker died mid-send.
RECEIPT_GRACE = timedelta(seconds=60)
RECEIPT_POLL = timedelta(seconds=5)


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
    suppressed: bool = False  # not sent: the contact opted out of this channel account


@dataclass
class AcknowledgeInboundInput:
    tenant_id: str
    channel_account_id: str
    messages: list[InboundMessage]


class DeliveryActivities:
    """Effectively-once sends.

    The outbound row (unique idempotency key: workflow + turn) is checked before the channel
    call and the channel's message id recorded after it. The gap between the channel accepting
    a message and our commit (a worker killed there, or an answer lost on the wire) is closed
    for channels whose receipts echo our key (WhatsApp's biz_opaque_callback_data): each
    attempt is marked before the call, and a retry that finds a mark waits for the receipt of
    the earlier attempt instead of sending again.

    Remaining window: the channel accepted the earlier attempt but its receipt has not reached
    us within RECEIPT_GRACE of that attempt (the channel's webhooks down or far behind). Then
    the retry sends again and the customer may see the reply twice. For channels without
    echoed receipts the window is the gap itself: one HTTP answer plus one local commit.
    """

    def __init__(self, deps: ActivityDeps) -> None:
        self._deps = deps
        self._limiter = RateLimiter(deps.redis)

    @activity.defn
    async def send_reply(self, input: SendReplyInput) -> SendReplyResult:
        tenant_id = uuid.UUID(input.tenant_id)
        message_id = uuid.UUID(input.message_id)
        async with self._deps.sessions() as session:
            message = await delivery_store.outbound_message(session, tenant_id, message_id)
            if message is None:
                raise ApplicationError("outbound message not found", type="InvalidInput", non_retryable=True)
            # Checked before the channel call: a retry after a recorded send sends nothing.
            if message.provider_message_id:
                return SendReplyResult(provider_message_id=message.provider_message_id, already_sent=True)
            account = await accounts_store.channel_account_by_id(session, self._deps.secrets, input.channel_account_id)
            if account is None or account.tenant_id != tenant_id:
                raise ApplicationError("channel account not found", type="InvalidInput", non_retryable=True)
            opted_out = await consent_store.is_opted_out(session, tenant_id, account.id, input.to)
        if opted_out:
            async with self._deps.sessions.begin() as session:
                await delivery_store.record_send_failure(session, tenant_id, message_id, "the contact opted out of this channel", "suppressed")
            return SendReplyResult(provider_message_id="", suppressed=True)

        adapter = self._deps.channels.get(account.channel)
        key = message.idempotency_key or ""
        if message.send_attempted_at is not None and adapter.receipts_echo_reference and key:
            confirmed = await self._earlier_attempt(tenant_id, message_id, account.id, key, message.send_attempted_at)
            if confirmed:
                return SendReplyResult(provider_message_id=confirmed, already_sent=True)
        await self._take_send_token(account.id, account.config, adapter.capabilities)
        async with self._deps.statements() as session:  # one autocommit statement
            await delivery_store.mark_send_attempt(session, tenant_id, message_id, datetime.now(UTC))

        # Reshaped to what the channel can show (buttons as numbered text on SMS, and so on).
        outbound = fit(
            OutboundMessage.from_row(input.to, message.text, key, message.content or {}, message.reply_to_external_id),
            adapter.capabilities,
        )
        try:
            sent = await adapter.send(outbound, account.config, account.secrets)
        except ChannelError as exc:
            if not exc.maybe_delivered:  # the channel answered (or was never reached): nothing to wait for
                async with self._deps.statements() as session:
                    await delivery_store.mark_send_attempt(session, tenant_id, message_id, None)
            if isinstance(exc, TemplateRequired):
                # Its own type, so the conversation can answer with a template instead.
                async with self._deps.sessions.begin() as session:
                    await delivery_store.record_send_failure(session, tenant_id, message_id, str(exc))
                raise ApplicationError(str(exc), type="TemplateRequired", non_retryable=True) from exc
            if exc.retryable:
                raise ApplicationError(
                    str(exc),
                    type="ChannelUnavailable",
                    next_retry_delay=timedelta(seconds=exc.retry_after) if exc.retry_after else None,
                ) from exc
            async with self._deps.sessions.begin() as session:
                await delivery_store.record_send_failure(session, tenant_id, message_id, str(exc))
            raise ApplicationError(str(exc), type="ChannelRejected", non_retryable=True) from exc
        await self._record(tenant_id, message_id, sent.provider_message_id)
        return SendReplyResult(provider_message_id=sent.provider_message_id)

    @activity.defn
    async def acknowledge_inbound(self, input: AcknowledgeInboundInput) -> None:
        """Tells the channel the messages were seen (WhatsApp read receipts; answering a Telegram
        button tap so it stops spinning). Only a retryable failure is raised; anything else is
        logged, since a missing receipt must never hold up the reply."""
        tenant_id = uuid.UUID(input.tenant_id)
        async with self._deps.sessions() as session:
            account = await accounts_store.channel_account_by_id(session, self._deps.secrets, input.channel_account_id)
        if account is None or account.tenant_id != tenant_id:
            raise ApplicationError("channel account not found", type="InvalidInput", non_retryable=True)
        adapter = self._deps.channels.get(account.channel)
        for message in input.messages:
            try:
                await adapter.after_receive(message, account.config, account.secrets)
            except ChannelError as exc:
                if exc.retryable:
                    delay = timedelta(seconds=exc.retry_after) if exc.retry_after else None
                    raise ApplicationError(str(exc), type="ChannelUnavailable", next_retry_delay=delay) from exc
                activity.logger.warning("channel refused the acknowledgement", extra={"error": str(exc)[:200]})

    async def _take_send_token(self, account_id: uuid.UUID, config: dict, capabilities: Capabilities) -> None:
        """Waits (as a retry, holding no worker slot) while the account is over its send rate:
        a burst of replies must not earn the tenant the channel's own throttling or a ban."""
        rate = float(config.get("send_rate_per_s") or capabilities.send_rate_per_s)
        burst = max(1, int(rate))
        decision = await self._limiter.hit(bucket_key("send", str(account_id)), rate_per_s=rate, burst=burst)
        if not decision.allowed:
            raise ApplicationError(
                "channel account is over its send rate",
                type="SendRateLimited",
                next_retry_delay=timedelta(seconds=max(decision.retry_after_s, 0.05)),
            )

    async def _earlier_attempt(
        self, tenant_id: uuid.UUID, message_id: uuid.UUID, account_id: uuid.UUID, key: str, attempted_at: datetime
    ) -> str | None:
        """The channel's id if an earlier attempt got through; None if it is safe to send again.
        Raises (retryably) while a receipt may still be on its way."""
        async with self._deps.sessions() as session:
            confirmed = await delivery_store.receipted_send(session, tenant_id, account_id, key)
        if confirmed:
            activity.logger.info("earlier attempt was delivered; recording it instead of sending again")
            await self._record(tenant_id, message_id, confirmed)
            return confirmed
        waited = datetime.now(UTC) - attempted_at
        if waited < RECEIPT_GRACE:
            raise ApplicationError(
                "an earlier attempt may have reached the channel; waiting for its receipt",
                type="AwaitingReceipt",
                next_retry_delay=min(RECEIPT_POLL, RECEIPT_GRACE - waited),
            )
        activity.logger.warning("no receipt for the earlier attempt; sending again", extra={"waited_s": waited.total_seconds()})
        return None

    async def _record(self, tenant_id: uuid.UUID, message_id: uuid.UUID, provider_message_id: str) -> None:
        async with self._deps.sessions.begin() as session:
            await delivery_store.record_sent(session, tenant_id, message_id, provider_message_id)
        events.publish(
            self._deps.redis, str(tenant_id), "message.sent", message_id=str(message_id), provider_message_id=provider_message_id
        )
