"""The simulated carrier: an SMSC for the daemon's embedded default, the tests and benches.

Built on :class:`engine.SmscServer`.  It acknowledges submit_sm with unique message ids,
sends delivery receipts (receipt text of SMPP 3.4 Appendix B, the receipted_message_id and
message_state TLVs, esm_class 0x04) after a configurable delay with an outcome chosen by the
destination number, records what it received, injects inbound messages (single and
multipart, parts in any order) to the bind that serves a number, and has fault switches
(throttling, dropping the connection, delays, error answers).

Receipt outcome by the last two digits of destination_addr (:mod:`engine.sim.rules`):
``91`` UNDELIV, ``92`` REJECTD, ``93`` EXPIRED, ``94`` no receipt, anything else DELIVRD.
A receipt is sent only when the submit asks for one (registered_delivery bits 0-1 = 1, or
= 2 for failures only, §5.2.17).

Run it alone with ``python -m engine.sim --help``.
"""

from engine.sim.carrier import Faults, SimCarrier, SubmitRecord
from engine.sim.rules import OUTCOMES, Outcome, outcome_for

__all__ = ["OUTCOMES", "Faults", "Outcome", "SimCarrier", "SubmitRecord", "outcome_for"]
