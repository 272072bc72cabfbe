"""The SMSC side of one TCP connection: :class:`SmscConnection`, an asyncio ``Protocol``
around the sans-IO :class:`engine.session.Session` (role "smsc"), and :class:`SmscHost`,
the narrow interface through which it reaches its server.

Every read goes to ``Session.receive_data`` in one call; the events are handled at once
(the submit path is one inlined loop: rate check, handler call, response); the responses
of one read are encoded together and written with one ``transport.write``.  Answers that
come later (async handlers, deliveries) are coalesced into one write per loop iteration.
One loop timer per connection follows ``Session.next_deadline()``.

:class:`engine.aio.server.SmscServer` implements :class:`SmscHost` and creates these; the
application meets them as the ``conn`` argument of its :class:`engine.aio.server.SmscHandler`
methods.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from typing import Any, Protocol

from engine._core import QuerySmResp
from engine.errors import ConnectionLostError, EncodeError, ResponseTimeoutError, SessionError
from engine.pdu.constants import CommandId, CommandStatus
from engine.session import Session, SessionConfig, SessionState, events

__all__ = [
    "DeliverExpiredError",
    "DeliverNotSentError",
    "DeliverQueueFullError",
    "SmscConnection",
    "SmscHost",
]

log = logging.getLogger("engine.aio.server")

_ST = CommandStatus
_ROK = 0
_RSYSERR = int(_ST.ESME_RSYSERR)
_RTHROTTLED = int(_ST.ESME_RTHROTTLED)
_RBINDFAIL = int(_ST.ESME_RBINDFAIL)
_RMSGQFUL = int(_ST.ESME_RMSGQFUL)

_SUBMIT_SM = int(CommandId.SUBMIT_SM)
_SUBMIT_MULTI = int(CommandId.SUBMIT_MULTI)
_DATA_SM = int(CommandId.DATA_SM)
_QUERY_SM = int(CommandId.QUERY_SM)
_CANCEL_SM = int(CommandId.CANCEL_SM)
_REPLACE_SM = int(CommandId.REPLACE_SM)
# the requests that count against max_submit_rate
_RATED = frozenset({_SUBMIT_SM, _SUBMIT_MULTI, _DATA_SM})

_BIND_TYPES = {
    int(CommandId.BIND_TRANSMITTER): "transmitter",
    int(CommandId.BIND_RECEIVER): "receiver",
    int(CommandId.BIND_TRANSCEIVER): "transceiver",
}


def _response_for(pdu: Any, cid: int, result: Any) -> Any:
    """The response PDU for a handler's result; TypeError when the result makes no sense."""
    if type(result) is str:
        if cid in _RATED:
            return pdu.make_response(message_id=result)
    elif isinstance(result, int) and not isinstance(result, bool):
        if result == 0 and cid in _RATED:
            raise TypeError(f"{pdu.command_name} accepted without a message_id")
        return pdu.make_response(command_status=result)
    elif cid == _SUBMIT_MULTI and isinstance(result, tuple) and len(result) == 2:
        return pdu.make_response(message_id=result[0], unsuccess_smes=result[1])
    elif cid == _QUERY_SM and isinstance(result, QuerySmResp):
        result.sequence_number = pdu.sequence_number
        return result
    raise TypeError(f"handler returned {type(result).__name__} for {pdu.command_name}")


class DeliverNotSentError(SessionError):
    """A request to the ESME (deliver_sm, data_sm) was never written: it waited for a window
    slot and gave up.  Safe to send again, on this bind or a later one."""


class DeliverQueueFullError(DeliverNotSentError):
    """The bind's window is full and ``max_deliver_queue`` requests already wait for a slot
    (an ESME that does not answer): refused at once rather than queued without limit."""


class DeliverExpiredError(DeliverNotSentError):
    """A queued request waited ``deliver_queue_timeout`` seconds for a window slot."""


class SmscHost(Protocol):
    """What an :class:`SmscConnection` needs from its server (``SmscServer`` implements it).

    Settings are read once per connection; the methods keep the server's books (the
    unbound pool, the binds per system_id, failed binds) in one place.
    """

    handler: Any  # an engine.aio.server.SmscHandler
    system_id: str
    session_config: SessionConfig
    max_submit_rate: float | None
    max_inbound_queue: int
    close_grace: float
    max_deliver_queue: int
    deliver_queue_timeout: float | None

    def connection_opened(self, conn: SmscConnection) -> bool:
        """A TCP connection arrived: True admits it (unbound), False closes it."""

    def connection_closed(self, conn: SmscConnection) -> None:
        """The connection is gone (bound or not); forget it."""

    def bind_refusal(self, conn: SmscConnection, bind: Any) -> tuple[int, float] | None:
        """Before authenticating: the status to refuse this bind with and the seconds to
        wait before answering (a locked-out address and system_id), or None to go on."""

    def bind_outcome(self, conn: SmscConnection, bind: Any, status: int) -> tuple[int, float]:
        """After authenticating with ``status``: the status to answer (bind limit, one
        answer for every credential failure) and the seconds to wait before answering."""

    def connection_bound(self, conn: SmscConnection) -> None:
        """The bind was answered ESME_ROK: count the connection as bound."""

    def keep_task(self, task: asyncio.Task[Any]) -> None:
        """Hold a handler hook's task until it ends (the server's close waits for it)."""

    def deliver_not_sent(self, conn: SmscConnection, reason: str) -> None:
        """Count a request to the ESME that was never written (``full`` or ``expired``)."""


class _TokenBucket:
    """Submit rate limit of one bind: ``rate`` per second, bursts of ``max(1, rate)``."""

    __slots__ = ("capacity", "last", "rate", "tokens")

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.last = now

    def take(self, now: float) -> bool:
        tokens = self.tokens + (now - self.last) * self.rate
        self.last = now
        if tokens > self.capacity:
            tokens = self.capacity
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return True
        self.tokens = tokens
        return False


class SmscConnection(asyncio.Protocol):
    """One ESME connection to the :class:`SmscServer`.

    Attributes: ``system_id`` and ``bind_type`` ("transmitter", "receiver",
    "transceiver"; None before the bind), ``peer`` (the transport's peername), ``state``
    (the session's :class:`SessionState`), ``session``.
    """

    def __init__(self, server: SmscHost) -> None:
        self._server = server
        self._handler = server.handler
        self._loop = asyncio.get_running_loop()
        self.session = Session("smsc", server.session_config, now=self._loop.time())
        self.system_id: str | None = None
        self.bind_type: str | None = None
        self.peer: Any = None
        self.transport: asyncio.Transport | None = None
        self._bucket: _TokenBucket | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._waiters: dict[int, asyncio.Future[Any]] = {}
        self._window_waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._queued = 0  # send_request calls waiting for a window slot
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = 0.0
        self._flush_scheduled = False
        self._now = self._loop.time()
        self._closing = False
        self._paused = False  # reading paused: too many handler calls in progress
        self._write_paused = False  # reading paused: the peer does not read
        self._registered_bound = False
        self._admitted = False
        self.closed: asyncio.Future[None] = self._loop.create_future()
        self._dispatch = {
            _SUBMIT_SM: self._handler.on_submit_sm,
            _SUBMIT_MULTI: self._handler.on_submit_multi,
            _DATA_SM: self._handler.on_data_sm,
            _QUERY_SM: self._handler.on_query_sm,
            _CANCEL_SM: self._handler.on_cancel_sm,
            _REPLACE_SM: self._handler.on_replace_sm,
        }

    @property
    def state(self) -> SessionState:
        """The session's state."""
        return self.session.state

    def __repr__(self) -> str:
        return (
            f"<SmscConnection {self.peer} system_id={self.system_id!r}"
            f" bind_type={self.bind_type} {self.state.name}>"
        )

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; they have its methods
        self.transport = transport  # type: ignore[assignment]
        self.peer = transport.get_extra_info("peername")
        if not self._server.connection_opened(self):
            self._closing = True
            transport.close()
            return
        self._admitted = True
        self._arm()

    def pause_writing(self) -> None:
        # the ESME does not read its answers: stop taking requests from it until it does,
        # so that its unread answers cannot grow without bound
        self._write_paused = True
        if self.transport is not None and not self._paused:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self.transport is not None and not self._paused and not self.transport.is_closing():
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        self._now = now = self._loop.time()
        evs = self.session.receive_data(data, now)
        if evs:
            self._handle_events(evs)
        self._flush()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for ev in self.session.connection_lost():
            assert isinstance(ev, events.RequestAborted)
            fut = self._waiters.pop(ev.request.sequence_number, None)
            if fut is not None and not fut.done():
                fut.set_exception(
                    ConnectionLostError(f"connection lost with {ev.request.command_name} in flight")
                )
        for waiter in self._window_waiters:
            if not waiter.done():
                waiter.set_exception(ConnectionLostError("connection lost"))
        self._window_waiters.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._admitted:
            self._admitted = False
            self._server.connection_closed(self)
        if self._registered_bound:
            self._registered_bound = False
            self._call_hook(self._handler.on_unbound, "on_unbound")
        if not self.closed.done():
            self.closed.set_result(None)

    # -- writing ------------------------------------------------------------------------

    def _flush(self) -> None:
        self._flush_scheduled = False
        data = self.session.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _schedule_flush(self) -> None:
        # answers that come outside data_received are coalesced: one write per iteration
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def close(self) -> None:
        """Write what is pending, then close the connection (no unbind)."""
        if self.transport is not None and not self.transport.is_closing():
            self._flush()
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once."""
        self._closing = True
        if self.transport is not None:
            self.transport.abort()

    # -- timers -------------------------------------------------------------------------

    def _arm(self) -> None:
        deadline = self.session.next_deadline()
        if deadline is None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            return
        # deadlines only move later as traffic flows; re-arm only when one comes sooner
        if self._timer is None or deadline < self._timer_when:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_when = deadline
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._now = now = max(self._loop.time(), self._timer_when)
        evs = self.session.tick(now)
        if evs:
            self._handle_events(evs)
        self._flush()
        if not self._closing:
            self._arm()

    # -- events -------------------------------------------------------------------------

    def _handle_events(self, evs: list[events.Event]) -> None:
        # the hot loop: one submit_sm -> handler -> submit_sm_resp per iteration, inlined;
        # the responses of one read are encoded together at the end
        request_received = events.RequestReceived
        dispatch = self._dispatch
        out: list[Any] = []
        append = out.append
        for ev in evs:
            if type(ev) is not request_received:
                if out:  # keep the order of what the session queues itself
                    self._send_all(out)
                    out.clear()
                self._other_event(ev)
                continue
            pdu = ev.pdu
            cid = pdu.command_id
            if cid in _RATED and self._bucket is not None and not self._bucket.take(self._now):
                append(pdu.make_response(command_status=_RTHROTTLED))
                continue
            method = dispatch.get(cid, self._unexpected)
            try:
                result = method(self, pdu)
                if type(result) is str and cid in _RATED:
                    # the class directly: ~4x cheaper than make_response(**fields)
                    append(
                        pdu.response_class(sequence_number=pdu.sequence_number, message_id=result)
                    )
                    continue
            except Exception:
                log.exception(
                    "handler %s failed on %s seq %d from %r",
                    getattr(method, "__name__", method),
                    pdu.command_name,
                    pdu.sequence_number,
                    self.system_id,
                )
                append(pdu.make_response(command_status=_RSYSERR))
                continue
            if hasattr(result, "__await__"):
                self._spawn(self._answer_later(pdu, cid, result, method.__name__))
            else:
                append(self._response(pdu, cid, result, method.__name__))
        if out:
            self._send_all(out)

    def _send_all(self, out: list[Any]) -> None:
        try:
            self.session.send_responses(out)
        except EncodeError:
            # one of them has a value the codec refuses (e.g. a message_id over 64
            # octets): answer that one with ESME_RSYSERR, the others as they are
            for resp in out:
                try:
                    self.session.send_response(resp)
                except EncodeError as exc:
                    log.error("cannot encode %s: %s", resp.command_name, exc)
                    self.session.send_response(
                        type(resp)(sequence_number=resp.sequence_number, command_status=_RSYSERR)
                    )

    def _response(self, pdu: Any, cid: int, result: Any, name: str) -> Any:
        try:
            return _response_for(pdu, cid, result)
        except Exception:
            log.exception("handler %s gave a bad answer to %s", name, pdu.command_name)
            return pdu.make_response(command_status=_RSYSERR)

    @staticmethod
    def _unexpected(conn: SmscConnection, pdu: Any) -> int:
        # the session passes on only what an SMSC handles (states.py); kept as a guard
        return _RSYSERR

    def _other_event(self, ev: events.Event) -> None:
        if isinstance(ev, events.ResponseReceived):
            self._resolve(ev.request, ev.response, None)
        elif isinstance(ev, events.RequestTimedOut):
            self._resolve(
                ev.request,
                None,
                ResponseTimeoutError(f"no response to {ev.request.command_name}"),
            )
        elif isinstance(ev, events.BindRequested):
            self._on_bind(ev.pdu)
        elif isinstance(ev, (events.UnbindReceived, events.Unbound)):
            self._close_when_answered()
        elif isinstance(ev, events.PeerDead):
            log.info("closing %s (system_id %r): %s", self.peer, self.system_id, ev.reason)
            self._closing = True
            self.close()
        elif isinstance(ev, events.ProtocolError):
            log.debug("protocol error from %s: %s", self.peer, ev.error)

    async def _answer_later(self, pdu: Any, cid: int, awaitable: Any, name: str) -> None:
        try:
            result = await awaitable
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(
                "handler %s failed on %s seq %d from %r",
                name,
                pdu.command_name,
                pdu.sequence_number,
                self.system_id,
            )
            result = _RSYSERR
        if self.transport is None or self.transport.is_closing():
            return
        with contextlib.suppress(SessionError):  # the connection went away meanwhile
            self._send_all([self._response(pdu, cid, result, name)])
            self._schedule_flush()

    def _spawn(self, coro: Any) -> None:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        limit = self._server.max_inbound_queue
        if not self._paused and len(self._tasks) >= limit and self.transport is not None:
            # back-pressure: the application is behind; stop reading from this ESME
            self._paused = True
            self.transport.pause_reading()

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("connection task failed", exc_info=task.exception())
        if self._paused and len(self._tasks) <= self._server.max_inbound_queue // 2:
            self._paused = False
            transport = self.transport
            if transport is not None and not transport.is_closing() and not self._write_paused:
                transport.resume_reading()
        if self._closing and not self._tasks:
            self.close()

    def _call_hook(self, hook: Any, name: str) -> None:
        try:
            result = hook(self)
        except Exception:
            log.exception("handler %s failed", name)
            return
        if hasattr(result, "__await__"):
            self._server.keep_task(self._loop.create_task(self._await_hook(result, name)))

    @staticmethod
    async def _await_hook(awaitable: Any, name: str) -> None:
        try:
            await awaitable
        except Exception:
            log.exception("handler %s failed", name)

    def _close_when_answered(self) -> None:
        # after an unbind: answer what is still with the application, then close
        self._closing = True
        if not self._tasks:
            self.close()
        else:
            self._loop.call_later(self._server.close_grace, self.close)

    # -- binds --------------------------------------------------------------------------

    def _on_bind(self, bind: Any) -> None:
        refusal = self._server.bind_refusal(self, bind)
        if refusal is not None:  # locked out: the password is not even looked at
            self._answer_bind_after(bind, *refusal)
            return
        try:
            result = self._handler.authenticate(bind, self.peer)
        except Exception:
            log.exception("authenticate failed for system_id %r", bind.system_id)
            result = _RSYSERR
        if hasattr(result, "__await__"):
            self._spawn(self._bind_later(bind, result))
        else:
            self._finish_bind(bind, result)

    async def _bind_later(self, bind: Any, awaitable: Any) -> None:
        try:
            status = await awaitable
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("authenticate failed for system_id %r", bind.system_id)
            status = _RSYSERR
        if self.transport is None or self.transport.is_closing():
            return
        self._finish_bind(bind, status)
        self._schedule_flush()
        self._arm()

    def _finish_bind(self, bind: Any, status: Any) -> None:
        if not isinstance(status, int) or isinstance(status, bool):
            log.error("authenticate returned %r, not a command_status", type(status).__name__)
            status = _RSYSERR
        self._answer_bind_after(bind, *self._server.bind_outcome(self, bind, status))

    def _answer_bind_after(self, bind: Any, status: int, delay: float) -> None:
        if delay > 0:
            # a failed bind is answered late (bind guessing gets slow); the session stays
            # BINDING meanwhile and refuses anything else the peer sends
            self._loop.call_later(delay, self._answer_bind_later, bind, status)
            return
        self._answer_bind(bind, status)

    def _answer_bind_later(self, bind: Any, status: int) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self._answer_bind(bind, status)
        self._flush()

    def _answer_bind(self, bind: Any, status: int) -> None:
        server = self._server
        self.session.send_response(
            bind.make_response(system_id=server.system_id, command_status=status)
        )
        if status != _ROK:
            log.info(
                "bind refused (0x%08x) for system_id %r from %s", status, bind.system_id, self.peer
            )
            self._closing = True
            self.close()
            return
        self.system_id = bind.system_id
        self.bind_type = _BIND_TYPES[bind.command_id]
        if server.max_submit_rate is not None:
            self._bucket = _TokenBucket(server.max_submit_rate, self._loop.time())
        self._registered_bound = True
        server.connection_bound(self)
        self._call_hook(self._handler.on_bound, "on_bound")

    # -- requests to the ESME -----------------------------------------------------------

    def _resolve(self, request: Any, response: Any, exc: BaseException | None) -> None:
        fut = self._waiters.pop(request.sequence_number, None)
        if fut is not None and not fut.done():
            if exc is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(response)
        while self._window_waiters and self.session.window_free:
            waiter = self._window_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break

    async def send_request(self, pdu: Any) -> Any:
        """Send a request (deliver_sm, data_sm, enquire_link, ...) and return its response
        (None for alert_notification, which has none).

        Waits for a window slot.  Raises SessionError when the bind does not allow it,
        ResponseTimeoutError, ConnectionLostError (outcome unknown for both).
        """
        session = self.session
        if not session.window_free and not self._closing:
            await self._wait_for_window(pdu)
        if self._closing or self.transport is None:
            raise ConnectionLostError("connection is closing")
        seq = session.send_request(pdu, self._loop.time())
        if pdu.response_class is None:  # alert_notification, outbind: nothing comes back
            self._schedule_flush()
            return None
        fut: asyncio.Future[Any] = self._loop.create_future()
        self._waiters[seq] = fut
        self._schedule_flush()
        self._arm()
        return await fut

    @property
    def deliver_queue(self) -> int:
        """Requests to the ESME waiting for a window slot (at most ``max_deliver_queue``)."""
        return self._queued

    async def _wait_for_window(self, pdu: Any) -> None:
        # bounded: at most max_deliver_queue waiters, each for at most deliver_queue_timeout
        # (an ESME that never answers must not make the SMSC hold requests without limit)
        server = self._server
        if self._queued >= server.max_deliver_queue:
            server.deliver_not_sent(self, "full")
            raise DeliverQueueFullError(
                f"{pdu.command_name} not sent: the window is full and {self._queued} requests"
                f" already wait for it on {self.system_id!r}",
                command_status=_RMSGQFUL,
            )
        timeout = server.deliver_queue_timeout
        deadline = None if timeout is None else self._loop.time() + timeout
        self._queued += 1
        try:
            while not self.session.window_free:
                if self._closing:
                    raise ConnectionLostError("connection is closing")
                waiter: asyncio.Future[None] = self._loop.create_future()
                self._window_waiters.append(waiter)
                try:
                    if deadline is None:
                        await waiter
                    else:
                        await asyncio.wait_for(waiter, deadline - self._loop.time())
                except TimeoutError:
                    with contextlib.suppress(ValueError):
                        self._window_waiters.remove(waiter)
                    server.deliver_not_sent(self, "expired")
                    raise DeliverExpiredError(
                        f"{pdu.command_name} not sent: no window slot on {self.system_id!r}"
                        f" within {timeout:g} s"
                    ) from None
        finally:
            self._queued -= 1

    async def unbind(self, timeout: float = 5.0) -> None:
        """Unbind, wait for unbind_resp (at most ``timeout`` seconds), close."""
        if self.session.is_bound and not self._closing:
            self.session.unbind(self._loop.time())
            self._flush()
            self._arm()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        self.close()
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        except TimeoutError:  # the peer does not read: drop what is unwritten
            self.abort()
            await self.closed
