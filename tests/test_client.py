"""EsmeClient against a small SMSC written here from asyncio streams and the codec only.

This SMSC shares no code with engine.session or engine.aio.server, so these tests check the
client against an independent peer on real loopback TCP.  The scenarios that need the
full simulated carrier are in test_client_sim.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import engine
from engine import (
    BindError,
    ConnectionLostError,
    DeliverSm,
    PduReader,
    ResponseTimeoutError,
    SubmitSm,
    encode,
)
from engine.aio.client import EsmeClient, LinkDownError
from engine.pdu.constants import CommandId, CommandStatus

HANG_GUARD = 20.0  # seconds; only against hangs, never a timing assertion


class FakeSmsc:
    """Bind, submit_sm, enquire_link, unbind; knobs for the scenarios below."""

    def __init__(self, password: str = "secret") -> None:
        self.password = password
        self.accepted: list[str] = []  # destination_addr in the order accepted
        self.throttle_once: set[str] = set()  # destinations answered ESME_RTHROTTLED once
        self.throttle_always: set[str] = set()  # destinations answered ESME_RTHROTTLED always
        self.queue_full_once: set[str] = set()  # destinations answered ESME_RMSGQFUL once
        self.hold: dict[str, asyncio.Event] = {}  # destinations answered when the event is set
        self.silent: set[str] = set()  # destinations never answered
        self.drop_after: int | None = None  # close after this many submit_sm
        self.answer_enquire_link = True
        self.answer_bind = True
        self.drop_binds = 0  # drop the connection instead of answering this many binds
        # (command, system_id, system_type, address_range, interface_version)
        self.binds: list[tuple[str, str, str, str, int]] = []
        self.enquire_links = 0
        self.throttled_answers = 0
        self.responses: list[tuple[str, int, int]] = []  # (command, seq, status) received
        self.writers: list[asyncio.StreamWriter] = []
        self.bind_writers: dict[str, asyncio.StreamWriter] = {}
        self.server: asyncio.Server | None = None
        self.port = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    async def __aenter__(self) -> FakeSmsc:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for w in self.writers:
            w.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.server.wait_closed()

    def drop_all(self) -> None:
        for w in self.writers:
            w.transport.abort()

    async def deliver(self, pdu: Any, bind: str | None = None) -> None:
        w = self.writers[-1] if bind is None else self.bind_writers[bind]
        w.write(encode(pdu))
        await w.drain()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.writers.append(writer)
        framer = PduReader()
        submits = 0
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                for item in framer.feed(data):
                    assert not isinstance(item, Exception), item
                    pdu: Any = item
                    cid = pdu.command_id
                    if cid in (
                        CommandId.BIND_TRANSMITTER,
                        CommandId.BIND_RECEIVER,
                        CommandId.BIND_TRANSCEIVER,
                    ):
                        self.binds.append(
                            (
                                pdu.command_name,
                                pdu.system_id,
                                pdu.system_type,
                                pdu.address_range,
                                pdu.interface_version,
                            )
                        )
                        self.bind_writers[pdu.command_name] = writer
                        if self.drop_binds > 0:
                            self.drop_binds -= 1
                            writer.transport.abort()
                            return
                        if not self.answer_bind:
                            continue
                        ok = pdu.password == self.password
                        status = 0 if ok else CommandStatus.ESME_RINVPASWD
                        writer.write(
                            encode(pdu.make_response(command_status=status, system_id="FAKE"))
                        )
                    elif cid == CommandId.ENQUIRE_LINK:
                        self.enquire_links += 1
                        if self.answer_enquire_link:
                            writer.write(encode(pdu.make_response()))
                    elif cid == CommandId.UNBIND:
                        writer.write(encode(pdu.make_response()))
                    elif cid == CommandId.SUBMIT_SM:
                        submits += 1
                        if self.drop_after is not None and submits >= self.drop_after:
                            writer.transport.abort()
                            return
                        self._submit(pdu, writer)
                    elif cid & 0x80000000:
                        self.responses.append(
                            (pdu.command_name, pdu.sequence_number, pdu.command_status)
                        )
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            self._tasks.discard(task)

    def _submit(self, pdu: Any, writer: asyncio.StreamWriter) -> None:
        dest = pdu.destination_addr
        if dest in self.silent:
            return
        if dest in self.throttle_always:
            self.throttled_answers += 1
            writer.write(encode(pdu.make_response(command_status=CommandStatus.ESME_RTHROTTLED)))
            return
        if dest in self.throttle_once:
            self.throttle_once.discard(dest)
            writer.write(encode(pdu.make_response(command_status=CommandStatus.ESME_RTHROTTLED)))
            return
        if dest in self.queue_full_once:
            self.queue_full_once.discard(dest)
            writer.write(encode(pdu.make_response(command_status=CommandStatus.ESME_RMSGQFUL)))
            return
        if dest in self.hold:
            ev = self.hold[dest]

            async def later() -> None:
                await ev.wait()
                self.accepted.append(dest)
                writer.write(encode(pdu.make_response(message_id=f"id-{dest}")))

            t = asyncio.get_running_loop().create_task(later())
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)
            return
        self.accepted.append(dest)
        writer.write(encode(pdu.make_response(message_id=f"id-{dest}")))


def client_for(smsc: FakeSmsc, **kw: Any) -> EsmeClient:
    kw.setdefault("system_id", "esme")
    kw.setdefault("password", "secret")
    kw.setdefault("backoff_initial", 0.05)
    kw.setdefault("backoff_max", 0.2)
    kw.setdefault("connect_timeout", HANG_GUARD)
    return EsmeClient("127.0.0.1", smsc.port, **kw)


def sm(dest: str) -> SubmitSm:
    return SubmitSm(source_addr="100", destination_addr=dest, short_message=b"hi")


async def wait_until(pred: Any, what: str) -> None:
    async def loop() -> None:
        while not pred():
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(loop(), HANG_GUARD)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


async def test_exported_from_engine() -> None:
    assert engine.EsmeClient is EsmeClient


async def test_transceiver_submit_returns_response() -> None:
    smsc = FakeSmsc()
    async with smsc, client_for(smsc, address_range="^1", system_type="VMA") as c:
        resp = await asyncio.wait_for(c.submit(sm("123")), HANG_GUARD)
        assert resp.command_id == CommandId.SUBMIT_SM_RESP
        assert resp.message_id == "id-123"
        assert smsc.binds == [("bind_transceiver", "esme", "VMA", "^1", 0x34)]


async def test_interface_version_is_sent_as_given() -> None:
    smsc = FakeSmsc()
    async with smsc, client_for(smsc, bind_type="transmitter", interface_version=0x33) as c:
        assert c.bound
        assert smsc.binds == [("bind_transmitter", "esme", "", "", 0x33)]


async def test_wrong_password_raises_bind_error() -> None:
    async with FakeSmsc() as smsc:
        c = client_for(smsc, password="wrong")
        with pytest.raises(BindError) as info:
            await asyncio.wait_for(c.start(), HANG_GUARD)
        assert info.value.command_status == CommandStatus.ESME_RINVPASWD
        assert "ESME_RINVPASWD" in str(info.value)
        assert "wrong" not in repr(c) and "secret" not in repr(c)


def test_bad_arguments_name_the_field() -> None:
    with pytest.raises(ValueError, match="password"):
        EsmeClient("h", 1, system_id="a", password="123456789")
    with pytest.raises(ValueError, match="bind_type"):
        EsmeClient("h", 1, system_id="a", password="p", bind_type="tx")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="window"):
        EsmeClient("h", 1, system_id="a", password="p", window=0)


async def test_out_of_order_responses_match_their_requests() -> None:
    async with FakeSmsc() as smsc, client_for(smsc, window=4) as c:
        gate = asyncio.Event()
        smsc.hold["first"] = gate
        t1 = asyncio.ensure_future(c.submit(sm("first")))
        rest = [asyncio.ensure_future(c.submit(sm(d))) for d in ("a", "b", "c")]
        done = await asyncio.wait_for(asyncio.gather(*rest), HANG_GUARD)
        assert [r.message_id for r in done] == ["id-a", "id-b", "id-c"]
        assert not t1.done()
        gate.set()
        r1 = await asyncio.wait_for(t1, HANG_GUARD)
        assert r1.message_id == "id-first"
        assert smsc.accepted == ["a", "b", "c", "first"]


async def test_window_bounds_in_flight() -> None:
    async with FakeSmsc() as smsc, client_for(smsc, window=2) as c:
        gate = asyncio.Event()
        for d in ("a", "b", "c"):
            smsc.hold[d] = gate
        tasks = [asyncio.ensure_future(c.submit(sm(d))) for d in ("a", "b", "c")]
        await wait_until(lambda: c.in_flight == 2, "two in flight")
        await asyncio.sleep(0.05)
        assert c.in_flight == 2 and c.queued == 1
        gate.set()
        await asyncio.wait_for(asyncio.gather(*tasks), HANG_GUARD)
        assert smsc.accepted == ["a", "b", "c"]


async def test_response_timeout() -> None:
    async with FakeSmsc() as smsc, client_for(smsc, response_timeout=1.0) as c:
        smsc.silent.add("void")
        with pytest.raises(ResponseTimeoutError, match="outcome unknown"):
            await asyncio.wait_for(c.submit(sm("void")), HANG_GUARD)
        # the slot was freed: the link still works
        assert (await asyncio.wait_for(c.submit(sm("ok")), HANG_GUARD)).message_id == "id-ok"


async def test_drop_mid_window_reports_every_request_and_rebinds() -> None:
    async with FakeSmsc() as smsc, client_for(smsc, window=5) as c:
        gate = asyncio.Event()
        for d in ("a", "b", "c"):
            smsc.hold[d] = gate
        smsc.drop_after = 4
        batch = asyncio.ensure_future(c.submit_many([sm(d) for d in ("a", "b", "c", "d")]))
        results = await asyncio.wait_for(batch, HANG_GUARD)
        assert all(isinstance(r, ConnectionLostError) for r in results), results
        await wait_until(lambda: c.binds == 2 and c.bound, "rebound")
        smsc.drop_after = None
        assert (await asyncio.wait_for(c.submit(sm("e")), HANG_GUARD)).message_id == "id-e"


async def test_throttle_resends_in_original_order() -> None:
    async with FakeSmsc() as smsc, client_for(smsc, window=3, throttle_pause=0.1) as c:
        smsc.throttle_once = {"m1", "m2"}
        dests = [f"m{i}" for i in range(8)]
        results = await asyncio.wait_for(c.submit_many([sm(d) for d in dests]), HANG_GUARD)
        assert [r.message_id for r in results] == [f"id-{d}" for d in dests]
        assert c.throttled_count == 2
        # m0 was accepted first; m1 and m2 were throttled and resent in order before m3..m7
        # (nothing was behind them in the window: m0..m2 filled it).
        assert smsc.accepted == dests


async def test_max_throttle_retries_ends_with_throttled_error() -> None:
    async with FakeSmsc() as smsc:
        smsc.throttle_always = {"stuck"}
        c = client_for(smsc, window=2, throttle_pause=0.01, max_throttle_retries=2)
        await c.start()
        stuck, fine = await asyncio.wait_for(
            asyncio.gather(c.submit(sm("stuck")), c.submit(sm("fine")), return_exceptions=True),
            HANG_GUARD,
        )
        assert isinstance(stuck, engine.ThrottledError), stuck
        assert stuck.retry_safe and "kept throttling" in str(stuck)
        assert stuck.attempts == 3 and stuck.command_status == CommandStatus.ESME_RTHROTTLED
        assert stuck.response.command_status == CommandStatus.ESME_RTHROTTLED
        assert smsc.throttled_answers == 3  # the first try and two retries, then given up
        assert fine.message_id == "id-fine"  # type: ignore[union-attr]
        assert smsc.accepted == ["fine"]
        await c.close()


async def test_enquire_link_keeps_idle_link_and_detects_dead_peer() -> None:
    async with FakeSmsc() as smsc:
        # a generous enquire_link_timeout: a stalled loop on a loaded machine must not count
        # as a dead peer while the link is meant to stay up
        c = client_for(smsc, enquire_link_interval=0.1, enquire_link_timeout=2.0)
        async with c:
            await wait_until(lambda: smsc.enquire_links >= 3, "three enquire_links")
            assert c.binds == 1 and c.bound  # answered: the link stayed up
            smsc.answer_enquire_link = False
            await wait_until(lambda: c.binds >= 2, "rebind after a dead peer")


async def test_submit_while_down_fails_with_link_down_after_connect_timeout() -> None:
    async with FakeSmsc() as smsc:
        c = client_for(smsc, connect_timeout=0.3, backoff_initial=5.0, backoff_max=5.0)
        async with c:
            smsc.server.close()  # type: ignore[union-attr]
            smsc.drop_all()
            await wait_until(lambda: not c.bound, "link down")
            with pytest.raises(LinkDownError, match="not sent"):
                await asyncio.wait_for(c.submit(sm("x")), HANG_GUARD)


async def test_on_deliver_status_goes_back_and_errors_answer_temporary_failure() -> None:
    got: list[str] = []

    async def on_deliver(pdu: Any) -> int:
        got.append(pdu.short_message.decode())
        if pdu.short_message == b"boom":
            raise RuntimeError("application bug")
        return 0 if pdu.short_message == b"ok" else CommandStatus.ESME_RX_R_APPN

    async with FakeSmsc() as smsc, client_for(smsc, on_deliver=on_deliver) as c:
        assert c.bound
        for i, text in enumerate((b"ok", b"no", b"boom"), 1):
            await smsc.deliver(
                DeliverSm(
                    sequence_number=i, source_addr="1", destination_addr="2", short_message=text
                )
            )
        await wait_until(lambda: len(smsc.responses) == 3, "three deliver_sm_resp")
        assert got == ["ok", "no", "boom"]
        assert smsc.responses == [
            ("deliver_sm_resp", 1, 0),
            ("deliver_sm_resp", 2, CommandStatus.ESME_RX_R_APPN),
            ("deliver_sm_resp", 3, CommandStatus.ESME_RX_T_APPN),
        ]


async def test_graceful_close_waits_for_in_flight() -> None:
    async with FakeSmsc() as smsc:
        c = client_for(smsc, window=2, close_grace=HANG_GUARD)
        await c.start()
        gate = asyncio.Event()
        smsc.hold["slow"] = gate
        t = asyncio.ensure_future(c.submit(sm("slow")))
        await wait_until(lambda: c.in_flight == 1, "in flight")
        closing = asyncio.ensure_future(c.close())
        await asyncio.sleep(0.05)
        assert not closing.done()
        with pytest.raises(engine.SessionError, match="closed"):
            await c.submit(sm("late"))
        gate.set()
        await asyncio.wait_for(closing, HANG_GUARD)
        assert (await t).message_id == "id-slow"


async def test_close_grace_expiry_fails_in_flight_as_outcome_unknown() -> None:
    async with FakeSmsc() as smsc:
        c = client_for(smsc, close_grace=0.1)
        await c.start()
        smsc.silent.add("void")
        t = asyncio.ensure_future(c.submit(sm("void")))
        await wait_until(lambda: c.in_flight == 1, "in flight")
        await asyncio.wait_for(c.close(), HANG_GUARD)
        with pytest.raises(ConnectionLostError):
            await t


async def test_pair_binds_transmitter_and_receiver() -> None:
    got: list[bytes] = []
    smsc = FakeSmsc()
    on_deliver = lambda p: got.append(p.short_message)  # noqa: E731
    async with smsc, client_for(smsc, bind_type="pair", on_deliver=on_deliver) as c:
        assert sorted(smsc.bind_writers) == ["bind_receiver", "bind_transmitter"]
        assert (await asyncio.wait_for(c.submit(sm("z")), HANG_GUARD)).message_id == "id-z"
        mo = DeliverSm(
            sequence_number=7, source_addr="1", destination_addr="2", short_message=b"mo"
        )
        await smsc.deliver(mo, "bind_receiver")
        await wait_until(lambda: got == [b"mo"], "delivery on the receiver")


@pytest.mark.parametrize("bind_type", ["transmitter", "receiver"])
async def test_single_direction_binds(bind_type: str) -> None:
    async with FakeSmsc() as smsc, client_for(smsc, bind_type=bind_type) as c:  # type: ignore[arg-type]
        assert smsc.binds[0][0] == f"bind_{bind_type}"
        if bind_type == "receiver":
            with pytest.raises(engine.SessionError, match="receiver"):
                await c.submit(sm("x"))
        else:
            assert (await asyncio.wait_for(c.submit(sm("x")), HANG_GUARD)).message_id == "id-x"


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    from engine.aio.client import backoff_delay

    lows = [backoff_delay(a, 0.5, 30.0, 0.0) for a in range(10)]
    highs = [backoff_delay(a, 0.5, 30.0, 0.999999) for a in range(10)]
    assert lows[:4] == [0.25, 0.5, 1.0, 2.0]
    assert lows[-1] == 15.0 and highs[-1] == pytest.approx(30.0)
    assert all(lo < hi for lo, hi in zip(lows, highs, strict=True))
    assert backoff_delay(10_000, 0.5, 30.0, 0.5) == 22.5  # no overflow


async def test_msgqful_pauses_like_throttling() -> None:
    async with FakeSmsc() as smsc, client_for(smsc, window=1, throttle_pause=0.05) as c:
        smsc.queue_full_once = {"q"}
        rs = await asyncio.wait_for(c.submit_many([sm("q"), sm("r")]), HANG_GUARD)
        assert [r.message_id for r in rs] == ["id-q", "id-r"]  # type: ignore[union-attr]
        assert c.throttled_count == 1 and smsc.accepted == ["q", "r"]


async def test_cancelled_queued_submit_is_never_sent() -> None:
    async with FakeSmsc() as smsc, client_for(smsc, window=1) as c:
        gate = asyncio.Event()
        smsc.hold["first"] = gate
        first = asyncio.ensure_future(c.submit(sm("first")))
        second = asyncio.ensure_future(c.submit(sm("second")))
        await wait_until(lambda: c.in_flight == 1 and c.queued == 1, "one sent, one queued")
        second.cancel()
        gate.set()
        await asyncio.wait_for(first, HANG_GUARD)
        third = await asyncio.wait_for(c.submit(sm("third")), HANG_GUARD)
        assert third.message_id == "id-third"
        assert smsc.accepted == ["first", "third"]


async def test_requests_beyond_max_queue_are_refused_and_never_sent() -> None:
    async with FakeSmsc() as smsc, client_for(smsc, window=1, max_queue=2) as c:
        gate = asyncio.Event()
        smsc.hold["first"] = gate
        first = asyncio.ensure_future(c.submit(sm("first")))
        await wait_until(lambda: c.in_flight == 1, "first in flight")
        waiting = [asyncio.ensure_future(c.submit(sm(f"q{i}"))) for i in range(2)]
        await wait_until(lambda: c.queued == 2, "two queued")
        with pytest.raises(engine.ClientQueueFullError, match="max_queue"):
            await c.submit(sm("over"))
        with pytest.raises(engine.ClientQueueFullError, match="max_queue"):
            await c.submit_many([sm("a"), sm("b")])
        gate.set()
        await asyncio.wait_for(asyncio.gather(first, *waiting), HANG_GUARD)
        assert smsc.accepted == ["first", "q0", "q1"]


def test_max_queue_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_queue"):
        EsmeClient("127.0.0.1", 9, system_id="a", password="b", max_queue=0)


async def test_submit_before_start_and_start_against_nothing() -> None:
    c = EsmeClient("127.0.0.1", 9, system_id="a", password="b", connect_timeout=1.0)
    with pytest.raises(engine.SessionError, match="start"):
        await c.submit(sm("x"))
    with pytest.raises(LinkDownError, match="last error"):
        await asyncio.wait_for(c.start(), HANG_GUARD)


async def test_no_rebind_closes_and_refuses_new_submits() -> None:
    async with FakeSmsc() as smsc:
        c = client_for(smsc, rebind=False)
        async with c:
            smsc.drop_all()
            await wait_until(lambda: not c.bound, "link down")
            with pytest.raises(engine.SessionError, match="closed"):
                await c.submit(sm("x"))
            assert c.binds == 1


async def test_deliveries_after_a_rebind_do_not_wait_for_the_old_connection() -> None:
    gate = asyncio.Event()
    seen: list[bytes] = []

    async def on_deliver(pdu: Any) -> int:
        seen.append(pdu.short_message)
        if pdu.short_message == b"stuck":
            await gate.wait()
        return 0

    async with FakeSmsc() as smsc, client_for(smsc, on_deliver=on_deliver) as c:
        await smsc.deliver(
            DeliverSm(sequence_number=1, destination_addr="2", short_message=b"stuck")
        )
        await wait_until(lambda: seen == [b"stuck"], "first delivery in on_deliver")
        smsc.drop_all()
        await wait_until(lambda: c.binds == 2 and c.bound, "rebound")
        await smsc.deliver(DeliverSm(sequence_number=5, destination_addr="2", short_message=b"new"))
        await wait_until(lambda: ("deliver_sm_resp", 5, 0) in smsc.responses, "answered")
        gate.set()
        # the stuck one's answer had no connection to go to: it was never written
        await asyncio.sleep(0)
        assert ("deliver_sm_resp", 1, 0) not in smsc.responses


async def test_connection_dropped_during_bind_is_retried() -> None:
    async with FakeSmsc() as smsc:
        smsc.drop_binds = 2
        async with client_for(smsc) as c:
            assert c.bound and c.binds == 1
            assert len(smsc.binds) == 3  # two dropped attempts, then the bind that held
            r = await asyncio.wait_for(c.submit(sm("x")), HANG_GUARD)
            assert r.message_id == "id-x"


async def test_unanswered_bind_times_out_and_start_says_why() -> None:
    async with FakeSmsc() as smsc:
        smsc.answer_bind = False
        c = client_for(smsc, response_timeout=0.2, connect_timeout=2.0)
        with pytest.raises(LinkDownError, match="no bind response"):
            await asyncio.wait_for(c.start(), HANG_GUARD)
        assert len(smsc.binds) >= 1


async def test_unencodable_pdu_fails_alone_naming_the_field() -> None:
    async with FakeSmsc() as smsc, client_for(smsc, window=2) as c:
        bad = SubmitSm(destination_addr="1" * 30)  # SMPP 3.4 allows 20 digits
        with pytest.raises(engine.EncodeError, match="destination_addr"):
            await asyncio.wait_for(c.submit(bad), HANG_GUARD)
        # queued path: in a batch, only the bad one fails
        rs = await asyncio.wait_for(
            c.submit_many([sm("a"), SubmitSm(destination_addr="2" * 30), sm("b")]), HANG_GUARD
        )
        assert rs[0].message_id == "id-a" and rs[2].message_id == "id-b"
        assert isinstance(rs[1], engine.EncodeError) and rs[1].field == "destination_addr"
        assert smsc.accepted == ["a", "b"]


async def test_max_rate_holds_pdus_back() -> None:
    async with FakeSmsc() as smsc:
        # one PDU per 10 s: the first goes at once, the rest wait for the rate limiter,
        # although the window has room
        c = client_for(smsc, window=10, max_rate=0.1, close_grace=0.0)
        await c.start()
        batch = asyncio.ensure_future(c.submit_many([sm(f"r{i}") for i in range(5)]))
        await wait_until(lambda: smsc.accepted == ["r0"], "the first PDU")
        assert c.queued == 4 and c.in_flight == 0
        await c.close()
        rs = await asyncio.wait_for(batch, HANG_GUARD)
        assert rs[0].message_id == "id-r0"
        assert all(isinstance(r, LinkDownError) for r in rs[1:])
        assert smsc.accepted == ["r0"]


def count_writes(c: EsmeClient) -> list[int]:
    """Wrap the bound link's transport.write; the list gets each write's length."""
    proto = c._links[0].protocol
    assert proto is not None and proto.transport is not None
    writes: list[int] = []
    real_write = proto.transport.write

    def counting_write(data: Any) -> None:
        writes.append(len(data))
        real_write(data)

    proto.transport.write = counting_write  # type: ignore[method-assign]
    return writes


async def test_writes_are_coalesced_one_per_loop_iteration() -> None:
    async with FakeSmsc() as smsc, client_for(smsc, window=100) as c:
        writes = count_writes(c)
        # 50 tasks whose first steps all run in the same loop iteration
        rs = await asyncio.wait_for(
            asyncio.gather(*(c.submit(sm(f"c{i}")) for i in range(50))), HANG_GUARD
        )
        assert len(rs) == 50 and writes[0] == sum(len(encode(sm(f"c{i}"))) for i in range(50))
        assert len(writes) == 1
        writes.clear()
        await asyncio.wait_for(c.submit_many([sm(f"d{i}") for i in range(30)]), HANG_GUARD)
        assert len(writes) == 1


async def test_a_full_window_goes_out_in_two_halves() -> None:
    # With a window of 32 or more, half a window is written at once so that the carrier
    # starts on it while the rest is built (the two ends overlap); still no write per PDU.
    async with FakeSmsc() as smsc, client_for(smsc, window=64) as c:
        writes = count_writes(c)
        pdus = [sm(f"h{i:02d}") for i in range(64)]
        rs = await asyncio.wait_for(asyncio.gather(*(c.submit(p) for p in pdus)), HANG_GUARD)
        assert [r.message_id for r in rs] == [f"id-h{i:02d}" for i in range(64)]
        half = sum(len(encode(p)) for p in pdus[:32])
        assert writes == [half, half]
        assert smsc.accepted == [f"h{i:02d}" for i in range(64)]
