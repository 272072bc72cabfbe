"""What a carrier's answer means for a Twilio-style message: its status and error code.

Pure (core ring): no I/O, no clock.  Three questions, one function each, used by the demo
and by the daemon's dispatcher alike:

- :func:`submit_outcome`: the carrier answered a submit_sm with ``command_status``;
- :func:`receipt_outcome`: a delivery receipt arrived with ``stat`` and ``err``;
- :func:`link_error_outcome`: the client raised instead of returning a response.

Each returns an :class:`Outcome` (Twilio status, ``error_code``, ``error_message``); the
codes are Twilio's delivery errors (the 300xx family, see the reference
``twilio-compat.md``), chosen by the SMPP 3.4 status (§5.1.3) or receipt state
(Appendix B).

Delivery policy for an unknown outcome (:class:`engine.ConnectionLostError`,
:class:`engine.ResponseTimeoutError`: the request was written and no answer came):
at-least-once by default.  :func:`link_error_outcome` returns ``None`` (requeue) and the
caller flags the message as a possible duplicate (``exc.retry_safe`` is false) so that a
late receipt for the first attempt still matches.  With ``at_most_once=True`` it returns
``failed`` / 30008 instead and the message is never sent twice.
"""

from __future__ import annotations

from typing import NamedTuple

from engine.errors import EncodeError, LinkError, SessionError
from engine.pdu.constants import CommandStatus

__all__ = [
    "EXPIRED_CODE",
    "UNKNOWN_CODE",
    "Outcome",
    "link_error_outcome",
    "receipt_outcome",
    "submit_outcome",
]

EXPIRED_CODE = 30036
"""Twilio's code for a message whose validity period ran out while it was queued."""

UNKNOWN_CODE = 30008
"""Twilio's catch-all delivery error ("Unknown error")."""

_UNREACHABLE = 30003  # handset unreachable (off, no signal, absent)
_BLOCKED = 30004  # blocked for this destination (barred, opted out at the carrier)
_UNKNOWN_DEST = 30005  # unknown destination handset / number no longer exists
_LANDLINE = 30006  # landline or a carrier that cannot take SMS
_FILTERED = 30007  # filtered by the carrier
_TOO_BIG = 30019  # content size over the carrier's limit


class Outcome(NamedTuple):
    """A message's Twilio status after one event, with the error code when it failed.

    ``status`` is one of "queued" (send again later: nothing failed), "sent" (the carrier
    has it; a receipt may follow), "delivered", "undelivered", "failed".
    """

    status: str
    error_code: int | None
    error_message: str | None


SENT = Outcome("sent", None, None)
DELIVERED = Outcome("delivered", None, None)
REQUEUE = Outcome("queued", None, None)

# ---------------------------------------------------------------------------------------
# submit_sm_resp command_status (SMPP 3.4 §5.1.3) -> Twilio error code of a failed submit.
# A refused submit never reached the handset: Twilio's status is "failed".
# ---------------------------------------------------------------------------------------

_C = CommandStatus
_SUBMIT_CODES: dict[int, tuple[int, str]] = {
    # the destination itself is wrong: "unknown destination handset"
    _C.ESME_RINVDSTADR: (_UNKNOWN_DEST, "the carrier refused the destination address"),
    _C.ESME_RINVDSTTON: (_UNKNOWN_DEST, "the carrier refused the destination TON"),
    _C.ESME_RINVDSTNPI: (_UNKNOWN_DEST, "the carrier refused the destination NPI"),
    # the content is too long for the carrier
    _C.ESME_RINVMSGLEN: (_TOO_BIG, "the carrier refused the message length"),
    # refused by the carrier's application: filtering is what carriers use these for
    _C.ESME_RX_P_APPN: (_FILTERED, "the carrier refused the message permanently"),
    _C.ESME_RX_R_APPN: (_FILTERED, "the carrier rejected the message"),
}

# Answers that mean "not now": the message is queued again, not failed.
_RETRY_LATER = frozenset({int(_C.ESME_RTHROTTLED), int(_C.ESME_RMSGQFUL)})


def _status_name(command_status: int) -> str:
    try:
        return CommandStatus(command_status).name
    except ValueError:
        return "unknown status"


def submit_outcome(command_status: int) -> Outcome:
    """The outcome of a submit_sm answered with ``command_status`` (SMPP 3.4 §5.1.3).

    - 0 (ESME_ROK): ``sent``;
    - ESME_RTHROTTLED (0x58), ESME_RMSGQFUL (0x14): ``queued`` -- the carrier asks to slow
      down; send again later, it is not a failure;
    - ESME_RINVDSTADR / RINVDSTTON / RINVDSTNPI: ``failed`` 30005 (unknown destination);
    - ESME_RINVMSGLEN: ``failed`` 30019 (content size over the carrier's limit);
    - ESME_RX_P_APPN / ESME_RX_R_APPN: ``failed`` 30007 (refused by the carrier);
    - anything else: ``failed`` 30008 with a message naming the status.
    """
    if command_status == 0:
        return SENT
    if command_status in _RETRY_LATER:
        return REQUEUE
    name = _status_name(command_status)
    known = _SUBMIT_CODES.get(command_status)
    if known is not None:
        code, why = known
        return Outcome("failed", code, f"{why} ({name}, 0x{command_status:08X})")
    return Outcome(
        "failed", UNKNOWN_CODE, f"the carrier refused the submit ({name}, 0x{command_status:08X})"
    )


# ---------------------------------------------------------------------------------------
# Delivery receipts (SMPP 3.4 Appendix B): stat -> status; err refines the code.
# ---------------------------------------------------------------------------------------

# Final receipt states that are not a delivery: (default code, what it means).
_RECEIPT_FAILURES: dict[str, tuple[int, str]] = {
    "UNDELIV": (UNKNOWN_CODE, "undeliverable"),
    # validity expired at the carrier: the handset was not reachable for that long
    "EXPIRED": (_UNREACHABLE, "expired at the carrier"),
    "DELETED": (UNKNOWN_CODE, "deleted by the carrier"),
    # the carrier accepted the submit, then refused to deliver: its filtering, mostly
    "REJECTD": (_FILTERED, "rejected by the carrier"),
    "UNKNOWN": (UNKNOWN_CODE, "in an unknown state at the carrier"),
}
# Intermediate states: the carrier has the message; a final receipt may follow.
_RECEIPT_INTERMEDIATE = frozenset({"ENROUTE", "ACCEPTD"})

# The receipt's ``err`` is network specific (Appendix B); many carriers put the GSM MAP
# error of the failed delivery there (3GPP TS 29.002 §17.6), zero padded to three digits.
# Only the unambiguous ones refine the code; any other err keeps the stat's default.
_MAP_ERRORS: dict[int, tuple[int, str]] = {
    1: (_UNKNOWN_DEST, "unknown subscriber"),
    5: (_UNKNOWN_DEST, "unidentified subscriber"),
    9: (_UNKNOWN_DEST, "illegal subscriber"),
    11: (_LANDLINE, "teleservice not provisioned"),
    13: (_BLOCKED, "call barred"),
    27: (_UNREACHABLE, "absent subscriber"),
    31: (_UNREACHABLE, "subscriber busy for MT SMS"),
    32: (_UNREACHABLE, "SMS delivery failure"),
}

_MAX_ERR_DIGITS = 10  # err is 3 octets in Appendix B; bound what we parse from a peer


def receipt_outcome(stat: str | None, err: str | None) -> Outcome:
    """The outcome of a delivery receipt with state ``stat`` and error ``err``.

    - DELIVRD: ``delivered``;
    - ENROUTE, ACCEPTD: ``sent`` (intermediate: the carrier has it, a final receipt may
      follow);
    - UNDELIV: ``undelivered`` 30008, EXPIRED 30003, DELETED 30008, REJECTD 30007,
      UNKNOWN 30008; for UNDELIV, REJECTD and UNKNOWN a GSM MAP error in ``err`` refines
      the code (1/5/9 -> 30005, 11 -> 30006, 13 -> 30004, 27/31/32 -> 30003);
    - a missing or unrecognised ``stat``: ``undelivered`` 30008 naming it.

    Case and surrounding blanks of ``stat`` are ignored.  The message names the stat and
    err as received.
    """
    state = (stat or "").strip().upper()
    if state == "DELIVRD":
        return DELIVERED
    if state in _RECEIPT_INTERMEDIATE:
        return SENT
    failure = _RECEIPT_FAILURES.get(state)
    detail = f"stat {state or 'missing'}" + (f", err {err}" if err else "")
    if failure is None:
        return Outcome("undelivered", UNKNOWN_CODE, f"receipt in an unknown state ({detail})")
    code, what = failure
    if state != "EXPIRED":
        known = _map_error(err)
        if known is not None:
            code, what = known
    return Outcome("undelivered", code, f"{what} ({detail})")


def _map_error(err: str | None) -> tuple[int, str] | None:
    if not err:
        return None
    digits = err.strip()
    if not digits.isdigit() or len(digits) > _MAX_ERR_DIGITS:
        return None
    return _MAP_ERRORS.get(int(digits))


# ---------------------------------------------------------------------------------------
# Exceptions from the client.
# ---------------------------------------------------------------------------------------


def link_error_outcome(exc: BaseException, *, at_most_once: bool = False) -> Outcome | None:
    """The outcome of a submit that raised ``exc`` instead of returning a response.

    ``None`` means "requeue; do not mark anything": for every retry-safe
    :class:`engine.LinkError` (never written, or refused by a throttling carrier) and for a
    :class:`engine.SessionError` (the client refused it before writing: closing, unbound),
    and -- at-least-once, the default -- for an unknown outcome as well (the caller flags
    the message as a possible duplicate when ``exc.retry_safe`` is false).

    ``failed`` otherwise: an unknown outcome with ``at_most_once=True`` (30008, "outcome
    unknown"), an :class:`engine.EncodeError` (30008, naming the field: resending cannot
    help), an error with a ``twilio_code`` (that code, e.g. 30036 for an expired message),
    and any other exception (30008 naming its type).
    """
    if isinstance(exc, LinkError):
        if exc.retry_safe or not at_most_once:
            return None
        return Outcome("failed", UNKNOWN_CODE, f"outcome unknown, not resent: {exc}")
    if isinstance(exc, EncodeError):
        return Outcome("failed", UNKNOWN_CODE, f"the message cannot be encoded: {exc}")
    if isinstance(exc, SessionError):
        return None
    code = getattr(exc, "twilio_code", None)
    if isinstance(code, int):
        return Outcome("failed", code, str(exc) or type(exc).__name__)
    return Outcome("failed", UNKNOWN_CODE, f"{type(exc).__name__}: {exc}")
