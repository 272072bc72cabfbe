"""The SMPP 3.4 session, sans-IO (no sockets, no event loop, no clock).

``from engine.session import Session, SessionConfig, SessionState, events``
"""

from engine.session import events
from engine.session.config import SessionConfig
from engine.session.machine import Session
from engine.session.states import SessionState

__all__ = ["Session", "SessionConfig", "SessionState", "events"]
