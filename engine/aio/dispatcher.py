"""The dispatcher: store -> scheduler -> carrier link -> receipts -> status callbacks.

One dispatcher per database owns the senders.  It learns of new messages THROUGH THE
STORE (:meth:`engine.Store.list_queued`, an index range scan after the last id it saw), so
the HTTP side may run in other processes; an in-process API only wakes it early
(:meth:`Dispatcher.accepted`).  Each message is paced per sender in segments per second
(its number's own rate, else its tier's), inside its account's rate, by
:class:`engine.RateScheduler`; leaves on the link its number names or the first link that
serves its destination and has a free window slot; is marked ``sending`` in the store
BEFORE its submit_sm is written (at-least-once, docs/durability.md), ``sent`` with the
carrier's ids from submit_sm_resp, and ``delivered``/``undelivered`` by the receipts, which
the store joins per part.  Every status change after creation is POSTed to the message's
``StatusCallback``, signed, through the webhook client (which never blocks this loop).

Outcomes (engine.lifecycle maps them to Twilio's statuses and codes):

- carrier throttle (ESME_RTHROTTLED/ESME_RMSGQFUL): the link pauses with a doubling back-off
  (:class:`engine.scheduler.Pacer`) and the message goes back to the HEAD of its sender's
  queue, so every sender keeps its order; other links keep sending;
- a link error that is safe to retry (never written): back to the head of the queue;
- an unknown outcome (connection lost or no response with the request in flight): queued
  again under the at-least-once policy (the carrier may hold a copy; a late receipt for it
  still matches), or failed 30008 under at-most-once;
- any other refusal: ``failed`` with the mapped code; validity run out in the queue:
  ``failed`` 30036.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from engine import lifecycle
from engine.aio.carriers import CarrierLink, CarrierLinks
from engine.errors import EngineError, QueueFullError, StoreError
from engine.numbers import from_smpp, to_smpp
from engine.pdu.constants import CommandStatus, RegisteredDelivery
from engine.reassembly import Reassembler
from engine.receipts import is_receipt, receipt_from_pdu
from engine.scheduler import Pacer, Tier
from engine.store import MessageRecord, Store
from engine.text import build_submit_sms

__all__ = ["CallbackSender", "Dispatcher", "DispatcherStats", "NumberLookup"]

log = logging.getLogger("engine.aio.dispatcher")

_THROTTLES = frozenset({int(CommandStatus.ESME_RTHROTTLED), int(CommandStatus.ESME_RMSGQFUL)})
_FINAL = frozenset({"delivered", "undelivered", "failed"})
_POLL_INTERVAL = 0.05  # seconds between store polls when nothing wakes the loop
_POLL_BATCH = 2000
_MAX_MULTIPART_RETRIES = 20
_HOLD_MAX = 2.0  # seconds a link may hold given-back messages while others are in flight
_CACHE_TTL = 5.0  # seconds an account's token is cached (for signing its callbacks)


_I = TypeVar("_I")
_R = TypeVar("_R")


class _Batch(Generic[_I, _R]):
    """Calls made during one loop iteration, handed to ``run`` as one batch when the loop
    next runs its callbacks: one store write (one op, one thread hop, one commit) for every
    message the iteration moved, instead of one each.  ``run`` returns one result per
    item, in order; if it raises, every caller gets that exception."""

    __slots__ = ("_futures", "_items", "_run", "_tasks")

    def __init__(self, run: Callable[[list[_I]], Awaitable[Sequence[_R]]]) -> None:
        self._run = run
        self._items: list[_I] = []
        self._futures: list[asyncio.Future[_R]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self, item: _I) -> asyncio.Future[_R]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[_R] = loop.create_future()
        if not self._items:
            loop.call_soon(self._flush)
        self._items.append(item)
        self._futures.append(fut)
        return fut

    def _flush(self) -> None:
        items, futures = self._items, self._futures
        self._items, self._futures = [], []
        task = asyncio.get_running_loop().create_task(self._deliver(items, futures))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, items: list[_I], futures: list[asyncio.Future[_R]]) -> None:
        try:
            results = await self._run(items)
        except BaseException as exc:
            for fut in futures:
                if not fut.done():
                    fut.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for fut, result in zip(futures, results, strict=True):
            if not fut.done():
                fut.set_result(result)


class CallbackSender(Protocol):
    """What the dispatcher needs of the webhook client (engine.aio.webhook.WebhookClient)."""

    def send_status_callback(
        self, url: str, params: dict[str, str], auth_token: str, *, method: str = "POST"
    ) -> bool: ...


class NumberLookup(Protocol):
    """What the dispatcher needs of the directory (engine.store.directory.Directory)."""

    def get_number(self, phone_number: str) -> Any: ...

    def get_account(self, sid: str) -> Any: ...


@dataclass
class DispatcherStats:
    """Counters (read by tests, the CLI and metrics)."""

    polled: int = 0
    submitted: int = 0
    sent: int = 0
    failed: int = 0
    expired: int = 0
    requeued: int = 0
    throttled: int = 0
    receipts: int = 0
    receipts_unmatched: int = 0
    callbacks: int = 0
    callbacks_dropped: int = 0
    inbound: int = 0
    inbound_unowned: int = 0
    errors: list[str] = field(default_factory=list)


class Dispatcher:
    """Joins a :class:`engine.Store`, a :class:`engine.scheduler.Pacer` and
    :class:`CarrierLinks`; see the module docstring.  ``start()`` recovers the queue (in
    acceptance order), ``stop(grace)`` stops taking messages and waits for those in flight.
    """

    def __init__(
        self,
        store: Store,
        links: CarrierLinks,
        *,
        directory: NumberLookup | None = None,
        callbacks: CallbackSender | None = None,
        pacer: Pacer | None = None,
        account_rates: dict[str, float] | None = None,
        default_account_rate: float | None = None,
        at_most_once: bool = False,
        poll_interval: float = _POLL_INTERVAL,
        on_inbound: Callable[[MessageRecord, Any], Any] | None = None,
        on_send: Callable[[MessageRecord, float], None] | None = None,
    ) -> None:
        self.store = store
        self.links = links
        self.directory = directory
        self.callbacks = callbacks
        self.pacer = pacer if pacer is not None else Pacer()
        self.scheduler = self.pacer.scheduler
        self.account_rates = dict(account_rates or {})
        self.default_account_rate = default_account_rate
        self.at_most_once = at_most_once
        self.poll_interval = poll_interval
        self.on_inbound = on_inbound
        self.on_send = on_send  # (record, scheduler time) as each message leaves its queue
        # Called (awaited when it returns an awaitable) with (record, number or None,
        # missing part numbers) for a multipart inbound message given up on.
        self.on_incomplete: Callable[[MessageRecord, Any, tuple[int, ...]], Any] | None = None
        self.stats = DispatcherStats()
        self.reassembler = Reassembler()
        self._last_seq = 0
        self._wake = asyncio.Event()
        self._poll_due = True
        self._task: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._canceled: set[str] = set()
        self._queued_sids: set[str] = set()
        self._token_cache: dict[str, tuple[float, str | None]] = {}
        self._rated_accounts: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        # The store writes of each message, batched per loop iteration.
        self._mark_sending = _Batch(self._mark_sending_many)
        self._mark_sent = _Batch(self._mark_sent_many)
        self._apply_receipt = _Batch(self._apply_receipts)

    async def _mark_sending_many(self, items: list[tuple[str, str]]) -> list[StoreError | None]:
        return await self.store.mark_sending_many(items)

    async def _mark_sent_many(self, items: list[tuple[str, list[str]]]) -> list[StoreError | None]:
        return await self.store.mark_sent_many(items)

    async def _apply_receipts(
        self, items: list[tuple[str, str, int | None, str | None]]
    ) -> list[tuple[MessageRecord | StoreError | None, float]]:
        # One time for the batch: a record whose date_updated is it was changed by it.
        at = time.time()
        return [(r, at) for r in await self.store.apply_receipts(items, at=at)]

    # lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover the queue from the store (in acceptance order) and start the loop."""
        self._loop = asyncio.get_running_loop()
        recovered = await self.store.recover()
        self._enqueue(recovered)
        if recovered:
            log.info("recovered %d queued messages", len(recovered))
        self._task = self._loop.create_task(self._run(), name="dispatcher")

    async def stop(self, grace: float = 10.0) -> None:
        """Stop popping messages; wait up to ``grace`` seconds for the submits in flight.
        Messages still queued stay queued in the store for the next start."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sends:
            _, pending = await asyncio.wait(set(self._sends), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                # Left "sending": the store's in-flight policy decides at the next start.
                log.warning("%d submits still in flight after %.1f s", len(pending), grace)
                await asyncio.wait(pending, timeout=1.0)

    @property
    def in_flight(self) -> int:
        """Messages being submitted right now."""
        return len(self._sends)

    @property
    def queued(self) -> int:
        """Messages waiting in the scheduler."""
        return len(self.scheduler)

    # hooks for the REST API in this process (engine.aio.rest.RestHooks) -----------------

    def accepted(self, record: MessageRecord) -> None:
        """A message was accepted by this process: poll the store now."""
        self._poll_due = True
        self._wake.set()

    def canceled(self, record: MessageRecord) -> None:
        """A queued message was canceled: drop it when it comes up."""
        if record.sid in self._queued_sids:
            self._canceled.add(record.sid)

    def sender_limit(self, from_: str) -> int | None:
        """The most segments a sender may have queued: its rate times the validity period
        (Twilio 21611 beyond it)."""
        rate, _ = self._number_info(from_)
        if rate is None:
            try:
                rate = self.pacer.rate_for(from_)
            except (TypeError, ValueError):
                return None
        return int(rate * self.pacer.validity)

    # the loop ---------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_poll = 0.0
        wake = self._wake
        while not self._stopping:
            # Cleared first: a wake-up that comes while this iteration works is kept.
            wake.clear()
            now = loop.time()
            progress = True
            try:
                if self._poll_due or now >= next_poll:
                    self._poll_due = False
                    await self._poll()
                    next_poll = loop.time() + self.poll_interval
                    now = loop.time()
                self._expire(now)
                for link in self.links:
                    # A link kept busy for long: give its held messages back anyway.
                    if link.held and now - link.held_since > _HOLD_MAX:
                        self._release_held(link)
                progress = self._dispatch(now)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let one bad row stop the gateway
                log.exception("dispatcher loop error")
                self._note(f"loop: {type(exc).__name__}: {exc}")
            wake_at = next_poll
            ready = self.scheduler.next_ready_at()
            if ready is not None and self.links.capacity(now) > 0:
                # A message is due and a link has room.  When nothing could be routed this
                # time (its own link is down), look again a little later, not at once.
                wake_at = min(wake_at, ready if progress else now + self.poll_interval)
            for t in (self.scheduler.next_expiry_at(), self.links.next_resume(now)):
                if t is not None and t < wake_at:
                    wake_at = t
            if wake_at <= loop.time():
                await asyncio.sleep(0)
                continue
            # Sleep until then, or until woken (an accept in this process, a free window
            # slot, a requeue): one timer, no task per iteration.
            timer = loop.call_at(wake_at, wake.set)
            try:
                await wake.wait()
            finally:
                timer.cancel()

    async def _poll(self) -> None:
        while True:
            batch = await self.store.list_queued(self._last_seq, _POLL_BATCH)
            if not batch:
                return
            self._enqueue(batch)
            if len(batch) < _POLL_BATCH:
                return

    def _enqueue(self, records: list[MessageRecord]) -> None:
        """Put stored ``queued`` messages into their senders' queues, in acceptance order."""
        loop_now = asyncio.get_running_loop().time()
        wall = time.time()
        for rec in records:
            if rec.sender_seq > self._last_seq:
                self._last_seq = rec.sender_seq
            if rec.sid in self._queued_sids:
                continue  # already queued here (recovered, then polled)
            self.stats.polled += 1
            expires_wall = (
                rec.expires_at
                if rec.expires_at is not None
                else rec.date_created + self.pacer.validity
            )
            expires = loop_now + (expires_wall - wall)
            key = rec.from_
            rate, _link = self._number_info(key)
            sched = self.scheduler
            try:
                if rate is not None:
                    sched.set_rate(key, rate)
                elif sched.rate_of(key) is None:
                    try:
                        self.pacer.rate_for(key)
                    except (TypeError, ValueError):
                        sched.set_rate(key, self.pacer.tier_rates[Tier.INTERNATIONAL])
                account = rec.account_sid
                self._account_rate(account)
                sched.push(key, rec, max(1, rec.num_segments), expires, account=account)
            except QueueFullError:
                self._spawn(self._fail(rec, 30001, "the sender's queue is full"))
                continue
            self._queued_sids.add(rec.sid)

    def _account_rate(self, account: str) -> None:
        if account in self._rated_accounts:
            return
        self._rated_accounts.add(account)
        rate = self.account_rates.get(account, self.default_account_rate)
        if rate is not None:
            self.scheduler.set_account_rate(account, rate)

    def _number_info(self, number: str) -> tuple[float | None, str | None]:
        """(own rate, own link) of a sender number.  The directory caches its lookups
        (and drops the cache on its own writes), so no second cache is kept here."""
        if self.directory is None:
            return None, None
        try:
            rec = self.directory.get_number(number)
        except Exception as exc:
            log.warning("number lookup failed for %s: %s", number, exc)
            return None, None
        if rec is None:
            return None, None
        return getattr(rec, "rate", None), getattr(rec, "link", None)

    def _expire(self, now: float) -> None:
        for rec in self.scheduler.pop_expired(now):
            self._queued_sids.discard(rec.sid)
            self.stats.expired += 1
            self._spawn(
                self._fail(rec, lifecycle.EXPIRED_CODE, "validity period expired in the queue")
            )

    def _dispatch(self, now: float) -> bool:
        """Hand the messages that are due to links with room; False when some were due but
        none could be routed (every link that serves them is down or full)."""
        capacity = self.links.capacity(now)
        if capacity <= 0 or not len(self.scheduler):
            return True
        ready = self.scheduler.pop_ready(now, capacity)
        requeue: list[MessageRecord] = []
        for rec in ready:
            self._queued_sids.discard(rec.sid)
            if rec.sid in self._canceled:
                self._canceled.discard(rec.sid)
                continue
            _rate, own_link = self._number_info(rec.from_)
            link = self.links.route(rec.to, own_link, now)
            if link is None:
                requeue.append(rec)
                continue
            segments = max(1, rec.num_segments)
            link.reserved += segments
            if self.on_send is not None:
                self.on_send(rec, now)
            self._spawn(self._send_reserved(rec, link, segments))
        for rec in reversed(requeue):  # last first: each sender keeps its order
            self._requeue_local(rec)
        return not ready or len(requeue) < len(ready)

    def _requeue_local(self, rec: MessageRecord) -> None:
        loop_now = asyncio.get_running_loop().time()
        expires_wall = (
            rec.expires_at if rec.expires_at is not None else rec.date_created + self.pacer.validity
        )
        self.scheduler.requeue(
            rec.from_, rec, max(1, rec.num_segments), loop_now + (expires_wall - time.time())
        )
        self._queued_sids.add(rec.sid)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._sends.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._sends.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("dispatcher task failed: %r", exc)
            self._note(f"task: {exc!r}")
        self._wake.set()  # a window slot may be free

    def _note(self, text: str) -> None:
        errors = self.stats.errors
        errors.append(text)
        if len(errors) > 100:
            del errors[:50]

    # one message --------------------------------------------------------------------------

    async def _send_reserved(self, rec: MessageRecord, link: CarrierLink, segments: int) -> None:
        try:
            await self._send(rec, link)
        finally:
            link.reserved -= segments
            if link.reserved <= 0 and link.held:
                self._release_held(link)

    def _release_held(self, link: CarrierLink) -> None:
        """Put back the messages ``link`` gave back, all at once: each sender's in its
        original order at the head of its queue (requeued last first).  Waiting until
        nothing is in flight on the link means that two of one sender's messages answered
        out of order (a window above 1) cannot come back reversed."""
        held = sorted(link.held, key=lambda r: r.sender_seq, reverse=True)
        link.held.clear()
        for rec in held:
            self._requeue_local(rec)
        self._wake.set()

    async def _send(self, rec: MessageRecord, link: CarrierLink) -> None:
        refused = await self._mark_sending((rec.sid, link.name))
        if refused is not None:
            # Canceled or deleted since it was queued: nothing to send.
            log.info("%s not sent: %s", rec.sid, refused)
            return
        try:
            parts = self._build(rec)
        except EngineError as exc:
            await self._fail(rec, 30008, f"cannot encode the body: {exc}")
            return
        self.stats.submitted += 1
        ids: list[str | None] = [None] * len(parts)
        pending = list(range(len(parts)))
        attempts = 0
        while pending:
            attempts += 1
            results = await link.client.submit_many([parts[i] for i in pending])
            throttled: list[int] = []
            for i, res in zip(pending, results, strict=True):
                if isinstance(res, BaseException):
                    await self._link_error(rec, link, res, any(x is not None for x in ids))
                    return
                status = int(res.command_status)
                if status == 0:
                    ids[i] = res.message_id
                elif status in _THROTTLES:
                    throttled.append(i)
                else:
                    outcome = lifecycle.submit_outcome(status)
                    await self._fail(
                        rec,
                        outcome.error_code or 30008,
                        outcome.error_message or f"carrier refused: 0x{status:08X}",
                    )
                    return
            if throttled:
                self.stats.throttled += 1
                now = asyncio.get_running_loop().time()
                link.paused_until = self.pacer.throttled(link.name, now)
                link.throttles += 1
                if all(x is None for x in ids):
                    # Nothing of it was taken: back to the head of its sender's queue.
                    await self._requeue(rec, "carrier throttled", link)
                    return
                if attempts >= _MAX_MULTIPART_RETRIES:
                    await self._fail(rec, 30017, "carrier kept throttling a multipart message")
                    return
                # Some parts were taken: send the rest after the pause (same reference).
                await asyncio.sleep(max(0.0, link.paused_until - now))
            else:
                self.pacer.link_ok(link.name)
            pending = throttled
        refused = await self._mark_sent((rec.sid, [i for i in ids if i is not None]))
        if refused is not None:
            log.warning("%s: mark_sent refused: %s", rec.sid, refused)
            return
        self.stats.sent += 1
        # The record as the store now holds it, for the callback (not read back).
        self._callback(msgspec.structs.replace(rec, status="sent", link=link.name))

    def _build(self, rec: MessageRecord) -> list[Any]:
        src = to_smpp(rec.from_)
        dst = to_smpp(rec.to)
        return build_submit_sms(
            src.addr,
            dst.addr,
            rec.body,
            source_addr_ton=src.ton,
            source_addr_npi=src.npi,
            dest_addr_ton=dst.ton,
            dest_addr_npi=dst.npi,
            registered_delivery=int(RegisteredDelivery.SUCCESS_OR_FAILURE),
        )

    async def _link_error(
        self, rec: MessageRecord, link: CarrierLink, exc: BaseException, partly_sent: bool
    ) -> None:
        # Never written (retry_safe): send again.  Outcome unknown: at least once sends
        # again (the carrier may hold a copy; a late receipt for it still matches,
        # docs/durability.md), at most once fails 30008.  A multipart message whose first
        # parts were taken is sent again whole: the recipient may see those parts twice.
        outcome = lifecycle.link_error_outcome(exc, at_most_once=self.at_most_once)
        if outcome is None:
            kind = "never written" if getattr(exc, "retry_safe", False) else "outcome unknown"
            extra = ", some parts already taken" if partly_sent else ""
            await self._requeue(
                rec, f"link {link.name}: {type(exc).__name__} ({kind}{extra})", link
            )
            return
        await self._fail(
            rec,
            outcome.error_code or lifecycle.UNKNOWN_CODE,
            outcome.error_message or f"link {link.name}: {exc}",
        )

    async def _requeue(self, rec: MessageRecord, why: str, link: CarrierLink | None = None) -> None:
        self.stats.requeued += 1
        try:
            rec = await self.store.requeue(rec.sid, detail=why)
        except StoreError as exc:
            log.warning("%s: requeue refused: %s", rec.sid, exc)
            return
        if link is None:
            self._requeue_local(rec)
            self._wake.set()
            return
        if not link.held:
            link.held_since = asyncio.get_running_loop().time()
        link.held.append(rec)  # released by _send_reserved once the link is idle

    async def _fail(self, rec: MessageRecord, code: int, message: str) -> None:
        self.stats.failed += 1
        try:
            rec = await self.store.mark_failed(rec.sid, code, message)
        except StoreError as exc:
            log.info("%s: mark_failed refused: %s", rec.sid, exc)
            return
        self._callback(rec)

    # status callbacks -------------------------------------------------------------------

    def _token(self, account_sid: str) -> str | None:
        now = time.monotonic()
        hit = self._token_cache.get(account_sid)
        if hit is not None and hit[0] > now:
            return hit[1]
        token = None
        if self.directory is not None:
            try:
                account = self.directory.get_account(account_sid)
                token = getattr(account, "auth_token", None) if account is not None else None
            except Exception as exc:
                log.warning("account lookup failed for %s: %s", account_sid, exc)
        self._token_cache[account_sid] = (now + _CACHE_TTL, token)
        return token

    def _callback(self, rec: MessageRecord, raw_dlr_done_date: str | None = None) -> None:
        url = rec.status_callback
        if not url or self.callbacks is None:
            return
        token = self._token(rec.account_sid)
        if token is None:
            log.warning(
                "%s: no auth token for %s; status callback not sent", rec.sid, rec.account_sid
            )
            return
        from engine.twilio.callbacks import status_callback_params

        params = status_callback_params(
            message_sid=rec.sid,
            account_sid=rec.account_sid,
            from_=rec.from_,
            to=rec.to,
            status=rec.status,
            error_code=rec.error_code,
            raw_dlr_done_date=raw_dlr_done_date,
        )
        if self.callbacks.send_status_callback(url, params, token):
            self.stats.callbacks += 1
        else:
            self.stats.callbacks_dropped += 1

    # from the carrier -------------------------------------------------------------------

    async def on_deliver(self, link_name: str, pdu: Any) -> int:
        """A deliver_sm/data_sm from ``link_name``: a receipt or an inbound message.
        Answered (the return value is its command_status) only once stored."""
        try:
            if is_receipt(pdu):
                await self._receipt(link_name, pdu)
            else:
                await self._inbound(link_name, pdu)
        except StoreError as exc:
            # The store cannot take it now: ask the carrier to retry (SMPP 3.4 §5.1.3).
            log.error("deliver_sm on %s not stored: %s", link_name, exc)
            self._note(f"deliver: {exc}")
            return int(CommandStatus.ESME_RX_T_APPN)
        except Exception as exc:
            log.exception("deliver_sm on %s could not be handled", link_name)
            self._note(f"deliver: {type(exc).__name__}: {exc}")
            return int(CommandStatus.ESME_RX_T_APPN)
        return 0

    async def _receipt(self, link_name: str, pdu: Any) -> None:
        self.stats.receipts += 1
        receipt = receipt_from_pdu(pdu)
        outcome = lifecycle.receipt_outcome(receipt.stat, receipt.err)
        if outcome.status not in _FINAL:
            return  # intermediate (ENROUTE, ACCEPTD): nothing changes
        rec, at = await self._apply_receipt(
            (receipt.message_id, outcome.status, outcome.error_code, link_name)
        )
        if isinstance(rec, StoreError):
            raise rec
        if rec is None:
            self.stats.receipts_unmatched += 1
            log.info("receipt for unknown carrier id %r on %s", receipt.message_id, link_name)
            return
        if rec.date_updated == at and rec.status in _FINAL:
            done = receipt.done_date.strftime("%y%m%d%H%M") if receipt.done_date else None
            self._callback(rec, done)

    async def _inbound(self, link_name: str, pdu: Any) -> None:
        # Parts are keyed by addresses and reference, not by bind: the parts of one message
        # may come over different binds of the carrier (engine.reassembly).
        now = asyncio.get_running_loop().time()
        message = self.reassembler.add(pdu, now)
        await self.expire_inbound(now)
        if message is not None:
            await self._store_inbound(message, link_name)

    async def expire_inbound(self, now: float | None = None) -> None:
        """Store the multipart messages given up on (incomplete after the reassembler's
        timeout) with the parts that came, and report them (``on_incomplete``): a part
        answered to the carrier is never dropped silently."""
        if now is None:
            now = asyncio.get_running_loop().time()
        for lost in self.reassembler.expire(now):
            log.warning(
                "inbound message from %s lost parts %s (reference %s)",
                lost.source_addr,
                lost.missing,
                lost.reference,
            )
            await self._store_inbound(lost, None)

    async def _store_inbound(self, message: Any, link_name: str | None) -> None:
        from engine.aio.inbound import UNROUTED_ACCOUNT
        from engine.store.rules import MAX_BODY

        first = message.pdus[0]
        from_ = from_smpp(first.source_addr_ton, first.source_addr_npi, message.source_addr)
        to = from_smpp(first.dest_addr_ton, first.dest_addr_npi, message.destination_addr)
        number = None
        if self.directory is not None:
            number = self.directory.get_number(to)
            if number is None and to.isdigit() and len(to) >= 10:
                # A carrier that sends TON unknown with a full international number.
                number = self.directory.get_number("+" + to)
                if number is not None:
                    to = number.phone_number
        account = getattr(number, "account_sid", None) if number is not None else None
        if not account:
            # Stored under a reserved account no credentials act as: nothing is lost, and
            # no application is called.
            self.stats.inbound_unowned += 1
            log.warning("inbound message for %s, which no account owns (kept unrouted)", to)
            account, number = UNROUTED_ACCOUNT, None
        # The store refuses a NUL and more than Twilio's 1600 characters; refusing the
        # deliver_sm for that would make the carrier resend it for ever.
        body = message.text.replace("\x00", "\ufffd")
        if len(body) > MAX_BODY:
            log.warning(
                "inbound message from %s: %d characters kept of %d", from_, MAX_BODY, len(body)
            )
            body = body[:MAX_BODY]
        rec = await self.store.record_inbound(
            account, from_, to, body, num_segments=message.num_parts, link=link_name
        )
        self.stats.inbound += 1
        if not message.complete:
            if self.on_incomplete is not None:
                await _maybe_await(self.on_incomplete(rec, number, tuple(message.missing)))
            return
        if self.on_inbound is not None and number is not None:
            await _maybe_await(self.on_inbound(rec, number))


async def _maybe_await(value: Any) -> None:
    if inspect.isawaitable(value):
        await value
