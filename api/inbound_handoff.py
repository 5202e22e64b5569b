"""Hands webhook messages to their conversation workflows without making the channel wait on Temporal.

Two ways in, chosen per request:
- Temporal has been answering (the last hand-over succeeded): the messages are committed to
  the inbound journal in PostgreSQL, the channel gets its 200, and the hand-over to Temporal
  happens right after in this process. Under load Temporal's dev server takes hundreds of
  milliseconds per signal (its one SQLite writer is busy with turns); the journal commit takes
  a few.
- Temporal is down or not yet proven (start-up, or the last hand-over failed): the request
  signals Temporal itself and answers 200 only once it accepted, else 503 with Retry-After, so
  the channel redelivers and the journal does not grow while Temporal is away.

Either way nothing acknowledged is lost: a journal row stays until Temporal has accepted its
message, and the drainer hands over rows left waiting by a crash or an outage. A message handed
over twice is dropped by the workflow (recent ids) and the database (unique index).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.accounts import ChannelAccountCache
from api.conversations import TEMPORAL_UNAVAILABLE, signal_inbound
from api.inbound_guard import InboundGuard
from api.problems import Problem
from channels.base import InboundMessage
from core.logging import get_logger
from core.settings import Settings
from models import inbound_journal
from models.accounts_store import ResolvedChannelAccount

log = get_logger()

# The drainer leaves younger rows to the request that wrote them: longer than a hand-over's
# RPC timeout (api/conversations.SIGNAL_RPC_TIMEOUT), so it never races one still in flight.
DRAIN_AFTER = timedelta(seconds=15)
DRAIN_EVERY_S = 2.0
FORGET_EVERY_S = 0.25
DRAIN_BATCH = 200

Journaled = list[tuple[uuid.UUID, InboundMessage]]


class InboundHandoff:
    """One per API process (built in the lifespan, which also runs `drain_forever`)."""

    def __init__(
        self,
        temporal: Client,
        sessions: async_sessionmaker[AsyncSession],
        statements: async_sessionmaker[AsyncSession],
        accounts: ChannelAccountCache,
        guard: InboundGuard,
        settings: Settings,
    ) -> None:
        self._temporal = temporal
        self._sessions = sessions
        self._statements = statements  # autocommit: one INSERT or DELETE is atomic on its own
        self._accounts = accounts
        self._guard = guard
        self._settings = settings
        self._temporal_answering = False  # proven by the last hand-over; False until the first
        # When the hand-over that last set `_temporal_answering` started: a slow attempt that
        # fails after a newer one succeeded (its RPC outlived an outage) must not undo that news.
        self._answer_seen_at = float("-inf")
        self._in_flight: set[asyncio.Task] = set()
        # What Temporal accepted since the last tick: journal rows to delete, and (account,
        # message id) pairs for the guard to skip on redelivery. One statement and one Redis
        # round trip per tick instead of one each per webhook: the API's event loop, which also
        # answers the channels, does less.
        self._handed: list[uuid.UUID] = []
        self._accepted: list[tuple[str, str]] = []
        # One lock per (channel account, customer) with a hand-over under way, and how many
        # hand-overs hold or wait for it (the entry goes when none does).
        self._contact_locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._contact_users: Counter[tuple[str, str]] = Counter()

    @property
    def temporal_answering(self) -> bool:
        return self._temporal_answering

    async def accept(self, account: ResolvedChannelAccount, messages: Sequence[InboundMessage]) -> None:
        """Returns once every message is durable (journal or Temporal); raises Problem(503) otherwise."""
        if not messages:
            return
        if not self._temporal_answering:
            await self._hand_over_now(account, messages)
            return
        async with self._statements() as session:  # an outage here is a 503 (api/problems.py)
            journaled = await inbound_journal.record(session, account.tenant_id, account.id, list(messages))
        task = asyncio.create_task(self._hand_over_journaled(account, journaled))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    def _note(self, answered: bool, started: float) -> None:
        """Records how a hand-over that started at `started` (monotonic) went, unless a later one
        already reported."""
        if started >= self._answer_seen_at:
            self._answer_seen_at = started
            self._temporal_answering = answered

    async def _hand_over_now(self, account: ResolvedChannelAccount, messages: Sequence[InboundMessage]) -> None:
        started = time.monotonic()
        try:
            await self._signal_in_order(account, messages)
        except TEMPORAL_UNAVAILABLE as exc:
            self._note(False, started)
            raise Problem(503, "Could not accept the message yet", str(exc)[:300], {"Retry-After": "5"}) from None
        self._note(True, started)
        await self._guard.record_accepted([(str(account.id), m.external_id) for m in messages])

    async def _hand_over_journaled(self, account: ResolvedChannelAccount, journaled: Journaled) -> None:
        """Runs after the response; a failure leaves the rows to the drainer."""
        if not journaled:
            return
        started = time.monotonic()
        try:
            await self._signal_in_order(account, [m for _, m in journaled])
        except TEMPORAL_UNAVAILABLE as exc:
            self._note(False, started)
            log.warning("Temporal did not take journaled messages; the drainer retries them", error=str(exc)[:200], count=len(journaled))
            return
        self._note(True, started)
        self._handed.extend(row_id for row_id, _ in journaled)
        self._accepted.extend((str(account.id), m.external_id) for _, m in journaled)

    async def _settle_handed(self) -> None:
        """Records the tick's accepted ids, and deletes its handed-over rows."""
        accepted, self._accepted = self._accepted, []
        await self._guard.record_accepted(accepted)
        handed, self._handed = self._handed, []
        if not handed:
            return
        try:
            async with self._statements() as session:
                await inbound_journal.forget(session, handed)
        except (DBAPIError, OSError) as exc:
            # Kept for the next tick; if this process dies first, the drainer signals them again
            # and the workflow drops them.
            self._handed = handed + self._handed
            log.warning("could not clear handed-over journal rows", error=repr(exc)[:200], count=len(handed))

    async def _signal_in_order(self, account: ResolvedChannelAccount, messages: Sequence[InboundMessage]) -> None:
        """Customers in parallel; one customer's messages one after another, keeping their order,
        within a webhook and across webhooks: a burst of three webhooks from one customer was
        otherwise handed over by three tasks racing, and the workflow answered the second
        message as the last. (Across API processes the order is the channel's timestamps'.)"""
        by_contact: dict[str, list[InboundMessage]] = defaultdict(list)
        for message in messages:
            by_contact[message.contact_id].append(message)

        async def one_contact(contact_id: str, group: list[InboundMessage]) -> None:
            key = (str(account.id), contact_id)
            lock = self._contact_locks.setdefault(key, asyncio.Lock())
            self._contact_users[key] += 1
            try:
                async with lock:  # FIFO: hand-overs queue in the order their webhooks came
                    for message in group:
                        await signal_inbound(self._temporal, account, message, self._settings)
            finally:
                self._contact_users[key] -= 1
                if not self._contact_users[key]:
                    del self._contact_users[key], self._contact_locks[key]

        await asyncio.gather(*(one_contact(contact_id, group) for contact_id, group in by_contact.items()))

    async def run_forever(self) -> None:
        """The journal's housekeeping: clears handed-over rows and drains the ones left waiting."""
        next_drain = time.monotonic() + DRAIN_EVERY_S
        while True:
            await asyncio.sleep(FORGET_EVERY_S)
            await self._settle_handed()
            if time.monotonic() < next_drain:
                continue
            next_drain = time.monotonic() + DRAIN_EVERY_S
            try:
                await self.drain_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - an outage must not end the drainer; it retries
                log.warning("inbound journal drain failed; retrying", error=repr(exc)[:200])

    async def drain_once(self, older_than: timedelta = DRAIN_AFTER) -> int:
        """Hands over rows left waiting (a crash after the 200, or Temporal away). Returns how many."""
        async with self._sessions.begin() as session:
            waiting = await inbound_journal.claim_waiting(session, older_than, DRAIN_BATCH)
            by_account: dict[str, Journaled] = defaultdict(list)
            for row_id, message in waiting:
                by_account[message.channel_account_id].append((row_id, message))
            handed: list[uuid.UUID] = []
            for account_id, journaled in by_account.items():
                handed += await self._drain_account(session, account_id, journaled)
                if not self._temporal_answering:
                    break  # Temporal is away: the other accounts' rows would only wait on it too
            await inbound_journal.forget(session, handed)
        if handed:
            log.info("handed over journaled inbound messages", count=len(handed), waiting=len(waiting) - len(handed))
        return len(handed)

    async def _drain_account(self, session: AsyncSession, account_id: str, journaled: Journaled) -> list[uuid.UUID]:
        row_ids = [row_id for row_id, _ in journaled]
        account = await self._accounts.get(account_id)
        if account is None:  # the account was deleted: nobody can answer these customers any more
            log.warning("dropping journaled messages of a deleted channel account", channel_account_id=account_id, count=len(row_ids))
            return row_ids
        started = time.monotonic()
        try:
            await self._signal_in_order(account, [m for _, m in journaled])
        except TEMPORAL_UNAVAILABLE as exc:
            self._note(False, started)
            await inbound_journal.note_failure(session, row_ids, str(exc))
            log.warning("inbound messages are waiting for Temporal", count=len(row_ids), error=str(exc)[:200])
            return []
        self._note(True, started)
        await self._guard.record_accepted([(account_id, m.external_id) for _, m in journaled])
        return row_ids

    async def aclose(self, timeout_s: float = 10.0) -> None:
        """Lets hand-overs already under way finish; what they don't, the journal keeps."""
        if self._in_flight:
            await asyncio.wait(list(self._in_flight), timeout=timeout_s)
        await self._settle_handed()
