"""The asyncio SMPP 3.4 SMSC server: :class:`SmscServer`, :class:`SmscHandler`.

The server listens, authenticates binds (constant-time password check), limits binds per
system_id, connections and the submit rate per bind, and lets the application deliver to
bound receivers.  Each connection is a :class:`SmscConnection` (engine/aio/_protocol.py)
around the sans-IO session.

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
import hashlib
import hmac
import logging
import ssl as _ssl
from collections.abc import Mapping
from typing import Any

from engine.aio._protocol import SmscConnection
from engine.errors import SessionError
from engine.pdu.constants import CommandStatus
from engine.session import SessionConfig, SessionState

__all__ = ["SmscConnection", "SmscHandler", "SmscServer"]

log = logging.getLogger("engine.aio.server")

_ST = CommandStatus
_ROK = 0
_RBINDFAIL = int(_ST.ESME_RBINDFAIL)
_RINVPASWD = int(_ST.ESME_RINVPASWD)
_RINVSYSID = int(_ST.ESME_RINVSYSID)
_DELIVERABLE = frozenset({SessionState.BOUND_RX, SessionState.BOUND_TRX})
_DUMMY_DIGEST = b"\x00" * 32


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
      :meth:`SmscHandler.authenticate` (unknown system_id: ESME_RINVSYSID, wrong password:
      ESME_RINVPASWD).  None accepts every bind.
    - ``max_binds_per_system_id``: a bind over the limit gets ESME_RBINDFAIL.
    - ``max_submit_rate``: submit_sm, submit_multi and data_sm per second per bind
      (token bucket, bursts of ``max(1, rate)``); above it ESME_RTHROTTLED.
    - ``session_config``: window, timers (``inactivity_timeout`` closes idle sessions,
      ``bind_timeout`` unbound ones), ``max_pdu_length``.
    - ``max_inbound_queue``: handler calls still running per connection before the server
      stops reading from it.
    - ``max_connections``: open connections at most; more are closed at once.
    - ``close_grace``: seconds :meth:`close` and an unbind wait for answers in progress.

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
        max_binds_per_system_id: int | None = None,
        max_submit_rate: float | None = None,
        session_config: SessionConfig | None = None,
        ssl: _ssl.SSLContext | None = None,
        max_inbound_queue: int = 1000,
        max_connections: int | None = 1000,
        close_grace: float = 5.0,
    ) -> None:
        if max_binds_per_system_id is not None and max_binds_per_system_id < 1:
            raise ValueError("max_binds_per_system_id must be >= 1 or None")
        if max_submit_rate is not None and not max_submit_rate > 0:
            raise ValueError("max_submit_rate must be > 0 or None")
        if max_inbound_queue < 1:
            raise ValueError("max_inbound_queue must be >= 1")
        if max_connections is not None and max_connections < 1:
            raise ValueError("max_connections must be >= 1 or None")
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
        self.max_binds_per_system_id = max_binds_per_system_id
        self.max_submit_rate = max_submit_rate
        self.session_config = session_config if session_config is not None else SessionConfig()
        self.ssl = ssl
        self.max_inbound_queue = max_inbound_queue
        self.max_connections = max_connections
        self.close_grace = close_grace
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

    # -- binds ---------------------------------------------------------------------------

    def check_credentials(self, system_id: str, password: str) -> int:
        """ESME_ROK, ESME_RINVSYSID or ESME_RINVPASWD; compares in constant time."""
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

    def _register_bound(self, conn: SmscConnection) -> None:
        assert conn.system_id is not None
        self._bound.setdefault(conn.system_id, []).append(conn)

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

    async def deliver(self, system_id: str, pdu: Any, timeout: float | None = None) -> Any:
        """Send ``pdu`` (deliver_sm or data_sm) to a receiver or transceiver bound as
        ``system_id`` (round robin over several, skipping those whose window is full)
        and return its response.

        Raises SessionError when none is bound, TimeoutError after ``timeout`` seconds
        (None: the session's response_timeout applies), and what
        :meth:`SmscConnection.send_request` raises.
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
