"""The outbound flow end to end, in one process over real sockets: the twilio helper
library -> REST API -> store -> scheduler -> SMPP -> the simulated carrier -> receipts ->
signed status callbacks received by a real aiohttp app."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from twilio.base.exceptions import TwilioRestException

from engine.aio.app import Gateway
from engine.sim import SimCarrier
from tests.gateway_helpers import (
    CARRIER_PASSWORD,
    CARRIER_SYSTEM_ID,
    callback_sink,
    carrier_link,
    eventually,
    gateway_config,
    running_gateway,
    twilio_client,
)

TO = "+15557654321"


async def _status(client, sid: str) -> str:
    msg = await asyncio.to_thread(client.messages(sid).fetch)
    return str(msg.status)


async def test_message_reaches_carrier_and_is_delivered_with_signed_callbacks(
    tmp_path: Path,
) -> None:
    async with running_gateway(tmp_path) as gw:
        assert gw.demo is not None
        async with callback_sink({gw.demo.account_sid: gw.demo.auth_token}) as sink:
            client = twilio_client(gw)
            msg = await asyncio.to_thread(
                client.messages.create,
                to=TO,
                from_="+14155550100",
                body="Hello from the test",
                status_callback=sink.url(),
            )
            assert msg.status == "queued"
            assert msg.num_segments == "1"
            await eventually(
                lambda: "delivered" in sink.statuses(msg.sid), "the delivered callback"
            )
            assert sink.invalid == []
            # The carrier got it as submit_sm from the right number to the right number.
            got = [r.pdu for r in gw.sim.received if r.pdu.destination_addr == TO[1:]]
            assert len(got) == 1
            assert got[0].source_addr == "14155550100"
            assert got[0].source_addr_ton == 1
            assert got[0].registered_delivery & 1
            assert await _status(client, msg.sid) == "delivered"
            statuses = sink.statuses(msg.sid)
            assert statuses.index("sent") < statuses.index("delivered")
            delivered = next(
                f
                for f in sink.received
                if f["MessageSid"] == msg.sid and f["MessageStatus"] == "delivered"
            )
            assert delivered["AccountSid"] == gw.demo.account_sid
            assert delivered["From"] == "+14155550100"
            assert delivered["To"] == TO
            assert delivered["ApiVersion"] == "2010-04-01"
            assert "RawDlrDoneDate" in delivered
            assert "ErrorCode" not in delivered


async def test_undelivered_receipt_maps_to_twilio_code(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw:
        assert gw.demo is not None
        async with callback_sink({gw.demo.account_sid: gw.demo.auth_token}) as sink:
            client = twilio_client(gw)
            # The simulated carrier answers UNDELIV for destinations ending in 91.
            msg = await asyncio.to_thread(
                client.messages.create,
                to="+15557654391",
                from_="12345",
                body="x",
                status_callback=sink.url(),
            )
            await eventually(lambda: "undelivered" in sink.statuses(msg.sid), "undelivered")
            fetched = await asyncio.to_thread(client.messages(msg.sid).fetch)
            assert fetched.status == "undelivered"
            assert fetched.error_code is not None and 30001 <= fetched.error_code <= 30008
            cb = next(f for f in sink.received if f["MessageStatus"] == "undelivered")
            assert int(cb["ErrorCode"]) == fetched.error_code


async def test_multipart_message_is_delivered_when_every_part_is(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw:
        client = twilio_client(gw)
        body = "A long message in three parts. " * 14  # 434 GSM-7 characters
        msg = await asyncio.to_thread(client.messages.create, to=TO, from_="12345", body=body)
        assert msg.num_segments == "3"

        async def delivered() -> bool:
            return await _status(client, msg.sid) == "delivered"

        await eventually(delivered, "the three-part message to be delivered")
        parts = [r.pdu for r in gw.sim.received if r.pdu.destination_addr == TO[1:]]
        assert len(parts) == 3
        assert all(p.esm_class & 0x40 for p in parts)  # UDH concatenation


async def test_sender_order_kept_through_carrier_throttling(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw:
        client = twilio_client(gw)
        gw.sim.faults.throttle_next = 3
        sids = []
        # A toll-free sender (3/s): one message in flight at a time, so that what this
        # test checks is the dispatcher's requeue order, not a window's overtaking (a
        # message accepted while the one before it is throttled, which no SMPP window can
        # prevent: see tests/test_dispatcher.py for several in flight at once).
        for i in range(6):
            msg = await asyncio.to_thread(
                client.messages.create, to=TO, from_="+18005550100", body=f"message {i}"
            )
            sids.append(msg.sid)

        async def all_sent() -> bool:
            return all([await _status(client, s) in ("sent", "delivered") for s in sids])

        await eventually(all_sent, "every message sent after the throttles")
        accepted = [
            r.pdu.short_message.decode()
            for r in gw.sim.received
            if r.command_status == 0 and r.pdu.destination_addr == TO[1:]
        ]
        assert accepted == [f"message {i}" for i in range(6)]
        assert gw.dispatcher is not None and gw.dispatcher.stats.throttled >= 1


async def test_validity_period_runs_out_in_the_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The only carrier is unreachable: the message cannot leave within its one second.
    link = carrier_link(monkeypatch)
    async with running_gateway(tmp_path, carriers=[link]) as gw:
        assert gw.demo is not None
        async with callback_sink({gw.demo.account_sid: gw.demo.auth_token}) as sink:
            client = twilio_client(gw)
            msg = await asyncio.to_thread(
                client.messages.create,
                to=TO,
                from_="+14155550100",
                body="late",
                validity_period=1,
                status_callback=sink.url(),
            )

            async def failed() -> bool:
                return await _status(client, msg.sid) == "failed"

            await eventually(failed, "the message to expire in the queue")
            fetched = await asyncio.to_thread(client.messages(msg.sid).fetch)
            assert fetched.error_code == 30036
            await eventually(lambda: "failed" in sink.statuses(msg.sid), "failed callback")
            cb = next(f for f in sink.received if f["MessageStatus"] == "failed")
            assert cb["ErrorCode"] == "30036"


async def test_carrier_down_at_accept_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    link = carrier_link(monkeypatch)
    port = link.port
    gw = Gateway(gateway_config(tmp_path, carriers=[link]))
    await gw.start()
    try:
        client = twilio_client(gw)
        msg = await asyncio.to_thread(
            client.messages.create, to=TO, from_="12345", body="waits for the carrier"
        )
        assert msg.status == "queued"
        assert await _status(client, msg.sid) == "queued"
        async with SimCarrier(
            port=port, credentials={CARRIER_SYSTEM_ID: CARRIER_PASSWORD}, receipt_delay=0.01
        ) as carrier:

            async def delivered() -> bool:
                return await _status(client, msg.sid) == "delivered"

            await eventually(delivered, "delivery once the carrier is up")
            assert [r.pdu.short_message for r in carrier.received] == [b"waits for the carrier"]
    finally:
        await gw.stop()


async def test_hanging_callback_url_does_not_slow_other_messages(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw:
        assert gw.demo is not None
        async with (
            callback_sink({gw.demo.account_sid: gw.demo.auth_token}) as hanging,
            callback_sink({gw.demo.account_sid: gw.demo.auth_token}) as sink,
        ):
            client = twilio_client(gw)
            stuck = await asyncio.to_thread(
                client.messages.create,
                to=TO,
                from_="12345",
                body="a",
                status_callback=hanging.url("/hang"),
            )
            ok = await asyncio.to_thread(
                client.messages.create,
                to="+15557654322",
                from_="12345",
                body="b",
                status_callback=sink.url(),
            )
            await eventually(lambda: "delivered" in sink.statuses(ok.sid), "other callback")
            assert hanging.received == []  # still hanging
            assert await _status(client, stuck.sid) == "delivered"


async def test_restart_picks_up_the_queue_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first run accepts messages while its only carrier is unreachable, then stops;
    # the second run (same data directory) sends them in order.
    link = carrier_link(monkeypatch)
    port = link.port
    cfg = gateway_config(tmp_path, carriers=[link])
    gw = Gateway(cfg)
    await gw.start()
    client = twilio_client(gw)
    sids = [
        (await asyncio.to_thread(client.messages.create, to=TO, from_="12345", body=f"n{i}")).sid
        for i in range(5)
    ]
    token = (gw.demo.account_sid, gw.demo.auth_token)  # type: ignore[union-attr]
    await gw.stop()

    async with SimCarrier(
        port=port, credentials={CARRIER_SYSTEM_ID: CARRIER_PASSWORD}, receipt_delay=None
    ) as carrier:
        gw2 = Gateway(cfg)
        await gw2.start()
        try:
            assert gw2.demo is not None and (gw2.demo.account_sid, gw2.demo.auth_token) == token
            client2 = twilio_client(gw2)

            async def all_sent() -> bool:
                return all([await _status(client2, s) == "sent" for s in sids])

            await eventually(all_sent, "the recovered messages to be sent")
            assert [r.pdu.short_message for r in carrier.received] == [
                f"n{i}".encode() for i in range(5)
            ]
        finally:
            await gw2.stop()


async def test_another_account_cannot_see_the_message(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw:
        client = twilio_client(gw)
        msg = await asyncio.to_thread(client.messages.create, to=TO, from_="12345", body="private")
        other = gw.directory.create_account("other")
        intruder = twilio_client(gw, other.sid, other.auth_token)
        with pytest.raises(TwilioRestException) as info:
            await asyncio.to_thread(intruder.messages(msg.sid).fetch)
        assert info.value.status == 404 and info.value.code == 20404
