"""One bind of :class:`engine.EsmeClient`: the asyncio protocol of a connection and the
connect / bind / rebind loop over successive connections (internal).

A :class:`Link` talks to the client that owns it only through :class:`LinkOwner` (what the
client implements for its links) and reads its connection parameters from one frozen
:class:`LinkSettings`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import logging
import random
import ssl as _ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine._core import BindReceiver, BindTransmitter, Pdu
from engine.aio._esme_entries import backoff_delay
from engine.errors import BindError, ConnectionLostError, ResponseTimeoutError
from engine.pdu.constants import CommandId, CommandStatus
from engine.session import Session, SessionConfig, events
from engine.session.flow import PAUSING, FlowControl, FlowEntry

__all__ = ["PAUSING", "EsmeProtocol", "Link", "LinkOwner", "LinkSettings"]

DeliverCallback = Callable[[Pdu], Awaitable[int | None] | int | None]


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """What every link of a client connects and binds with (fixed at construction)."""

    host: str
    port: int
    system_id: str
    password: str = field(repr=False)  # never in a repr or a log
    system_type: str
    interface_version: int
    address_range: str
    ssl: _ssl.SSLContext | None
    session_config: SessionConfig
    connect_timeout: float
    response_timeout: float
    rebind: bool
    backoff_initial: float
    backoff_max: float
    max_inbound_queue: int
    on_deliver: DeliverCallback | None


class LinkOwner(Protocol):
    """The narrow interface a :class:`Link` and its :class:`EsmeProtocol` use on the client
    that owns them (implemented by :class:`engine.EsmeClient`)."""

    _loop: asyncio.AbstractEventLoop
    _settings: LinkSettings
    _flow: FlowControl  # the hot path pops answered requests from its ``inflight``
    _closing: bool  # no new connections once true
    _closed_event: asyncio.Event | None  # set when the client closes: ends back-off waits
    _workers: set[asyncio.Task[None]]  # on_deliver feeders, cancelled when the client ends

    def _throttled(self, entry: FlowEntry, resp: Pdu) -> None:
        """A request got ESME_RTHROTTLED / ESME_RMSGQFUL (already out of ``inflight``)."""

    def _on_failed(self, request: Any, exc_type: type[Exception]) -> None:
        """A request ended without a response (timed out, or its connection was lost)."""

    def _after_responses(self) -> None:
        """Responses or failures freed window slots: resume or pump."""

    def _link_up(self, link: Link) -> None:
        """``link`` is bound."""

    def _link_down(self, link: Link) -> None:
        """``link`` lost its bound connection."""

    def _writable_changed(self, link: Link) -> None:
        """The transport of ``link`` paused or resumed writing (its buffer is full)."""


log = logging.getLogger("engine.aio.client")

_ROK = int(CommandStatus.ESME_ROK)
_RX_T_APPN = int(CommandStatus.ESME_RX_T_APPN)
_RSYSERR = int(CommandStatus.ESME_RSYSERR)
_MAX_STATUS = 0xFFFFFFFF  # command_status is a 4-octet integer (SMPP 3.4 §3.2)
_BIND_IDS = frozenset(
    {
        int(CommandId.BIND_TRANSMITTER),
        int(CommandId.BIND_RECEIVER),
        int(CommandId.BIND_TRANSCEIVER),
    }
)
# Bind answers that another attempt with the same credentials will not fix: start() raises
# them at once instead of retrying until connect_timeout.
_PERMANENT_BIND_FAILURES = frozenset(
    {
        int(CommandStatus.ESME_RINVPASWD),
        int(CommandStatus.ESME_RINVSYSID),
        int(CommandStatus.ESME_RINVSYSTYP),
    }
)

_ResponseReceived = events.ResponseReceived
_RequestReceived = events.RequestReceived


# ---------------------------------------------------------------------------------------
# The protocol: one per TCP connection.
# ---------------------------------------------------------------------------------------


class EsmeProtocol(asyncio.Protocol):
    """Bytes in -> session events -> link; session output -> one write per iteration."""

    def __init__(self, link: Link, session: Session) -> None:
        self.link = link
        self.owner = link.owner
        self.session = session
        self.loop = link.owner._loop
        self.transport: asyncio.Transport | None = None
        self.flush_scheduled = False
        self.timer: asyncio.TimerHandle | None = None
        self.timer_when = 0.0
        self.reading_paused = False
        # why reading is paused: deliveries waiting for on_deliver, or a full write buffer
        self.inbound_full = False
        self.writing_paused = False
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
        client = self.owner
        link = self.link
        pop = client._flow.inflight.pop
        pumped = False
        for ev in evs:
            t = type(ev)
            if t is _ResponseReceived:
                # inlined EsmeClient._on_response (the hot path: one per submit)
                resp = ev.response
                entry = pop(resp.sequence_number, None)
                if entry is not None:
                    status = resp.command_status
                    if status in PAUSING:
                        client._throttled(entry, resp)
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
        if not self.writing_paused:
            # While the transport's buffer is over its high-water mark the bytes stay in
            # the session: nothing new is read or submitted meanwhile, so they are bounded.
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

    def pause_writing(self) -> None:
        """asyncio: the transport's write buffer is over its high-water mark (the carrier
        reads slower than we write, or not at all).  Stop reading (every PDU read may need
        an answer) and stop submitting until it drains."""
        self.writing_paused = True
        self._sync_reading()
        self.owner._writable_changed(self.link)

    def resume_writing(self) -> None:
        """asyncio: the write buffer drained below its low-water mark."""
        self.writing_paused = False
        self.flush()
        self._sync_reading()
        self.owner._writable_changed(self.link)

    def pause_reading(self) -> None:
        """Stop reading while ``max_inbound_queue`` deliveries wait for on_deliver."""
        self.inbound_full = True
        self._sync_reading()

    def resume_reading(self) -> None:
        self.inbound_full = False
        self._sync_reading()

    def _sync_reading(self) -> None:
        want = self.inbound_full or self.writing_paused
        if want != self.reading_paused and self.transport is not None and not self.closed:
            self.reading_paused = want
            if want:
                self.transport.pause_reading()
            else:
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


class Link:
    """One bind (transmitter, receiver or transceiver) kept up over successive connections:
    connect, bind, and after any failure rebind with back-off, until the client closes."""

    def __init__(self, owner: LinkOwner, bind_cls: type, name: str) -> None:
        self.owner = owner
        self.settings = owner._settings
        self.bind_cls = bind_cls
        self.name = name
        self.can_submit = bind_cls is not BindReceiver
        self.can_receive = bind_cls is not BindTransmitter
        self.protocol: EsmeProtocol | None = None
        self.bound = False
        self.task: asyncio.Task[None] | None = None
        self.first: asyncio.Future[None] = owner._loop.create_future()
        self.binds = 0  # successful binds so far (tests and metrics read it)
        self.last_error: BaseException | None = None
        self.bad_deliver_answers = 0  # on_deliver results that were not a command_status

    def __repr__(self) -> str:
        return f"<Link {self.name} bound={self.bound}>"

    # the connect / bind / rebind loop --------------------------------------------------

    async def run(self) -> None:
        client = self.owner
        settings = self.settings
        attempt = 0
        while not client._closing:
            proto: EsmeProtocol | None = None
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
                if client._closing or not settings.rebind:
                    return
            delay = backoff_delay(
                attempt, settings.backoff_initial, settings.backoff_max, random.random()
            )
            attempt += 1
            log.info("%s: rebinding in %.2f s", self.name, delay)
            assert client._closed_event is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(client._closed_event.wait(), delay)

    async def _connect_and_bind(self) -> EsmeProtocol:
        client = self.owner
        settings = self.settings
        loop = client._loop
        session = Session("esme", settings.session_config, now=loop.time())
        kwargs: dict[str, Any] = {}
        if settings.ssl is not None:
            kwargs["ssl"] = settings.ssl
            kwargs["server_hostname"] = settings.host
        _, proto = await asyncio.wait_for(
            loop.create_connection(
                lambda: EsmeProtocol(self, session), settings.host, settings.port, **kwargs
            ),
            settings.connect_timeout,
        )
        assert isinstance(proto, EsmeProtocol)
        self.protocol = proto
        bind = self.bind_cls(
            system_id=settings.system_id,
            password=settings.password,
            system_type=settings.system_type,
            interface_version=settings.interface_version,
            address_range=settings.address_range,
        )
        session.send_request(bind, loop.time())
        proto.flush()
        # The session times the bind out after response_timeout (RequestTimedOut resolves
        # the waiter); the wait_for is only a guard against a bug leaving it unresolved.
        try:
            result = await asyncio.wait_for(
                asyncio.shield(proto.bind_waiter), settings.response_timeout + 5.0
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
        log.info("%s: bound to %s:%s", self.name, settings.host, settings.port)
        client._link_up(self)
        return proto

    # events ----------------------------------------------------------------------------

    def on_event(self, ev: Any, proto: EsmeProtocol) -> None:
        t = type(ev)
        client = self.owner
        if t is events.RequestTimedOut:
            if ev.request.command_id in _BIND_IDS:
                if not proto.bind_waiter.done():
                    proto.bind_waiter.set_result(
                        TimeoutError(f"no bind response within {self.settings.response_timeout} s")
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

    def on_request(self, pdu: Any, proto: EsmeProtocol) -> None:
        """deliver_sm / data_sm / alert_notification from the carrier."""
        if pdu.response_class is None:  # alert_notification: no response (§4.12)
            log.info("%s: %s received", self.name, pdu.command_name)
            return
        cb = self.settings.on_deliver
        if cb is None:
            proto.session.send_response(pdu.make_response())
            proto.schedule_flush()
            return
        proto.inbound.append(pdu)
        if len(proto.inbound) >= self.settings.max_inbound_queue:
            proto.pause_reading()
        if proto.worker is None or proto.worker.done():
            proto.worker = self.owner._loop.create_task(self._deliver_worker(proto))
            workers = self.owner._workers
            workers.add(proto.worker)
            proto.worker.add_done_callback(workers.discard)

    async def _deliver_worker(self, proto: EsmeProtocol) -> None:
        # One worker per connection: responses go back in arrival order.
        cb = self.settings.on_deliver
        assert cb is not None
        inbound = proto.inbound  # per connection: a new one after a rebind starts afresh
        low = max(1, self.settings.max_inbound_queue // 2)
        while inbound:
            pdu = inbound.popleft()
            status: int
            try:
                answer = cb(pdu)
                if inspect.isawaitable(answer):
                    answer = await answer
            except Exception:
                # The carrier keeps the message and retries on a temporary error (§5.1.3).
                log.exception("%s: on_deliver raised; answering ESME_RX_T_APPN", self.name)
                status = _RX_T_APPN
            else:
                status = self._deliver_status(answer)
            if proto.closed:
                # The response cannot reach the carrier; it will deliver again (its outcome
                # for it is "no response").  Drop what else was read on that connection.
                inbound.clear()
                return
            try:
                proto.session.send_response(pdu.make_response(command_status=status))
            except Exception as exc:  # SessionError, EncodeError: this answer only
                log.warning("%s: deliver response not sent: %s", self.name, exc)
            proto.schedule_flush()
            if len(inbound) <= low:
                proto.resume_reading()

    def _deliver_status(self, answer: object) -> int:
        """The command_status to answer a deliver_sm with, from what on_deliver returned:
        None means ESME_ROK; an int must fit the 4-octet field.  Anything else is the
        handler's bug: answer ESME_RSYSERR (the carrier retries) and say so in the log
        (at error level the first time on this link, then at debug level)."""
        if answer is None:
            return _ROK
        if isinstance(answer, int) and not isinstance(answer, bool):
            if 0 <= answer <= _MAX_STATUS:
                return int(answer)
            why = f"{answer} is out of range 0..{_MAX_STATUS:#x}"
        else:
            why = f"a {type(answer).__name__} is not a command_status"
        self.bad_deliver_answers += 1
        level = logging.ERROR if self.bad_deliver_answers == 1 else logging.DEBUG
        log.log(
            level,
            "%s: on_deliver returned an invalid answer (%s; expected None or an int"
            " 0..0xFFFFFFFF); answering ESME_RSYSERR (%d so far on this link)",
            self.name,
            why,
            self.bad_deliver_answers,
        )
        return _RSYSERR

    def connection_lost(self, proto: EsmeProtocol, evs: list[Any], exc: Exception | None) -> None:
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
            if not self.owner._closing:
                log.warning("%s: connection lost: %r", self.name, exc)
            self.owner._link_down(self)


def _status_name(status: int) -> str:
    try:
        return CommandStatus(status).name
    except ValueError:
        return "unknown status"
