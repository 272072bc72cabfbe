"""The simulated carrier: an SMSC on :class:`engine.SmscServer` for demos, tests and benches.

It acknowledges every submit_sm (and data_sm, submit_multi) with a unique message id, sends
a delivery receipt after ``receipt_delay`` seconds when the submit asked for one (by the
outcome rule of :mod:`engine.sim.rules`), records what it received, injects inbound
messages (single and multipart, parts in any order) and has fault switches that tests flip
at run time (:class:`Faults`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import os
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from engine._core import DeliverSm, Pdu
from engine.aio.server import SmscConnection, SmscHandler, SmscServer
from engine.errors import SessionError, SmppError
from engine.pdu.constants import CommandStatus, EsmClass
from engine.receipts import build_receipt_text
from engine.session import SessionConfig
from engine.sim.rules import outcome_for
from engine.text import build_deliver_sms, decode_text

__all__ = ["Faults", "SimCarrier", "SubmitRecord"]

log = logging.getLogger("engine.sim")

_ROK = int(CommandStatus.ESME_ROK)
_THROTTLED = int(CommandStatus.ESME_RTHROTTLED)
_RSYSERR = int(CommandStatus.ESME_RSYSERR)
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
        c._conn_ranges[conn] = _compile_range(rng)
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


def _compile_range(address_range: str) -> re.Pattern[str] | None:
    if not address_range:
        return None
    try:
        return re.compile(address_range)
    except re.error:
        # SMPP 3.4 §4.1.1 calls it a regular expression but many ESMEs send a plain prefix.
        return re.compile(re.escape(address_range) + ".*")


class SimCarrier:
    """A simulated SMSC (see the module docstring and :mod:`engine.sim.rules`).

    ``credentials``: system_id -> password (``None``: any bind is accepted).
    ``receipt_delay``: seconds between the submit and its receipt (``None``: no receipts).
    ``routes``: destination number (or regular expression) -> system_id for :meth:`inject`;
    without a route, the bind whose address_range matches the number serves it, else the
    only system_id bound.  ``record``: keep every received request in :attr:`received`
    (at most ``max_records``; benchmarks turn it off).
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
        session_config: SessionConfig | None = None,
        ssl: Any = None,
        seed: int | None = None,
        faults: Faults | None = None,
    ) -> None:
        if receipt_delay is not None and receipt_delay < 0:
            raise ValueError(f"receipt_delay: expected >= 0 or None, got {receipt_delay}")
        self.receipt_delay = receipt_delay
        self.routes = dict(routes or {})
        self.record = record
        self.received: collections.deque[SubmitRecord] = collections.deque(maxlen=max_records)
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
        self._conn_ranges: dict[Any, re.Pattern[str] | None] = {}
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

    def _accept(self, conn: SmscConnection, pdu: Any) -> str:
        mid = f"{self._prefix}{next(self._ids):010X}"
        self.accepted += 1
        if self.record:
            self.received.append(SubmitRecord(conn.system_id or "", pdu, mid, _ROK))
        if (
            self.receipt_delay is not None
            and pdu.registered_delivery & 0x03
            and hasattr(pdu, "destination_addr")  # submit_multi: no receipts (not simulated)
        ):
            self._schedule_receipt(conn.system_id or "", pdu, mid)
        return mid

    def _refuse(self, conn: SmscConnection, pdu: Any, status: int) -> int:
        if self.record:
            self.received.append(SubmitRecord(conn.system_id or "", pdu, "", status))
        return status

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

    async def _accept_later(self, conn: SmscConnection, pdu: Any, delay: float) -> str:
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
            ).encode("ascii"),
            receipted_message_id=message_id,
            message_state=int(outcome.state),
        )
        self._spawn(self._send_receipt(system_id, receipt))

    async def _send_receipt(self, system_id: str, receipt: DeliverSm) -> None:
        if self.receipt_delay:
            await asyncio.sleep(self.receipt_delay)
        for attempt in range(5):
            try:
                resp = await self.server.deliver(system_id, receipt)
            except (TimeoutError, SmppError, ConnectionError) as exc:
                log.info("receipt to %s not delivered (%s); retry %d", system_id, exc, attempt)
                await asyncio.sleep(self.receipt_retry_interval)
                continue
            if resp.command_status:  # the ESME refused it (e.g. ESME_RX_T_APPN): retry
                await asyncio.sleep(self.receipt_retry_interval)
                continue
            self.receipts_sent += 1
            return
        self.receipts_failed += 1
        log.warning("receipt %s to %s dropped after 5 attempts", receipt, system_id)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # inbound (MO) ----------------------------------------------------------------------

    def route(self, destination_addr: str) -> tuple[str | None, SmscConnection | None]:
        """Which system_id (or which bound connection) serves ``destination_addr``."""
        if destination_addr in self.routes:
            return self.routes[destination_addr], None
        for pattern, system_id in self.routes.items():
            with contextlib.suppress(re.error):
                if re.fullmatch(pattern, destination_addr):
                    return system_id, None
        for conn, rng in list(self._conn_ranges.items()):
            if rng is not None and rng.fullmatch(destination_addr) and _can_receive(conn):
                return conn.system_id, conn
        system_ids = {c.system_id for c in self.server.connections() if _can_receive(c)}
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
