"""Session configuration: window, timers and size limits."""

from __future__ import annotations

from dataclasses import dataclass

from engine._core import DEFAULT_MAX_PDU_LENGTH

__all__ = ["SessionConfig"]


def _positive(name: str, value: float | None, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"SessionConfig.{name} must be a positive number, got {value!r}")


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Tunables of one SMPP session.  All times are in seconds.

    - ``window``: most requests we may have awaiting a response.
    - ``response_timeout``: an outstanding request older than this becomes RequestTimedOut.
    - ``enquire_link_interval``: after this long without receiving anything (bound only),
      the session sends enquire_link itself; ``None`` turns it off.
    - ``enquire_link_timeout``: no enquire_link_resp within this -> PeerDead.
    - ``inactivity_timeout``: SMSC side: nothing received for this long -> PeerDead.
    - ``bind_timeout``: SMSC side: the peer must be bound within this after connecting.
    - ``pdu_read_timeout``: once the first byte of a PDU has arrived, the whole PDU must
      arrive within this (a peer trickling bytes resets no other timer); ``None``: no limit.
    - ``max_pdu_length``: a command_length above it closes the connection.
    """

    window: int = 10
    response_timeout: float = 30.0
    enquire_link_interval: float | None = 30.0
    enquire_link_timeout: float = 10.0
    inactivity_timeout: float | None = None
    bind_timeout: float = 30.0
    pdu_read_timeout: float | None = 30.0
    max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH

    def __post_init__(self) -> None:
        if not isinstance(self.window, int) or isinstance(self.window, bool) or self.window < 1:
            raise ValueError(f"SessionConfig.window must be an int >= 1, got {self.window!r}")
        _positive("response_timeout", self.response_timeout)
        _positive("enquire_link_interval", self.enquire_link_interval, optional=True)
        _positive("enquire_link_timeout", self.enquire_link_timeout)
        _positive("inactivity_timeout", self.inactivity_timeout, optional=True)
        _positive("bind_timeout", self.bind_timeout)
        _positive("pdu_read_timeout", self.pdu_read_timeout, optional=True)
        if (
            not isinstance(self.max_pdu_length, int)
            or isinstance(self.max_pdu_length, bool)
            or not 16 <= self.max_pdu_length <= 0x7FFFFFFF
        ):
            raise ValueError(
                "SessionConfig.max_pdu_length must be an int in 16..2**31-1, "
                f"got {self.max_pdu_length!r}"
            )
