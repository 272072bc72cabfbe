"""The dispatcher over real parts: a SQLite store file, EsmeClient links over loopback TCP
to simulated carriers, the compiled scheduler.  Messages are accepted into the store the
way the REST API does; the dispatcher finds them by polling the store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from engine.aio.carriers import CarrierLinks
from engine.aio.dispatcher import Dispatcher
from engine.config import CarrierLinkConfig
from engine.scheduler import Pacer
from engine.sim import SimCarrier
from engine.store import NewMessage, SqliteStore
from tests.gateway_helpers import eventually, free_port

ACCOUNT = "AC" + "a" * 32
PASSWORD = "pw"


def link(name: str, port: int, **kw: Any) -> CarrierLinkConfig:
    return CarrierLinkConfig(name=name, host="127.0.0.1", port=port, system_id=name, window=8, **kw)


@contextlib.asynccontextmanager
async def dispatcher(
    tmp_path: Path, configs: list[CarrierLinkConfig], **kw: Any
) -> AsyncIterator[Dispatcher]:
    store = await SqliteStore.open(tmp_path / "m.sqlite3", synchronous="OFF")
    holder: dict[str, Dispatcher] = {}

    async def on_deliver(name: str, pdu: Any) -> int:
        return await holder["d"].on_deliver(name, pdu)

    links = CarrierLinks.from_config(
        configs,
        on_deliver,
        passwords={c.name: PASSWORD for c in configs},
        backoff_initial=0.05,
        backoff_max=0.2,
    )
    d = Dispatcher(store, links, poll_interval=0.02, **kw)
    holder["d"] = d
    await links.start()
    await d.start()
    try:
        yield d
    finally:
        await d.stop(5.0)
        await links.close()
        await store.close()


async def accept(d: Dispatcher, from_: str, to: str, body: str, **kw: Any) -> str:
    rec = await d.store.accept(NewMessage(account_sid=ACCOUNT, from_=from_, to=to, body=body, **kw))
    d.accepted(rec)
    return rec.sid


async def status(d: Dispatcher, sid: str) -> str:
    rec = await d.store.get(sid)
    assert rec is not None
    return rec.status


async def test_polled_messages_are_sent_and_delivered(tmp_path: Path) -> None:
    sim = SimCarrier(credentials={"a": PASSWORD}, receipt_delay=0.01)
    async with sim, dispatcher(tmp_path, [link("a", sim.port)]) as d:
        sids = [await accept(d, "12345", f"+1555000{i:04d}", f"m{i}") for i in range(20)]

        async def all_delivered() -> bool:
            return all([await status(d, s) == "delivered" for s in sids])

        await eventually(all_delivered, "every message delivered")
        assert len(sim.received) == 20
        assert d.stats.receipts == 20 and d.stats.receipts_unmatched == 0


async def test_routes_by_destination_prefix_and_fails_over(tmp_path: Path) -> None:
    async with (
        SimCarrier(credentials={"uk": PASSWORD}, receipt_delay=None) as uk,
        SimCarrier(credentials={"any": PASSWORD}, receipt_delay=None) as anywhere,
    ):
        configs = [
            link("uk", uk.port, prefixes=["+44"], priority=0),
            link("any", anywhere.port, priority=1),
        ]
        async with dispatcher(tmp_path, configs) as d:
            await eventually(
                lambda: d.links.any_bound and all(lk.client.bound for lk in d.links),
                "both links bound",
            )
            s1 = await accept(d, "12345", "+447700900001", "to the UK")
            s2 = await accept(d, "12345", "+15550000001", "to the US")
            await eventually(
                lambda: len(uk.received) == 1 and len(anywhere.received) == 1,
                "one message on each link",
            )
            assert uk.received[0].pdu.destination_addr == "447700900001"
            assert anywhere.received[0].pdu.destination_addr == "15550000001"
            assert await status(d, s1) == "sent" and await status(d, s2) == "sent"
            # The UK link goes away: UK traffic fails over to the link that serves all.
            await uk.close()
            await eventually(lambda: not d.links.get("uk").client.bound, "uk link down")  # type: ignore[union-attr]
            s3 = await accept(d, "12345", "+447700900002", "failover")

            async def sent() -> bool:
                return await status(d, s3) == "sent"

            await eventually(sent, "the failed-over message to be sent")
            assert anywhere.received[-1].pdu.destination_addr == "447700900002"


async def test_throttled_link_pauses_and_keeps_order(tmp_path: Path) -> None:
    async with SimCarrier(credentials={"a": PASSWORD}, receipt_delay=None) as sim:
        sim.faults.throttle_next = 4
        pacer = Pacer(backoff=0.05, max_backoff=0.2)
        async with dispatcher(tmp_path, [link("a", sim.port)], pacer=pacer) as d:
            sids = [await accept(d, "12345", "+15550001111", f"n{i}") for i in range(8)]

            async def all_sent() -> bool:
                return all([await status(d, s) == "sent" for s in sids])

            await eventually(all_sent, "every message sent")
            taken = [r.pdu.short_message for r in sim.received if r.command_status == 0]
            assert taken == [f"n{i}".encode() for i in range(8)]
            assert d.stats.throttled >= 1
            history = await d.store.history(sids[0])
            assert [h.status for h in history].count("sending") >= 2


async def test_carrier_refusal_fails_with_mapped_code(tmp_path: Path) -> None:
    async with SimCarrier(credentials={"a": PASSWORD}, receipt_delay=None) as sim:
        sim.faults.error_status = 0x0B  # ESME_RINVDSTADR
        async with dispatcher(tmp_path, [link("a", sim.port)]) as d:
            sid = await accept(d, "12345", "+15550001111", "bad destination")

            async def failed() -> bool:
                return await status(d, sid) == "failed"

            await eventually(failed, "the refused message to fail")
            rec = await d.store.get(sid)
            assert rec is not None and rec.error_code == 30005


async def test_messages_wait_for_a_carrier_that_is_down(tmp_path: Path) -> None:
    port = free_port()
    async with dispatcher(tmp_path, [link("a", port)]) as d:
        sid = await accept(d, "12345", "+15550001111", "later")
        await asyncio.sleep(0.2)  # the dispatcher runs meanwhile; nothing can leave
        assert await status(d, sid) == "queued"
        async with SimCarrier(port=port, credentials={"a": PASSWORD}, receipt_delay=None):

            async def sent() -> bool:
                return await status(d, sid) == "sent"

            await eventually(sent, "sending once the carrier is up")


async def test_canceled_message_is_never_sent(tmp_path: Path) -> None:
    port = free_port()
    async with dispatcher(tmp_path, [link("a", port)]) as d:
        keep = await accept(d, "12345", "+15550001111", "keep")
        drop = await accept(d, "12345", "+15550001112", "drop")
        await eventually(lambda: d.queued == 2, "both queued in the scheduler")
        rec = await d.store.cancel(drop, ACCOUNT)
        d.canceled(rec)
        async with SimCarrier(port=port, credentials={"a": PASSWORD}, receipt_delay=None) as sim:

            async def kept_sent() -> bool:
                return await status(d, keep) == "sent"

            await eventually(kept_sent, "the kept message to be sent")
            await eventually(lambda: d.queued == 0 and d.in_flight == 0, "an idle dispatcher")
            assert [r.pdu.short_message for r in sim.received] == [b"keep"]
            assert await status(d, drop) == "canceled"


async def test_expired_in_queue_fails_30036(tmp_path: Path) -> None:
    port = free_port()
    async with dispatcher(tmp_path, [link("a", port)]) as d:
        sid = await accept(d, "12345", "+15550001111", "too late", validity_period=1)

        async def failed() -> bool:
            return await status(d, sid) == "failed"

        await eventually(failed, "expiry while the carrier is down")
        rec = await d.store.get(sid)
        assert rec is not None and rec.error_code == 30036


async def test_messages_given_back_together_keep_their_order(tmp_path: Path) -> None:
    # Several messages of one sender in flight at once, all throttled: whatever order their
    # requeues complete in, they go back to the queue in their original order.
    async with SimCarrier(credentials={"a": PASSWORD}, receipt_delay=None) as sim:
        sim.faults.throttle_next = 6
        pacer = Pacer(backoff=0.05, max_backoff=0.2)
        async with dispatcher(tmp_path, [link("a", sim.port)], pacer=pacer) as d:
            d.scheduler.set_rate("12345", 1000.0, burst=10)
            records = await d.store.accept_many(
                [
                    NewMessage(
                        account_sid=ACCOUNT, from_="12345", to=f"+1555000{i:04d}", body=f"k{i}"
                    )
                    for i in range(6)
                ]
            )
            d.accepted(records[-1])

            async def all_sent() -> bool:
                return all([await status(d, r.sid) == "sent" for r in records])

            await eventually(all_sent, "every message sent")
            assert d.stats.throttled >= 1
            taken = [r.pdu.short_message for r in sim.received if r.command_status == 0]
            assert taken == [f"k{i}".encode() for i in range(6)]
