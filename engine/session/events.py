"""Events that :class:`engine.session.Session` returns from ``receive_data``, ``tick`` and
``connection_lost``.

Small immutable msgspec Structs: one allocation per event with a C-level ``__init__`` (about
half the cost of a ``__slots__`` class with a Python ``__init__``; the submit path makes
one per PDU), positional or keyword construction, equality by type and fields.  The
application reacts to each; the session has already done everything the protocol requires
by itself (answered enquire_link, unbind, refused PDUs).
"""

from __future__ import annotations

from typing import Any

import msgspec

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


class Event(msgspec.Struct, frozen=True):
    """Base of every session event."""


class RequestReceived(Event, frozen=True, gc=False):
    """A request from the peer that the application must answer with
    ``session.send_response(pdu.make_response(...))`` (alert_notification and outbind have
    no response: nothing to answer)."""

    pdu: Any


class BindRequested(Event, frozen=True, gc=False):
    """SMSC side: a bind_transmitter/receiver/transceiver arrived in the OPEN state.

    Answer with ``send_response(pdu.make_response(system_id=..., command_status=...))``;
    the session becomes bound only on status 0 (on another status it returns to OPEN and
    the caller should close the connection)."""

    pdu: Any


class ResponseReceived(Event, frozen=True, gc=False):
    """The response (or a generic_nack) to a request we sent, matched by sequence_number."""

    request: Any
    response: Any


class RequestTimedOut(Event, frozen=True, gc=False):
    """No response within ``response_timeout``: the window slot is free again and a late
    response for it is dropped (counted in ``Session.late_responses``).  Outcome unknown."""

    request: Any


class RequestAborted(Event, frozen=True, gc=False):
    """The connection was lost with this request in flight: outcome unknown."""

    request: Any


class Bound(Event, frozen=True):
    """ESME side: our bind succeeded; ``state`` is the new bound state."""

    state: SessionState
    response: Any


class BindFailed(Event, frozen=True):
    """ESME side: the bind was refused (``response.command_status``), or answered with
    generic_nack.  The session is OPEN again; a timed-out bind gives RequestTimedOut."""

    response: Any


class UnbindReceived(Event, frozen=True):
    """The peer unbound; the session has queued unbind_resp.  Flush, then close."""


class Unbound(Event, frozen=True):
    """Our unbind was answered (unbind_resp or generic_nack).  Close the connection."""


class PeerDead(Event, frozen=True):
    """The session gave up on the peer: ``reason`` is "enquire_link timeout",
    "inactivity timeout", "bind timeout" or "framing error".  Close the transport."""

    reason: str


class ProtocolError(Event, frozen=True):
    """The peer sent something wrong (``error`` is the DecodeError or a SessionError).

    The session has already answered it (generic_nack or the error response) when an
    answer is due; when ``error.recoverable`` is False a PeerDead follows."""

    error: SmppError
