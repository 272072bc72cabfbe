"""The simulated carrier: an SMSC on :class:`engine.SmscServer` for demos, tests and benches.

It acknowledges every submit_sm (and data_sm, submit_multi) with a unique message id, sends
a delivery receipt after ``receipt_delay`` seconds when the submit asked for one (by the
outcome rule of :mod:`engine.sim.rules`), records what it received, injects inbound
messages (single and multipart, parts in any order) and has fault switches that tests flip
at run time (:class:`Faults`).

Everything it holds is bounded: receipts waiting to leave (``max_pending_receipts`` per
system_id; beyond it submits asking for a receipt get ESME_RMSGQFUL, the back-pressure of
an ESME that does not take its receipts), the records (by count and by bytes), and a bind's
``address_range`` is matched without backtracking and only within what the operator allows
it (``allowed_ranges``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import itertools
import logging
import os
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from engine._core import DeliverSm, Pdu
from engine.aio.server import SmscConnection, SmscHandler, SmscServer
from engine.errors import SessionError, SmppError
from engine.pdu.constants import CommandStatus, EsmClass
from engine.receipts import build_receipt_text
from engine.session import SessionConfig
from engine.sim.address_range import AddressRange, compile_range, starts_with_any
from engine.sim.rules import outcome_for
from engine.text import build_deliver_sms, decode_text

__all__ = ["Faults", "SimCarrier", "SubmitRecord"]

log = logging.getLogger("engine.sim")

_ROK = int(CommandStatus.ESME_ROK)
_THROTTLED = int(CommandStatus.ESME_RTHROTTLED)
_RSYSERR = int(CommandStatus.ESME_RSYSERR)
_RMSGQFUL = int(CommandStatus.ESME_RMSGQFUL)
_RECORD_OVERHEAD = 200  # bytes a record costs besides its message bodies (a rough bound)
_RECEIPT_ATTEMPTS = 5  # deliveries of one receipt before it is dropped (and handed on)
_DROP_LOG_INTERVAL = 60.0  # seconds between two summary lines about dropped receipts
_RECEIPT_ESM = int(EsmClass.TYPE_DELIVERY_RECEIPT)


@dataclass
class Faults:
    """Fault switches; change the attributes of ``SimCarrier.faults`` at any time.

    - ``throttle_rate``: above this many submits per second (whole carrier) answer
      ESME_RTHROTTLED; ``throttle_fraction``: that fraction of submits at random;
      ``throttle_next``: the next N submits (deterministic, for tests).
    - ``drop_after``: abort the connection when this many more submits have arrived (the
      last one is not answered).
    - ``delay``: seconds before every submit response; ``delay_by_dest``: per
      destination_addr (responses then come back out of order).
    - ``error_status``: answer with this command_status (for ``error_fraction`` of submits).
    - ``silent``: never answer submits (response timeouts).
    """

    throttle_rate: float | None = None
    throttle_fraction: float = 0.0
    throttle_next: int = 0
    drop_after: int | None = None
    delay: float = 0.0
    delay_by_dest: dict[str, float] = field(default_factory=dict)
    error_status: int | None = None
    error_fraction: float = 1.0
    silent: bool = False
    _on: bool = field(default=False, init=False, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        # Keep a cached "any switch on" flag so that the carrier's hot path reads one bool.
        object.__setattr__(self, name, value)
        if name != "_on" and "silent" in self.__dict__:
            object.__setattr__(self, "_on", self._compute())

    def __post_init__(self) -> None:
        object.__setattr__(self, "_on", self._compute())

    def _compute(self) -> bool:
        return bool(
            self.throttle_rate
            or self.throttle_fraction
            or self.throttle_next
            or self.drop_after is not None
            or self.delay
            or self.delay_by_dest
            or self.error_status is not None
            or self.silent
        )

    def active(self) -> bool:
        """True when any switch is on (the carrier then takes its slow path).  Assign the
        attributes (``delay_by_dest`` included) rather than mutating them in place."""
        return self._on or bool(self.delay_by_dest)


class SubmitRecord:
    """One request the carrier received: who sent it, the PDU, the id and status given."""

    __slots__ = ("command_status", "message_id", "pdu", "system_id")

    def __init__(self, system_id: str, pdu: Any, message_id: str, command_status: int) -> None:
        self.system_id = system_id
        self.pdu = pdu
        self.message_id = message_id
        self.command_status = command_status

    def __repr__(self) -> str:
        return (
            f"SubmitRecord({self.system_id!r}, {self.pdu.command_name},"
            f" to={getattr(self.pdu, 'destination_addr', '')!r}, id={self.message_id!r},"
            f" status=0x{self.command_status:X})"
        )


class _SimHandler(SmscHandler):
    """The carrier's behaviour, called by :class:`engine.SmscServer`."""

    def __init__(self, carrier: SimCarrier) -> None:
        self.carrier = carrier

    def authenticate(self, bind: Any, peer: Any) -> Any:
        # The server's default: constant-time check against its credentials (if any).
        status = super().authenticate(bind, peer)
        if status == _ROK:
            self.carrier._bind_ranges[peer] = bind.address_range
        return status

    def on_bound(self, conn: SmscConnection) -> None:
        c = self.carrier
        rng = c._bind_ranges.pop(conn.peer, "")
        c._conn_ranges[conn] = c._range_for(conn.system_id or "", rng)
        c.binds += 1

    def on_unbound(self, conn: SmscConnection) -> None:
        self.carrier._conn_ranges.pop(conn, None)

    def on_submit_sm(self, conn: SmscConnection, pdu: Any) -> Any:
        c = self.carrier
        f = c.faults
        if f._on or f.delay_by_dest:
            return c._faulted(conn, pdu)
        return c._accept(conn, pdu)

    on_data_sm = on_submit_sm

    def on_submit_multi(self, conn: SmscConnection, pdu: Any) -> Any:
        return self.carrier._accept(conn, pdu)


class SimCarrier:
    """A simulated SMSC (see the module docstring and :mod:`engine.sim.rules`).

    ``credentials``: system_id -> password (``None``: any bind is accepted).
    ``receipt_delay``: seconds between the submit and its receipt (``None``: no receipts).
    ``routes``: destination number (or a pattern of :mod:`engine.sim.address_range`) ->
    system_id for :meth:`inject`; without a route, the bind whose address_range matches the
    number serves it, else the only system_id bound.

    ``allowed_ranges``: the operator's word on address ranges: system_id -> the number
    prefixes its binds may capture.  A bind's address_range then captures only numbers
    that match it *and* start with one of its system_id's prefixes (a system_id missing
    from the mapping captures nothing); ``None`` (default) lets every range capture what
    it matches.  Ranges use the safe subset of :mod:`engine.sim.address_range` (a range
    outside it captures nothing).

    ``record``: keep every received request in :attr:`received`, at most ``max_records``
    of them and about ``max_record_bytes`` of message bodies (oldest dropped first;
    benchmarks turn recording off).

    ``max_pending_receipts``: receipts per system_id scheduled and not yet delivered; while
    a system_id has that many, its submits asking for a receipt are answered
    ESME_RMSGQFUL.  A receipt that cannot be delivered after 5 attempts is counted in
    ``receipts_failed`` and handed to ``on_receipt_dropped(system_id, deliver_sm)`` (to
    keep it for the next bind), never logged PDU by PDU.

    ``distinct_bind_errors`` and ``server_options`` (any other keyword of
    :class:`engine.SmscServer`, e.g. its unbound-pool and bind-guard limits) go to the
    server; by default a wrong password and an unknown system_id both get ESME_RBINDFAIL.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: Mapping[str, str] | None = None,
        system_id: str = "SIMSMSC",
        receipt_delay: float | None = 0.0,
        routes: Mapping[str, str] | None = None,
        record: bool = True,
        max_records: int = 1_000_000,
        max_record_bytes: int = 64 * 1024 * 1024,
        allowed_ranges: Mapping[str, Sequence[str]] | None = None,
        max_pending_receipts: int = 10_000,
        on_receipt_dropped: Callable[[str, DeliverSm], Any] | None = None,
        distinct_bind_errors: bool = False,
        server_options: Mapping[str, Any] | None = None,
        session_config: SessionConfig | None = None,
        ssl: Any = None,
        seed: int | None = None,
        faults: Faults | None = None,
    ) -> None:
        if receipt_delay is not None and receipt_delay < 0:
            raise ValueError(f"receipt_delay: expected >= 0 or None, got {receipt_delay}")
        if max_record_bytes < 0 or max_pending_receipts < 0:
            raise ValueError("max_record_bytes and max_pending_receipts must be >= 0")
        self.receipt_delay = receipt_delay
        self.routes = dict(routes or {})
        self._route_patterns: list[tuple[AddressRange, str]] = []
        for pattern, target in self.routes.items():
            try:
                self._route_patterns.append((compile_range(pattern), target))
            except ValueError as exc:
                raise ValueError(f"routes[{pattern!r}]: {exc}") from None
        self.allowed_ranges = (
            {k: tuple(v) for k, v in allowed_ranges.items()} if allowed_ranges is not None else None
        )
        self.record = record
        self.received: collections.deque[SubmitRecord] = collections.deque(maxlen=max_records)
        self.max_record_bytes = max_record_bytes
        self.record_bytes = 0  # the estimated size of what :attr:`received` holds
        self.max_pending_receipts = max_pending_receipts
        self.on_receipt_dropped = on_receipt_dropped
        self.receipts_refused = 0  # submits answered ESME_RMSGQFUL: receipts could not leave
        self._pending_receipts: dict[str, int] = {}
        self._receipt_heaps: dict[str, list[tuple[float, int, DeliverSm, int]]] = {}
        self._receipt_workers: dict[str, asyncio.Task[None]] = {}
        self._receipt_wake: dict[str, asyncio.Event] = {}
        self._receipt_order = itertools.count()
        self.receipt_concurrency = 10  # receipts in flight per system_id (its binds' windows)
        self._dropped_logged_at: float | None = None
        self._dropped_since_log = 0
        self.faults = faults if faults is not None else Faults()
        self.binds = 0
        self.receipts_sent = 0
        self.receipts_failed = 0
        self.receipt_retry_interval = 1.0
        self.accepted = 0
        self._random = random.Random(seed)
        self._prefix = os.urandom(3).hex().upper()
        self._ids = itertools.count(1)
        self._bind_ranges: dict[Any, str] = {}
        self._conn_ranges: dict[Any, AddressRange | None] = {}
        self._rate_window_start = 0.0
        self._rate_count = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self.server = SmscServer(
            _SimHandler(self),
            host=host,
            port=port,
            credentials=credentials,
            system_id=system_id,
            session_config=session_config,
            ssl=ssl,
            distinct_bind_errors=distinct_bind_errors,
            **dict(server_options or {}),
        )

    def __repr__(self) -> str:
        return f"<SimCarrier port={self.port} binds={self.binds} accepted={self.accepted}>"

    # lifecycle -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port listened on (after :meth:`start`)."""
        return self.server.port

    async def start(self) -> None:
        """Listen."""
        await self.server.start()

    async def close(self) -> None:
        """Stop pending receipts and injections, close every connection and the listener."""
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.server.close()

    async def __aenter__(self) -> SimCarrier:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def connections(self, system_id: str | None = None) -> list[SmscConnection]:
        """The bound connections (of one system_id)."""
        return self.server.connections(system_id)

    # faults ----------------------------------------------------------------------------

    @property
    def _faulty(self) -> bool:
        f = self.faults
        return f._on or bool(f.delay_by_dest)

    def clear_faults(self) -> None:
        """Turn every fault switch off."""
        self.faults = Faults()

    # submits ---------------------------------------------------------------------------

    def _new_id(self) -> str:
        return f"{self._prefix}{next(self._ids):010X}"

    def _accept(self, conn: SmscConnection, pdu: Any) -> str | int:
        receipt = (
            self.receipt_delay is not None
            and pdu.registered_delivery & 0x03
            and hasattr(pdu, "destination_addr")  # submit_multi: no receipts (not simulated)
        )
        system_id = conn.system_id or ""
        if receipt and self._pending_receipts.get(system_id, 0) >= self.max_pending_receipts:
            # back-pressure: the ESME does not take its receipts; accepting more would only
            # pile them up here (SMPP 3.4 §5.1.3 ESME_RMSGQFUL: try again later)
            self.receipts_refused += 1
            return self._refuse(conn, pdu, _RMSGQFUL)
        mid = f"{self._prefix}{next(self._ids):010X}"
        self.accepted += 1
        if self.record:
            self._record(SubmitRecord(system_id, pdu, mid, _ROK))
        if receipt:
            self._schedule_receipt(system_id, pdu, mid)
        return mid

    def _refuse(self, conn: SmscConnection, pdu: Any, status: int) -> int:
        if self.record:
            self._record(SubmitRecord(conn.system_id or "", pdu, "", status))
        return status

    def _record(self, rec: SubmitRecord) -> None:
        # bounded by count (the deque's maxlen) and by bytes: the oldest go first
        received = self.received
        if len(received) == received.maxlen:
            self.record_bytes -= _record_size(received[0].pdu)
        received.append(rec)
        self.record_bytes += _record_size(rec.pdu)
        while self.record_bytes > self.max_record_bytes and received:
            self.record_bytes -= _record_size(received.popleft().pdu)

    def _faulted(self, conn: SmscConnection, pdu: Any) -> Any:
        f = self.faults
        if f.drop_after is not None:
            f.drop_after -= 1
            if f.drop_after <= 0:
                f.drop_after = None
                log.info("fault: dropping the connection of %s", conn.system_id)
                conn.abort()
                return _RSYSERR  # never written: the connection is gone
        if f.silent:
            return asyncio.get_running_loop().create_future()  # never answered
        if f.throttle_next > 0:
            f.throttle_next -= 1
            return self._refuse(conn, pdu, _THROTTLED)
        if f.throttle_fraction and self._random.random() < f.throttle_fraction:
            return self._refuse(conn, pdu, _THROTTLED)
        if f.throttle_rate:
            now = asyncio.get_running_loop().time()
            if now - self._rate_window_start >= 1.0:
                self._rate_window_start = now
                self._rate_count = 0
            self._rate_count += 1
            if self._rate_count > f.throttle_rate:
                return self._refuse(conn, pdu, _THROTTLED)
        if f.error_status is not None and self._random.random() < f.error_fraction:
            return self._refuse(conn, pdu, f.error_status)
        delay = f.delay_by_dest.get(getattr(pdu, "destination_addr", ""), f.delay)
        if delay:
            return self._accept_later(conn, pdu, delay)
        return self._accept(conn, pdu)

    async def _accept_later(self, conn: SmscConnection, pdu: Any, delay: float) -> str | int:
        await asyncio.sleep(delay)
        return self._accept(conn, pdu)

    # receipts --------------------------------------------------------------------------

    def _schedule_receipt(self, system_id: str, pdu: Any, message_id: str) -> None:
        if self._closing:
            return
        outcome = outcome_for(pdu.destination_addr)
        if outcome is None:
            return
        if pdu.registered_delivery & 0x03 == 2 and outcome.state == 2:
            return  # receipt asked for failures only (§5.2.17)
        now = datetime.now(UTC)
        receipt = DeliverSm(
            source_addr_ton=pdu.dest_addr_ton,
            source_addr_npi=pdu.dest_addr_npi,
            source_addr=pdu.destination_addr,
            dest_addr_ton=pdu.source_addr_ton,
            dest_addr_npi=pdu.source_addr_npi,
            destination_addr=pdu.source_addr,
            esm_class=_RECEIPT_ESM,
            short_message=build_receipt_text(
                message_id,
                outcome.stat,
                submit_date=now,
                done_date=now,
                err=outcome.err,
                text=_text_preview(pdu),
            ).encode("ascii", "replace"),  # the receipt text is ASCII: a UCS-2 preview gets "?"
            receipted_message_id=message_id,
            message_state=int(outcome.state),
        )
        loop = asyncio.get_running_loop()
        self._push_receipt(system_id, loop.time() + (self.receipt_delay or 0.0), receipt, 0)

    # Receipts wait in one heap per system_id (due time, order, PDU, attempts) served by one
    # worker task, with at most ``receipt_concurrency`` deliveries in flight: a pending
    # receipt costs its PDU and a heap entry, not a task of its own.

    def _push_receipt(self, system_id: str, due: float, receipt: DeliverSm, attempts: int) -> None:
        heap = self._receipt_heaps.setdefault(system_id, [])
        heapq.heappush(heap, (due, next(self._receipt_order), receipt, attempts))
        pending = self._pending_receipts
        pending[system_id] = pending.get(system_id, 0) + 1
        worker = self._receipt_workers.get(system_id)
        if worker is None or worker.done():
            wake = self._receipt_wake[system_id] = asyncio.Event()
            task = asyncio.get_running_loop().create_task(self._receipt_worker(system_id, wake))
            self._receipt_workers[system_id] = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._receipt_wake[system_id].set()

    def _receipt_done(self, system_id: str) -> None:
        pending = self._pending_receipts
        left = pending.get(system_id, 1) - 1
        if left > 0:
            pending[system_id] = left
        else:
            pending.pop(system_id, None)

    async def _receipt_worker(self, system_id: str, wake: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        heap = self._receipt_heaps[system_id]
        slots = asyncio.Semaphore(self.receipt_concurrency)
        while heap:
            wait = heap[0][0] - loop.time()
            if wait > 0:  # the earliest is not due: sleep until it is, or one comes sooner
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), wait)
                continue
            await slots.acquire()
            if not heap or heap[0][0] > loop.time():
                slots.release()
                continue
            _, _, receipt, attempts = heapq.heappop(heap)
            # still pending (counted) until _send_receipt ends with it
            self._spawn(self._send_receipt(system_id, receipt, attempts, slots))
        del self._receipt_heaps[system_id]

    async def _send_receipt(
        self, system_id: str, receipt: DeliverSm, attempts: int, slots: asyncio.Semaphore
    ) -> None:
        try:
            try:
                resp = await self.server.deliver(system_id, receipt)
            except (TimeoutError, SmppError, ConnectionError) as exc:
                log.debug("receipt to %s not delivered (%s); attempt %d", system_id, exc, attempts)
                ok = False
            else:
                ok = not resp.command_status  # refused (e.g. ESME_RX_T_APPN): try again
        finally:
            self._receipt_done(system_id)
            slots.release()
        if ok:
            self.receipts_sent += 1
        elif attempts + 1 < _RECEIPT_ATTEMPTS and not self._closing:
            due = asyncio.get_running_loop().time() + self.receipt_retry_interval
            self._push_receipt(system_id, due, receipt, attempts + 1)
        else:
            self._dropped(system_id, receipt)

    def _dropped(self, system_id: str, receipt: DeliverSm) -> None:
        # counted, handed to the hook, summarised in the log (never one line per PDU)
        self.receipts_failed += 1
        self._dropped_since_log += 1
        if self.on_receipt_dropped is not None:
            try:
                self.on_receipt_dropped(system_id, receipt)
            except Exception:
                log.exception("on_receipt_dropped failed")
        now = asyncio.get_running_loop().time()
        last = self._dropped_logged_at
        if last is None or now - last >= _DROP_LOG_INTERVAL:
            log.warning(
                "%d receipt(s) not delivered after 5 attempts (last to system_id %r);"
                " %d dropped in all",
                self._dropped_since_log,
                system_id,
                self.receipts_failed,
            )
            self._dropped_logged_at = now
            self._dropped_since_log = 0

    def pending_receipts(self, system_id: str) -> int:
        """Receipts for ``system_id`` scheduled and not yet delivered nor dropped."""
        return self._pending_receipts.get(system_id, 0)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # inbound (MO) ----------------------------------------------------------------------

    def _range_for(self, system_id: str, address_range: str) -> AddressRange | None:
        # a peer's address_range: untrusted input, parsed into a matcher that cannot
        # backtrack; a pattern outside the safe subset captures nothing
        if not address_range:
            return None
        try:
            return compile_range(address_range)
        except ValueError as exc:
            log.info("bind of %r: address_range ignored: %s", system_id, exc)
            return None

    def _allowed(self, system_id: str | None, number: str) -> bool:
        allowed = self.allowed_ranges
        if allowed is None:
            return True
        return starts_with_any(number, allowed.get(system_id or "", ()))

    def route(self, destination_addr: str) -> tuple[str | None, SmscConnection | None]:
        """Which system_id (or which bound connection) serves ``destination_addr``."""
        if destination_addr in self.routes:
            return self.routes[destination_addr], None
        for pattern, system_id in self._route_patterns:
            if pattern.matches(destination_addr):
                return system_id, None
        for conn, rng in list(self._conn_ranges.items()):
            if (
                rng is not None
                and _can_receive(conn)
                and rng.matches(destination_addr)
                and self._allowed(conn.system_id, destination_addr)
            ):
                return conn.system_id, conn
        # no range claims it: the only system_id bound (and allowed the number) serves it
        system_ids = {
            c.system_id
            for c in self.server.connections()
            if _can_receive(c) and self._allowed(c.system_id, destination_addr)
        }
        if len(system_ids) == 1:
            return system_ids.pop(), None
        return None, None

    async def inject(
        self,
        source_addr: str,
        destination_addr: str,
        text: str,
        *,
        system_id: str | None = None,
        order: Literal["forward", "reverse", "shuffle"] | Sequence[int] = "forward",
        **fields: Any,
    ) -> list[Pdu]:
        """Send an inbound message (deliver_sm, one per part) to the bind serving
        ``destination_addr`` (or to ``system_id``); parts go in ``order`` ("forward",
        "reverse", "shuffle" or a list of part indexes).  Returns the ESME's responses.
        Raises :class:`engine.SessionError` when no bind serves the number."""
        pdus = build_deliver_sms(source_addr, destination_addr, text, **fields)
        if order == "forward":
            idx = list(range(len(pdus)))
        elif order == "reverse":
            idx = list(range(len(pdus) - 1, -1, -1))
        elif order == "shuffle":
            idx = list(range(len(pdus)))
            self._random.shuffle(idx)
        else:
            idx = list(order)
            if sorted(idx) != list(range(len(pdus))):
                raise ValueError(f"order: expected a permutation of 0..{len(pdus) - 1}")
        return await self.inject_pdus([pdus[i] for i in idx], system_id=system_id)

    async def inject_pdus(self, pdus: Sequence[Any], *, system_id: str | None = None) -> list[Pdu]:
        """Send prebuilt deliver_sm/data_sm PDUs one after the other, as :meth:`inject`."""
        responses = []
        for pdu in pdus:
            conn = None
            sid = system_id
            if sid is None:
                sid, conn = self.route(pdu.destination_addr)
                if sid is None:
                    raise SessionError(f"no bind serves destination_addr {pdu.destination_addr!r}")
            if conn is not None:
                responses.append(await conn.send_request(pdu))
            else:
                responses.append(await self.server.deliver(sid, pdu))
        return responses


def _record_size(pdu: Any) -> int:
    """About what one record holds: its message bodies and a fixed overhead."""
    size = _RECORD_OVERHEAD + len(getattr(pdu, "short_message", b"") or b"")
    payload = getattr(pdu, "message_payload", None)
    return size + len(payload) if payload else size


def _can_receive(conn: Any) -> bool:
    return conn.bind_type in ("receiver", "transceiver")


def _text_preview(pdu: Any) -> str:
    """The first characters of the message, for the receipt's ``text`` field."""
    raw = getattr(pdu, "short_message", b"") or b""
    if pdu.esm_class & 0x40 and raw:  # skip the UDH
        raw = raw[1 + raw[0] :]
    try:
        return decode_text(raw, pdu.data_coding, errors="replace")[:20]
    except Exception:  # an unknown data_coding: no preview
        return ""
