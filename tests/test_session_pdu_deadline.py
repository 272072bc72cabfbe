"""The session's PDU read deadline (sans-IO, time as an argument): a PDU must complete
within ``pdu_read_timeout`` of its first byte, however often bytes of it arrive."""

from __future__ import annotations

import engine
from engine.session import Session, SessionConfig, SessionState, events


def _bound_smsc(cfg: SessionConfig) -> Session:
    s = Session("smsc", cfg, now=0.0)
    (ev,) = s.receive_data(engine.encode(engine.BindTransceiver(sequence_number=1)), 0.0)
    assert isinstance(ev, events.BindRequested)
    s.send_response(ev.pdu.make_response(system_id="X"))
    s.data_to_send()
    return s


def test_trickled_pdu_dies_at_its_deadline_not_at_the_last_byte() -> None:
    cfg = SessionConfig(pdu_read_timeout=10.0, enquire_link_interval=None, inactivity_timeout=5)
    s = _bound_smsc(cfg)
    wire = engine.encode(engine.SubmitSm(sequence_number=2, short_message=b"x" * 50))
    for i in range(9):  # a byte a second: the inactivity timer never fires
        assert s.receive_data(wire[i : i + 1], float(i + 1)) == []
        assert s.tick(float(i + 1)) == []
    assert s.next_deadline() == 11.0  # from the first byte, not the last
    (dead,) = s.tick(11.0)
    assert isinstance(dead, events.PeerDead) and "PDU read timeout" in dead.reason
    assert s.state is SessionState.CLOSED


def test_deadline_restarts_with_each_pdu_and_ends_when_none_is_partial() -> None:
    cfg = SessionConfig(pdu_read_timeout=10.0, enquire_link_interval=None)
    s = _bound_smsc(cfg)
    a = engine.encode(engine.EnquireLink(sequence_number=2))
    b = engine.encode(engine.EnquireLink(sequence_number=3))
    s.receive_data(a[:5], 1.0)
    assert s.next_deadline() == 11.0
    s.receive_data(a[5:] + b[:3], 8.0)  # the first completes, the second begins now
    assert s.next_deadline() == 18.0
    s.receive_data(b[3:], 9.0)
    assert s.next_deadline() is None
    assert s.tick(100.0) == [] and s.state is SessionState.BOUND_TRX


def test_pdu_read_timeout_can_be_turned_off() -> None:
    s = _bound_smsc(SessionConfig(pdu_read_timeout=None, enquire_link_interval=None))
    s.receive_data(b"\x00\x00", 0.0)
    assert s.next_deadline() is None and s.tick(1e9) == []
