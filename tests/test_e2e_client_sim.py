"""EsmeClient against the simulated carrier (engine.sim on engine.SmscServer), real loopback
TCP.  No timing assertions: the timeouts here only guard against hangs."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest

from engine import (
    BindError,
    ConnectionLostError,
    DataSm,
    InboundMessage,
    MessageState,
    Reassembler,
    ResponseTimeoutError,
    SubmitSm,
    receipt_from_pdu,
)
from engine.aio.client import EsmeClient, LinkDownError
from engine.pdu.constants import CommandStatus
from engine.sim import SimCarrier

HANG_GUARD = 20.0
CREDS = {"esme": "secret", "other": "pw2"}


def client_for(sim: SimCarrier, **kw: Any) -> EsmeClient:
    kw.setdefault("system_id", "esme")
    kw.setdefault("password", "secret")
    kw.setdefault("backoff_initial", 0.05)
    kw.setdefault("backoff_max", 0.2)
    kw.setdefault("connect_timeout", HANG_GUARD)
    return EsmeClient("127.0.0.1", sim.port, **kw)


def sm(dest: str, **kw: Any) -> SubmitSm:
    return SubmitSm(source_addr="15005550006", destination_addr=dest, short_message=b"hi", **kw)


def accepted_dests(sim: SimCarrier) -> list[str]:
    return [r.pdu.destination_addr for r in sim.received if r.command_status == 0]


async def wait_until(pred: Any, what: str) -> None:
    async def poll() -> None:
        while not pred():
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(poll(), HANG_GUARD)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


@pytest.fixture
async def sim() -> Any:
    async with SimCarrier(credentials=CREDS, receipt_delay=0.0, seed=1) as carrier:
        yield carrier


async def test_transceiver_submit_and_unique_ids(sim: SimCarrier) -> None:
    async with client_for(sim, window=8) as c:
        rs = await asyncio.wait_for(
            c.submit_many([sm(f"1500555{i:04d}") for i in range(50)]), HANG_GUARD
        )
    ids = [r.message_id for r in rs]  # type: ignore[union-attr]
    assert len(set(ids)) == 50 and all(ids)
    assert accepted_dests(sim) == [f"1500555{i:04d}" for i in range(50)]
    assert [r.message_id for r in sim.received] == ids


@pytest.mark.parametrize("bind_type", ["transmitter", "receiver", "transceiver", "pair"])
async def test_every_bind_type(sim: SimCarrier, bind_type: Any) -> None:
    got: list[bytes] = []
    async with client_for(sim, bind_type=bind_type, on_deliver=lambda p: got.append(
        p.short_message)) as c:  # fmt: skip
        kinds = sorted(str(conn.bind_type) for conn in sim.connections("esme"))
        expected = {"pair": ["receiver", "transmitter"]}.get(bind_type, [bind_type])
        assert kinds == expected
        if bind_type != "receiver":
            r = await asyncio.wait_for(c.submit(sm("15005550100")), HANG_GUARD)
            assert r.command_status == 0 and r.message_id
        if bind_type != "transmitter":
            rs = await asyncio.wait_for(sim.inject("15005550001", "777", "mo"), HANG_GUARD)
            assert [r.command_status for r in rs] == [0]
            await wait_until(lambda: got == [b"mo"], "the MO on the receiving bind")


async def test_wrong_password_and_unknown_system_id() -> None:
    # The distinct answers are an option now (ESME_RBINDFAIL for both by default, so that
    # a peer cannot enumerate system_ids); the client treats both as final.
    async with SimCarrier(credentials=CREDS, distinct_bind_errors=True) as sim:
        await _refused_both_ways(sim)


async def _refused_both_ways(sim: SimCarrier) -> None:
    with pytest.raises(BindError) as info:
        await asyncio.wait_for(client_for(sim, password="nope").start(), HANG_GUARD)
    assert info.value.command_status == CommandStatus.ESME_RINVPASWD
    with pytest.raises(BindError) as info:
        await asyncio.wait_for(client_for(sim, system_id="ghost").start(), HANG_GUARD)
    assert info.value.command_status == CommandStatus.ESME_RINVSYSID
    assert sim.binds == 0


async def test_window_responses_out_of_order(sim: SimCarrier) -> None:
    sim.faults.delay_by_dest = {"15005550100": 0.3}  # the first one is answered last
    async with client_for(sim, window=4) as c:
        dests = ["15005550100", "15005550200", "15005550300", "15005550400"]
        tasks = [asyncio.ensure_future(c.submit(sm(d))) for d in dests]
        rs = await asyncio.wait_for(asyncio.gather(*tasks), HANG_GUARD)
    # every response went to its own request, although the first came back last
    by_id = {r.message_id: r.pdu.destination_addr for r in sim.received}
    assert [by_id[r.message_id] for r in rs] == dests
    assert accepted_dests(sim)[-1] == "15005550100"


async def test_response_timeout_then_link_still_usable(sim: SimCarrier) -> None:
    async with client_for(sim, response_timeout=1.0) as c:
        sim.faults.silent = True
        with pytest.raises(ResponseTimeoutError):
            await asyncio.wait_for(c.submit(sm("15005550100")), HANG_GUARD)
        sim.faults.silent = False
        r = await asyncio.wait_for(c.submit(sm("15005550101")), HANG_GUARD)
        assert r.command_status == 0


async def test_error_status_is_returned_not_raised(sim: SimCarrier) -> None:
    sim.faults.error_status = CommandStatus.ESME_RINVDSTADR
    async with client_for(sim) as c:
        r = await asyncio.wait_for(c.submit(sm("15005550100")), HANG_GUARD)
    assert r.command_status == CommandStatus.ESME_RINVDSTADR


async def test_drop_mid_window_reports_every_request_and_rebinds(sim: SimCarrier) -> None:
    sim.faults.delay = 0.2  # keep a full window in flight when the carrier drops
    sim.faults.drop_after = 6
    async with client_for(sim, window=6) as c:
        results = await asyncio.wait_for(
            c.submit_many([sm(f"150055501{i:02d}") for i in range(6)]), HANG_GUARD
        )
        # every request is reported: none answered (the drop came first), all outcome-unknown
        assert len(results) == 6
        assert all(isinstance(r, ConnectionLostError) for r in results), results
        await wait_until(lambda: c.binds == 2 and c.bound, "the client rebinds by itself")
        sim.faults.delay = 0.0
        r = await asyncio.wait_for(c.submit(sm("15005550199")), HANG_GUARD)
        assert r.command_status == 0
    # nothing was resent silently: the six dropped PDUs were never accepted
    assert accepted_dests(sim) == ["15005550199"]


async def test_throttle_pauses_link_and_keeps_order(sim: SimCarrier) -> None:
    dests = [f"150055502{i:02d}" for i in range(10)]
    sim.faults.throttle_next = 2  # the first two submits to arrive are throttled
    async with client_for(sim, window=4, throttle_pause=0.1) as c:
        rs = await asyncio.wait_for(c.submit_many([sm(d) for d in dests]), HANG_GUARD)
        assert all(r.command_status == 0 for r in rs)  # type: ignore[union-attr]
        assert c.throttled_count == 2
    # m0, m1 throttled; m2, m3 were already in flight and were accepted; then, after the
    # pause and once nothing was in flight, m0, m1 again in their order, then m4..m9.
    order = accepted_dests(sim)
    assert order == dests[2:4] + dests[0:2] + dests[4:]


async def test_throttle_by_rate_delivers_everything_in_order(sim: SimCarrier) -> None:
    sim.faults.throttle_rate = 5  # per second: most of the burst is throttled at first
    dests = [f"150055503{i:02d}" for i in range(12)]
    # A rate-throttling carrier refuses a PDU until its second is over: enough resends at
    # 50 ms to outlast that (the default limit, 5, is meant for pauses of 1 s).
    async with client_for(sim, window=1, throttle_pause=0.05, max_throttle_retries=100) as c:
        rs = await asyncio.wait_for(c.submit_many([sm(d) for d in dests]), HANG_GUARD)
        assert all(r.command_status == 0 for r in rs)  # type: ignore[union-attr]
        assert c.throttled_count > 0
    assert accepted_dests(sim) == dests  # window 1: strictly in order


async def test_max_rate_sends_everything(sim: SimCarrier) -> None:
    async with client_for(sim, window=10, max_rate=200.0) as c:
        rs = await asyncio.wait_for(
            c.submit_many([sm(f"150055504{i:02d}") for i in range(20)]), HANG_GUARD
        )
    assert all(r.command_status == 0 for r in rs)  # type: ignore[union-attr]
    assert accepted_dests(sim) == [f"150055504{i:02d}" for i in range(20)]


async def test_inbound_multipart_reassembled(sim: SimCarrier) -> None:
    text = "Multipart MO from the carrier, sent in reverse part order. " * 6
    assembler = Reassembler()
    done: list[InboundMessage] = []

    async def on_deliver(pdu: Any) -> int:
        msg = assembler.add(pdu, 0.0)
        if msg is not None:
            done.append(msg)
        return 0

    async with client_for(sim, on_deliver=on_deliver) as c:
        assert c.bound
        rs = await asyncio.wait_for(
            sim.inject("15005550001", "15005550006", text, order="reverse"), HANG_GUARD
        )
        assert len(rs) > 2 and all(r.command_status == 0 for r in rs)
        await wait_until(lambda: len(done) == 1, "the whole message")
    assert done[0].text == text and done[0].complete and done[0].num_parts == len(rs)


async def test_receipt_round_trip(sim: SimCarrier) -> None:
    receipts: list[Any] = []
    async with client_for(sim, on_deliver=receipts.append) as c:
        ok = await asyncio.wait_for(c.submit(sm("15005550100", registered_delivery=1)), 20)
        bad = await asyncio.wait_for(c.submit(sm("15005550191", registered_delivery=1)), 20)
        none = await asyncio.wait_for(c.submit(sm("15005550194", registered_delivery=1)), 20)
        await asyncio.wait_for(c.submit(sm("15005550101")), 20)  # no receipt asked
        await wait_until(lambda: len(receipts) == 2, "two receipts")
    by_id = {p.receipted_message_id: p for p in receipts}
    assert set(by_id) == {ok.message_id, bad.message_id}
    assert none.message_id not in by_id
    r_ok = by_id[ok.message_id]
    assert r_ok.esm_class & 0x04 and r_ok.message_state == MessageState.DELIVERED
    assert receipt_from_pdu(r_ok).stat == "DELIVRD" and receipt_from_pdu(r_ok).text == "hi"
    assert r_ok.source_addr == "15005550100" and r_ok.destination_addr == "15005550006"
    r_bad = by_id[bad.message_id]
    assert r_bad.message_state == MessageState.UNDELIVERABLE
    assert receipt_from_pdu(r_bad).stat == "UNDELIV"


async def test_refused_receipt_is_retried(sim: SimCarrier) -> None:
    sim.receipt_retry_interval = 0.05
    answers = [CommandStatus.ESME_RX_T_APPN, 0]
    seen: list[str] = []

    def on_deliver(pdu: Any) -> int:
        seen.append(pdu.receipted_message_id)
        return answers.pop(0) if answers else 0

    async with client_for(sim, on_deliver=on_deliver) as c:
        r = await asyncio.wait_for(c.submit(sm("15005550100", registered_delivery=1)), 20)
        await wait_until(lambda: sim.receipts_sent == 1, "receipt accepted")
    assert seen == [r.message_id, r.message_id]


async def test_data_sm_is_accepted(sim: SimCarrier) -> None:
    async with client_for(sim) as c:
        r = await asyncio.wait_for(
            c.submit(DataSm(source_addr="1", destination_addr="15005550100", message_payload=b"x")),
            HANG_GUARD,
        )
    assert r.command_name == "data_sm_resp" and r.message_id


async def test_inbound_queue_full_pauses_reading(sim: SimCarrier) -> None:
    gate = asyncio.Event()
    seen: list[bytes] = []

    async def on_deliver(pdu: Any) -> int:
        seen.append(pdu.short_message)
        await gate.wait()
        return 0

    async with client_for(sim, on_deliver=on_deliver, max_inbound_queue=2) as c:
        conn = sim.connections("esme")[0]
        sends = [
            asyncio.ensure_future(sim.inject("1", "2", f"m{i}", system_id="esme")) for i in range(6)
        ]
        proto = c._links[0].protocol
        assert proto is not None
        await wait_until(lambda: proto.reading_paused, "reading paused")
        assert len(seen) < 6
        gate.set()
        await asyncio.wait_for(asyncio.gather(*sends), HANG_GUARD)
        await wait_until(lambda: not proto.reading_paused, "reading resumed")
        assert sorted(seen) == [f"m{i}".encode() for i in range(6)]
        assert conn.state.name == "BOUND_TRX"


async def test_address_range_routes_inbound(sim: SimCarrier) -> None:
    got_a: list[str] = []
    got_b: list[str] = []
    a = client_for(sim, address_range=r"1500555\d+", on_deliver=lambda p: got_a.append(
        p.destination_addr))  # fmt: skip
    b = client_for(sim, system_id="other", password="pw2", address_range=r"44\d+",
                   on_deliver=lambda p: got_b.append(p.destination_addr))  # fmt: skip
    async with a, b:
        await asyncio.wait_for(sim.inject("1", "15005550001", "x"), HANG_GUARD)
        await asyncio.wait_for(sim.inject("1", "447700900123", "y"), HANG_GUARD)
        await wait_until(lambda: got_a and got_b, "both routed")
    assert got_a == ["15005550001"] and got_b == ["447700900123"]


async def test_tls(tmp_path: Path) -> None:
    key, crt = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(crt), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(crt, key)
    client_ctx = ssl.create_default_context(cafile=str(crt))
    async with SimCarrier(credentials=CREDS, ssl=server_ctx) as sim:
        async with client_for(sim, ssl=client_ctx) as c:
            r = await asyncio.wait_for(c.submit(sm("15005550100")), HANG_GUARD)
            assert r.command_status == 0
        # a plain client cannot bind to the TLS carrier
        with pytest.raises(LinkDownError):
            await asyncio.wait_for(client_for(sim, connect_timeout=1.0).start(), HANG_GUARD)


def test_under_uvloop() -> None:
    import uvloop

    async def scenario() -> tuple[str, str | None]:
        receipts: list[Any] = []
        sim = SimCarrier(credentials=CREDS, receipt_delay=0.0)
        async with sim, client_for(sim, window=4, on_deliver=receipts.append) as c:
            r = await asyncio.wait_for(c.submit(sm("15005550100", registered_delivery=1)), 20)
            await wait_until(lambda: bool(receipts), "the receipt")
            rs = await asyncio.wait_for(c.submit_many([sm("15005550101")]), 20)
            assert rs[0].command_status == 0
        return r.message_id, receipts[0].receipted_message_id

    mid, receipted = uvloop.run(scenario())
    assert mid and receipted == mid


async def test_random_throttling_fraction_still_delivers_in_order(sim: SimCarrier) -> None:
    sim.faults.throttle_fraction = 0.5  # seeded: the same submits are throttled every run
    dests = [f"150055506{i:02d}" for i in range(10)]
    async with client_for(sim, window=1, throttle_pause=0.01) as c:
        rs = await asyncio.wait_for(c.submit_many([sm(d) for d in dests]), HANG_GUARD)
        assert all(r.command_status == 0 for r in rs)
        assert c.throttled_count > 0
    assert accepted_dests(sim) == dests


async def test_explicit_routes_pick_the_system_id() -> None:
    got: dict[str, list[str]] = {"esme": [], "other": []}
    routes = {"15005550001": "other", r"44\d+": "esme"}
    async with SimCarrier(credentials=CREDS, routes=routes) as sim:
        a = client_for(sim, on_deliver=lambda p: got["esme"].append(p.destination_addr))
        b = client_for(sim, system_id="other", password="pw2",
                       on_deliver=lambda p: got["other"].append(p.destination_addr))  # fmt: skip
        async with a, b:
            await asyncio.wait_for(sim.inject("1", "15005550001", "x"), HANG_GUARD)
            await asyncio.wait_for(sim.inject("1", "447700900123", "y"), HANG_GUARD)
            await wait_until(lambda: got["esme"] and got["other"], "both delivered")
    assert got == {"esme": ["447700900123"], "other": ["15005550001"]}


async def test_pair_rebinds_the_leg_that_dropped(sim: SimCarrier) -> None:
    got: list[bytes] = []
    async with client_for(sim, bind_type="pair", on_deliver=lambda p: got.append(
            p.short_message)) as c:  # fmt: skip
        (rx,) = [conn for conn in sim.connections("esme") if conn.bind_type == "receiver"]
        rx.abort()
        await wait_until(lambda: c.binds == 3 and c.bound, "the receiver rebound")
        kinds = sorted(str(conn.bind_type) for conn in sim.connections("esme"))
        assert kinds == ["receiver", "transmitter"]
        r = await asyncio.wait_for(c.submit(sm("15005550100")), HANG_GUARD)
        assert r.command_status == 0
        await asyncio.wait_for(sim.inject("1", "2", "after"), HANG_GUARD)
        await wait_until(lambda: got == [b"after"], "MO on the new receiver")


async def test_storm_of_drops_and_throttles_every_request_has_one_outcome(
    sim: SimCarrier,
) -> None:
    """300 submits through throttling (10%) and a dropped connection every ~40 submits:
    each gets exactly one outcome, nothing is accepted twice (no silent resend), every
    accepted one is either answered or reported outcome-unknown, never lost."""
    dests = [f"1500{i:07d}" for i in range(300)]
    sim.faults.throttle_fraction = 0.1
    sim.faults.drop_after = 40
    async with client_for(sim, window=8, throttle_pause=0.01) as c:

        async def keep_dropping() -> None:
            while True:
                await asyncio.sleep(0.01)
                if sim.faults.drop_after is None:
                    sim.faults.drop_after = 40

        dropper = asyncio.ensure_future(keep_dropping())
        try:
            results = await asyncio.wait_for(c.submit_many([sm(d) for d in dests]), 60)
        finally:
            dropper.cancel()
        assert c.binds >= 2
    assert len(results) == 300
    ok = {d for d, r in zip(dests, results, strict=True) if not isinstance(r, Exception)}
    lost = {d for d, r in zip(dests, results, strict=True) if isinstance(r, ConnectionLostError)}
    others = [r for r in results if isinstance(r, Exception) and r.__class__ is not
              ConnectionLostError]  # fmt: skip
    assert others == []
    assert all(r.command_status == 0 for r in results if not isinstance(r, Exception))
    accepted = accepted_dests(sim)
    assert len(accepted) == len(set(accepted))  # nothing accepted twice
    assert ok <= set(accepted)  # every answered one was really accepted
    assert set(accepted) <= ok | lost  # and every accepted one was reported
    assert lost  # the drops did hit requests in flight
