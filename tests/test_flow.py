"""FlowControl, sans-IO, step by step against a real Session: the bytes each step writes,
what each answer does, with time as an argument (no event loop, no clock)."""

from __future__ import annotations

from typing import Any

import pytest

from engine import (
    BindTransceiver,
    BindTransceiverResp,
    ClientQueueFullError,
    ConnectionLostError,
    EncodeError,
    LinkDownError,
    SubmitSm,
    ThrottledError,
    encode,
)
from engine.pdu.constants import CommandStatus
from engine.session import Session, SessionConfig, events
from engine.session.flow import FlowControl, FlowEntry

THROTTLED = int(CommandStatus.ESME_RTHROTTLED)
MSGQFUL = int(CommandStatus.ESME_RMSGQFUL)


class Rec(FlowEntry):
    """A request that records its outcome."""

    __slots__ = ("dest", "error", "gone", "result")

    def __init__(self, flow: FlowControl, dest: str, now: float = 0.0) -> None:
        self.order = flow.next_order()
        self.dest = dest
        self.pdu = SubmitSm(source_addr="100", destination_addr=dest, short_message=b"hi")
        self.queued_at = now
        self.throttles = 0
        self.result: Any = None
        self.error: BaseException | None = None
        self.gone = False

    def ok(self, resp: Any) -> None:
        self.result = resp

    def fail(self, exc: BaseException) -> None:
        self.error = exc

    def abandoned(self) -> bool:
        return self.gone


def bound_session(window: int) -> Session:
    s = Session("esme", SessionConfig(window=window, enquire_link_interval=None), now=0.0)
    s.send_request(BindTransceiver(system_id="esme", password="pw"), 0.0)
    s.data_to_send()
    evs = s.receive_data(encode(BindTransceiverResp(sequence_number=1, system_id="X")), 0.0)
    assert [type(e) for e in evs] == [events.Bound]
    return s


def answer(s: Session, rec: Rec, status: int = 0, now: float = 0.0) -> Any:
    """The peer answers ``rec``'s submit; returns the response the session reports."""
    resp = rec.pdu.make_response(command_status=status, message_id=f"id-{rec.dest}")
    (ev,) = s.receive_data(encode(resp), now)
    assert isinstance(ev, events.ResponseReceived)
    return ev.response


def queue(flow: FlowControl, *dests: str, now: float = 0.0) -> list[Rec]:
    recs = [Rec(flow, d, now) for d in dests]
    for r in recs:
        flow.enqueue(r)
    return recs


def test_pump_fills_the_window_and_writes_the_pdus_in_order() -> None:
    s = bound_session(window=2)
    flow = FlowControl()
    a, b, c = queue(flow, "a", "b", "c")
    assert flow.capacity(s.window_free, 0.0) == 0  # three queued for two slots
    assert flow.pump(s, 0.0) == 2
    assert s.data_to_send() == encode(a.pdu) + encode(b.pdu)
    assert (a.pdu.sequence_number, b.pdu.sequence_number) == (2, 3)
    assert sorted(flow.inflight) == [2, 3] and list(flow.queue) == [c]
    assert flow.pump(s, 0.0) == 0  # the window is full
    assert flow.response(2, answer(s, a), 0.0) is None
    assert a.result.message_id == "id-a"
    assert flow.pump(s, 0.0) == 1
    assert s.data_to_send() == encode(c.pdu)
    assert flow.sent_count == 3 and flow.capacity(s.window_free, 0.0) == 0
    flow.response(3, answer(s, b), 0.0)
    assert flow.capacity(s.window_free, 0.0) == 1


def test_early_flush_is_called_at_half_a_window() -> None:
    s = bound_session(window=8)
    flow = FlowControl(early_flush=3)
    queue(flow, *"abcdefg")
    flushed: list[int] = []
    flow.pump(s, 0.0, lambda: flushed.append(len(s.data_to_send())))
    assert len(flushed) == 2  # after the 3rd and the 6th PDU; the 7th waits for the caller
    assert flushed[0] > 0 and flushed[1] > 0 and len(s.data_to_send()) > 0


def test_client_throttle_pauses_holds_and_resends_in_order() -> None:
    s = bound_session(window=3)
    flow = FlowControl(throttle_pause=1.0)
    m0, m1, m2, m3 = queue(flow, "m0", "m1", "m2", "m3")
    flow.pump(s, 0.0)
    s.data_to_send()
    # m1 throttled at t=10: the link pauses until 11
    assert flow.response(m1.pdu.sequence_number, answer(s, m1, THROTTLED), 10.0) == 11.0
    assert flow.paused and flow.held == [m1] and m1.result is None
    assert flow.capacity(s.window_free, 10.0) == 0
    # m0 throttled (MSGQFUL) at t=10.5: the pause stretches to 11.5
    assert flow.response(m0.pdu.sequence_number, answer(s, m0, MSGQFUL), 10.5) == 11.5
    assert flow.pump(s, 11.0) == 0 and s.data_to_send() == b""  # paused: nothing written
    assert not flow.resume_due(12.0)  # m2 still in flight: resending now would reorder
    flow.response(m2.pdu.sequence_number, answer(s, m2), 12.0)
    assert m2.result.message_id == "id-m2"
    assert not flow.resume_due(11.4) and flow.resume_due(11.5)
    flow.resume()
    assert list(flow.queue) == [m0, m1, m3]  # held ones first, in their original order
    flow.pump(s, 12.0)
    assert s.data_to_send() == encode(m0.pdu) + encode(m1.pdu) + encode(m3.pdu)
    assert flow.throttled_count == 2 and flow.sent_count == 6  # 3, then 3 again


def test_client_throttle_gives_up_after_max_throttle_retries() -> None:
    s = bound_session(window=1)
    flow = FlowControl(throttle_pause=0.5, max_throttle_retries=2)
    (stuck,) = queue(flow, "stuck")
    now = 0.0
    for attempt in range(3):
        assert flow.pump(s, now) == 1
        s.data_to_send()
        flow.response(stuck.pdu.sequence_number, answer(s, stuck, THROTTLED), now)
        if attempt < 2:
            assert flow.held == [stuck] and stuck.error is None
            now += 0.5
            assert flow.resume_due(now)
            flow.resume()
    err = stuck.error
    assert isinstance(err, ThrottledError) and err.retry_safe
    assert err.attempts == 3 and err.command_status == THROTTLED
    assert "kept throttling" in str(err) and "max_throttle_retries=2" in str(err)
    assert flow.held == [] and not flow.queue and flow.paused  # the link still pauses


def test_caller_throttle_returns_the_answer_and_never_pauses() -> None:
    s = bound_session(window=2)
    flow = FlowControl(throttle="caller")
    a, _b = queue(flow, "a", "b")
    flow.pump(s, 0.0)
    s.data_to_send()
    assert flow.response(a.pdu.sequence_number, answer(s, a, THROTTLED), 1.0) is None
    assert a.result.command_status == THROTTLED and a.error is None
    assert not flow.paused and flow.held == [] and flow.throttled_count == 1
    assert flow.capacity(s.window_free, 1.0) == 1
    (c,) = queue(flow, "c")
    assert flow.pump(s, 1.0) == 1  # nothing held back
    assert s.data_to_send() == encode(c.pdu)


def test_rate_cap_lets_one_through_per_interval() -> None:
    s = bound_session(window=10)
    flow = FlowControl(max_rate=2.0)  # one every 0.5 s
    a, b, c = queue(flow, "a", "b", "c")
    assert flow.capacity(s.window_free, 0.0) == 0  # the queue takes the slots
    assert flow.pump(s, 100.0) == 1
    assert s.data_to_send() == encode(a.pdu)
    assert flow.next_send_at(100.0) == 100.5
    assert flow.pump(s, 100.25) == 0
    assert flow.pump(s, 100.5) == 1 and s.data_to_send() == encode(b.pdu)
    assert flow.pump(s, 101.0) == 1 and s.data_to_send() == encode(c.pdu)
    assert flow.next_send_at(101.0) is None  # nothing queued
    assert flow.capacity(s.window_free, 101.0) == 0 and flow.capacity(s.window_free, 101.5) == 1


def test_max_queue_refuses_with_a_retry_safe_error() -> None:
    flow = FlowControl(max_queue=2)
    queue(flow, "a")
    flow.check_room(1)
    with pytest.raises(ClientQueueFullError, match="max_queue") as info:
        flow.check_room(2)
    assert info.value.retry_safe


def test_cancelled_and_unencodable_requests_fail_alone() -> None:
    s = bound_session(window=5)
    flow = FlowControl()
    a, bad, gone, b = queue(flow, "a", "1" * 30, "g", "b")
    gone.gone = True
    assert flow.pump(s, 0.0) == 2
    assert s.data_to_send() == encode(a.pdu) + encode(b.pdu)
    assert isinstance(bad.error, EncodeError) and bad.error.field == "destination_addr"
    assert gone.error is None and gone.result is None


def test_link_lost_fails_in_flight_and_requeues_held() -> None:
    s = bound_session(window=2)
    flow = FlowControl()
    a, b = queue(flow, "a", "b")
    flow.pump(s, 0.0)
    flow.response(a.pdu.sequence_number, answer(s, a, THROTTLED), 0.0)
    flow.link_lost("connection lost")
    assert isinstance(b.error, ConnectionLostError) and not b.error.retry_safe
    assert list(flow.queue) == [a] and not flow.paused and not flow.inflight


def test_expire_and_fail_queued() -> None:
    flow = FlowControl()
    a, b = queue(flow, "a", "b")
    b.queued_at = 5.0
    assert flow.expire(9.0, 0.0, 10.0, lambda: LinkDownError("x")) == 10.0
    assert flow.expire(10.0, 0.0, 10.0, lambda: LinkDownError("x")) == 15.0
    assert isinstance(a.error, LinkDownError) and a.error.retry_safe and b.error is None
    flow.fail_queued(lambda: LinkDownError("closed"))
    assert isinstance(b.error, LinkDownError) and flow.idle


@pytest.mark.parametrize(
    "kw,field",
    [
        ({"throttle": "both"}, "throttle"),
        ({"max_queue": 0}, "max_queue"),
        ({"max_throttle_retries": -1}, "max_throttle_retries"),
        ({"max_throttle_retries": None}, "max_throttle_retries"),
        ({"max_rate": 0}, "max_rate"),
        ({"throttle_pause": -1}, "throttle_pause"),
    ],
)
def test_bad_arguments_name_the_field(kw: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        FlowControl(**kw)
