"""The sans-IO session, byte level (h11 style): bytes in, events and bytes out.

Each test drives one Session with PDUs encoded by our codec and reads what it wants to send
back with ``engine.decode``.  Time is an argument everywhere; no test sleeps.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine import CommandStatus, PduReader, SessionError
from engine.errors import WindowFullError
from engine.session import Session, SessionConfig, SessionState, events

S = SessionState
RINVBNDSTS = CommandStatus.ESME_RINVBNDSTS


def sent(session: Session) -> list[Any]:
    """Every PDU the session wants to write now, decoded."""
    data = session.data_to_send()
    out = PduReader().feed(data)
    assert not any(isinstance(p, Exception) for p in out), out
    return out


def feed(session: Session, *pdus: Any, now: float = 0.0) -> list[events.Event]:
    return session.receive_data(engine.encode_many(list(pdus)), now)


def bound_smsc(bind: type = engine.BindTransceiver, config: SessionConfig | None = None) -> Session:
    smsc = Session("smsc", config)
    (ev,) = feed(smsc, bind(sequence_number=1, system_id="esme", password="pw"))
    assert isinstance(ev, events.BindRequested)
    smsc.send_response(ev.pdu.make_response(system_id="SMSC"))
    assert sent(smsc) == [ev.pdu.make_response(system_id="SMSC")]
    return smsc


def bound_esme(bind: type = engine.BindTransceiver, config: SessionConfig | None = None) -> Session:
    esme = Session("esme", config)
    seq = esme.send_request(bind(system_id="esme", password="pw"), 0.0)
    (req,) = sent(esme)
    evs = feed(esme, req.make_response(system_id="SMSC"))
    assert [type(e) for e in evs] == [events.Bound]
    assert seq == 1
    return esme


def submit(**kw: Any) -> engine.SubmitSm:
    kw.setdefault("short_message", b"hi")
    return engine.SubmitSm(destination_addr="15551234567", **kw)


# ---- bind handshake ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "bind,state",
    [
        (engine.BindTransmitter, S.BOUND_TX),
        (engine.BindReceiver, S.BOUND_RX),
        (engine.BindTransceiver, S.BOUND_TRX),
    ],
)
def test_bind_handshake_both_roles(bind: type, state: SessionState) -> None:
    esme, smsc = Session("esme"), Session("smsc")
    assert esme.state is S.OPEN and smsc.state is S.OPEN
    seq = esme.send_request(bind(system_id="acme", password="secret"), 0.0)
    assert esme.state is S.BINDING and esme.outstanding == 1
    wire = esme.data_to_send()
    assert engine.decode(wire) == bind(sequence_number=seq, system_id="acme", password="secret")
    (ev,) = smsc.receive_data(wire, 0.0)
    assert isinstance(ev, events.BindRequested) and ev.pdu.system_id == "acme"
    assert smsc.state is S.BINDING
    smsc.send_response(ev.pdu.make_response(system_id="SMSC"))
    assert smsc.state is state
    (ev2,) = esme.receive_data(smsc.data_to_send(), 0.0)
    assert isinstance(ev2, events.Bound) and ev2.state is state
    assert ev2.response.system_id == "SMSC"
    assert esme.state is state and esme.outstanding == 0


def test_bind_refused_returns_to_open_on_both_sides() -> None:
    esme, smsc = Session("esme"), Session("smsc")
    esme.send_request(engine.BindTransmitter(system_id="a", password="wrong"), 0.0)
    (ev,) = smsc.receive_data(esme.data_to_send(), 0.0)
    assert isinstance(ev, events.BindRequested)
    smsc.send_response(ev.pdu.make_response(command_status=CommandStatus.ESME_RINVPASWD))
    assert smsc.state is S.OPEN
    (ev2,) = esme.receive_data(smsc.data_to_send(), 0.0)
    assert isinstance(ev2, events.BindFailed)
    assert ev2.response.command_status == CommandStatus.ESME_RINVPASWD
    assert esme.state is S.OPEN


def test_bind_response_must_match_the_bind() -> None:
    smsc = Session("smsc")
    feed(smsc, engine.BindReceiver(sequence_number=1))
    with pytest.raises(SessionError, match="bind_transmitter_resp"):
        smsc.send_response(engine.BindTransmitterResp(sequence_number=1))
    with pytest.raises(SessionError, match="response PDU"):
        smsc.send_response(engine.SubmitSm())
    assert smsc.state is S.BINDING


def test_bind_timeout_on_smsc() -> None:
    smsc = Session("smsc", SessionConfig(bind_timeout=5.0), now=100.0)
    assert smsc.next_deadline() == 105.0
    assert smsc.tick(104.9) == []
    assert smsc.tick(105.0) == [events.PeerDead("bind timeout")]
    assert smsc.state is S.CLOSED


def test_bind_response_timeout_on_esme() -> None:
    esme = Session("esme", SessionConfig(response_timeout=2.0))
    esme.send_request(engine.BindTransmitter(), 10.0)
    (ev,) = esme.tick(12.0)
    assert isinstance(ev, events.RequestTimedOut) and ev.request.command_name == "bind_transmitter"
    assert esme.state is S.OPEN


# ---- which PDUs each state allows --------------------------------------------------------

REQUESTS: list[Any] = [
    engine.BindTransmitter(system_id="x"),
    engine.BindReceiver(system_id="x"),
    engine.BindTransceiver(system_id="x"),
    engine.SubmitSm(destination_addr="1"),
    engine.SubmitMulti(),
    engine.DeliverSm(destination_addr="1"),
    engine.DataSm(destination_addr="1"),
    engine.QuerySm(message_id="1"),
    engine.CancelSm(message_id="1"),
    engine.ReplaceSm(message_id="1"),
    engine.AlertNotification(),
    engine.Outbind(system_id="x"),
    engine.EnquireLink(),
    engine.Unbind(),
]
ESME_SENDS_BOUND = {"submit_sm", "submit_multi", "data_sm", "query_sm", "cancel_sm", "replace_sm"}
SMSC_SENDS_BOUND = {"deliver_sm", "data_sm", "alert_notification"}
BINDS = {"bind_transmitter", "bind_receiver", "bind_transceiver"}


def _peer_may_send(role: str, state: SessionState, name: str) -> bool:
    """Table 2-1 of SMPP 3.4, from the point of view of the session receiving."""
    if name == "enquire_link":
        return True  # answered in every state (lenient before the bind)
    if state is S.UNBINDING:
        # we sent unbind from BOUND_TRX; what the peer sent before seeing it is still taken
        state = S.BOUND_TRX
    if role == "smsc":  # the peer is an ESME
        if state is S.OPEN:
            return name in BINDS
        if state in (S.BOUND_TX, S.BOUND_TRX):
            return name in ESME_SENDS_BOUND or name == "unbind"
        if state is S.BOUND_RX:
            return name == "unbind"
        return False
    if state is S.OPEN:
        return name == "outbind"
    if state in (S.BOUND_RX, S.BOUND_TRX):
        return name in SMSC_SENDS_BOUND or name == "unbind"
    if state is S.BOUND_TX:
        return name == "unbind"
    return False


def _session_in(role: str, state: SessionState) -> Session:
    if state is S.OPEN:
        return Session(role)  # type: ignore[arg-type]
    if state is S.BINDING:
        s = Session(role)  # type: ignore[arg-type]
        if role == "smsc":
            feed(s, engine.BindTransceiver(sequence_number=1))
        else:
            s.send_request(engine.BindTransceiver(), 0.0)
        sent(s)
        return s
    if state is S.UNBINDING:
        s = _session_in(role, S.BOUND_TRX)
        s.unbind(0.0)
        sent(s)
        return s
    bind = {
        S.BOUND_TX: engine.BindTransmitter,
        S.BOUND_RX: engine.BindReceiver,
        S.BOUND_TRX: engine.BindTransceiver,
    }[state]
    return bound_smsc(bind) if role == "smsc" else bound_esme(bind)


STATES = [S.OPEN, S.BINDING, S.BOUND_TX, S.BOUND_RX, S.BOUND_TRX, S.UNBINDING]


@pytest.mark.parametrize("role", ["esme", "smsc"])
@pytest.mark.parametrize("state", STATES, ids=lambda s: s.name)
@pytest.mark.parametrize("request_pdu", REQUESTS, ids=lambda p: p.command_name)
def test_every_state_and_request(role: str, state: SessionState, request_pdu: Any) -> None:
    session = _session_in(role, state)
    pdu: Any = engine.decode(engine.encode(request_pdu))
    pdu.sequence_number = 77
    evs = feed(session, pdu)
    out = sent(session)
    name = pdu.command_name
    if _peer_may_send(role, state, name):
        if name == "enquire_link":
            assert evs == [] and out == [engine.EnquireLinkResp(sequence_number=77)]
        elif name == "unbind":
            assert evs == [events.UnbindReceived()] and out == [
                engine.UnbindResp(sequence_number=77)
            ]
            assert session.state is S.CLOSED
        elif name in BINDS:
            assert [type(e) for e in evs] == [events.BindRequested] and out == []
        else:
            assert evs == [events.RequestReceived(pdu)] and out == []
        return
    # refused: the right answer, the session goes on in the same state
    (ev,) = evs
    assert isinstance(ev, events.ProtocolError)
    status = (
        CommandStatus.ESME_RALYBND
        if name in BINDS and state is not S.OPEN
        else CommandStatus.ESME_RINVBNDSTS
    )
    assert ev.error.command_status == status
    if pdu.response_class is None:
        assert out == [engine.GenericNack(sequence_number=77, command_status=status)]
    else:
        assert out == [pdu.make_response(command_status=status)]
    assert session.state is state
    feed(session, engine.EnquireLink(sequence_number=78))
    assert sent(session) == [engine.EnquireLinkResp(sequence_number=78)]


@pytest.mark.parametrize(
    "role,state,pdu",
    [
        ("esme", S.OPEN, engine.SubmitSm()),
        ("esme", S.BINDING, engine.SubmitSm()),
        ("esme", S.BOUND_RX, engine.SubmitSm()),
        ("esme", S.BOUND_TRX, engine.DeliverSm()),
        ("esme", S.BOUND_TX, engine.BindTransmitter()),
        ("smsc", S.OPEN, engine.DeliverSm()),
        ("smsc", S.BOUND_TX, engine.DeliverSm()),
        ("smsc", S.BOUND_TRX, engine.SubmitSm()),
        ("smsc", S.BOUND_RX, engine.BindReceiverResp()),
        ("esme", S.OPEN, engine.BindTransceiverResp()),
    ],
    ids=str,
)
def test_sending_what_the_state_forbids_raises(role: str, state: SessionState, pdu: Any) -> None:
    session = _session_in(role, state)
    with pytest.raises(SessionError) as info:
        session.send(pdu, 0.0)
    if not pdu.command_id & 0x80000000:
        assert pdu.command_name in str(info.value) and state.name in str(info.value)
    assert sent(session) == [] and session.state is state


# ---- sequence numbers and the window -----------------------------------------------------


def test_sequence_numbers_wrap_and_skip_in_flight() -> None:
    esme = bound_esme(config=SessionConfig(window=5))
    esme._next_seq = 0x7FFFFFFE  # as if 2**31 - 3 requests had gone before
    a = esme.send_request(submit(), 0.0)
    b = esme.send_request(submit(), 0.0)
    c = esme.send_request(submit(), 0.0)
    assert (a, b, c) == (0x7FFFFFFE, 0x7FFFFFFF, 1)
    # answer all but 0x7FFFFFFF; go around again: it must be skipped while still in flight
    feed(esme, *(engine.SubmitSmResp(sequence_number=s, message_id="m") for s in (a, c)))
    esme._next_seq = 0x7FFFFFFF
    assert esme.send_request(submit(), 0.0) == 1
    wire = [p.sequence_number for p in sent(esme)]
    assert wire == [0x7FFFFFFE, 0x7FFFFFFF, 1, 1]


def test_window_full_raises_and_frees_on_response() -> None:
    esme = bound_esme(config=SessionConfig(window=3))
    seqs = [esme.send_request(submit(), 0.0) for _ in range(3)]
    assert esme.window_free == 0
    with pytest.raises(WindowFullError):
        esme.send_request(submit(), 0.0)
    assert esme.outstanding == 3
    seqs.append(esme.send_request(engine.EnquireLink(), 0.0))  # link control: no window
    assert esme.outstanding == 4 and esme.window_free == 0
    feed(esme, engine.SubmitSmResp(sequence_number=seqs[1], message_id="x"))
    feed(esme, engine.EnquireLinkResp(sequence_number=seqs[3]))
    assert esme.window_free == 1
    assert esme.send_request(submit(), 0.0) not in seqs
    esme.unbind(0.0)  # always possible, even with the window full
    assert esme.state is S.UNBINDING


def test_responses_in_any_order() -> None:
    esme = bound_esme(config=SessionConfig(window=10))
    reqs = [submit(short_message=bytes([i])) for i in range(5)]
    seqs = [esme.send_request(r, 0.0) for r in reqs]
    order = [3, 0, 4, 2, 1]
    evs = feed(
        esme, *(engine.SubmitSmResp(sequence_number=seqs[i], message_id=f"m{i}") for i in order)
    )
    assert [type(e) for e in evs] == [events.ResponseReceived] * 5
    for ev, i in zip(evs, order, strict=True):
        assert isinstance(ev, events.ResponseReceived)
        assert ev.request is reqs[i] and ev.response.message_id == f"m{i}"
    assert esme.outstanding == 0


def test_generic_nack_ends_a_request() -> None:
    esme = bound_esme()
    req = submit()
    seq = esme.send_request(req, 0.0)
    (ev,) = feed(esme, engine.GenericNack(sequence_number=seq, command_status=3))
    assert isinstance(ev, events.ResponseReceived) and ev.request is req
    assert ev.response.command_name == "generic_nack" and esme.outstanding == 0


def test_response_of_the_wrong_type_keeps_the_request_waiting() -> None:
    esme = bound_esme()
    seq = esme.send_request(submit(), 0.0)
    (ev,) = feed(esme, engine.QuerySmResp(sequence_number=seq))
    assert isinstance(ev, events.ProtocolError) and esme.outstanding == 1
    (ev2,) = feed(esme, engine.SubmitSmResp(sequence_number=seq, message_id="ok"))
    assert isinstance(ev2, events.ResponseReceived)


def test_response_timeout_event_and_late_response_dropped() -> None:
    esme = bound_esme(config=SessionConfig(response_timeout=5.0, enquire_link_interval=None))
    r1, r2 = submit(), submit()
    s1 = esme.send_request(r1, 10.0)
    s2 = esme.send_request(r2, 12.0)
    assert esme.next_deadline() == 15.0
    assert esme.tick(14.0) == []
    assert esme.tick(15.0) == [events.RequestTimedOut(r1)]
    assert esme.outstanding == 1 and esme.next_deadline() == 17.0
    assert feed(esme, engine.SubmitSmResp(sequence_number=s1, message_id="late"), now=16.0) == []
    assert esme.late_responses == 1
    (ev,) = feed(esme, engine.SubmitSmResp(sequence_number=s2, message_id="ok"), now=16.0)
    assert isinstance(ev, events.ResponseReceived) and ev.request is r2


# ---- enquire_link, inactivity ------------------------------------------------------------


def test_enquire_link_sent_after_idle_and_answered() -> None:
    esme = bound_esme(config=SessionConfig(enquire_link_interval=30.0, enquire_link_timeout=5.0))
    assert esme.next_deadline() == 30.0
    assert esme.tick(29.0) == [] and sent(esme) == []
    assert esme.tick(30.0) == []
    (probe,) = sent(esme)
    assert probe.command_name == "enquire_link"
    assert esme.outstanding == 0  # the session's own probe is not in the window
    assert esme.next_deadline() == 35.0
    assert feed(esme, probe.make_response(), now=31.0) == []
    assert esme.next_deadline() == 61.0 and esme.late_responses == 0
    assert esme.tick(40.0) == [] and esme.state is S.BOUND_TRX


def test_peer_dead_when_enquire_link_unanswered() -> None:
    esme = bound_esme(config=SessionConfig(enquire_link_interval=30.0, enquire_link_timeout=5.0))
    esme.tick(30.0)
    sent(esme)
    assert esme.tick(34.9) == []
    assert esme.tick(35.0) == [events.PeerDead("enquire_link timeout")]
    assert esme.state is S.CLOSED


def test_traffic_postpones_enquire_link() -> None:
    esme = bound_esme(config=SessionConfig(enquire_link_interval=30.0))
    feed(esme, engine.DeliverSm(sequence_number=9), now=20.0)
    assert esme.next_deadline() == 50.0
    assert esme.tick(30.0) == [] and sent(esme) == []


def test_no_enquire_link_before_bound() -> None:
    esme = Session("esme", SessionConfig(enquire_link_interval=1.0))
    assert esme.next_deadline() is None
    assert esme.tick(100.0) == [] and sent(esme) == []


def test_inactivity_timeout_on_smsc() -> None:
    cfg = SessionConfig(inactivity_timeout=60.0, enquire_link_interval=None)
    smsc = bound_smsc(config=cfg)
    feed(smsc, engine.EnquireLink(sequence_number=5), now=50.0)
    assert smsc.next_deadline() == 110.0
    assert smsc.tick(109.0) == []
    assert smsc.tick(110.0) == [events.PeerDead("inactivity timeout")]
    assert smsc.state is S.CLOSED and smsc.next_deadline() is None


# ---- unbind -----------------------------------------------------------------------------


def test_unbind_initiated_by_us() -> None:
    esme = bound_esme()
    seq = esme.unbind(0.0)
    assert esme.state is S.UNBINDING
    assert sent(esme) == [engine.Unbind(sequence_number=seq)]
    with pytest.raises(SessionError):
        esme.send_request(submit(), 0.0)
    # a delivery the SMSC sent before it saw our unbind is still taken
    (ev,) = feed(esme, engine.DeliverSm(sequence_number=40))
    assert isinstance(ev, events.RequestReceived)
    esme.send_response(ev.pdu.make_response())
    assert feed(esme, engine.UnbindResp(sequence_number=seq)) == [events.Unbound()]
    assert esme.state is S.CLOSED
    assert sent(esme) == [engine.DeliverSmResp(sequence_number=40)]


def test_unbind_initiated_by_peer() -> None:
    smsc = bound_smsc()
    evs = feed(
        smsc,
        engine.SubmitSm(sequence_number=5, destination_addr="1"),
        engine.Unbind(sequence_number=6),
    )
    assert [type(e) for e in evs] == [events.RequestReceived, events.UnbindReceived]
    assert smsc.state is S.CLOSED
    # the submit that came before the unbind can still be answered
    assert isinstance(evs[0], events.RequestReceived)
    smsc.send_response(evs[0].pdu.make_response(message_id="m"))
    assert sent(smsc) == [
        engine.UnbindResp(sequence_number=6),
        engine.SubmitSmResp(sequence_number=5, message_id="m"),
    ]
    assert feed(smsc, engine.SubmitSm(sequence_number=7)) == []  # closed: nothing more taken


def test_smsc_unbinds_esme_both_sides() -> None:
    smsc, esme = bound_smsc(), bound_esme()
    smsc.unbind(1.0)
    assert esme.receive_data(smsc.data_to_send(), 1.0) == [events.UnbindReceived()]
    assert smsc.receive_data(esme.data_to_send(), 1.0) == [events.Unbound()]
    assert smsc.state is S.CLOSED and esme.state is S.CLOSED


# ---- bad bytes --------------------------------------------------------------------------


def test_unknown_command_id_gets_generic_nack_and_session_survives() -> None:
    smsc = bound_smsc()
    garbage = bytes.fromhex("00000014 000000ee 00000000 00000042 deadbeef".replace(" ", ""))
    evs = smsc.receive_data(garbage, 0.0)
    (ev,) = evs
    assert isinstance(ev, events.ProtocolError)
    assert ev.error.command_status == CommandStatus.ESME_RINVCMDID
    assert sent(smsc) == [
        engine.GenericNack(sequence_number=0x42, command_status=CommandStatus.ESME_RINVCMDID)
    ]
    (ev2,) = feed(smsc, engine.SubmitSm(sequence_number=0x43, destination_addr="1"))
    assert isinstance(ev2, events.RequestReceived) and smsc.state is S.BOUND_TRX


def test_bad_body_gets_generic_nack_with_the_field_status() -> None:
    smsc = bound_smsc()
    good = bytearray(engine.encode(engine.SubmitSm(sequence_number=9, destination_addr="1")))
    del good[-1]  # short_message length now runs past the end
    good[0:4] = len(good).to_bytes(4, "big")
    (ev,) = smsc.receive_data(bytes(good), 0.0)
    assert isinstance(ev, events.ProtocolError) and ev.error.recoverable
    (nack,) = sent(smsc)
    assert nack.command_name == "generic_nack" and nack.sequence_number == 9
    assert nack.command_status == ev.error.command_status != 0


def test_malformed_response_is_not_nacked() -> None:
    esme = bound_esme()
    esme.send_request(submit(), 0.0)
    sent(esme)
    bad = bytes.fromhex("00000011 80000004 00000000 00000002 41".replace(" ", ""))  # no NUL
    (ev,) = esme.receive_data(bad, 0.0)
    assert isinstance(ev, events.ProtocolError)
    assert sent(esme) == [] and esme.outstanding == 1


def test_bad_command_length_closes() -> None:
    smsc = bound_smsc(config=SessionConfig(max_pdu_length=1024))
    data = engine.encode(engine.EnquireLink(sequence_number=3)) + b"\x00\x00\x10\x00rest"
    evs = smsc.receive_data(data, 0.0)
    assert [type(e) for e in evs] == [events.ProtocolError, events.PeerDead]
    assert evs[1] == events.PeerDead("framing error")
    out = sent(smsc)
    assert out[0] == engine.EnquireLinkResp(sequence_number=3)  # the PDU before was kept
    assert out[1].command_name == "generic_nack"
    assert out[1].command_status == CommandStatus.ESME_RINVCMDLEN
    assert smsc.state is S.CLOSED


def test_partial_chunks_make_whole_pdus() -> None:
    smsc = bound_smsc()
    wire = engine.encode_many([engine.SubmitSm(sequence_number=i) for i in range(2, 6)])
    got: list[events.Event] = []
    for i in range(0, len(wire), 7):
        got += smsc.receive_data(wire[i : i + 7], 0.0)
    assert [e.pdu.sequence_number for e in got if isinstance(e, events.RequestReceived)] == [
        2,
        3,
        4,
        5,
    ]


# ---- connection lost ---------------------------------------------------------------------


def test_connection_lost_aborts_every_outstanding_request() -> None:
    esme = bound_esme()
    reqs = [submit() for _ in range(4)]
    for r in reqs:
        esme.send_request(r, 0.0)
    feed(esme, engine.SubmitSmResp(sequence_number=reqs[1].sequence_number, message_id="a"))
    evs = esme.connection_lost()
    assert evs == [events.RequestAborted(reqs[i]) for i in (0, 2, 3)]
    assert esme.state is S.CLOSED and esme.outstanding == 0
    assert esme.data_to_send() == b"" and esme.next_deadline() is None
    with pytest.raises(SessionError):
        esme.send_response(engine.DeliverSmResp(sequence_number=1))


# ---- configuration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw,field",
    [
        ({"window": 0}, "window"),
        ({"response_timeout": -1}, "response_timeout"),
        ({"enquire_link_interval": 0}, "enquire_link_interval"),
        ({"max_pdu_length": 8}, "max_pdu_length"),
        ({"bind_timeout": "3"}, "bind_timeout"),
    ],
)
def test_bad_config_names_the_field(kw: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        SessionConfig(**kw)


def test_bad_role() -> None:
    with pytest.raises(ValueError, match="role"):
        Session("client")  # type: ignore[arg-type]


# ---- properties -------------------------------------------------------------------------

_pdu_st = st.sampled_from(
    [
        *REQUESTS,
        engine.SubmitSmResp(message_id="1"),
        engine.BindTransceiverResp(system_id="s"),
        engine.BindTransmitterResp(command_status=13),
        engine.UnbindResp(),
        engine.GenericNack(command_status=3),
        engine.EnquireLinkResp(),
        engine.DeliverSmResp(),
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    role=st.sampled_from(["esme", "smsc"]),
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("pdu"), _pdu_st, st.integers(0, 8)),
            st.tuples(st.just("bytes"), st.binary(max_size=40), st.just(0)),
            st.tuples(st.just("tick"), st.none(), st.integers(0, 100)),
            st.tuples(st.just("send"), _pdu_st, st.just(0)),
        ),
        max_size=30,
    ),
)
def test_random_sequences_never_raise(role: str, steps: list[tuple[str, Any, int]]) -> None:
    session = Session(role, SessionConfig(window=4, response_timeout=10.0))  # type: ignore[arg-type]
    now = 0.0
    for kind, value, n in steps:
        now += 1.0
        if kind == "pdu":
            pdu = engine.decode(engine.encode(value))
            pdu.sequence_number = n
            evs = session.receive_data(engine.encode(pdu), now)
        elif kind == "bytes":
            evs = session.receive_data(value, now)
        elif kind == "tick":
            now += n
            evs = session.tick(now)
        else:
            pdu = engine.decode(engine.encode(value))
            with contextlib.suppress(SessionError):
                session.send(pdu, now)
            evs = []
        for ev in evs:
            if (
                isinstance(ev, (events.RequestReceived, events.BindRequested))
                and ev.pdu.response_class is not None
            ):
                session.send_response(ev.pdu.make_response())
        assert 0 <= session.outstanding <= 4 + 1  # + an unbind, outside the window
        PduReader().feed(session.data_to_send())  # always well-formed
        deadline = session.next_deadline()
        assert deadline is None or deadline > 0


def test_unencodable_request_raises_to_its_caller_and_registers_nothing() -> None:
    esme = bound_esme()
    with pytest.raises(engine.EncodeError) as info:
        esme.send_request(engine.SubmitSm(destination_addr="1", esm_class=300), 0.0)
    assert info.value.field == "esm_class"
    assert esme.outstanding == 0 and esme.data_to_send() == b""
    seq = esme.send_request(submit(), 0.0)
    assert [p.sequence_number for p in sent(esme)] == [seq]


def test_unencodable_response_raises_and_keeps_the_state() -> None:
    smsc = Session("smsc")
    feed(smsc, engine.BindTransceiver(sequence_number=1))
    with pytest.raises(engine.EncodeError):
        smsc.send_response(engine.BindTransceiverResp(sequence_number=1, system_id="x" * 40))
    assert smsc.state is S.BINDING and smsc.data_to_send() == b""


def test_send_responses_all_or_nothing() -> None:
    smsc = bound_smsc()
    evs = feed(smsc, *(engine.SubmitSm(sequence_number=s, destination_addr="1") for s in (5, 6)))
    reqs = [e.pdu for e in evs if isinstance(e, events.RequestReceived)]
    good = reqs[0].make_response(message_id="a")
    too_long = reqs[1].make_response(message_id="x" * 70)
    with pytest.raises(engine.EncodeError):
        smsc.send_responses([good, too_long])
    with pytest.raises(SessionError, match="bind_transceiver_resp"):
        smsc.send_responses([good, engine.BindTransceiverResp(sequence_number=1)])
    assert smsc.data_to_send() == b""
    smsc.send_responses([good, reqs[1].make_response(message_id="b")])
    assert [(p.sequence_number, p.message_id) for p in sent(smsc)] == [(5, "a"), (6, "b")]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(
        st.tuples(
            # unbind is rare so that most runs carry traffic for a while
            st.sampled_from(
                ["esme_submit"] * 3
                + ["smsc_deliver"] * 2
                + ["to_smsc", "to_esme"] * 4
                + ["tick"] * 2
                + ["unbind"]
            ),
            st.integers(0, 64),
        ),
        max_size=80,
    ),
    answer=st.booleans(),
)
def test_every_request_ends_in_exactly_one_outcome(
    ops: list[tuple[str, int]], answer: bool
) -> None:
    """Two sessions talking over a byte pipe cut at random places: each request either
    gets its response, times out or is aborted -- exactly one of these, never silence."""
    cfg = SessionConfig(window=3, response_timeout=15.0, enquire_link_interval=8.0)
    esme, smsc = bound_esme(config=cfg), bound_smsc(config=cfg)
    now = 0.0
    pipes = {"to_smsc": b"", "to_esme": b""}
    sent_reqs: list[Any] = []
    outcomes: dict[int, int] = {}

    def react(session: Session, evs: list[events.Event]) -> None:
        for ev in evs:
            if isinstance(ev, events.BindRequested):
                session.send_response(ev.pdu.make_response(system_id="S"))
            elif isinstance(ev, events.RequestReceived) and answer:
                session.send_response(ev.pdu.make_response(message_id="m"))
            elif isinstance(
                ev, (events.ResponseReceived, events.RequestTimedOut, events.RequestAborted)
            ):
                outcomes[id(ev.request)] = outcomes.get(id(ev.request), 0) + 1

    for op, n in ops:
        pipes["to_smsc"] += esme.data_to_send()
        pipes["to_esme"] += smsc.data_to_send()
        if op in ("esme_submit", "smsc_deliver"):
            session = esme if op == "esme_submit" else smsc
            pdu = submit() if op == "esme_submit" else engine.DeliverSm(destination_addr="1")
            try:
                session.send_request(pdu, now)
            except SessionError:
                continue
            sent_reqs.append(pdu)
        elif op in pipes:
            chunk, pipes[op] = pipes[op][:n], pipes[op][n:]
            target = smsc if op == "to_smsc" else esme
            react(target, target.receive_data(chunk, now))
        elif op == "tick":
            now += n % 20
            react(esme, esme.tick(now))
            react(smsc, smsc.tick(now))
        else:
            session = esme if n % 2 == 0 else smsc
            if session.is_bound:
                session.unbind(now)
    react(esme, esme.connection_lost())
    react(smsc, smsc.connection_lost())
    assert all(outcomes.get(id(r)) == 1 for r in sent_reqs), (len(sent_reqs), outcomes)
    assert esme.outstanding == 0 and smsc.outstanding == 0
