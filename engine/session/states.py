"""Bind states and which requests each allows, per role and direction.

SMPP 3.4 §2.3 (session states) and §2.4 Table 2-1 (which PDUs each bind type may send):
an ESME bound as a transmitter submits and queries, one bound as a receiver only takes
deliveries, a transceiver does both; enquire_link and unbind go both ways in every bound
state.  Responses are not listed here: a response to a request in flight is always taken.

We are strict about what we send and lenient about one thing we receive: enquire_link is
answered before the bind as well (many ESMEs probe the link before binding).
"""

from __future__ import annotations

import enum

from engine.pdu.constants import CommandId

__all__ = ["BIND_STATES", "SessionState", "allowed_requests"]


class SessionState(enum.Enum):
    """State of an SMPP session (SMPP 3.4 §2.3; BINDING and UNBINDING are the waits for
    the bind and unbind responses, CLOSED means the connection must be closed)."""

    OPEN = "open"
    BINDING = "binding"
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    UNBINDING = "unbinding"
    CLOSED = "closed"


_C = CommandId
BINDS = frozenset({_C.BIND_TRANSMITTER, _C.BIND_RECEIVER, _C.BIND_TRANSCEIVER})
#: bind command_id -> the state a successful bind leads to
BIND_STATES: dict[int, SessionState] = {
    _C.BIND_TRANSMITTER: SessionState.BOUND_TX,
    _C.BIND_RECEIVER: SessionState.BOUND_RX,
    _C.BIND_TRANSCEIVER: SessionState.BOUND_TRX,
}
BOUND = frozenset({SessionState.BOUND_TX, SessionState.BOUND_RX, SessionState.BOUND_TRX})

_BOTH = frozenset({_C.ENQUIRE_LINK, _C.UNBIND})
# ESME -> SMSC when the ESME may transmit (Table 2-1: submit_sm, submit_multi, data_sm,
# query_sm, cancel_sm, replace_sm need a transmitter or transceiver bind).
_ESME_TX = _BOTH | {
    _C.SUBMIT_SM,
    _C.SUBMIT_MULTI,
    _C.DATA_SM,
    _C.QUERY_SM,
    _C.CANCEL_SM,
    _C.REPLACE_SM,
}
# SMSC -> ESME when the ESME may receive (deliver_sm, data_sm, alert_notification need a
# receiver or transceiver bind).
_SMSC_RX = _BOTH | {_C.DELIVER_SM, _C.DATA_SM, _C.ALERT_NOTIFICATION}
_NONE: frozenset[int] = frozenset()

_ESME_SENDS: dict[SessionState, frozenset[int]] = {
    SessionState.OPEN: BINDS,
    SessionState.BINDING: _NONE,
    SessionState.BOUND_TX: _ESME_TX,
    SessionState.BOUND_RX: _BOTH,
    SessionState.BOUND_TRX: _ESME_TX,
    SessionState.UNBINDING: _NONE,
    SessionState.CLOSED: _NONE,
}
_SMSC_SENDS: dict[SessionState, frozenset[int]] = {
    SessionState.OPEN: frozenset({_C.OUTBIND}),
    SessionState.BINDING: _NONE,
    SessionState.BOUND_TX: _BOTH,
    SessionState.BOUND_RX: _SMSC_RX,
    SessionState.BOUND_TRX: _SMSC_RX,
    SessionState.UNBINDING: _NONE,
    SessionState.CLOSED: _NONE,
}
_EARLY_ENQUIRE = frozenset({_C.ENQUIRE_LINK})


def allowed_requests(role: str, state: SessionState, *, sending: bool) -> frozenset[int]:
    """command_ids of the requests that ``role`` ("esme" or "smsc") may send
    (``sending=True``) or accept from its peer (``sending=False``) in ``state``.

    UNBINDING is not covered here for receiving: the session keeps accepting what the
    bound state before it accepted, since the peer may send before it sees our unbind.
    """
    if sending:
        return (_ESME_SENDS if role == "esme" else _SMSC_SENDS)[state]
    table = _SMSC_SENDS if role == "esme" else _ESME_SENDS
    if state is SessionState.OPEN:
        # the ESME accepts outbind in OPEN (§2.2.1); the SMSC accepts binds
        return table[state] | _EARLY_ENQUIRE
    if state is SessionState.BINDING:
        return _EARLY_ENQUIRE
    return table[state]
