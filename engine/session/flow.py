"""Flow control of an ESME's requests, sans-IO: queue, window, rate cap and throttling.

:class:`FlowControl` decides which queued request goes out when, and what a throttling
answer does; the asyncio client (:class:`engine.EsmeClient`) only carries bytes and arms
timers at the times this object returns.  Time is always an argument; nothing here
sleeps, reads a clock or does I/O, so that every step can be tested on its own against a
:class:`engine.session.Session`.

A request is an :class:`FlowEntry` (the client's entries resolve asyncio futures; tests
use plain recording ones).  Its life:

1. :meth:`FlowControl.enqueue` (refused with :class:`engine.ClientQueueFullError` beyond
   ``max_queue``);
2. :meth:`FlowControl.pump` writes it into the session when the window, the rate cap
   (``max_rate``, GCRA with a burst of one) and any throttle pause allow; it is then in
   flight under its sequence_number;
3. its response resolves it (``entry.ok``), except a throttling answer (ESME_RTHROTTLED,
   ESME_RMSGQFUL, SMPP 3.4 §5.1.3), which :meth:`FlowControl.throttled` handles according
   to who owns the back-off:

   - ``throttle="client"``: the link pauses ``throttle_pause`` seconds; the request is
     held and resent, in its original order, once the pause is over and nothing else is
     in flight; after ``max_throttle_retries`` resends it fails with
     :class:`engine.ThrottledError` (retry-safe: the carrier accepted none of them);
   - ``throttle="caller"``: the throttling response is handed back at once
     (``entry.ok(resp)``); nothing pauses, nothing is held or resent.  The caller (the
     daemon's scheduler) pauses the link itself (``engine.scheduler.Pacer.throttled``).
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any, Literal, Protocol

from engine.errors import ClientQueueFullError, ConnectionLostError, ThrottledError, WindowFullError
from engine.pdu.constants import CommandStatus

__all__ = ["PAUSING", "FlowControl", "FlowEntry", "RequestSink", "ThrottleMode"]

ThrottleMode = Literal["client", "caller"]

# answers that mean "slow down" (SMPP 3.4 §5.1.3: throttled, message queue full)
PAUSING = frozenset({int(CommandStatus.ESME_RTHROTTLED), int(CommandStatus.ESME_RMSGQFUL)})


class FlowEntry:
    """One request: waiting, in flight, or held after a throttling answer.

    ``order`` is its place in submission order (resends keep it), ``queued_at`` when it was
    queued, ``throttles`` how many throttling answers it has had.  Subclasses say how the
    outcome reaches the caller.
    """

    __slots__ = ("order", "pdu", "queued_at", "throttles")

    order: int
    pdu: Any
    queued_at: float
    throttles: int

    def ok(self, resp: Any) -> None:
        """The request's response arrived (whatever its command_status)."""
        raise NotImplementedError

    def fail(self, exc: BaseException) -> None:
        """The request ended without a response; ``exc`` says why."""
        raise NotImplementedError

    def abandoned(self) -> bool:
        """True when nobody waits for the outcome any more (a cancelled submit)."""
        raise NotImplementedError


class RequestSink(Protocol):
    """Where :meth:`FlowControl.pump` writes requests: an :class:`engine.session.Session`."""

    @property
    def window_free(self) -> int: ...

    @property
    def pending_pdus(self) -> int: ...

    def send_request(self, pdu: Any, now: float) -> int: ...


def _order_key(entry: FlowEntry) -> int:
    return entry.order


class FlowControl:
    """The flow policy of one transmitting bind (see the module docstring).

    The client reads ``queue`` and ``inflight`` directly on its hot path; everything that
    changes them otherwise goes through the methods.  Counters: ``sent_count`` (requests
    written, resends included) and ``throttled_count`` (throttling answers).
    """

    def __init__(
        self,
        *,
        max_queue: int = 100_000,
        max_rate: float | None = None,
        throttle: ThrottleMode = "client",
        throttle_pause: float = 1.0,
        max_throttle_retries: int = 5,
        early_flush: int = 16,
    ) -> None:
        if throttle not in ("client", "caller"):
            raise ValueError(f"throttle: expected 'client' or 'caller', got {throttle!r}")
        if not isinstance(max_queue, int) or max_queue < 1:
            raise ValueError(f"max_queue: expected an int >= 1, got {max_queue!r}")
        if not isinstance(max_throttle_retries, int) or max_throttle_retries < 0:
            raise ValueError(
                f"max_throttle_retries: expected an int >= 0, got {max_throttle_retries!r}"
            )
        if max_rate is not None and not max_rate > 0:
            raise ValueError(f"max_rate: expected > 0 or None, got {max_rate}")
        if not throttle_pause >= 0:
            raise ValueError(f"throttle_pause: expected >= 0, got {throttle_pause}")
        self.max_queue = max_queue
        self.throttle: ThrottleMode = throttle
        self.throttle_pause = throttle_pause
        self.max_throttle_retries = max_throttle_retries
        self.early_flush = early_flush
        self.queue: collections.deque[FlowEntry] = collections.deque()
        self.inflight: dict[int, FlowEntry] = {}
        self.held: list[FlowEntry] = []
        self.order = 0  # order of the last request taken in
        self.paused = False
        self.pause_until = 0.0
        # max_rate as GCRA: the theoretical arrival time of the next request
        self.interval = 1.0 / max_rate if max_rate else 0.0
        self.tat = 0.0
        self.sent_count = 0
        self.throttled_count = 0

    def __repr__(self) -> str:
        return (
            f"<FlowControl queued={len(self.queue)} in_flight={len(self.inflight)}"
            f" held={len(self.held)} paused={self.paused} throttle={self.throttle}>"
        )

    # queries -------------------------------------------------------------------------

    @property
    def queued(self) -> int:
        """Requests not in flight: waiting for a slot, the rate cap or a pause, or held."""
        return len(self.queue) + len(self.held)

    @property
    def idle(self) -> bool:
        """Nothing queued, held or in flight."""
        return not self.queue and not self.inflight and not self.held

    def capacity(self, window_free: int, now: float) -> int:
        """How many new requests could be written at ``now`` without waiting, given the
        session's free window slots: 0 while paused; what is queued takes slots first;
        with a rate cap at most the one the cap lets through now."""
        if self.paused:
            return 0
        free = window_free - len(self.queue)
        if free <= 0:
            return 0
        if self.interval:
            # the cap lets one request through at a time, and queued ones go first
            return 1 if self.tat <= now and not self.queue else 0
        return free

    def next_send_at(self, now: float) -> float | None:
        """When the rate cap lets the next queued request go, if that is after ``now``."""
        if self.interval and self.queue and self.tat > now:
            return self.tat
        return None

    # taking requests in ------------------------------------------------------------------

    def check_room(self, n: int) -> None:
        """Raise :class:`engine.ClientQueueFullError` unless ``n`` more requests fit."""
        if len(self.queue) + n > self.max_queue:
            raise ClientQueueFullError(
                f"EsmeClient: max_queue: {len(self.queue)} requests already wait for the"
                f" window (limit {self.max_queue}); {n} more refused, none of them sent"
            )

    def enqueue(self, entry: FlowEntry) -> None:
        """Queue ``entry`` behind everything waiting (its ``order`` is set by the caller
        from ``self.order``; see :meth:`next_order`)."""
        self.queue.append(entry)

    def next_order(self) -> int:
        """The order number of a new request."""
        self.order += 1
        return self.order

    def sent(self, seq: int, entry: FlowEntry) -> None:
        """``entry`` was written by the caller itself under ``seq`` (the client's fast
        path, which bypasses the queue when it is empty and a slot is free)."""
        self.inflight[seq] = entry
        self.sent_count += 1

    # the pump: queue -> session ------------------------------------------------------

    def pump(self, sink: RequestSink, now: float, flush: Callable[[], None] | None = None) -> int:
        """Write queued requests into ``sink`` while its window, the rate cap and any pause
        allow; return how many were written.

        ``flush`` is called whenever ``early_flush`` PDUs wait in the sink, so that the
        peer starts on half a window while the rest is built.  A request whose encoding
        fails (EncodeError, SessionError) fails alone; the others go on.  A cancelled one
        is dropped without being written.  When the rate cap holds the queue,
        :meth:`next_send_at` says until when.
        """
        queue = self.queue
        if self.paused or not queue:
            return 0
        free = sink.window_free
        if free <= 0:
            return 0
        inflight = self.inflight
        interval = self.interval
        early_flush = self.early_flush
        send = sink.send_request
        sent = 0
        while free > 0 and queue:
            if interval:
                tat = self.tat
                if tat > now:
                    break
                self.tat = (tat if tat > now - interval else now) + interval
            entry = queue.popleft()
            if entry.abandoned():
                continue
            try:
                seq = send(entry.pdu, now)
            except WindowFullError:
                queue.appendleft(entry)  # wait for a response to free a slot
                break
            except Exception as exc:  # SessionError, EncodeError, ...: this PDU only
                entry.fail(exc)
                continue
            inflight[seq] = entry
            free -= 1
            sent += 1
            if flush is not None and sink.pending_pdus >= early_flush:
                flush()
        self.sent_count += sent
        return sent

    # answers -------------------------------------------------------------------------

    def response(self, seq: int, resp: Any, now: float) -> float | None:
        """The response to request ``seq`` arrived; resolve it.  Returns what
        :meth:`throttled` returns for a throttling answer, else None.  (The client inlines
        this on its hot path.)"""
        entry = self.inflight.pop(seq, None)
        if entry is None:
            return None  # not ours (bind, enquire_link) or late
        if resp.command_status in PAUSING:
            return self.throttled(entry, resp, now)
        entry.ok(resp)
        return None

    def throttled(self, entry: FlowEntry, resp: Any, now: float) -> float | None:
        """``entry`` (already out of ``inflight``) got a throttling answer ``resp``.

        ``throttle="caller"``: the answer goes back to the caller at once; returns None.
        ``throttle="client"``: the link pauses until ``now + throttle_pause`` (or later if
        already paused longer) and the request is held for a resend, or fails with
        :class:`engine.ThrottledError` past ``max_throttle_retries``; returns the time the
        pause ends (the caller wakes :meth:`resume_due` then).
        """
        self.throttled_count += 1
        if self.throttle == "caller":
            entry.ok(resp)
            return None
        entry.throttles += 1
        if entry.throttles > self.max_throttle_retries:
            status = resp.command_status
            entry.fail(
                ThrottledError(
                    f"the carrier kept throttling: {entry.throttles} answers of"
                    f" {CommandStatus(status).name} (0x{status:08X}), max_throttle_retries="
                    f"{self.max_throttle_retries}; not accepted, safe to submit again later",
                    command_status=status,
                    attempts=entry.throttles,
                    response=resp,
                )
            )
        else:
            self.held.append(entry)
        until = now + self.throttle_pause
        if until > self.pause_until:
            self.pause_until = until
        self.paused = True
        return self.pause_until

    def failed(self, seq: int, exc: BaseException) -> bool:
        """Request ``seq`` ended without a response (timeout, connection lost): fail it
        with ``exc``.  False when it was not ours."""
        entry = self.inflight.pop(seq, None)
        if entry is None:
            return False
        entry.fail(exc)
        return True

    # pause -----------------------------------------------------------------------------

    def resume_due(self, now: float) -> bool:
        """True when a throttle pause may end: its time is up and nothing is in flight
        (so that held requests go out again before anything that was behind them)."""
        return self.paused and not self.inflight and now >= self.pause_until

    def resume(self) -> None:
        """End the pause: held requests go back to the head of the queue, in order."""
        self.paused = False
        self._requeue_held()

    def _requeue_held(self) -> None:
        if self.held:
            self.held.sort(key=_order_key)
            self.queue.extendleft(reversed(self.held))
            self.held = []

    # the link goes down, or the client closes ------------------------------------------

    def link_lost(self, why: str) -> None:
        """The connection dropped: what is in flight fails with
        :class:`engine.ConnectionLostError` (outcome unknown); the pause ends and held
        requests are queued again (the carrier refused them: resending is no duplicate)."""
        if self.inflight:
            leftover = list(self.inflight.values())
            self.inflight.clear()
            for entry in leftover:
                entry.fail(ConnectionLostError(why))
        self.paused = False
        self._requeue_held()

    def expire(
        self, now: float, since: float, timeout: float, error: Callable[[], BaseException]
    ) -> float | None:
        """Fail, with ``error()``, the queued requests that have waited ``timeout`` since
        ``max(queued_at, since)``; return when the next one would expire (None: empty)."""
        queue = self.queue
        while queue and max(queue[0].queued_at, since) + timeout <= now:
            queue.popleft().fail(error())
        if queue:
            return max(queue[0].queued_at, since) + timeout
        return None

    def fail_queued(self, error: Callable[[], BaseException]) -> None:
        """Fail every queued and held request with ``error()`` (none was accepted)."""
        self._requeue_held()
        queue = self.queue
        while queue:
            queue.popleft().fail(error())

    def fail_inflight(self, error: Callable[[], BaseException]) -> None:
        """Fail every request in flight with ``error()`` (outcome unknown)."""
        leftover = list(self.inflight.values())
        self.inflight.clear()
        for entry in leftover:
            entry.fail(error())
