"""The asyncio SMPP 3.4 SMSC server: :class:`SmscServer`, :class:`SmscHandler`.

The server listens, authenticates binds (constant-time password check), limits binds per
system_id, connections and the submit rate per bind, and lets the application deliver to
bound receivers.  Each connection is a :class:`SmscConnection`
(engine/aio/_smsc_connection.py) around the sans-IO session.

Hostile peers meet bounds everywhere: connections that have not bound live in a pool of
their own (per-address limit, short bind timeout) so they never crowd out a bind; failed
binds from one address for one system_id are answered ever later, then locked out
(:attr:`SmscServer.bind_guard`); every credential failure gets one answer
(ESME_RBINDFAIL) so system_ids cannot be enumerated; requests to an ESME that does not
answer wait in a bounded queue with a deadline; a PDU must complete within
``SessionConfig.pdu_read_timeout`` of its first byte.

The application subclasses :class:`SmscHandler`.  Every handler method may be a plain
function or a coroutine function; plain results are answered in the same read.  A handler
that raises gets ESME_RSYSERR answered and the exception logged; the server goes on::

    class Carrier(SmscHandler):
        def on_submit_sm(self, conn, pdu):
            return queue_for_delivery(pdu)          # the message_id, or an error status

    async with SmscServer(Carrier(), credentials={"acme": "secret"}, port=2775) as server:
        resp = await server.deliver("acme", DeliverSm(source_addr="15551234567", ...))
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import logging
import ssl as _ssl
from collections.abc import Callable, Mapping
from typing import Any

from engine.aio._smsc_connection import (
    DeliverExpiredError,
    DeliverNotSentError,
    DeliverQueueFullError,
    SmscConnection,
)
from engine.aio._smsc_guard import BindGuard, BindLockout, UnboundPool
from engine.errors import SessionError
from engine.pdu.constants import CommandStatus
from engine.session import SessionConfig, SessionState

__all__ = [
    "BindGuard",
    "BindLockout",
    "DeliverExpiredError",
    "DeliverNotSentError",
    "DeliverQueueFullError",
    "SmscConnection",
    "SmscHandler",
    "SmscServer",
]

log = logging.getLogger("engine.aio.server")

_ST = CommandStatus
_ROK = 0
_RBINDFAIL = int(_ST.ESME_RBINDFAIL)
_RINVPASWD = int(_ST.ESME_RINVPASWD)
_RINVSYSID = int(_ST.ESME_RINVSYSID)
_DELIVERABLE = frozenset({SessionState.BOUND_RX, SessionState.BOUND_TRX})
_DUMMY_DIGEST = b"\x00" * 32
_CREDENTIAL_FAILURES = frozenset({_RINVPASWD, _RINVSYSID})


def _address(peer: Any) -> str:
    # the host part of a TCP peername ((host, port) or IPv6's 4-tuple); others as text
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return str(peer)


def _digest(password: str) -> bytes:
    return hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest()


class SmscHandler:
    """What the SMSC does with what ESMEs send.  Subclass it and override what you need.

    Every method may be sync or ``async``.  Results:

    - ``authenticate``: a command_status (0 accepts the bind);
    - ``on_submit_sm`` / ``on_data_sm``: a message_id (str) or an error command_status (int);
    - ``on_submit_multi``: a message_id, ``(message_id, unsuccess_smes)`` or a status;
    - ``on_query_sm``: a :class:`engine.QuerySmResp` (its sequence_number is set for you)
      or a status;
    - ``on_cancel_sm`` / ``on_replace_sm``: a status.

    The defaults refuse every message (ESME_RSUBMITFAIL, ESME_RQUERYFAIL,
    ESME_RCANCELFAIL, ESME_RREPLACEFAIL), so nothing is accepted and then dropped.
    """

    server: SmscServer | None = None

    def authenticate(self, bind: Any, peer: Any) -> Any:
        """Default: constant-time check of system_id and password against the server's
        ``credentials`` (every bind is accepted when the server has none)."""
        if self.server is None:
            return _RBINDFAIL
        return self.server.check_credentials(bind.system_id, bind.password)

    def on_bound(self, conn: SmscConnection) -> Any:
        """A bind succeeded (``conn.system_id``, ``conn.bind_type`` are set)."""
        return None

    def on_unbound(self, conn: SmscConnection) -> Any:
        """A bound connection ended (unbind, timeout or connection lost)."""
        return None

    def on_submit_sm(self, conn: SmscConnection, pdu: Any) -> Any:
        """A submit_sm: return the message_id, or an error command_status."""
        return int(_ST.ESME_RSUBMITFAIL)

    def on_submit_multi(self, conn: SmscConnection, pdu: Any) -> Any:
        """A submit_multi: message_id, (message_id, unsuccess_smes) or a command_status."""
        return int(_ST.ESME_RSUBMITFAIL)

    def on_data_sm(self, conn: SmscConnection, pdu: Any) -> Any:
        """A data_sm: return the message_id, or an error command_status."""
        return int(_ST.ESME_RSUBMITFAIL)

    def on_query_sm(self, conn: SmscConnection, pdu: Any) -> Any:
        """A query_sm: a QuerySmResp, or an error command_status."""
        return int(_ST.ESME_RQUERYFAIL)

    def on_cancel_sm(self, conn: SmscConnection, pdu: Any) -> Any:
        """A cancel_sm: a command_status (0 = cancelled)."""
        return int(_ST.ESME_RCANCELFAIL)

    def on_replace_sm(self, conn: SmscConnection, pdu: Any) -> Any:
        """A replace_sm: a command_status (0 = replaced)."""
        return int(_ST.ESME_RREPLACEFAIL)


class SmscServer:
    """An SMPP 3.4 SMSC listening on ``host:port`` (port 0 picks a free one; see ``port``).

    - ``credentials``: system_id -> password checked in constant time by the default
      :meth:`SmscHandler.authenticate`.  None accepts every bind.
    - ``distinct_bind_errors``: False (default) answers an unknown system_id and a wrong
      password alike with ESME_RBINDFAIL, so that a peer cannot learn which system_ids
      exist; True keeps ESME_RINVSYSID and ESME_RINVPASWD apart.
    - ``max_binds_per_system_id``: a bind over the limit gets ESME_RBINDFAIL.
    - ``max_submit_rate``: submit_sm, submit_multi and data_sm per second per bind
      (token bucket, bursts of ``max(1, rate)``); above it ESME_RTHROTTLED.
    - ``session_config``: window, timers (``inactivity_timeout`` closes idle sessions,
      ``pdu_read_timeout`` a PDU that does not complete), ``max_pdu_length``.
    - ``max_inbound_queue``: handler calls still running per connection before the server
      stops reading from it.
    - ``max_connections``: open connections at most, bound or not.  When it is reached a
      new connection takes the place of an unbound one, or is closed if all are bound.
    - ``max_unbound``, ``max_unbound_per_address``: connections not bound yet, in all and
      per peer address; a new one over either limit closes the oldest unbound one of the
      address holding the most.  ``bind_timeout``: seconds an unbound connection may stay
      (the session_config's ``bind_timeout`` applies when it is shorter).
    - ``bind_failure_delay``, ``bind_failure_max_delay``, ``bind_lockout_after``,
      ``bind_lockout``: failed binds from one address for one system_id are answered after
      a delay that doubles each time, and after ``bind_lockout_after`` of them every bind
      of that pair is refused (ESME_RBINDFAIL after ``bind_failure_max_delay``, password
      unseen) for ``bind_lockout`` seconds; one log line per lock-out.  See
      :attr:`bind_guard` and :meth:`lockouts`.
    - ``max_deliver_queue``, ``deliver_queue_timeout``: per bind, requests to the ESME
      (:meth:`deliver`) waiting for a window slot, and how long each may wait; beyond
      either they raise :class:`DeliverQueueFullError` / :class:`DeliverExpiredError`
      (never written: safe to send again), counted in ``deliver_refused`` and
      ``deliver_expired``.
    - ``close_grace``: seconds :meth:`close` and an unbind wait for answers in progress.
    - ``clock``: the time source of the bind guard (default: the event loop's clock).

    Reading from a connection also pauses while the ESME does not read its answers
    (asyncio's write buffer high-water mark), so no input grows memory without bound.
    """

    def __init__(
        self,
        handler: SmscHandler | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: Mapping[str, str] | None = None,
        system_id: str = "SMSC",
        distinct_bind_errors: bool = False,
        max_binds_per_system_id: int | None = None,
        max_submit_rate: float | None = None,
        session_config: SessionConfig | None = None,
        ssl: _ssl.SSLContext | None = None,
        max_inbound_queue: int = 1000,
        max_connections: int | None = 1000,
        max_unbound: int = 100,
        max_unbound_per_address: int = 10,
        bind_timeout: float = 10.0,
        bind_failure_delay: float = 0.25,
        bind_failure_max_delay: float = 4.0,
        bind_lockout_after: int | None = 10,
        bind_lockout: float = 300.0,
        max_deliver_queue: int = 1000,
        deliver_queue_timeout: float | None = 30.0,
        close_grace: float = 5.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if max_binds_per_system_id is not None and max_binds_per_system_id < 1:
            raise ValueError("max_binds_per_system_id must be >= 1 or None")
        if max_submit_rate is not None and not max_submit_rate > 0:
            raise ValueError("max_submit_rate must be > 0 or None")
        if max_inbound_queue < 1:
            raise ValueError("max_inbound_queue must be >= 1")
        if max_connections is not None and max_connections < 1:
            raise ValueError("max_connections must be >= 1 or None")
        if not bind_timeout > 0:
            raise ValueError("bind_timeout must be > 0")
        if max_deliver_queue < 0:
            raise ValueError("max_deliver_queue must be >= 0")
        if deliver_queue_timeout is not None and not deliver_queue_timeout > 0:
            raise ValueError("deliver_queue_timeout must be > 0 or None")
        if len(system_id) > 15:
            raise ValueError("system_id must be at most 15 characters (SMPP 3.4 §4.1.2)")
        self.handler = handler if handler is not None else SmscHandler()
        if self.handler.server is not None and self.handler.server is not self:
            # the default authenticate reads this server's credentials through it
            raise ValueError("this SmscHandler already serves another SmscServer")
        self.handler.server = self
        self.host = host
        self._port = port
        # passwords kept only as digests: equal-length values for compare_digest, so the
        # comparison leaks neither content nor length
        self._credentials = (
            {k: _digest(v) for k, v in credentials.items()} if credentials is not None else None
        )
        self.system_id = system_id
        self.distinct_bind_errors = distinct_bind_errors
        self.max_binds_per_system_id = max_binds_per_system_id
        self.max_submit_rate = max_submit_rate
        cfg = session_config if session_config is not None else SessionConfig()
        if bind_timeout < cfg.bind_timeout:
            cfg = dataclasses.replace(cfg, bind_timeout=bind_timeout)
        self.session_config = cfg
        self.ssl = ssl
        self.max_inbound_queue = max_inbound_queue
        self.max_connections = max_connections
        self.max_deliver_queue = max_deliver_queue
        self.deliver_queue_timeout = deliver_queue_timeout
        self.close_grace = close_grace
        #: failed binds, lock-outs (``bind_guard.failures``, ``bind_guard.lockouts``)
        self.bind_guard = BindGuard(
            delay=bind_failure_delay,
            max_delay=bind_failure_max_delay,
            lockout_after=bind_lockout_after,
            lockout=bind_lockout,
        )
        self._unbound: UnboundPool[SmscConnection] = UnboundPool(
            max_unbound, max_unbound_per_address
        )
        self._clock = clock
        self.connections_refused = 0  # closed at once: every slot held by a bound session
        self.deliver_refused = 0  # deliver() refused: the bind's deliver queue was full
        self.deliver_expired = 0  # deliver() gave up waiting for a window slot
        self._server: asyncio.Server | None = None
        self._connections: set[SmscConnection] = set()
        self._bound: dict[str, list[SmscConnection]] = {}
        self._rr: dict[str, int] = {}
        self._hook_tasks: set[asyncio.Task[Any]] = set()

    def __repr__(self) -> str:  # no credentials here
        return f"<SmscServer {self.host}:{self._port} system_id={self.system_id!r}>"

    @property
    def port(self) -> int:
        """The port actually listened on (after :meth:`start`)."""
        return self._port

    async def start(self) -> None:
        """Start listening."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SmscConnection(self), self.host, self._port, ssl=self.ssl
        )
        sock = self._server.sockets[0]
        self._port = sock.getsockname()[1]
        log.info("SMSC %r listening on %s:%d", self.system_id, self.host, self._port)

    async def close(self) -> None:
        """Stop listening, unbind every bound ESME (waiting up to ``close_grace``), close."""
        if self._server is not None:
            self._server.close()
        conns = list(self._connections)
        if conns:
            await asyncio.gather(
                *(c.unbind(timeout=self.close_grace) for c in conns), return_exceptions=True
            )
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self._hook_tasks:
            await asyncio.gather(*self._hook_tasks, return_exceptions=True)

    async def __aenter__(self) -> SmscServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- connections and binds (the SmscHost interface of SmscConnection) ----------------

    @property
    def unbound_evicted(self) -> int:
        """Unbound connections closed to make room for newer ones."""
        return self._unbound.evicted

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    def connection_opened(self, conn: SmscConnection) -> bool:
        """Admit a new connection to the unbound pool (see the class docstring)."""
        limit = self.max_connections
        if limit is not None and len(self._connections) >= limit:
            victim = self._unbound.evict_one()
            if victim is None:
                self.connections_refused += 1
                log.warning("connection limit %d reached; closing %s", limit, conn.peer)
                return False
            self._evict(victim)
        for victim in self._unbound.admit(conn, _address(conn.peer)):
            self._evict(victim)
        self._connections.add(conn)
        return True

    def _evict(self, conn: SmscConnection) -> None:
        log.debug("closing unbound %s to make room for a newer connection", conn.peer)
        self._connections.discard(conn)
        conn.abort()

    def connection_closed(self, conn: SmscConnection) -> None:
        """Forget a connection that is gone."""
        self._connections.discard(conn)
        self._unbound.remove(conn)
        if conn.system_id is not None:
            self._unregister_bound(conn)

    def connection_bound(self, conn: SmscConnection) -> None:
        """Move a connection from the unbound pool to its system_id's binds."""
        assert conn.system_id is not None
        self._unbound.remove(conn)
        self.bind_guard.succeeded(_address(conn.peer), conn.system_id)
        self._bound.setdefault(conn.system_id, []).append(conn)

    def bind_refusal(self, conn: SmscConnection, bind: Any) -> tuple[int, float] | None:
        """ESME_RBINDFAIL, answered after the longest failure delay, while the address and
        system_id are locked out; else None."""
        guard = self.bind_guard
        if guard.locked(_address(conn.peer), bind.system_id, self._now()):
            return _RBINDFAIL, guard.max_delay
        return None

    def bind_outcome(self, conn: SmscConnection, bind: Any, status: int) -> tuple[int, float]:
        """The status to answer a bind with and the seconds to wait before answering."""
        if status == _ROK:
            if self._may_bind(bind.system_id):
                return _ROK, 0.0
            log.info("bind limit reached for system_id %r", bind.system_id)
            return _RBINDFAIL, 0.0
        address = _address(conn.peer)
        delay, lockout = self.bind_guard.failed(address, bind.system_id, self._now())
        if lockout is not None:
            log.warning(
                "bind lock-out: %d failed binds as system_id %r from %s; refusing its binds"
                " for %g s",
                lockout.failures,
                lockout.system_id,
                lockout.address,
                lockout.until - lockout.since,
            )
        if status in _CREDENTIAL_FAILURES and not self.distinct_bind_errors:
            status = _RBINDFAIL  # one answer: the peer cannot tell which was wrong
        return status, delay

    def keep_task(self, task: asyncio.Task[Any]) -> None:
        """Hold a hook's task until it ends."""
        self._hook_tasks.add(task)
        task.add_done_callback(self._hook_tasks.discard)

    def deliver_not_sent(self, conn: SmscConnection, reason: str) -> None:
        """Count a request to the ESME that was never written."""
        if reason == "full":
            self.deliver_refused += 1
        else:
            self.deliver_expired += 1

    def lockouts(self) -> list[BindLockout]:
        """The bind lock-outs running now (address, system_id, failures, since, until)."""
        return self.bind_guard.locked_out(self._now())

    def check_credentials(self, system_id: str, password: str) -> int:
        """ESME_ROK, ESME_RINVSYSID or ESME_RINVPASWD (answered as ESME_RBINDFAIL unless
        ``distinct_bind_errors``); compares in constant time."""
        if self._credentials is None:
            return _ROK
        expected = self._credentials.get(system_id)
        given = _digest(password)
        if expected is None:
            hmac.compare_digest(given, _DUMMY_DIGEST)  # the same work for unknown ids
            return _RINVSYSID
        return _ROK if hmac.compare_digest(given, expected) else _RINVPASWD

    def _may_bind(self, system_id: str) -> bool:
        limit = self.max_binds_per_system_id
        return limit is None or len(self._bound.get(system_id, ())) < limit

    def _unregister_bound(self, conn: SmscConnection) -> None:
        assert conn.system_id is not None
        conns = self._bound.get(conn.system_id)
        if conns is not None:
            with contextlib.suppress(ValueError):
                conns.remove(conn)
            if not conns:
                del self._bound[conn.system_id]

    # -- the application's side ----------------------------------------------------------

    def connections(self, system_id: str | None = None) -> list[SmscConnection]:
        """Open connections (bound to ``system_id`` when given)."""
        if system_id is None:
            return list(self._connections)
        return list(self._bound.get(system_id, ()))

    @property
    def unbound(self) -> int:
        """Open connections that have not bound (yet)."""
        return len(self._unbound)

    def deliver_backlog(self, system_id: str) -> int:
        """Requests to ``system_id``'s binds waiting for a window slot (all its binds)."""
        return sum(c.deliver_queue for c in self._bound.get(system_id, ()))

    def deliver_queue_full(self, system_id: str) -> bool:
        """True when every receiving bind of ``system_id`` has a full deliver queue, so that
        :meth:`deliver` would refuse: a handler may then refuse submits asking for receipts
        (back-pressure; ESME_RMSGQFUL)."""
        targets = [c for c in self._bound.get(system_id, ()) if c.state in _DELIVERABLE]
        return bool(targets) and all(
            not c.session.window_free and c.deliver_queue >= self.max_deliver_queue for c in targets
        )

    async def deliver(self, system_id: str, pdu: Any, timeout: float | None = None) -> Any:
        """Send ``pdu`` (deliver_sm or data_sm) to a receiver or transceiver bound as
        ``system_id`` (round robin over several, skipping those whose window is full)
        and return its response.

        Raises SessionError when none is bound, TimeoutError after ``timeout`` seconds
        (None: the session's response_timeout applies), and what
        :meth:`SmscConnection.send_request` raises: :class:`DeliverQueueFullError` at once
        when the bind's window is full and ``max_deliver_queue`` already wait,
        :class:`DeliverExpiredError` after ``deliver_queue_timeout`` (both: never written).
        """
        targets = [c for c in self._bound.get(system_id, ()) if c.state in _DELIVERABLE]
        if not targets:
            raise SessionError(f"no receiver or transceiver bound as system_id {system_id!r}")
        i = self._rr.get(system_id, 0)
        self._rr[system_id] = i + 1
        n = len(targets)
        # round robin, skipping binds whose window is full (a slow ESME must not hold up
        # deliveries another bind could take now); all full: wait on the one in turn
        conn = targets[i % n]
        for k in range(n):
            candidate = targets[(i + k) % n]
            if candidate.session.window_free:
                conn = candidate
                break
        if timeout is None:
            return await conn.send_request(pdu)
        return await asyncio.wait_for(conn.send_request(pdu), timeout)
