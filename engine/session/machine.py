"""The SMPP 3.4 session as a sans-IO state machine, in the manner of h11.

Feed it the bytes that arrive (``receive_data``), tell it what to send (``send_request``,
``send_response``), take the bytes to write (``data_to_send``) and call ``tick`` when
``next_deadline`` comes.  It never sleeps, never reads a clock (``now`` is always an
argument, in seconds on any monotonic scale) and does no I/O.

What the session does by itself: answers enquire_link and unbind, refuses requests that the
bind state does not allow (their response with ESME_RINVBNDSTS, or generic_nack when they
have no response, SMPP 3.4 §2.4), answers undecodable PDUs (generic_nack, §3.3 / §4.3),
sends enquire_link after an idle interval, numbers its requests and matches responses.
"""

from __future__ import annotations

from typing import Any, Literal

from engine._core import (
    EnquireLink,
    GenericNack,
    PduReader,
    RequestPdu,
    Unbind,
    encode,
    encode_many,
)
from engine.errors import DecodeError, SessionError, WindowFullError
from engine.pdu.constants import CommandId, CommandStatus
from engine.session.config import SessionConfig
from engine.session.events import (
    BindFailed,
    BindRequested,
    Bound,
    Event,
    PeerDead,
    ProtocolError,
    RequestAborted,
    RequestReceived,
    RequestTimedOut,
    ResponseReceived,
    UnbindReceived,
    Unbound,
)
from engine.session.states import BIND_STATES, BINDS, BOUND, SessionState, allowed_requests

__all__ = ["Session"]

_MAX_SEQ = 0x7FFFFFFF  # §3.2: sequence_number 0x00000001 .. 0x7FFFFFFF
_RESP_BIT = 0x80000000
_ENQUIRE_LINK = int(CommandId.ENQUIRE_LINK)
_UNBIND = int(CommandId.UNBIND)
_GENERIC_NACK = int(CommandId.GENERIC_NACK)
_RINVBNDSTS = int(CommandStatus.ESME_RINVBNDSTS)
_RALYBND = int(CommandStatus.ESME_RALYBND)
_RINVCMDLEN = int(CommandStatus.ESME_RINVCMDLEN)
_BIND_IDS = frozenset(int(c) for c in BINDS)
_BIND_RESP_IDS = frozenset(int(c) | _RESP_BIT for c in BINDS)

_NOTHING: frozenset[int] = frozenset()
# link control may always be sent, however full the window: one can always unbind
_OUTSIDE_WINDOW = frozenset({_ENQUIRE_LINK, _UNBIND, *_BIND_IDS})
# requests without a response PDU (§4.12 alert_notification, §4.1.7 outbind)
_NO_RESPONSE = frozenset({int(CommandId.ALERT_NOTIFICATION), int(CommandId.OUTBIND)})
# requests the session answers or acts on itself, never passed on as RequestReceived
_SESSION_OWNED = frozenset({_ENQUIRE_LINK, _UNBIND, *_BIND_IDS})
# plain responses the application sends (bind responses change the state: slow path)
_PLAIN_RESPONSES = frozenset(
    int(c) for c in CommandId if int(c) & _RESP_BIT and int(c) not in _BIND_RESP_IDS
)
# responses matched to requests on the fast path (bind and unbind ones change the state)
_PLAIN_MATCHED = _PLAIN_RESPONSES - {int(CommandId.UNBIND_RESP), _GENERIC_NACK}

_OPEN = SessionState.OPEN
_BINDING = SessionState.BINDING
_UNBINDING = SessionState.UNBINDING
_CLOSED = SessionState.CLOSED


class Session:
    """One SMPP session, either role.

    ``role`` is "esme" (we bind to an SMSC) or "smsc" (ESMEs bind to us).  ``now`` is the
    time the connection was made (for the SMSC's bind timeout).

    Attributes: ``state`` (:class:`SessionState`), ``role``, ``config``, ``outstanding``
    (requests we sent awaiting a response), ``window_free``, ``bind_pdu`` (the bind request
    of this session, sent or received, once there is one), and counters
    ``late_responses`` (responses to requests that had timed out or were never sent) and
    ``protocol_errors``.
    """

    def __init__(
        self,
        role: Literal["esme", "smsc"],
        config: SessionConfig | None = None,
        now: float = 0.0,
    ) -> None:
        if role not in ("esme", "smsc"):
            raise ValueError(f"Session role must be 'esme' or 'smsc', got {role!r}")
        self.role: str = role
        self.config: SessionConfig = config if config is not None else SessionConfig()
        self._reader = PduReader(self.config.max_pdu_length)
        self._window = self.config.window
        self._response_timeout = self.config.response_timeout
        # seq -> (request, deadline).  Every request gets the same timeout, so insertion
        # order is deadline order and the first entry is always the next to expire.
        self._outstanding: dict[int, tuple[Any, float]] = {}
        self._next_seq = 1
        self._out: list[bytes] = []
        self._last_rx = now
        # the session's own enquire_link: its sequence_number and deadline (0 = none)
        self._probe_seq = 0
        self._probe_deadline = 0.0
        self._bind_deadline: float | None = (
            now + self.config.bind_timeout if role == "smsc" else None
        )
        # when the first byte of the PDU still incomplete in the reader arrived (None: the
        # reader holds no partial PDU); pdu_read_timeout runs from it
        self._partial_since: float | None = None
        self.bind_pdu: Any = None
        self.late_responses = 0
        self.protocol_errors = 0
        self._lost = False
        self.state = _OPEN
        self._set_state(_OPEN)

    # -- state ------------------------------------------------------------------------

    def _set_state(self, state: SessionState) -> None:
        self.state = state
        role = self.role
        self._tx_ok = allowed_requests(role, state, sending=True)
        if state is _CLOSED:
            self._rx_ok = self._rx_plain = _NOTHING
        elif state is not _UNBINDING:
            # while unbinding we keep accepting what the bound state accepted: the peer
            # may have sent it before it saw our unbind
            self._rx_ok = allowed_requests(role, state, sending=False)
            self._rx_plain = self._rx_ok - _SESSION_OWNED
        # responses the application may send without a state change (binds' are checked)
        self._resp_ok = _NOTHING if self._lost else _PLAIN_RESPONSES

    @property
    def outstanding(self) -> int:
        """Requests we sent that await a response (the session's own enquire_link aside)."""
        return len(self._outstanding)

    @property
    def window_free(self) -> int:
        """How many more requests may be sent now (``config.window - outstanding``)."""
        free = self._window - len(self._outstanding)
        return free if free > 0 else 0

    @property
    def is_bound(self) -> bool:
        """True in BOUND_TX, BOUND_RX and BOUND_TRX."""
        return self.state in BOUND

    def outstanding_requests(self) -> list[Any]:
        """The requests in flight, oldest first."""
        return [entry[0] for entry in self._outstanding.values()]

    # -- sending ----------------------------------------------------------------------

    def _alloc_seq(self) -> int:
        seq = self._next_seq
        outstanding = self._outstanding
        # skip numbers still in flight (a window never holds 2**31 - 1 of them)
        while seq in outstanding or seq == self._probe_seq:
            seq = seq + 1 if seq < _MAX_SEQ else 1
        self._next_seq = seq + 1 if seq < _MAX_SEQ else 1
        return seq

    def send_request(self, pdu: RequestPdu, now: float) -> int:
        """Queue a request; assign and return its sequence_number.

        Raises WindowFullError when ``window_free`` is 0 (bind, unbind and enquire_link are
        exempt: link control is always possible), SessionError when the state does
        not allow this request (e.g. submit_sm before the bind, deliver_sm from an ESME,
        submit_sm on a receiver bind).  A bind moves OPEN -> BINDING, an unbind moves the
        bound state to UNBINDING.
        """
        cid = pdu.command_id
        outstanding = self._outstanding
        if cid not in self._tx_ok:
            raise SessionError(
                f"{self.role} may not send {pdu.command_name} in state {self.state.name}",
                command_status=_RINVBNDSTS,
            )
        if len(outstanding) >= self._window and cid not in _OUTSIDE_WINDOW:
            raise WindowFullError(
                f"window of {self._window} outstanding requests is full",
                command_status=int(CommandStatus.ESME_RTHROTTLED),
            )
        seq = self._next_seq
        if seq in outstanding or seq == self._probe_seq:
            seq = self._alloc_seq()
        else:
            self._next_seq = seq + 1 if seq < _MAX_SEQ else 1
        pdu.sequence_number = seq
        # encoded now, so that a value the codec refuses raises EncodeError (naming the
        # field) to the caller of this request, before anything is registered
        self._out.append(encode(pdu))
        if cid not in _NO_RESPONSE:
            outstanding[seq] = (pdu, now + self._response_timeout)
        if cid in _OUTSIDE_WINDOW:
            if cid in _BIND_IDS:
                self.bind_pdu = pdu
                self._set_state(_BINDING)
            elif cid == _UNBIND:
                self._set_state(_UNBINDING)
        return seq

    def send_response(self, pdu: Any) -> None:
        """Queue the answer to a RequestReceived or BindRequested (same sequence_number).

        On the SMSC side a bind response moves BINDING to the bound state when its
        command_status is 0, else back to OPEN.
        """
        cid = pdu.command_id
        if cid in self._resp_ok:  # the common case: any response but a bind's
            self._out.append(encode(pdu))
            return
        if not cid & _RESP_BIT:
            raise SessionError(f"send_response needs a response PDU, got {pdu.command_name}")
        if self._lost:
            raise SessionError(f"connection lost; cannot send {pdu.command_name}")
        data = encode(pdu)  # EncodeError (naming the field) before any state change
        if cid in _BIND_RESP_IDS:
            if self.state is not _BINDING or self.role != "smsc":
                raise SessionError(f"no bind to answer with {pdu.command_name}")
            if (cid & ~_RESP_BIT) != self.bind_pdu.command_id:
                raise SessionError(
                    f"{pdu.command_name} does not answer {self.bind_pdu.command_name}"
                )
            if pdu.command_status == 0:
                self._bind_deadline = None
                self._set_state(BIND_STATES[cid & ~_RESP_BIT])
            else:
                self._set_state(_OPEN)
        self._out.append(data)

    def send_responses(self, pdus: list[Any]) -> None:
        """Queue several plain responses (not bind responses) with one encode call.

        All or nothing: raises SessionError if one is not a plain response (or the
        connection is lost) and EncodeError if one cannot be encoded, before any is queued.
        """
        ok = self._resp_ok
        for pdu in pdus:
            if pdu.command_id not in ok:
                raise SessionError(f"send_responses takes plain responses, got {pdu.command_name}")
        if pdus:
            self._out.append(encode_many(pdus))

    def send(self, pdu: Any, now: float) -> int | None:
        """Send any PDU: requests go to :meth:`send_request` (returns the sequence_number),
        responses to :meth:`send_response` (returns None)."""
        if pdu.command_id & _RESP_BIT:
            self.send_response(pdu)
            return None
        return self.send_request(pdu, now)

    def unbind(self, now: float) -> int:
        """Send unbind (state -> UNBINDING); returns its sequence_number."""
        return self.send_request(Unbind(), now)

    @property
    def pending_pdus(self) -> int:
        """How many PDUs wait in the output buffer for the next :meth:`data_to_send`."""
        return len(self._out)

    def data_to_send(self) -> bytes:
        """Every PDU queued since the last call, in one buffer (b"" if none).

        PDUs are encoded when queued (so that the caller of ``send_*`` gets the
        EncodeError); this only joins them.
        """
        out = self._out
        if not out:
            return b""
        self._out = []
        return out[0] if len(out) == 1 else b"".join(out)

    # -- receiving --------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Take bytes from the peer (any chunking); return the events they cause."""
        if self.state is _CLOSED:
            return []
        self._last_rx = now
        events: list[Event] = []
        try:
            pdus = self._reader.feed(data)
        except DecodeError as exc:
            # the framing is lost (command_length out of bounds): take what came before,
            # answer with generic_nack (§3.3) and give up on the stream
            for pdu in getattr(exc, "pdus", ()):
                self._handle(pdu, events, now)
            self.protocol_errors += 1
            seq = exc.sequence_number if exc.sequence_number is not None else 0
            self._out.append(encode(GenericNack(sequence_number=seq, command_status=_RINVCMDLEN)))
            events.append(ProtocolError(exc))
            events.append(PeerDead("framing error"))
            self._set_state(_CLOSED)
            return events
        if self._reader.buffered:
            # a PDU begun: its deadline runs from its first byte, which arrived in this read
            # unless the previous read ended inside the same PDU (nothing completed since)
            if pdus or self._partial_since is None:
                self._partial_since = now
        else:
            self._partial_since = None
        # fast path: requests the state lets through to the application, and responses
        # to what we sent; anything else (and every state change) goes to _handle.
        # Responses are matched even after the peer's unbind in the same read: an answer
        # to a request in flight is never thrown away.
        outstanding = self._outstanding
        for pdu in pdus:
            if not isinstance(pdu, Exception):
                cid = pdu.command_id
                if cid in self._rx_plain:
                    events.append(RequestReceived(pdu))
                    continue
                if cid in _PLAIN_MATCHED:
                    seq = pdu.sequence_number
                    entry = outstanding.get(seq)
                    if entry is not None and cid == entry[0].command_id | _RESP_BIT:
                        del outstanding[seq]
                        events.append(ResponseReceived(entry[0], pdu))
                        continue
            self._handle(pdu, events, now)
        return events

    def _handle(self, pdu: Any, events: list[Event], now: float) -> None:
        if self.state is _CLOSED:
            return
        if isinstance(pdu, Exception):
            self._decode_error(pdu, events)
            return
        cid = pdu.command_id
        if cid & _RESP_BIT:
            self._response(pdu, cid, events)
        elif cid in self._rx_ok:
            if cid == _ENQUIRE_LINK:
                self._out.append(encode(pdu.make_response()))
            elif cid == _UNBIND:
                self._out.append(encode(pdu.make_response()))
                self._set_state(_CLOSED)
                events.append(UnbindReceived())
            elif cid in _BIND_IDS:
                self.bind_pdu = pdu
                self._set_state(_BINDING)
                events.append(BindRequested(pdu))
            else:
                events.append(RequestReceived(pdu))
        else:
            self._refuse(pdu, cid, events)

    def _refuse(self, pdu: Any, cid: int, events: list[Event]) -> None:
        # a request the bind state does not allow: its response with ESME_RINVBNDSTS
        # (ESME_RALYBND for a second bind, §4.1), or generic_nack if it has no response
        self.protocol_errors += 1
        status = _RALYBND if cid in _BIND_IDS and self.state is not _OPEN else _RINVBNDSTS
        if pdu.response_class is not None:
            self._out.append(encode(pdu.make_response(command_status=status)))
        else:
            nack = GenericNack(sequence_number=pdu.sequence_number, command_status=status)
            self._out.append(encode(nack))
        events.append(
            ProtocolError(
                SessionError(
                    f"peer sent {pdu.command_name} in state {self.state.name}",
                    command_status=status,
                )
            )
        )

    def _decode_error(self, err: Any, events: list[Event]) -> None:
        # §3.3: a PDU that frames but does not decode.  Requests get generic_nack with the
        # error's status; responses are never answered (two peers must not nack each
        # other's nacks forever) -- the request they answer runs into its timeout.
        self.protocol_errors += 1
        cid = err.command_id
        if cid is not None and not cid & _RESP_BIT:
            seq = err.sequence_number if err.sequence_number is not None else 0
            self._out.append(
                encode(GenericNack(sequence_number=seq, command_status=err.command_status))
            )
        events.append(ProtocolError(err))

    def _response(self, pdu: Any, cid: int, events: list[Event]) -> None:
        seq = pdu.sequence_number
        entry = self._outstanding.get(seq)
        if entry is None:
            if seq == self._probe_seq and seq:
                self._probe_seq = 0  # our enquire_link was answered
            else:
                self.late_responses += 1
            return
        request = entry[0]
        rcid = request.command_id
        if cid != (rcid | _RESP_BIT) and cid != _GENERIC_NACK:
            # a response of the wrong type for this sequence_number: keep waiting for the
            # right one (or the timeout); report it
            self.protocol_errors += 1
            events.append(
                ProtocolError(
                    SessionError(f"{pdu.command_name} answers {request.command_name} (seq {seq})")
                )
            )
            return
        del self._outstanding[seq]
        if rcid in _BIND_IDS:
            if self.state is _BINDING:
                if pdu.command_status == 0 and cid != _GENERIC_NACK:
                    state = BIND_STATES[rcid]
                    self._set_state(state)
                    events.append(Bound(state, pdu))
                else:
                    self._set_state(_OPEN)
                    events.append(BindFailed(pdu))
            return
        if rcid == _UNBIND:
            self._set_state(_CLOSED)
            events.append(Unbound())
            return
        events.append(ResponseReceived(request, pdu))

    # -- timers -----------------------------------------------------------------------

    def tick(self, now: float) -> list[Event]:
        """Fire every timer due at ``now``: response timeouts, the enquire_link probe and
        its timeout, and (SMSC) the bind and inactivity timeouts."""
        events: list[Event] = []
        outstanding = self._outstanding
        while outstanding:
            seq = next(iter(outstanding))
            request, deadline = outstanding[seq]
            if deadline > now:
                break
            del outstanding[seq]
            events.append(RequestTimedOut(request))
            if request.command_id in _BIND_IDS and self.state is _BINDING:
                self._set_state(_OPEN)
            elif request.command_id == _UNBIND and self.state is _UNBINDING:
                self._set_state(_CLOSED)
        state = self.state
        if state is _CLOSED:
            return events
        cfg = self.config
        if self._bind_deadline is not None and now >= self._bind_deadline:
            return self._die("bind timeout", events)
        if cfg.inactivity_timeout is not None and now >= self._last_rx + cfg.inactivity_timeout:
            return self._die("inactivity timeout", events)
        partial = self._partial_since
        limit = cfg.pdu_read_timeout
        if partial is not None and limit is not None and now >= partial + limit:
            return self._die(
                f"PDU read timeout: {self._reader.buffered} bytes of a PDU begun"
                f" {now - partial:.1f} s ago, not completed within {limit:g} s",
                events,
            )
        if self._probe_seq:
            if now >= self._probe_deadline:
                return self._die("enquire_link timeout", events)
        elif (
            cfg.enquire_link_interval is not None
            and state in BOUND
            and now >= self._last_rx + cfg.enquire_link_interval
        ):
            seq = self._alloc_seq()
            self._probe_seq = seq
            self._probe_deadline = now + cfg.enquire_link_timeout
            self._out.append(encode(EnquireLink(sequence_number=seq)))
        return events

    def _die(self, reason: str, events: list[Event]) -> list[Event]:
        self._set_state(_CLOSED)
        events.append(PeerDead(reason))
        return events

    def next_deadline(self) -> float | None:
        """When :meth:`tick` must next be called (None: no timer is running)."""
        if self.state is _CLOSED:
            best = None
        else:
            cfg = self.config
            best = self._bind_deadline
            if cfg.inactivity_timeout is not None:
                t = self._last_rx + cfg.inactivity_timeout
                if best is None or t < best:
                    best = t
            if self._partial_since is not None and cfg.pdu_read_timeout is not None:
                t = self._partial_since + cfg.pdu_read_timeout
                if best is None or t < best:
                    best = t
            if self._probe_seq:
                t = self._probe_deadline
                if best is None or t < best:
                    best = t
            elif cfg.enquire_link_interval is not None and self.state in BOUND:
                t = self._last_rx + cfg.enquire_link_interval
                if best is None or t < best:
                    best = t
        if self._outstanding:
            t = self._outstanding[next(iter(self._outstanding))][1]
            if best is None or t < best:
                best = t
        return best

    def connection_lost(self) -> list[Event]:
        """The transport is gone: every request in flight becomes RequestAborted (outcome
        unknown), the session is CLOSED and nothing more will be sent."""
        events: list[Event] = [RequestAborted(entry[0]) for entry in self._outstanding.values()]
        self._outstanding.clear()
        self._probe_seq = 0
        self._out = []
        self._lost = True
        self._set_state(_CLOSED)
        return events

    def __repr__(self) -> str:
        return (
            f"<Session {self.role} {self.state.name} outstanding={len(self._outstanding)}"
            f" window={self._window}>"
        )
