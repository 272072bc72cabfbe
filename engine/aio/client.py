"""The asyncio SMPP 3.4 ESME client: :class:`EsmeClient`.

An adapter around the sans-IO :class:`engine.session.Session`: an asyncio ``Protocol`` feeds
every TCP read to ``Session.receive_data`` (the codec frames and decodes all whole PDUs of the
read in one call) and writes what the session has to send once per loop iteration (one
``transport.write`` for every PDU queued in that iteration).  One loop timer per connection
follows ``Session.next_deadline()`` for response timeouts and enquire_link.

Outcomes of :meth:`EsmeClient.submit` (the contract the caller relies on):

- the peer answered: the response PDU is returned *whatever its command_status* (check
  ``resp.command_status``; a ``generic_nack`` is returned the same way), except the throttling
  answers ESME_RTHROTTLED and ESME_RMSGQFUL, which the client handles itself (below);
- the connection dropped while the request was in flight: :class:`engine.ConnectionLostError`
  (the outcome is unknown; the request is never resent silently);
- no response within ``response_timeout``: :class:`engine.ResponseTimeoutError` (outcome
  unknown as well);
- the link was not bound within ``connect_timeout`` of the submit (or of the link going
  down): :class:`LinkDownError` -- the request was never written, so it was not delivered.

Throttling (ESME_RTHROTTLED 0x58, ESME_RMSGQFUL 0x14, SMPP 3.4 §5.1.3): the whole link
pauses for ``throttle_pause`` seconds.  During the pause nothing new is sent; the client waits
until every request still in flight is answered (or failed), then resends every throttled PDU
in the order they were first submitted, before anything queued behind them.  With a window
above 1, PDUs that were already in flight behind a throttled one and that the carrier
accepted have overtaken it; nothing else can.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import logging
import random
import ssl as _ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal

from engine._core import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    Pdu,
    RequestPdu,
)
from engine.errors import (
    BindError,
    ConnectionLostError,
    ResponseTimeoutError,
    SessionError,
    WindowFullError,
)
from engine.pdu.constants import CommandId, CommandStatus
from engine.session import Session, SessionConfig, events

__all__ = ["BindType", "EsmeClient", "LinkDownError"]

log = logging.getLogger("engine.aio.client")

BindType = Literal["transmitter", "receiver", "transceiver", "pair"]
DeliverCallback = Callable[[Pdu], Awaitable[int | None] | int | None]

_ROK = int(CommandStatus.ESME_ROK)
_THROTTLED = int(CommandStatus.ESME_RTHROTTLED)
_MSGQFUL = int(CommandStatus.ESME_RMSGQFUL)
_RX_T_APPN = int(CommandStatus.ESME_RX_T_APPN)
_BIND_IDS = frozenset(
    int(c)
    for c in (CommandId.BIND_TRANSMITTER, CommandId.BIND_RECEIVER, CommandId.BIND_TRANSCEIVER)
)
# answers that pause the whole link (SMPP 3.4 §5.1.3: throttled, message queue full)
_PAUSING = frozenset({_THROTTLED, _MSGQFUL})
# Bind answers that another attempt with the same credentials will not fix: start() raises
# them at once instead of retrying until connect_timeout.
_PERMANENT_BIND_FAILURES = frozenset(
    {
        int(CommandStatus.ESME_RINVPASWD),
        int(CommandStatus.ESME_RINVSYSID),
        int(CommandStatus.ESME_RINVSYSTYP),
    }
)

# Field limits of the bind PDUs (SMPP 3.4 §4.1.1, lengths without the terminating NUL).
_BIND_FIELD_MAX = {"system_id": 15, "password": 8, "system_type": 12, "address_range": 40}

_ResponseReceived = events.ResponseReceived
_RequestReceived = events.RequestReceived


class LinkDownError(SessionError):
    """The link was not bound within ``connect_timeout``; the request was never written.

    Unlike :class:`engine.ConnectionLostError` the outcome is known: the carrier did not get
    the PDU, so it is safe to submit it again.  Also raised by :meth:`EsmeClient.start` when
    the first bind does not succeed in time, and for PDUs still queued when the client
    closes.
    """


# ---------------------------------------------------------------------------------------
# Queue entries: one per submitted PDU.  Two kinds, so that the hot path never branches on
# the kind: a single submit() owns a future, a submit_many() batch shares one.
# ---------------------------------------------------------------------------------------


class _Entry:
    __slots__ = ("order", "pdu", "queued_at")

    order: int
    pdu: Any
    queued_at: float

    def ok(self, resp: Pdu) -> None:
        raise NotImplementedError

    def fail(self, exc: BaseException) -> None:
        raise NotImplementedError

    def abandoned(self) -> bool:
        raise NotImplementedError


class _FutureEntry(_Entry):
    __slots__ = ("fut",)

    def __init__(self, order: int, pdu: Any, queued_at: float, fut: asyncio.Future[Pdu]) -> None:
        self.order = order
        self.pdu = pdu
        self.queued_at = queued_at
        self.fut = fut

    def ok(self, resp: Pdu) -> None:
        if not self.fut.done():
            self.fut.set_result(resp)

    def fail(self, exc: BaseException) -> None:
        if not self.fut.done():
            self.fut.set_exception(exc)

    def abandoned(self) -> bool:
        return self.fut.done()


class _Batch:
    __slots__ = ("fut", "remaining", "results")

    def __init__(self, n: int, fut: asyncio.Future[list[Any]]) -> None:
        self.fut = fut
        self.remaining = n
        self.results: list[Any] = [None] * n

    def set(self, index: int, value: Any) -> None:
        self.results[index] = value
        self.remaining -= 1
        if self.remaining == 0 and not self.fut.done():
            self.fut.set_result(self.results)


class _BatchEntry(_Entry):
    __slots__ = ("batch", "index")

    def __init__(self, order: int, pdu: Any, queued_at: float, batch: _Batch, index: int) -> None:
        self.order = order
        self.pdu = pdu
        self.queued_at = queued_at
        self.batch = batch
        self.index = index

    def ok(self, resp: Pdu) -> None:
        self.batch.set(self.index, resp)

    def fail(self, exc: BaseException) -> None:
        self.batch.set(self.index, exc)

    def abandoned(self) -> bool:
        return self.batch.fut.done()


# ---------------------------------------------------------------------------------------
# The protocol: one per TCP connection.
# ---------------------------------------------------------------------------------------


class _EsmeProtocol(asyncio.Protocol):
    """Bytes in -> session events -> link; session output -> one write per iteration."""

    def __init__(self, link: _Link, session: Session) -> None:
        self.link = link
        self.client = link.client
        self.session = session
        self.loop = link.client._loop
        self.transport: asyncio.Transport | None = None
        self.flush_scheduled = False
        self.timer: asyncio.TimerHandle | None = None
        self.timer_when = 0.0
        self.reading_paused = False
        self.closed = False
        self.lost: asyncio.Future[None] = self.loop.create_future()
        # resolved by Bound/BindFailed (or the loss of the connection), and by Unbound
        self.bind_waiter: asyncio.Future[Any] = self.loop.create_future()
        self.unbind_waiter: asyncio.Future[None] | None = None
        # deliveries waiting for on_deliver, and the task that feeds them to it
        self.inbound: collections.deque[Any] = collections.deque()
        self.worker: asyncio.Task[None] | None = None

    # asyncio callbacks --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        evs = self.session.receive_data(data, self.loop.time())
        if evs:
            self.handle_events(evs)
        self.flush()

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        evs = self.session.connection_lost()
        self.link.connection_lost(self, evs, exc)
        if not self.lost.done():
            self.lost.set_result(None)

    # event dispatch --------------------------------------------------------------------

    def handle_events(self, evs: list[Any]) -> None:
        client = self.client
        link = self.link
        pop = client._inflight.pop
        pumped = False
        for ev in evs:
            t = type(ev)
            if t is _ResponseReceived:
                # inlined EsmeClient._on_response (the hot path: one per submit)
                resp = ev.response
                entry = pop(resp.sequence_number, None)
                if entry is not None:
                    status = resp.command_status
                    if status in _PAUSING:
                        client._throttled(entry)
                    else:
                        entry.ok(resp)
                pumped = True
            elif t is _RequestReceived:
                link.on_request(ev.pdu, self)
            else:
                if t is events.RequestTimedOut or t is events.RequestAborted:
                    pumped = True
                link.on_event(ev, self)
        if pumped and link.can_submit:
            client._after_responses()

    # output ---------------------------------------------------------------------------

    def schedule_flush(self) -> None:
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        self.flush_scheduled = False
        if self.closed:
            return
        data = self.session.data_to_send()
        if data:
            self.transport.write(data)  # type: ignore[union-attr]
        self.arm_timer()

    def arm_timer(self) -> None:
        # Re-arm only when the deadline moves earlier; a timer that fires early just ticks
        # and re-arms (cheaper than a new TimerHandle per read).
        when = self.session.next_deadline()
        if when is None:
            return
        if self.timer is not None:
            if when >= self.timer_when:
                return
            self.timer.cancel()
        self.timer_when = when
        self.timer = self.loop.call_at(when, self.on_timer)

    def on_timer(self) -> None:
        self.timer = None
        if self.closed:
            return
        evs = self.session.tick(self.loop.time())
        if evs:
            self.handle_events(evs)
        self.flush()

    # flow control ---------------------------------------------------------------------

    def pause_reading(self) -> None:
        if not self.reading_paused and self.transport is not None and not self.closed:
            self.reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.reading_paused and self.transport is not None and not self.closed:
            self.reading_paused = False
            self.transport.resume_reading()

    def close(self, abort: bool = False) -> None:
        if self.transport is not None and not self.closed:
            if abort:
                self.transport.abort()
            else:
                self.flush()
                self.transport.close()


# ---------------------------------------------------------------------------------------
# A link: one bind (connect, bind, rebind with back-off) over successive connections.
# ---------------------------------------------------------------------------------------


class _Link:
    def __init__(self, client: EsmeClient, bind_cls: type, name: str) -> None:
        self.client = client
        self.bind_cls = bind_cls
        self.name = name
        self.can_submit = bind_cls is not BindReceiver
        self.can_receive = bind_cls is not BindTransmitter
        self.protocol: _EsmeProtocol | None = None
        self.bound = False
        self.task: asyncio.Task[None] | None = None
        self.first: asyncio.Future[None] = client._loop.create_future()
        self.binds = 0  # successful binds so far (tests and metrics read it)
        self.last_error: BaseException | None = None

    def __repr__(self) -> str:
        return f"<_Link {self.name} bound={self.bound}>"

    # the connect / bind / rebind loop --------------------------------------------------

    async def run(self) -> None:
        client = self.client
        attempt = 0
        while not client._closing:
            proto: _EsmeProtocol | None = None
            try:
                proto = await self._connect_and_bind()
            except BindError as exc:
                self.last_error = exc
                if not self.first.done() and exc.command_status in _PERMANENT_BIND_FAILURES:
                    self.first.set_exception(exc)
                    return
                log.warning("%s: bind refused: %s", self.name, exc)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # OSError, TimeoutError, ConnectionLostError, TLS...
                # Whatever went wrong, the link must come back: never let this task die.
                self.last_error = exc
                log.warning("%s: connect/bind failed: %r", self.name, exc)
            if proto is not None:
                attempt = 0
                self.binds += 1
                if not self.first.done():
                    self.first.set_result(None)
                await proto.lost
                if client._closing or not client.rebind:
                    return
            delay = backoff_delay(
                attempt, client.backoff_initial, client.backoff_max, random.random()
            )
            attempt += 1
            log.info("%s: rebinding in %.2f s", self.name, delay)
            assert client._closed_event is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(client._closed_event.wait(), delay)

    async def _connect_and_bind(self) -> _EsmeProtocol:
        client = self.client
        loop = client._loop
        session = Session("esme", client._session_config, now=loop.time())
        kwargs: dict[str, Any] = {}
        if client.ssl is not None:
            kwargs["ssl"] = client.ssl
            kwargs["server_hostname"] = client.host
        _, proto = await asyncio.wait_for(
            loop.create_connection(
                lambda: _EsmeProtocol(self, session), client.host, client.port, **kwargs
            ),
            client.connect_timeout,
        )
        assert isinstance(proto, _EsmeProtocol)
        self.protocol = proto
        bind = self.bind_cls(
            system_id=client.system_id,
            password=client._password,
            system_type=client.system_type,
            interface_version=client.interface_version,
            address_range=client.address_range,
        )
        session.send_request(bind, loop.time())
        proto.flush()
        # The session times the bind out after response_timeout (RequestTimedOut resolves
        # the waiter); the wait_for is only a guard against a bug leaving it unresolved.
        try:
            result = await asyncio.wait_for(
                asyncio.shield(proto.bind_waiter), client.response_timeout + 5.0
            )
        except TimeoutError:
            proto.close(abort=True)
            raise
        if isinstance(result, BaseException):
            proto.close(abort=not isinstance(result, BindError))
            raise result
        if proto.closed:
            raise ConnectionLostError("connection lost right after the bind")
        self.bound = True
        log.info("%s: bound to %s:%s", self.name, client.host, client.port)
        client._link_up(self)
        return proto

    # events ----------------------------------------------------------------------------

    def on_event(self, ev: Any, proto: _EsmeProtocol) -> None:
        t = type(ev)
        client = self.client
        if t is events.RequestTimedOut:
            if ev.request.command_id in _BIND_IDS:
                if not proto.bind_waiter.done():
                    proto.bind_waiter.set_result(
                        TimeoutError(f"no bind response within {client.response_timeout} s")
                    )
            else:
                client._on_failed(ev.request, ResponseTimeoutError)
        elif t is events.RequestAborted:
            client._on_failed(ev.request, ConnectionLostError)
        elif t is events.Bound:
            if not proto.bind_waiter.done():
                proto.bind_waiter.set_result(ev.response)
        elif t is events.BindFailed:
            status = ev.response.command_status
            err = BindError(
                f"{self.name} bind refused with command_status 0x{status:08X}"
                f" ({_status_name(status)})",
                command_status=status,
            )
            if not proto.bind_waiter.done():
                proto.bind_waiter.set_result(err)
        elif t is events.Unbound:
            if proto.unbind_waiter is not None and not proto.unbind_waiter.done():
                proto.unbind_waiter.set_result(None)
            proto.close()
        elif t is events.UnbindReceived:
            log.info("%s: the peer unbound; closing", self.name)
            proto.close()
        elif t is events.PeerDead:
            log.warning("%s: peer dead (%s); closing", self.name, ev.reason)
            proto.close(abort=True)
        elif t is events.ProtocolError:
            log.warning("%s: protocol error from the peer: %s", self.name, ev.error)

    def on_request(self, pdu: Any, proto: _EsmeProtocol) -> None:
        """deliver_sm / data_sm / alert_notification from the carrier."""
        if pdu.response_class is None:  # alert_notification: no response (§4.12)
            log.info("%s: %s received", self.name, pdu.command_name)
            return
        cb = self.client.on_deliver
        if cb is None:
            proto.session.send_response(pdu.make_response())
            proto.schedule_flush()
            return
        proto.inbound.append(pdu)
        if len(proto.inbound) >= self.client.max_inbound_queue:
            proto.pause_reading()
        if proto.worker is None or proto.worker.done():
            proto.worker = self.client._loop.create_task(self._deliver_worker(proto))
            workers = self.client._workers
            workers.add(proto.worker)
            proto.worker.add_done_callback(workers.discard)

    async def _deliver_worker(self, proto: _EsmeProtocol) -> None:
        # One worker per connection: responses go back in arrival order.
        cb = self.client.on_deliver
        assert cb is not None
        inbound = proto.inbound  # per connection: a new one after a rebind starts afresh
        low = max(1, self.client.max_inbound_queue // 2)
        while inbound:
            pdu = inbound.popleft()
            try:
                status = cb(pdu)
                if inspect.isawaitable(status):
                    status = await status
                status = _ROK if status is None else int(status)
            except Exception:
                # The carrier keeps the message and retries on a temporary error (§5.1.3).
                log.exception("%s: on_deliver raised; answering ESME_RX_T_APPN", self.name)
                status = _RX_T_APPN
            if proto.closed:
                # The response cannot reach the carrier; it will deliver again (its outcome
                # for it is "no response").  Drop what else was read on that connection.
                inbound.clear()
                return
            try:
                proto.session.send_response(pdu.make_response(command_status=status))
            except SessionError as exc:
                log.warning("%s: deliver response not sent: %s", self.name, exc)
            proto.schedule_flush()
            if len(inbound) <= low:
                proto.resume_reading()

    def connection_lost(self, proto: _EsmeProtocol, evs: list[Any], exc: Exception | None) -> None:
        # Only the link's current connection counts (an aborted earlier attempt may report
        # its loss late).
        was_bound = False
        if self.protocol is proto:
            was_bound = self.bound
            self.bound = False
            self.protocol = None
        if not proto.bind_waiter.done():
            proto.bind_waiter.set_result(ConnectionLostError("connection lost during bind"))
        if proto.unbind_waiter is not None and not proto.unbind_waiter.done():
            proto.unbind_waiter.set_result(None)
        for ev in evs:
            self.on_event(ev, proto)
        if was_bound:
            if not self.client._closing:
                log.warning("%s: connection lost: %r", self.name, exc)
            self.client._link_down(self)


# ---------------------------------------------------------------------------------------
# The client.
# ---------------------------------------------------------------------------------------


class EsmeClient:
    """An SMPP 3.4 ESME (the application side of a carrier bind), for asyncio.

    ``bind_type`` is ``"transmitter"``, ``"receiver"``, ``"transceiver"`` or ``"pair"`` (a
    transmitter and a receiver bind, two connections, as one client).  Use it as
    ``async with EsmeClient(...) as client:`` or call :meth:`start` / :meth:`close`.

    ``window`` requests may be in flight at once; :meth:`submit` waits for a slot.
    ``on_deliver(pdu)`` (sync or async) gets every deliver_sm and data_sm from the carrier;
    its return value (a command_status, ``None`` meaning 0) goes back in the response; if it
    raises, the client answers ESME_RX_T_APPN so that the carrier retries.  Without
    ``on_deliver`` every deliver_sm is acknowledged with status 0.  Reading from the carrier
    pauses while ``max_inbound_queue`` deliveries wait for ``on_deliver``.

    After any failure (connect error, bind refused, connection lost, dead peer) the client
    rebinds by itself with exponential back-off (``backoff_initial`` doubling up to
    ``backoff_max``) and jitter, unless ``rebind`` is false.  ``max_rate`` caps the PDUs per
    second written on the transmitting link.  ``ssl`` is an :class:`ssl.SSLContext` for TLS.
    ``connect_timeout`` bounds how long :meth:`start` and queued submits wait for a bound
    link.  See the module docstring for the outcomes of a submit and throttling.

    Example::

        async def on_deliver(pdu):
            print(pdu.source_addr, pdu.short_message)
            return 0  # ESME_ROK

        async with EsmeClient("smsc.example", 2775, system_id="acme", password="s3cret",
                              window=64, on_deliver=on_deliver) as client:
            resp = await client.submit(SubmitSm(source_addr="15005550006",
                                                destination_addr="15005550100",
                                                registered_delivery=1,
                                                short_message=b"hello"))
            if resp.command_status == 0:
                print("accepted as", resp.message_id)
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        system_id: str,
        password: str,
        bind_type: BindType = "transceiver",
        window: int = 10,
        on_deliver: DeliverCallback | None = None,
        system_type: str = "",
        address_range: str = "",
        interface_version: int = 0x34,
        ssl: _ssl.SSLContext | None = None,
        rebind: bool = True,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        throttle_pause: float = 1.0,
        max_rate: float | None = None,
        response_timeout: float = 30.0,
        enquire_link_interval: float | None = 30.0,
        close_grace: float = 5.0,
        max_inbound_queue: int = 1000,
        connect_timeout: float = 30.0,
        enquire_link_timeout: float = 10.0,
    ) -> None:
        if bind_type not in ("transmitter", "receiver", "transceiver", "pair"):
            raise ValueError(
                f"bind_type: expected 'transmitter', 'receiver', 'transceiver' or 'pair',"
                f" got {bind_type!r}"
            )
        for name, value in (
            ("system_id", system_id),
            ("password", password),
            ("system_type", system_type),
            ("address_range", address_range),
        ):
            if not isinstance(value, str):
                raise TypeError(f"{name}: expected str, got {type(value).__name__}")
            if len(value) > _BIND_FIELD_MAX[name]:
                raise ValueError(
                    f"{name}: at most {_BIND_FIELD_MAX[name]} characters in SMPP 3.4 (§4.1.1),"
                    f" got {len(value)}"
                )
        if not 0 <= interface_version <= 0xFF:
            raise ValueError(f"interface_version: expected 0..255, got {interface_version}")
        if not isinstance(window, int) or window < 1:
            raise ValueError(f"window: expected an int >= 1, got {window!r}")
        if max_inbound_queue < 1:
            raise ValueError(f"max_inbound_queue: expected >= 1, got {max_inbound_queue}")
        if max_rate is not None and max_rate <= 0:
            raise ValueError(f"max_rate: expected > 0 or None, got {max_rate}")
        for name, fvalue in (
            ("backoff_initial", backoff_initial),
            ("backoff_max", backoff_max),
            ("response_timeout", response_timeout),
            ("connect_timeout", connect_timeout),
            ("enquire_link_timeout", enquire_link_timeout),
        ):
            if not fvalue > 0:
                raise ValueError(f"{name}: expected > 0, got {fvalue}")
        for name, fvalue in (("throttle_pause", throttle_pause), ("close_grace", close_grace)):
            if not fvalue >= 0:
                raise ValueError(f"{name}: expected >= 0, got {fvalue}")
        if enquire_link_interval is not None and not enquire_link_interval > 0:
            raise ValueError(
                f"enquire_link_interval: expected > 0 or None, got {enquire_link_interval}"
            )
        self.host = host
        self.port = port
        self.system_id = system_id
        self._password = password  # never in repr or logs
        self.bind_type = bind_type
        self.window = window
        self.on_deliver = on_deliver
        self.system_type = system_type
        self.address_range = address_range
        self.interface_version = interface_version
        self.ssl = ssl
        self.rebind = rebind
        self.backoff_initial = backoff_initial
        self.backoff_max = max(backoff_max, backoff_initial)
        self.throttle_pause = throttle_pause
        self.max_rate = max_rate
        self.response_timeout = response_timeout
        self.enquire_link_interval = enquire_link_interval
        self.close_grace = close_grace
        self.max_inbound_queue = max_inbound_queue
        self.connect_timeout = connect_timeout
        self._session_config = SessionConfig(
            window=window,
            response_timeout=response_timeout,
            enquire_link_interval=enquire_link_interval,
            enquire_link_timeout=enquire_link_timeout,
        )
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self._links: list[_Link] = []
        self._tx: _Link | None = None
        self._started = False
        self._closing = False
        self._close_started = False
        self._closed_event: asyncio.Event | None = None  # type: ignore[assignment]
        self._queue: collections.deque[_Entry] = collections.deque()
        self._inflight: dict[int, _Entry] = {}
        self._order = 0
        # throttling
        self._paused = False
        self._pause_until = 0.0
        self._held: list[_Entry] = []
        self._resume_handle: asyncio.TimerHandle | None = None
        # max_rate (GCRA: theoretical arrival time of the next PDU)
        self._interval = 1.0 / max_rate if max_rate else 0.0
        self._tat = 0.0
        self._rate_handle: asyncio.TimerHandle | None = None
        # link-down expiry of queued submits
        self._down_since: float | None = 0.0
        self._expire_handle: asyncio.TimerHandle | None = None
        self._idle: asyncio.Event | None = None
        # the transmitting link's protocol while submit() may write at once (see _update_fast)
        self._fast: _EsmeProtocol | None = None
        self._workers: set[asyncio.Task[None]] = set()  # on_deliver feeders, per connection
        #: counters (read by tests and metrics)
        self.throttled_count = 0
        self.sent_count = 0

    def __repr__(self) -> str:
        state = "closed" if self._closing else ("bound" if self.bound else "unbound")
        return (
            f"<EsmeClient {self.system_id!r}@{self.host}:{self.port} {self.bind_type}"
            f" window={self.window} {state}>"
        )

    # lifecycle -------------------------------------------------------------------------

    @property
    def bound(self) -> bool:
        """True when every link of this client is bound right now."""
        return bool(self._links) and all(link.bound for link in self._links)

    @property
    def binds(self) -> int:
        """Successful binds so far, over all links (rebinds included)."""
        return sum(link.binds for link in self._links)

    @property
    def in_flight(self) -> int:
        """Requests written and not yet answered."""
        return len(self._inflight)

    @property
    def queued(self) -> int:
        """Submits waiting for the link, a window slot, the rate limit or a throttle pause."""
        return len(self._queue) + len(self._held)

    async def start(self) -> None:
        """Connect and bind every link; return once all are bound.

        Raises :class:`engine.BindError` when the carrier refuses the credentials, and
        :class:`LinkDownError` when a link is not bound within ``connect_timeout``.
        """
        if self._started:
            raise SessionError("EsmeClient.start: already started")
        self._started = True
        self._loop = asyncio.get_running_loop()
        self._closed_event = asyncio.Event()
        self._idle = asyncio.Event()
        self._down_since = self._loop.time()
        if self.bind_type == "pair":
            specs = [(BindTransmitter, "tx"), (BindReceiver, "rx")]
        else:
            cls = {
                "transmitter": BindTransmitter,
                "receiver": BindReceiver,
                "transceiver": BindTransceiver,
            }[self.bind_type]
            specs = [(cls, self.bind_type)]
        self._links = [_Link(self, cls, f"{self.system_id}/{name}") for cls, name in specs]
        for link in self._links:
            if link.can_submit:
                self._tx = link
            link.task = self._loop.create_task(link.run())
        try:
            await asyncio.wait_for(
                asyncio.gather(*(asyncio.shield(link.first) for link in self._links)),
                self.connect_timeout,
            )
        except TimeoutError:
            errors = [repr(link.last_error) for link in self._links if link.last_error]
            await self._abort()
            raise LinkDownError(
                f"EsmeClient.start: not bound to {self.host}:{self.port} within"
                f" connect_timeout={self.connect_timeout} s"
                + (f" (last error: {'; '.join(errors)})" if errors else "")
            ) from None
        except BaseException:
            await self._abort()
            raise

    async def _abort(self) -> None:
        self._closing = True
        self._fast = None
        for handle in (self._rate_handle, self._resume_handle, self._expire_handle):
            if handle is not None:
                handle.cancel()
        self._rate_handle = self._resume_handle = self._expire_handle = None
        if self._closed_event is not None:
            self._closed_event.set()
        for link in self._links:
            if link.protocol is not None:
                link.protocol.close(abort=True)
            if link.task is not None:
                link.task.cancel()
        for task in list(self._workers):
            task.cancel()  # an on_deliver still running: its response could not be sent
        for task in [*self._workers, *(link.task for link in self._links if link.task)]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            if not link.first.done():
                link.first.cancel()
            elif not link.first.cancelled():
                link.first.exception()  # retrieved: no "never retrieved" log
        self._fail_queued("client closed")

    async def close(self) -> None:
        """Graceful close: finish what is queued and in flight (up to ``close_grace``
        seconds), unbind, close.  What is left then fails: queued PDUs with
        :class:`LinkDownError` (never sent), in-flight ones with ConnectionLostError."""
        if not self._started or self._close_started:
            return
        self._close_started = True
        loop = self._loop
        deadline = loop.time() + self.close_grace
        self._closing = True  # no new submits; no rebinds
        self._fast = None
        assert self._idle is not None
        busy = self._queue or self._inflight or self._held
        if busy and self._tx is not None and self._tx.bound:
            self._idle.clear()
            self._check_idle()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), max(0.0, deadline - loop.time()))
        self._fail_queued("client closed")
        waits = []
        for link in self._links:
            proto = link.protocol
            if proto is not None and link.bound and not proto.closed:
                proto.unbind_waiter = loop.create_future()
                try:
                    proto.session.unbind(loop.time())
                except SessionError:
                    continue
                proto.flush()
                waits.append(proto.unbind_waiter)
        if waits:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.gather(*waits), max(0.05, deadline - loop.time()))
        await self._abort()

    async def __aenter__(self) -> EsmeClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # submitting ------------------------------------------------------------------------

    def _check_submit(self) -> None:
        if not self._started:
            raise SessionError("EsmeClient: call start() (or use async with) before submit")
        if self._closing:
            raise SessionError("EsmeClient: closed; no new submits")
        if self._tx is None:
            raise SessionError("EsmeClient: a receiver bind cannot send requests")

    async def submit(self, pdu: RequestPdu) -> Any:
        """Send one request (submit_sm, data_sm, query_sm, ...) and return its response.

        The result is the response PDU: its class matches the request (SubmitSmResp for
        submit_sm, ...) or is GenericNack.  Waits for a window slot.  The PDU's
        ``sequence_number`` is assigned by the session (do not share one PDU object
        between concurrent submits).  See the module docstring for errors and throttling.
        """
        proto = self._fast
        loop = self._loop
        # len(_inflight) is the session's outstanding count: the session's own enquire_link
        # is outside the window, and bind/unbind are never in flight while submits are.
        if proto is not None and not self._queue and len(self._inflight) < self.window:
            # Fast path: bound, not paused, no rate limit, nothing queued, a slot free.
            now = loop.time()
            try:
                seq = proto.session.send_request(pdu, now)  # EncodeError: nothing was sent
            except WindowFullError:
                pass  # the session counts something we do not: take the queued path
            else:
                fut: asyncio.Future[Any] = loop.create_future()
                self._order += 1
                self._inflight[seq] = _FutureEntry(self._order, pdu, now, fut)
                self.sent_count += 1
                if not proto.flush_scheduled:
                    proto.flush_scheduled = True
                    loop.call_soon(proto.flush)
                return await fut
        self._check_submit()
        fut = loop.create_future()
        self._order += 1
        self._queue.append(_FutureEntry(self._order, pdu, loop.time(), fut))
        self._pump()
        return await fut

    async def submit_many(self, pdus: Iterable[RequestPdu]) -> list[Any]:
        """Send several requests in order, through the window; return, in the same order,
        each one's response or the exception that ended it (as ``submit`` would raise)."""
        self._check_submit()
        loop = self._loop
        now = loop.time()
        items = list(pdus)
        fut: asyncio.Future[list[Any]] = loop.create_future()
        if not items:
            return []
        batch = _Batch(len(items), fut)
        order = self._order
        append = self._queue.append
        for i, pdu in enumerate(items):
            order += 1
            append(_BatchEntry(order, pdu, now, batch, i))
        self._order = order
        self._pump()
        return await fut

    # the pump: queue -> session, as the window, the rate and throttling allow -----------

    def _pump(self) -> None:
        link = self._tx
        if self._paused or link is None or not link.bound:
            if link is not None and not link.bound and self._queue:
                self._arm_expiry()
            return
        queue = self._queue
        if not queue:
            return
        proto = link.protocol
        assert proto is not None
        session = proto.session
        free = session.window_free
        if free <= 0:
            return
        inflight = self._inflight
        now = self._loop.time()
        interval = self._interval
        sent = 0
        while free > 0 and queue:
            if interval:
                tat = self._tat
                if tat > now:
                    if self._rate_handle is None:
                        self._rate_handle = self._loop.call_at(tat, self._rate_wakeup)
                    break
                self._tat = (tat if tat > now - interval else now) + interval
            entry = queue.popleft()
            if entry.abandoned():
                continue
            try:
                seq = session.send_request(entry.pdu, now)
            except WindowFullError:
                queue.appendleft(entry)  # wait for a response to free a slot
                break
            except Exception as exc:  # SessionError, EncodeError, ...: this PDU only
                entry.fail(exc)
                continue
            inflight[seq] = entry
            free -= 1
            sent += 1
        if sent:
            self.sent_count += sent
            proto.schedule_flush()

    def _rate_wakeup(self) -> None:
        self._rate_handle = None
        self._pump()

    def _on_response(self, resp: Pdu) -> None:
        entry = self._inflight.pop(resp.sequence_number, None)
        if entry is None:
            return  # our bind/unbind/enquire_link, or a late one the session let through
        status = resp.command_status
        if status in _PAUSING:
            self._throttled(entry)
        else:
            entry.ok(resp)

    def _on_failed(self, request: Any, exc_type: type[Exception]) -> None:
        entry = self._inflight.pop(request.sequence_number, None)
        if entry is None:
            return
        if exc_type is ResponseTimeoutError:
            msg = (
                f"no response to {request.command_name} seq={request.sequence_number}"
                f" within {self.response_timeout} s; outcome unknown"
            )
        else:
            msg = (
                f"connection lost with {request.command_name} seq={request.sequence_number}"
                " in flight; outcome unknown (not resent)"
            )
        entry.fail(exc_type(msg))

    def _after_responses(self) -> None:
        if self._paused:
            if not self._inflight and self._loop.time() >= self._pause_until:
                self._resume()
        else:
            self._pump()
        if self._closing:
            self._check_idle()

    def _check_idle(self) -> None:
        if not self._queue and not self._inflight and not self._held and self._idle is not None:
            self._idle.set()

    # throttling ------------------------------------------------------------------------

    def _throttled(self, entry: _Entry) -> None:
        self.throttled_count += 1
        self._held.append(entry)
        until = self._loop.time() + self.throttle_pause
        if until > self._pause_until:
            self._pause_until = until
        if not self._paused:
            self._paused = True
            self._fast = None
            log.info("link throttled by the carrier; pausing %.2f s", self.throttle_pause)
        if self._resume_handle is not None:
            self._resume_handle.cancel()
        self._resume_handle = self._loop.call_at(self._pause_until, self._resume_timer)

    def _resume_timer(self) -> None:
        self._resume_handle = None
        if self._paused and not self._inflight:
            self._resume()
        # else: the last in-flight response resumes (see _after_responses)

    def _requeue_held(self) -> None:
        if self._held:
            self._held.sort(key=_order_key)
            self._queue.extendleft(reversed(self._held))
            self._held = []

    def _resume(self) -> None:
        self._paused = False
        self._update_fast()
        if self._resume_handle is not None:
            self._resume_handle.cancel()
            self._resume_handle = None
        self._requeue_held()
        self._pump()

    # link up / down ---------------------------------------------------------------------

    def _update_fast(self) -> None:
        link = self._tx
        ok = (
            link is not None
            and link.bound
            and link.protocol is not None
            and not self._paused
            and not self._closing
            and not self._interval
        )
        self._fast = link.protocol if ok and link is not None else None

    def _link_up(self, link: _Link) -> None:
        if link is self._tx:
            self._update_fast()
            self._down_since = None
            if self._expire_handle is not None:
                self._expire_handle.cancel()
                self._expire_handle = None
            self._pump()

    def _link_down(self, link: _Link) -> None:
        if link is not self._tx:
            return
        self._fast = None
        # Every request in flight was failed through RequestAborted; anything the session
        # did not report is failed here, so that nothing is dropped silently.
        if self._inflight:
            leftover = list(self._inflight.values())
            self._inflight.clear()
            for entry in leftover:
                entry.fail(
                    ConnectionLostError(
                        "connection lost with the request in flight; outcome unknown"
                    )
                )
        # Throttled PDUs were refused by the carrier: resending them is not a duplicate.
        self._paused = False
        if self._resume_handle is not None:
            self._resume_handle.cancel()
            self._resume_handle = None
        self._requeue_held()
        self._down_since = self._loop.time()
        if not self.rebind and not self._closing:
            self._closing = True
            assert self._closed_event is not None
            self._closed_event.set()
            self._fail_queued("connection lost and rebind=False")
        elif self._queue:
            self._arm_expiry()
        if self._closing:
            self._check_idle()

    def _arm_expiry(self) -> None:
        if self._expire_handle is not None or not self._queue or self._down_since is None:
            return
        first = self._queue[0]
        when = max(first.queued_at, self._down_since) + self.connect_timeout
        self._expire_handle = self._loop.call_at(when, self._expire)

    def _expire(self) -> None:
        self._expire_handle = None
        if self._down_since is None:
            return
        now = self._loop.time()
        queue = self._queue
        while queue and max(queue[0].queued_at, self._down_since) + self.connect_timeout <= now:
            entry = queue.popleft()
            entry.fail(
                LinkDownError(
                    f"link to {self.host}:{self.port} not bound within"
                    f" connect_timeout={self.connect_timeout} s; the PDU was not sent"
                )
            )
        self._arm_expiry()

    def _fail_queued(self, why: str) -> None:
        self._requeue_held()
        queue = self._queue
        while queue:
            queue.popleft().fail(LinkDownError(f"{why}; the PDU was not sent"))
        if self._inflight and all(link.protocol is None for link in self._links):
            leftover = list(self._inflight.values())
            self._inflight.clear()
            for entry in leftover:
                entry.fail(ConnectionLostError(f"{why}: outcome unknown"))


def backoff_delay(attempt: int, initial: float, maximum: float, u: float) -> float:
    """Seconds to wait before rebind attempt ``attempt`` (0 for the first after a failure).

    Exponential back-off with "equal jitter": the step doubles from ``initial`` up to
    ``maximum``; half of it is fixed and half is ``u`` (uniform in [0, 1)) times the other
    half, so that many clients dropped at once do not come back in step.
    """
    step = min(maximum, initial * (2.0 ** min(attempt, 60)))
    return step / 2.0 + u * step / 2.0


def _order_key(entry: _Entry) -> int:
    return entry.order


def _status_name(status: int) -> str:
    try:
        return CommandStatus(status).name
    except ValueError:
        return "unknown status"
