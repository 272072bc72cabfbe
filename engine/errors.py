"""The engine's exceptions.  One root, :class:`EngineError`.

SMPP errors carry the ``command_status`` to answer with and whether the session survives
them.  Errors that a Twilio-style API reports carry Twilio's error code.  This module does
no I/O and imports nothing from the rest of the engine.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "BindError",
    "ClientQueueFullError",
    "ConnectionLostError",
    "DecodeError",
    "EncodeError",
    "EngineError",
    "LinkDownError",
    "LinkError",
    "MessageExpiredError",
    "QueueFullError",
    "ResponseTimeoutError",
    "SessionError",
    "SmppError",
    "StoreError",
    "ThrottledError",
    "WindowFullError",
]

# SMPP 3.4 §5.1.3 codes used below (the full table is engine.pdu.CommandStatus; repeated
# here so that this module stays dependency free).
_ESME_RSYSERR = 0x08
_ESME_RINVCMDLEN = 0x02


class EngineError(Exception):
    """Root of every error the engine raises on purpose."""


class SmppError(EngineError):
    """An SMPP-level failure.

    ``command_status`` is the SMPP status to answer with (or that the peer answered with);
    ``recoverable`` says whether the session can go on (answer with generic_nack or an
    error response) or must be closed.
    """

    def __init__(
        self, message: str, *, command_status: int = _ESME_RSYSERR, recoverable: bool = True
    ) -> None:
        super().__init__(message)
        self.command_status = command_status
        self.recoverable = recoverable


class DecodeError(SmppError, ValueError):
    """Bytes that are not a valid SMPP 3.4 PDU.

    Attributes: ``command_status`` (what to answer with, e.g. ESME_RINVCMDLEN),
    ``command_id`` and ``sequence_number`` when the header was readable (else ``None``),
    ``field`` (the spec name of the field that failed, or ``None``) and ``offset`` (byte
    offset of that field in the PDU).  ``recoverable`` is False when the stream framing
    itself is lost (a bad command_length): the session must close.  ``pdus`` holds the
    whole PDUs that ``PduReader.feed`` decoded from the same chunk before a fatal error, so
    that nothing already received is lost (empty otherwise).
    """

    pdus: list[Any]

    def __init__(
        self,
        message: str,
        *,
        command_status: int = _ESME_RINVCMDLEN,
        command_id: int | None = None,
        sequence_number: int | None = None,
        field: str | None = None,
        offset: int | None = None,
        recoverable: bool = True,
    ) -> None:
        super().__init__(message, command_status=command_status, recoverable=recoverable)
        self.command_id = command_id
        self.sequence_number = sequence_number
        self.field = field
        self.offset = offset
        self.pdus = []


class EncodeError(EngineError, ValueError):
    """A PDU whose field values cannot be encoded; ``field`` names the field."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class SessionError(SmppError):
    """The SMPP session state machine refused an operation (wrong bind state, window full)."""


class WindowFullError(SessionError):
    """Every slot of the session's window holds a request awaiting its response."""


class BindError(SmppError):
    """A bind was refused by the peer; ``command_status`` is the peer's answer."""


class LinkError(EngineError):
    """A request that did not get a response from the carrier: the link's outcome.

    Apart from protocol errors (:class:`SmppError`: a PDU or a state was wrong), these say
    what happened to the *request*.  ``retry_safe`` is the one thing a dispatcher needs:

    - ``True``: the carrier never accepted the request (it was never written, or the
      carrier refused it with a throttling answer), so sending it again cannot make a
      duplicate: requeue it;
    - ``False``: the outcome is unknown (the request was written and no answer came); a
      resend may deliver the message twice.  At-least-once delivery requeues it flagged as
      a possible duplicate; at-most-once fails it.
    """

    retry_safe: ClassVar[bool] = False


class LinkDownError(LinkError):
    """The link was not bound within ``connect_timeout``, or the client closed: the request
    was never written, so the carrier did not get it and it is safe to submit again."""

    retry_safe = True


class ClientQueueFullError(LinkError):
    """The client's own queue (``EsmeClient(max_queue=)``) is full: the request was refused
    at once and never written; safe to submit again later.

    Not Twilio's 21611 (that is :class:`QueueFullError`, a sender's queue in the scheduler).
    """

    retry_safe = True


class ThrottledError(LinkError):
    """The carrier kept throttling the request (ESME_RTHROTTLED or ESME_RMSGQFUL, SMPP 3.4
    §5.1.3) past the client's retry limit.

    The carrier refused every attempt, so nothing was accepted: safe to submit again later.
    ``command_status`` is the carrier's last answer, ``attempts`` how many times the request
    was written, and ``response`` the carrier's last response PDU.
    """

    retry_safe = True

    def __init__(
        self, message: str, *, command_status: int, attempts: int, response: Any = None
    ) -> None:
        super().__init__(message)
        self.command_status = command_status
        self.attempts = attempts
        self.response = response


# ConnectionLostError and ResponseTimeoutError are also SmppError only so that existing
# ``except SmppError`` handlers (engine/sim/carrier.py) keep catching them; they take no
# command_status: an unknown outcome has none.  ``command_status`` reads ESME_RSYSERR and
# ``recoverable`` False for those handlers; read ``retry_safe`` instead.


class ResponseTimeoutError(LinkError, SmppError):
    """No response arrived within the response timeout.  The outcome is unknown."""

    retry_safe = False

    def __init__(self, message: str) -> None:
        SmppError.__init__(self, message, command_status=_ESME_RSYSERR, recoverable=False)


class ConnectionLostError(LinkError, SmppError):
    """The connection dropped while the request was in flight: outcome unknown.

    The request may or may not have reached the peer.  It is never resent silently; the
    caller decides (the message store flags it so that a later receipt still matches).
    """

    retry_safe = False

    def __init__(self, message: str) -> None:
        SmppError.__init__(self, message, command_status=_ESME_RSYSERR, recoverable=False)


class QueueFullError(EngineError):
    """A sender's queue holds its validity period's worth of segments (Twilio 21611)."""

    twilio_code = 21611


class MessageExpiredError(EngineError):
    """A message's validity period ran out while it was queued (Twilio 30036)."""

    twilio_code = 30036


class StoreError(EngineError):
    """The message store refused or could not complete an operation.

    ``field`` names the input field that was refused (``None`` when the failure is not
    about one field, e.g. an illegal status transition or a closed store).
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
