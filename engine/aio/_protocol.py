"""The SMSC side of one TCP connection: :class:`SmscConnection`, an asyncio ``Protocol``
around the sans-IO :class:`engine.session.Session` (role "smsc").

Every read goes to ``Session.receive_data`` in one call; the events are handled at once
(the submit path is one inlined loop: rate check, handler call, response); the responses
of one read are encoded together and written with one ``transport.write``.  Answers that
come later (async handlers, deliveries) are coalesced into one write per loop iteration.
One loop timer per connection follows ``Session.next_deadline()``.

:class:`engine.aio.server.SmscServer` creates these; the application meets them as the
``conn`` argument of its :class:`engine.aio.server.SmscHandler` methods.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from engine._core import QuerySmResp
from engine.errors import ConnectionLostError, EncodeError, ResponseTimeoutError, SessionError
from engine.pdu.constants import CommandId, CommandStatus
from engine.session import Session, SessionState, events

if TYPE_CHECKING:
    from engine.aio.server import SmscServer

__all__ = ["SmscConnection"]

log = logging.getLogger("engine.aio.server")

_ST = CommandStatus
_ROK = 0
_RSYSERR = int(_ST.ESME_RSYSERR)
_RTHROTTLED = int(_ST.ESME_RTHROTTLED)
_RBINDFAIL = int(_ST.ESME_RBINDFAIL)

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

    def __init__(self, server: SmscServer) -> None:
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
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = 0.0
        self._flush_scheduled = False
        self._now = self._loop.time()
        self._closing = False
        self._paused = False  # reading paused: too many handler calls in progress
        self._write_paused = False  # reading paused: the peer does not read
        self._registered_bound = False
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
        server = self._server
        if (
            server.max_connections is not None
            and len(server._connections) >= server.max_connections
        ):
            log.warning(
                "connection limit %d reached; closing %s", server.max_connections, self.peer
            )
            self._closing = True
            transport.close()
            return
        server._connections.add(self)
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
        self._server._connections.discard(self)
        if self._registered_bound:
            self._registered_bound = False
            self._server._unregister_bound(self)
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
            pdu = ev.pdu  # type: ignore[attr-defined]
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
            log.info("closing %s: %s", self.peer, ev.reason)
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
            task = self._loop.create_task(self._await_hook(result, name))
            self._server._hook_tasks.add(task)
            task.add_done_callback(self._server._hook_tasks.discard)

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
        server = self._server
        if status == _ROK and not server._may_bind(bind.system_id):
            log.info("bind limit reached for system_id %r", bind.system_id)
            status = _RBINDFAIL
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
        server._register_bound(self)
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
        while not session.window_free:
            if self._closing:
                raise ConnectionLostError("connection is closing")
            waiter = self._loop.create_future()
            self._window_waiters.append(waiter)
            await waiter
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
