"""EsmeClient against hostile or misbehaving carriers, over real loopback TCP: a pair whose
first bind fails, a carrier that always throttles, one that never reads, an on_deliver
handler that answers nonsense; who owns the back-off (``throttle=``) and ``capacity``."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest

import engine
import engine.aio.client
from engine import (
    BindTransmitter,
    DeliverSm,
    EnquireLink,
    LinkDownError,
    PduReader,
    SmscHandler,
    SmscServer,
    SubmitSm,
    ThrottledError,
    encode,
)
from engine.aio.client import EsmeClient
from engine.lifecycle import link_error_outcome, submit_outcome
from engine.pdu.constants import CommandStatus
from engine.scheduler import Pacer
from engine.sim import SimCarrier

HANG_GUARD = 30.0  # seconds; only against hangs, never a timing assertion
CREDS = {"esme": "secret"}


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


def client(port: int, **kw: Any) -> EsmeClient:
    kw.setdefault("system_id", "esme")
    kw.setdefault("password", "secret")
    kw.setdefault("backoff_initial", 0.05)
    kw.setdefault("backoff_max", 0.2)
    return EsmeClient("127.0.0.1", port, **kw)


# -- the _abort bug ----------------------------------------------------------------------


class RefuseTransmitter(SmscHandler):
    """Binds a receiver; refuses every transmitter bind with a temporary failure."""

    def authenticate(self, bind: Any, peer: Any) -> Any:
        if isinstance(bind, BindTransmitter):
            return int(CommandStatus.ESME_RBINDFAIL)  # not permanent: the client retries
        return 0


async def test_pair_start_failure_settles_every_links_first_bind() -> None:
    # The transmitter (the first link) never binds, the receiver does: start() times out
    # and aborts.  Every link's first-bind future must be settled, not only the last one's.
    async with SmscServer(RefuseTransmitter()) as server:
        c = client(server.port, bind_type="pair", connect_timeout=0.5)
        with pytest.raises(LinkDownError):
            await asyncio.wait_for(c.start(), HANG_GUARD)
        tx, rx = c._links
        assert rx.binds == 1 and tx.binds == 0
        assert tx.first.done() and rx.first.done()


# -- throttling ----------------------------------------------------------------------


async def test_a_carrier_that_always_throttles_ends_each_submit_with_throttled_error() -> None:
    # Default settings (throttle="client", max_throttle_retries=5, throttle_pause=1 s): the
    # submit ends, with an error that says why, instead of waiting for ever.
    async with SimCarrier(credentials=CREDS, seed=1) as sim:
        sim.faults.throttle_fraction = 1.0
        async with client(sim.port) as c:
            with pytest.raises(ThrottledError, match="kept throttling") as info:
                await asyncio.wait_for(c.submit(sm("15005550100")), HANG_GUARD)
            err = info.value
            assert err.retry_safe and err.attempts == 6
            assert err.command_status == CommandStatus.ESME_RTHROTTLED
            assert link_error_outcome(err) is None  # the dispatcher requeues it
            assert c.throttled_count == 6 and c.queued == 0 and c.in_flight == 0
            assert [r.command_status for r in sim.received] == [0x58] * 6


async def test_caller_owns_the_back_off_with_the_pacer() -> None:
    async with SimCarrier(credentials=CREDS, seed=1) as sim:
        sim.faults.throttle_next = 1
        async with client(sim.port, throttle="caller", window=4) as c:
            assert c.capacity == 4
            resp = await asyncio.wait_for(c.submit(sm("15005550101")), HANG_GUARD)
            # handed back at once: nothing held, no pause, one attempt on the wire
            assert resp.command_status == CommandStatus.ESME_RTHROTTLED
            assert c.queued == 0 and c.in_flight == 0 and c.capacity == 4
            assert len(sim.received) == 1 and c.throttled_count == 1
            assert submit_outcome(resp.command_status).status == "queued"
            # the scheduler pauses the link and requeues; the resend is accepted
            pacer = Pacer(backoff=0.05)
            loop = asyncio.get_running_loop()
            until = pacer.throttled("carrier-a", loop.time())
            assert until > loop.time() - 1.0
            resp = await asyncio.wait_for(c.submit(sm("15005550101")), HANG_GUARD)
            assert resp.command_status == 0 and submit_outcome(0).status == "sent"
            pacer.link_ok("carrier-a")
        assert [r.command_status for r in sim.received] == [0x58, 0]


async def test_capacity_counts_free_slots_and_is_zero_while_paused_or_unbound() -> None:
    async with SimCarrier(credentials=CREDS, seed=1) as sim:
        c = client(sim.port, window=3, throttle_pause=60.0, close_grace=0.0)
        assert c.capacity == 0  # not started
        await c.start()
        assert c.capacity == 3
        sim.faults.delay = 0.2
        first = asyncio.ensure_future(c.submit(sm("15005550102")))
        await wait_until(lambda: c.in_flight == 1, "one in flight")
        assert c.capacity == 2
        await asyncio.wait_for(first, HANG_GUARD)
        sim.faults.delay = 0.0
        sim.faults.throttle_next = 1
        held = asyncio.ensure_future(c.submit(sm("15005550103")))
        await wait_until(lambda: c.throttled_count == 1, "throttled")
        assert c.capacity == 0 and c.queued == 1  # paused for 60 s, the PDU held
        await c.close()
        with pytest.raises(LinkDownError):  # never accepted: retry-safe
            await held
        assert c.capacity == 0


# -- a carrier that stops reading ------------------------------------------------------


async def test_a_carrier_that_never_reads_cannot_grow_the_write_buffer() -> None:
    blob = encode(EnquireLink(sequence_number=7)) * 4096  # 64 KiB of requests to answer
    limit = 32 << 20  # the most the carrier sends: a guard for the test itself
    tasks: set[asyncio.Task[Any]] = set()

    async def carrier(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        framer = PduReader()
        bind: Any = None
        while bind is None:
            for pdu in framer.feed(await reader.read(4096)):
                bind = pdu
        writer.write(encode(bind.make_response(system_id="MUTE")))
        sent = 0
        try:
            # From now on it never reads, and asks for an answer as fast as it can.
            while sent < limit:
                writer.write(blob)
                sent += len(blob)
                await asyncio.sleep(0)
            await asyncio.sleep(HANG_GUARD)
        except (ConnectionError, asyncio.CancelledError):
            pass

    server = await asyncio.start_server(carrier, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    c = client(
        port,
        rebind=False,
        enquire_link_interval=0.5,
        enquire_link_timeout=0.5,
        connect_timeout=HANG_GUARD,
    )
    try:
        await c.start()
        proto = c._links[0].protocol
        assert proto is not None and proto.transport is not None
        transport = proto.transport
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        await wait_until(
            lambda: proto.reading_paused or transport.get_write_buffer_size() > (4 << 20),
            "the client stops reading or buffers 4 MiB",
        )
        await asyncio.sleep(0.2)  # let any read that was still coming arrive
        # Bounded: the high-water mark plus at most the answers to one read.
        assert transport.get_write_buffer_size() < (1 << 20)
        assert proto.reading_paused and proto.writing_paused
        assert c.capacity == 0
        # A submit waits (it is not written into a buffer that does not drain) and then
        # fails clearly: the silent peer is declared dead, the link does not come back.
        with pytest.raises(LinkDownError, match="not sent") as info:
            await asyncio.wait_for(c.submit(sm("15005550104")), HANG_GUARD)
        assert info.value.retry_safe
    finally:
        await c.close()
        server.close()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


# -- on_deliver answers ------------------------------------------------------------------


async def test_invalid_on_deliver_answers_get_rsyserr_and_the_worker_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answers: list[Any] = [2**33, "0", -1, 1.5, True, None, 0x64]

    def on_deliver(pdu: Any) -> Any:
        return answers.pop(0)

    caplog.set_level(logging.DEBUG, logger="engine.aio.client")
    async with SmscServer() as server, client(server.port, on_deliver=on_deliver) as c:
        assert c.bound
        statuses = []
        for i in range(7):
            mo = DeliverSm(source_addr="1", destination_addr="2", short_message=b"m%d" % i)
            resp = await asyncio.wait_for(server.deliver("esme", mo), HANG_GUARD)
            statuses.append(resp.command_status)
    sys_err = int(CommandStatus.ESME_RSYSERR)
    assert statuses == [sys_err] * 5 + [0, 0x64]
    bad = [r for r in caplog.records if "invalid answer" in r.getMessage()]
    assert len(bad) == 5
    assert [r.levelno for r in bad] == [logging.ERROR] + [logging.DEBUG] * 4
    assert "out of range 0..0xffffffff" in bad[0].getMessage()
    assert "str is not a command_status" in bad[1].getMessage()
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]


def test_exported_names() -> None:
    assert engine.LinkDownError is LinkDownError is engine.aio.client.LinkDownError
    assert engine.ThrottledError is ThrottledError
    assert issubclass(engine.ClientQueueFullError, engine.LinkError)
    assert not issubclass(engine.ClientQueueFullError, engine.QueueFullError)
