"""The simulated carrier's outcome rule: which receipt a destination number gets.

The rule looks at the last two digits of ``destination_addr`` (so that a test or a demo
picks an outcome by picking a number):

======  ===========  =============================  ================
suffix  stat         message_state (§5.2.28)        err
======  ===========  =============================  ================
``91``  ``UNDELIV``  UNDELIVERABLE (5)              ``001``
``92``  ``REJECTD``  REJECTED (8)                   ``002``
``93``  ``EXPIRED``  EXPIRED (3)                    ``003``
``94``  (none)       no receipt is ever sent        --
other   ``DELIVRD``  DELIVERED (2)                  ``000``
======  ===========  =============================  ================

So +15005550100 is delivered, +15005550191 undeliverable, +15005550194 never reported.
"""

from __future__ import annotations

from typing import NamedTuple

from engine.pdu.constants import MessageState

__all__ = ["OUTCOMES", "OUTCOME_HELP", "Outcome", "outcome_for"]


class Outcome(NamedTuple):
    """A receipt outcome: the Appendix B ``stat`` word, message_state and ``err``."""

    stat: str
    state: MessageState
    err: int


DELIVERED = Outcome("DELIVRD", MessageState.DELIVERED, 0)

#: destination suffix -> outcome (None: no receipt at all)
OUTCOMES: dict[str, Outcome | None] = {
    "91": Outcome("UNDELIV", MessageState.UNDELIVERABLE, 1),
    "92": Outcome("REJECTD", MessageState.REJECTED, 2),
    "93": Outcome("EXPIRED", MessageState.EXPIRED, 3),
    "94": None,
}

OUTCOME_HELP = (
    "Receipt outcome by the last two digits of destination_addr: 91 UNDELIV, 92 REJECTD,"
    " 93 EXPIRED, 94 no receipt, anything else DELIVRD."
)


def outcome_for(destination_addr: str) -> Outcome | None:
    """The receipt outcome for a destination (None: the carrier never sends one)."""
    return OUTCOMES.get(destination_addr[-2:], DELIVERED)
