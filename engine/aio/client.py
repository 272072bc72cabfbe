"""The asyncio SMPP 3.4 ESME client: :class:`EsmeClient`.

An adapter around the sans-IO :class:`engine.session.Session`: an asyncio ``Protocol`` feeds
every TCP read to ``Session.receive_data`` (the codec frames and decodes all whole PDUs of the
read in one call) and writes what the session has to send once per loop iteration (one
``transport.write`` for every PDU queued in that iteration; with a window of 32 or more, a
half window is written as soon as it is queued, so that the carrier works on it while the
rest is built instead of the two ends taking turns).  One loop timer per connection
follows ``Session.next_deadline()`` for response timeouts and enquire_link.

Outcomes of :meth:`EsmeClient.submit` (the contract the caller relies on):

- the peer answered: the response PDU is returned *whatever its command_status* (check
  ``resp.command_status``; a ``generic_nack`` is returned the same way), except the throttling
  answers ESME_RTHROTTLED and ESME_RMSGQFUL with ``throttle="client"`` (below);
- the connection dropped while the request was in flight: :class:`engine.ConnectionLostError`
  (the outcome is unknown; the request is never resent silently);
- no response within ``response_timeout``: :class:`engine.ResponseTimeoutError` (outcome
  unknown as well);
- the link was not bound within ``connect_timeout`` of the submit (or of the link going
  down), or the client closed first: :class:`engine.LinkDownError` -- the request was never
  written, so it was not delivered;
- ``max_queue`` requests already wait: :class:`engine.ClientQueueFullError` at once;
- the carrier throttled it more than ``max_throttle_retries`` times:
  :class:`engine.ThrottledError`.

Every exception above is an :class:`engine.LinkError`; its ``retry_safe`` says whether the
request may be sent again without risking a duplicate (see :mod:`engine.lifecycle`).

Throttling (ESME_RTHROTTLED 0x58, ESME_RMSGQFUL 0x14, SMPP 3.4 §5.1.3) has one owner, chosen
with ``throttle=`` (the policy itself is :class:`engine.session.flow.FlowControl`):

- ``"client"`` (default): the whole link pauses for ``throttle_pause`` seconds.  During the
  pause nothing new is sent; the client waits until every request still in flight is
  answered (or failed), then resends every throttled PDU in the order they were first
  submitted, before anything queued behind them.  With a window above 1, PDUs that were
  already in flight behind a throttled one and that the carrier accepted have overtaken it;
  nothing else can.  A request is resent at most ``max_throttle_retries`` times (default 5),
  then fails with :class:`engine.ThrottledError`;
- ``"caller"``: the throttling response is returned at once, like any other; the client
  neither pauses nor resends.  The caller backs off (``engine.scheduler.Pacer.throttled``)
  and requeues.

How long a submit can stay pending under the defaults: waiting for a bound link at most
``connect_timeout``; once written, each attempt ends within ``response_timeout`` (or the
enquire_link timeout kills a dead link); with ``throttle="client"`` at most
``1 + max_throttle_retries`` attempts separated by pauses of ``throttle_pause`` (plus the
time the requests ahead of it in the queue take).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import ssl as _ssl
from collections.abc import Iterable
from typing import Any, Literal

from engine._core import BindReceiver, BindTransceiver, BindTransmitter, Pdu, RequestPdu
from engine.aio._esme_entries import Batch, BatchEntry, Entry, FutureEntry, backoff_delay
from engine.aio._esme_link import DeliverCallback, EsmeProtocol, Link, LinkSettings
from engine.errors import (
    ConnectionLostError,
    LinkDownError,
    ResponseTimeoutError,
    SessionError,
    WindowFullError,
)
from engine.session import SessionConfig
from engine.session.flow import FlowControl, FlowEntry, ThrottleMode

__all__ = ["BindType", "DeliverCallback", "EsmeClient", "LinkDownError", "backoff_delay"]

log = logging.getLogger("engine.aio.client")

BindType = Literal["transmitter", "receiver", "transceiver", "pair"]

# Field limits of the bind PDUs (SMPP 3.4 §4.1.1, lengths without the terminating NUL).
_BIND_FIELD_MAX = {"system_id": 15, "password": 8, "system_type": 12, "address_range": 40}


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
    raises, the client answers ESME_RX_T_APPN so that the carrier retries; if it returns
    anything but ``None`` or an int 0..0xFFFFFFFF, ESME_RSYSERR (and logs it).  Without
    ``on_deliver`` every deliver_sm is acknowledged with status 0.  Reading from the carrier
    pauses while ``max_inbound_queue`` deliveries wait for ``on_deliver``, and while the
    carrier does not read what we write (the transport's buffer is full: submits wait).
    At most ``max_queue`` requests wait for a window slot (while the link is down, paused by
    a throttle or held by ``max_rate``); beyond that ``submit``/``submit_many`` raise
    :class:`engine.ClientQueueFullError` at once and send nothing.  ``throttle`` says who
    owns the back-off from a throttling carrier (``"client"``: pause and resend up to
    ``max_throttle_retries`` times, then :class:`engine.ThrottledError`; ``"caller"``: the
    throttling response is returned at once).  :attr:`capacity` says how many submits
    could be written right now.

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
        max_queue: int = 100_000,
        max_throttle_retries: int = 5,
        throttle: ThrottleMode = "client",
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
        for name, fvalue in (
            ("backoff_initial", backoff_initial),
            ("backoff_max", backoff_max),
            ("response_timeout", response_timeout),
            ("connect_timeout", connect_timeout),
            ("enquire_link_timeout", enquire_link_timeout),
        ):
            if not fvalue > 0:
                raise ValueError(f"{name}: expected > 0, got {fvalue}")
        if not close_grace >= 0:
            raise ValueError(f"close_grace: expected >= 0, got {close_grace}")
        if enquire_link_interval is not None and not enquire_link_interval > 0:
            raise ValueError(
                f"enquire_link_interval: expected > 0 or None, got {enquire_link_interval}"
            )
        # Half a window is written at once rather than at the end of the loop iteration
        # (only windows of 32 and more reach it): see submit().
        self._early_flush = max(16, window // 2)
        # the flow policy (validates max_queue, max_rate, throttle, max_throttle_retries)
        self._flow = FlowControl(
            max_queue=max_queue,
            max_rate=max_rate,
            throttle=throttle,
            throttle_pause=throttle_pause,
            max_throttle_retries=max_throttle_retries,
            early_flush=self._early_flush,
        )
        # The configuration as given (read-only: the links read _settings, fixed here).
        self.host = host
        self.port = port
        self.system_id = system_id
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
        self.max_queue = max_queue
        self.max_throttle_retries = max_throttle_retries
        self.throttle = throttle
        self.connect_timeout = connect_timeout
        self._settings = LinkSettings(
            host=host,
            port=port,
            system_id=system_id,
            password=password,
            system_type=system_type,
            interface_version=interface_version,
            address_range=address_range,
            ssl=ssl,
            session_config=SessionConfig(
                window=window,
                response_timeout=response_timeout,
                enquire_link_interval=enquire_link_interval,
                enquire_link_timeout=enquire_link_timeout,
            ),
            connect_timeout=connect_timeout,
            response_timeout=response_timeout,
            rebind=rebind,
            backoff_initial=backoff_initial,
            backoff_max=self.backoff_max,
            max_inbound_queue=max_inbound_queue,
            on_deliver=on_deliver,
        )
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self._links: list[Link] = []
        self._tx: Link | None = None
        self._started = False
        self._closing = False
        self._close_started = False
        self._closed_event: asyncio.Event | None = None
        # the flow's queue and in-flight map, aliased for the hot path (same objects)
        self._queue: collections.deque[Entry] = self._flow.queue  # type: ignore[assignment]
        self._inflight: dict[int, Entry] = self._flow.inflight  # type: ignore[assignment]
        self._resume_handle: asyncio.TimerHandle | None = None
        self._rate_handle: asyncio.TimerHandle | None = None
        # link-down expiry of queued submits
        self._down_since: float | None = 0.0
        self._expire_handle: asyncio.TimerHandle | None = None
        self._idle: asyncio.Event | None = None
        # the transmitting link's protocol while submit() may write at once (see _update_fast)
        self._fast: EsmeProtocol | None = None
        self._workers: set[asyncio.Task[None]] = set()  # on_deliver feeders, per connection

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
        return self._flow.queued

    @property
    def capacity(self) -> int:
        """How many submits could be written right now without waiting: the free window
        slots of the transmitting link less what is already queued for them (at most one
        under ``max_rate``).  0 while the link is unbound, paused by a throttle, closing,
        or while the carrier is not reading what we write."""
        link = self._tx
        if link is None or self._closing or not link.bound:
            return 0
        proto = link.protocol
        if proto is None or proto.writing_paused:
            return 0
        return self._flow.capacity(proto.session.window_free, self._loop.time())

    @property
    def sent_count(self) -> int:
        """Requests written so far (resends after a throttle included)."""
        return self._flow.sent_count

    @property
    def throttled_count(self) -> int:
        """Throttling answers (ESME_RTHROTTLED, ESME_RMSGQFUL) received so far."""
        return self._flow.throttled_count

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
        self._links = [Link(self, cls, f"{self.system_id}/{name}") for cls, name in specs]
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
        # every link's first bind: pending ones are cancelled, failed ones retrieved
        for link in self._links:
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
        if not self._flow.idle and self._tx is not None and self._tx.bound:
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
                proto.writing_paused = False  # the unbind goes to the transport's buffer
                try:
                    proto.session.unbind(loop.time())
                except SessionError:
                    continue
                proto.flush()
                waits.append(proto.unbind_waiter)
        if waits:
            with contextlib.suppress(TimeoutError):
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
                flow = self._flow
                flow.order += 1
                self._inflight[seq] = FutureEntry(flow.order, pdu, now, fut)
                flow.sent_count += 1
                if proto.session.pending_pdus >= self._early_flush:
                    # Half a window written now rather than at the end of the iteration:
                    # the carrier starts on it while we build the rest, so the two ends
                    # overlap instead of taking turns (measured: bench_smpp.py, window 64).
                    proto.flush()
                elif not proto.flush_scheduled:
                    proto.flush_scheduled = True
                    loop.call_soon(proto.flush)
                return await fut
        self._check_submit()
        flow = self._flow
        flow.check_room(1)  # bounded memory: ClientQueueFullError beyond max_queue
        fut = loop.create_future()
        flow.enqueue(FutureEntry(flow.next_order(), pdu, loop.time(), fut))
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
        flow = self._flow
        flow.check_room(len(items))
        batch = Batch(len(items), fut)
        order = flow.order
        append = self._queue.append
        for i, pdu in enumerate(items):
            order += 1
            append(BatchEntry(order, pdu, now, batch, i))
        flow.order = order
        self._pump()
        return await fut

    # the pump: queue -> session, as the window, the rate and throttling allow -----------

    def _pump(self) -> None:
        link = self._tx
        flow = self._flow
        if link is None or not link.bound:
            if link is not None and self._queue:
                self._arm_expiry()
            return
        proto = link.protocol
        if proto is None or proto.writing_paused or flow.paused or not self._queue:
            return
        now = self._loop.time()
        if flow.pump(proto.session, now, proto.flush):
            proto.schedule_flush()
        wake = flow.next_send_at(now)
        if wake is not None and self._rate_handle is None:
            self._rate_handle = self._loop.call_at(wake, self._rate_wakeup)

    def _rate_wakeup(self) -> None:
        self._rate_handle = None
        self._pump()

    def _on_failed(self, request: Any, exc_type: type[Exception]) -> None:
        if request.sequence_number not in self._inflight:
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
        self._flow.failed(request.sequence_number, exc_type(msg))

    def _after_responses(self) -> None:
        flow = self._flow
        if flow.paused:
            if flow.resume_due(self._loop.time()):
                self._resume()
        else:
            self._pump()
        if self._closing:
            self._check_idle()

    def _check_idle(self) -> None:
        if self._flow.idle and self._idle is not None:
            self._idle.set()

    # throttling ------------------------------------------------------------------------

    def _throttled(self, entry: FlowEntry, resp: Pdu) -> None:
        flow = self._flow
        was_paused = flow.paused
        until = flow.throttled(entry, resp, self._loop.time())
        if until is None:
            return  # throttle="caller": the response went back; nothing pauses here
        if not was_paused:
            self._fast = None
            log.info("link throttled by the carrier; pausing %.2f s", flow.throttle_pause)
        if self._resume_handle is not None:
            self._resume_handle.cancel()
        self._resume_handle = self._loop.call_at(until, self._resume_timer)

    def _resume_timer(self) -> None:
        self._resume_handle = None
        if self._flow.resume_due(self._loop.time()):
            self._resume()
        # else: the last in-flight response resumes (see _after_responses)

    def _resume(self) -> None:
        self._flow.resume()
        self._update_fast()
        if self._resume_handle is not None:
            self._resume_handle.cancel()
            self._resume_handle = None
        self._pump()

    # link up / down ---------------------------------------------------------------------

    def _update_fast(self) -> None:
        link = self._tx
        proto = link.protocol if link is not None and link.bound else None
        ok = (
            proto is not None
            and not proto.writing_paused
            and not self._flow.paused
            and not self._closing
            and not self._flow.interval
        )
        self._fast = proto if ok else None

    def _writable_changed(self, link: Link) -> None:
        if link is self._tx:
            self._update_fast()
            self._pump()

    def _link_up(self, link: Link) -> None:
        if link is self._tx:
            self._update_fast()
            self._down_since = None
            if self._expire_handle is not None:
                self._expire_handle.cancel()
                self._expire_handle = None
            self._pump()

    def _link_down(self, link: Link) -> None:
        if link is not self._tx:
            return
        self._fast = None
        # Every request in flight was failed through RequestAborted; anything the session
        # did not report is failed here, so that nothing is dropped silently.  Throttled
        # PDUs were refused by the carrier: they are queued again (no duplicate).
        self._flow.link_lost("connection lost with the request in flight; outcome unknown")
        if self._resume_handle is not None:
            self._resume_handle.cancel()
            self._resume_handle = None
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
        host, port, timeout = self.host, self.port, self.connect_timeout

        def error() -> LinkDownError:
            return LinkDownError(
                f"link to {host}:{port} not bound within connect_timeout={timeout} s;"
                " the PDU was not sent"
            )

        self._flow.expire(self._loop.time(), self._down_since, timeout, error)
        self._arm_expiry()

    def _fail_queued(self, why: str) -> None:
        flow = self._flow
        flow.fail_queued(lambda: LinkDownError(f"{why}; the PDU was not sent"))
        if flow.inflight and all(link.protocol is None for link in self._links):
            flow.fail_inflight(lambda: ConnectionLostError(f"{why}: outcome unknown"))
