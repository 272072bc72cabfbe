"""Events that :class:`engine.session.Session` returns from ``receive_data``, ``tick`` and
``connection_lost``.

Small classes with ``__slots__``: one allocation per event, no validation (the session
builds them).  The application reacts to each; the session has already done everything
the protocol requires by itself (answered enquire_link, unbind, refused PDUs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.errors import SmppError
    from engine.session.states import SessionState

__all__ = [
    "BindFailed",
    "BindRequested",
    "Bound",
    "Event",
    "PeerDead",
    "ProtocolError",
    "RequestAborted",
    "RequestReceived",
    "RequestTimedOut",
    "ResponseReceived",
    "UnbindReceived",
    "Unbound",
]


class Event:
    """Base of every session event."""

    __slots__ = ()

    def __repr__(self) -> str:
        names: tuple[str, ...] = self.__slots__
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        names: tuple[str, ...] = self.__slots__
        return all(getattr(self, n) == getattr(other, n) for n in names)

    __hash__ = None  # type: ignore[assignment]


class RequestReceived(Event):
    """A request from the peer that the application must answer with
    ``session.send_response(pdu.make_response(...))`` (alert_notification and outbind have
    no response: nothing to answer)."""

    __slots__ = ("pdu",)

    def __init__(self, pdu: Any) -> None:
        self.pdu = pdu


class BindRequested(Event):
    """SMSC side: a bind_transmitter/receiver/transceiver arrived in the OPEN state.

    Answer with ``send_response(pdu.make_response(system_id=..., command_status=...))``;
    the session becomes bound only on status 0 (on another status it returns to OPEN and
    the caller should close the connection)."""

    __slots__ = ("pdu",)

    def __init__(self, pdu: Any) -> None:
        self.pdu = pdu


class ResponseReceived(Event):
    """The response (or a generic_nack) to a request we sent, matched by sequence_number."""

    __slots__ = ("request", "response")

    def __init__(self, request: Any, response: Any) -> None:
        self.request = request
        self.response = response


class RequestTimedOut(Event):
    """No response within ``response_timeout``: the window slot is free again and a late
    response for it is dropped (counted in ``Session.late_responses``).  Outcome unknown."""

    __slots__ = ("request",)

    def __init__(self, request: Any) -> None:
        self.request = request


class RequestAborted(Event):
    """The connection was lost with this request in flight: outcome unknown."""

    __slots__ = ("request",)

    def __init__(self, request: Any) -> None:
        self.request = request


class Bound(Event):
    """ESME side: our bind succeeded; ``state`` is the new bound state."""

    __slots__ = ("response", "state")

    def __init__(self, state: SessionState, response: Any) -> None:
        self.state = state
        self.response = response


class BindFailed(Event):
    """ESME side: the bind was refused (``response.command_status``), or answered with
    generic_nack.  The session is OPEN again; a timed-out bind gives RequestTimedOut."""

    __slots__ = ("response",)

    def __init__(self, response: Any) -> None:
        self.response = response


class UnbindReceived(Event):
    """The peer unbound; the session has queued unbind_resp.  Flush, then close."""

    __slots__ = ()


class Unbound(Event):
    """Our unbind was answered (unbind_resp or generic_nack).  Close the connection."""

    __slots__ = ()


class PeerDead(Event):
    """The session gave up on the peer: ``reason`` is "enquire_link timeout",
    "inactivity timeout", "bind timeout" or "framing error".  Close the transport."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


class ProtocolError(Event):
    """The peer sent something wrong (``error`` is the DecodeError or a SessionError).

    The session has already answered it (generic_nack or the error response) when an
    answer is due; when ``error.recoverable`` is False a PeerDead follows."""

    __slots__ = ("error",)

    def __init__(self, error: SmppError) -> None:
        self.error = error
