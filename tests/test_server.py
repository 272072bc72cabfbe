"""SmscServer over real loopback TCP, driven by a tiny raw client built from our codec.

The raw client writes PDUs with ``engine.encode`` and reads them with ``engine.PduReader``,
so these tests see exactly the bytes the server puts on the wire.  Timeouts are hang guards
only; no test depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

import engine
from engine import CommandStatus, PduReader, SessionError
from engine.aio.server import SmscConnection, SmscHandler, SmscServer
from engine.session import SessionConfig, SessionState

GUARD = 10.0  # seconds; a hang guard, never a timing assertion
ST = CommandStatus


class RawEsme:
    """A minimal ESME over a real socket: send PDUs, read PDUs, see the connection end."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.framer = PduReader()
        self.pending: list[Any] = []
        self.seq = 0

    opened: list[RawEsme] = []

    @classmethod
    async def connect(cls, port: int, local: str | None = None) -> RawEsme:
        # ``local``: the source address (any of 127.0.0.0/8 is this machine), so that the
        # server sees connections from different peers
        local_addr = (local, 0) if local is not None else None
        opening = asyncio.open_connection("127.0.0.1", port, local_addr=local_addr)
        r, w = await asyncio.wait_for(opening, GUARD)
        esme = cls(r, w)
        cls.opened.append(esme)
        return esme

    def send(self, *pdus: Any) -> None:
        for pdu in pdus:
            if not pdu.command_id & 0x80000000 and not pdu.sequence_number:
                self.seq += 1
                pdu.sequence_number = self.seq
        self.writer.write(engine.encode_many(list(pdus)))

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    async def recv(self) -> Any:
        while not self.pending:
            data = await asyncio.wait_for(self.reader.read(65536), GUARD)
            if not data:
                raise EOFError("server closed the connection")
            self.pending += self.framer.feed(data)
        return self.pending.pop(0)

    async def recv_n(self, n: int) -> list[Any]:
        return [await self.recv() for _ in range(n)]

    async def closed_by_server(self) -> bool:
        try:
            while True:
                await self.recv()
        except EOFError:
            return True

    async def request(self, pdu: Any) -> Any:
        self.send(pdu)
        return await self.recv()

    async def bind(self, kind: type = engine.BindTransceiver, **kw: Any) -> Any:
        kw.setdefault("system_id", "acme")
        kw.setdefault("password", "secret")
        return await self.request(kind(**kw))

    def close(self) -> None:
        self.writer.close()


class Recorder(SmscHandler):
    """Accepts submits with ids m1, m2, ...; records what it saw."""

    def __init__(self) -> None:
        self.submits: list[Any] = []
        self.bound: list[SmscConnection] = []
        self.unbound: list[SmscConnection] = []
        self.peers: list[Any] = []

    def authenticate(self, bind: Any, peer: Any) -> Any:
        self.peers.append(peer)
        return super().authenticate(bind, peer)

    def on_bound(self, conn: SmscConnection) -> None:
        self.bound.append(conn)

    def on_unbound(self, conn: SmscConnection) -> None:
        self.unbound.append(conn)

    def on_submit_sm(self, conn: SmscConnection, pdu: Any) -> Any:
        self.submits.append(pdu)
        text = pdu.short_message
        if text == b"fail":
            return int(ST.ESME_RINVDSTADR)
        if text == b"boom":
            raise RuntimeError("handler bug")
        if text == b"bad type":
            return 3.5
        if text == b"long id":
            return "x" * 70  # over the 64 octets of message_id
        return f"m{len(self.submits)}"

    async def on_data_sm(self, conn: SmscConnection, pdu: Any) -> Any:
        await asyncio.sleep(0)
        if pdu.destination_addr == "boom":
            raise ValueError("async handler bug")
        return "d1"

    def on_submit_multi(self, conn: SmscConnection, pdu: Any) -> Any:
        return ("mm", [(1, 1, "123", int(ST.ESME_RINVDSTADR))])

    def on_query_sm(self, conn: SmscConnection, pdu: Any) -> Any:
        return engine.QuerySmResp(message_id=pdu.message_id, message_state=2)

    def on_cancel_sm(self, conn: SmscConnection, pdu: Any) -> Any:
        return 0


CREDS = {"acme": "secret", "other": "pw2"}


@pytest.fixture(autouse=True)
async def _close_raw_clients() -> AsyncIterator[None]:
    yield
    for esme in RawEsme.opened:
        esme.writer.transport.abort()
    RawEsme.opened.clear()
    await asyncio.sleep(0)  # let the transports finish closing inside this loop


@pytest.fixture
async def handler() -> Recorder:
    return Recorder()


@pytest.fixture
async def server(handler: Recorder) -> AsyncIterator[SmscServer]:
    async with SmscServer(handler, credentials=CREDS, system_id="TESTSMSC", close_grace=2.0) as srv:
        yield srv


def submit(text: bytes = b"hello", **kw: Any) -> engine.SubmitSm:
    return engine.SubmitSm(destination_addr="15551234567", short_message=text, **kw)


# ---- binds --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind,bind_type,state",
    [
        (engine.BindTransmitter, "transmitter", SessionState.BOUND_TX),
        (engine.BindReceiver, "receiver", SessionState.BOUND_RX),
        (engine.BindTransceiver, "transceiver", SessionState.BOUND_TRX),
    ],
)
async def test_every_bind_type(
    server: SmscServer, handler: Recorder, kind: type, bind_type: str, state: SessionState
) -> None:
    esme = await RawEsme.connect(server.port)
    resp = await esme.bind(kind)
    assert resp == kind(sequence_number=1).make_response(system_id="TESTSMSC")
    (conn,) = server.connections("acme")
    assert conn.bind_type == bind_type and conn.state is state and conn.system_id == "acme"
    assert handler.bound == [conn] and handler.peers == [conn.peer]
    assert conn.peer == esme.writer.get_extra_info("sockname")
    # the bind type decides what may follow (SMPP 3.4 Table 2-1)
    resp = await esme.request(submit())
    expected = ST.ESME_ROK if bind_type != "receiver" else ST.ESME_RINVBNDSTS
    assert resp.command_status == expected
    esme.close()


async def test_wrong_password(server: SmscServer, handler: Recorder) -> None:
    esme = await RawEsme.connect(server.port)
    resp = await esme.bind(password="nope")
    assert resp.command_status == ST.ESME_RBINDFAIL  # the same answer as an unknown id
    assert await esme.closed_by_server()
    assert handler.bound == [] and server.connections("acme") == []


async def test_unknown_system_id(server: SmscServer) -> None:
    esme = await RawEsme.connect(server.port)
    resp = await esme.bind(system_id="nobody")
    assert resp.command_status == ST.ESME_RBINDFAIL
    assert await esme.closed_by_server()


async def test_distinct_bind_errors_on_request(handler: Recorder) -> None:
    async with SmscServer(handler, credentials=CREDS, distinct_bind_errors=True) as server:
        a = await RawEsme.connect(server.port)
        assert (await a.bind(password="nope")).command_status == ST.ESME_RINVPASWD
        b = await RawEsme.connect(server.port)
        assert (await b.bind(system_id="nobody")).command_status == ST.ESME_RINVSYSID


async def test_password_not_logged(server: SmscServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="engine")
    esme = await RawEsme.connect(server.port)
    await esme.bind(password="hunter2x")
    await esme.closed_by_server()
    esme2 = await RawEsme.connect(server.port)
    assert (await esme2.bind()).command_status == 0
    assert "hunter2x" not in caplog.text and "secret" not in caplog.text
    assert "secret" not in repr(server) and "secret" not in repr(server.connections()[0])
    assert "secret" not in str(vars(server))  # kept as digests only
    esme2.close()


async def test_bind_limit_per_system_id(handler: Recorder) -> None:
    async with SmscServer(handler, credentials=CREDS, max_binds_per_system_id=2) as server:
        a, b, c = [await RawEsme.connect(server.port) for _ in range(3)]
        assert (await a.bind()).command_status == 0
        assert (await b.bind(engine.BindReceiver)).command_status == 0
        assert (await c.bind()).command_status == ST.ESME_RBINDFAIL
        assert await c.closed_by_server()
        # another system_id has its own count
        d = await RawEsme.connect(server.port)
        assert (await d.bind(system_id="other", password="pw2")).command_status == 0
        # a freed slot can be used again
        a.send(engine.Unbind())
        assert (await a.recv()).command_name == "unbind_resp"
        assert await a.closed_by_server()
        e = await RawEsme.connect(server.port)
        assert (await e.bind()).command_status == 0
        assert len(server.connections("acme")) == 2
        for x in (b, d, e):
            x.close()


async def test_async_authenticate_and_open_server() -> None:
    class AsyncAuth(SmscHandler):
        async def authenticate(self, bind: Any, peer: Any) -> int:
            await asyncio.sleep(0)
            return 0 if bind.system_type == "ok" else int(ST.ESME_RINVSYSTYP)

    async with SmscServer(AsyncAuth()) as server:
        a = await RawEsme.connect(server.port)
        assert (await a.bind(system_type="ok")).command_status == 0
        b = await RawEsme.connect(server.port)
        assert (await b.bind(system_type="no")).command_status == ST.ESME_RINVSYSTYP
        a.close()
        b.close()


async def test_submit_before_bind_refused(server: SmscServer) -> None:
    esme = await RawEsme.connect(server.port)
    resp = await esme.request(submit())
    assert resp.command_status == ST.ESME_RINVBNDSTS
    assert (await esme.bind()).command_status == 0
    esme.close()


# ---- requests to the handler --------------------------------------------------------------


async def test_handler_message_id_and_error_status(server: SmscServer, handler: Recorder) -> None:
    esme = await RawEsme.connect(server.port)
    await esme.bind()
    esme.send(submit(b"one"), submit(b"fail"), submit(b"two"))
    r1, r2, r3 = await esme.recv_n(3)
    assert (r1.message_id, r1.command_status) == ("m1", 0)
    assert r2.command_status == ST.ESME_RINVDSTADR and r2.sequence_number == 3
    assert (r3.message_id, r3.sequence_number) == ("m3", 4)
    assert [p.short_message for p in handler.submits] == [b"one", b"fail", b"two"]
    esme.close()


async def test_other_request_kinds(server: SmscServer) -> None:
    esme = await RawEsme.connect(server.port)
    await esme.bind()
    r = await esme.request(engine.DataSm(destination_addr="1"))
    assert (r.command_name, r.message_id) == ("data_sm_resp", "d1")
    r = await esme.request(engine.SubmitMulti(short_message=b"x"))
    assert r.message_id == "mm" and r.unsuccess_smes == [(1, 1, "123", ST.ESME_RINVDSTADR)]
    r = await esme.request(engine.QuerySm(message_id="abc"))
    assert (r.command_name, r.message_id, r.message_state) == ("query_sm_resp", "abc", 2)
    assert r.sequence_number == esme.seq
    r = await esme.request(engine.CancelSm(message_id="abc"))
    assert (r.command_name, r.command_status) == ("cancel_sm_resp", 0)
    r = await esme.request(engine.ReplaceSm(message_id="abc"))  # default handler refuses
    assert (r.command_name, r.command_status) == ("replace_sm_resp", ST.ESME_RREPLACEFAIL)
    esme.close()


async def test_handler_exception_answers_rsyserr_and_server_goes_on(
    server: SmscServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="engine.aio.server")
    esme = await RawEsme.connect(server.port)
    await esme.bind()
    esme.send(
        submit(b"boom"),
        submit(b"bad type"),
        engine.DataSm(destination_addr="boom"),
        submit(b"long id"),
        submit(b"fine"),
    )
    rs = sorted(await esme.recv_n(5), key=lambda r: r.sequence_number)
    assert [r.command_status for r in rs] == [ST.ESME_RSYSERR] * 4 + [0]
    assert rs[4].message_id == "m4"  # the 4th submit_sm the handler saw
    assert "handler bug" in caplog.text and "async handler bug" in caplog.text
    ok = await esme.request(submit(b"fine"))
    assert ok.command_status == 0 and ok.message_id.startswith("m")
    other = await RawEsme.connect(server.port)
    assert (await other.bind(system_id="other", password="pw2")).command_status == 0
    esme.close()
    other.close()


async def test_submit_rate_limit_throttles(handler: Recorder) -> None:
    # a rate so low that no refill can happen during the test: exactly the burst passes
    async with SmscServer(handler, max_submit_rate=0.001) as server:
        esme = await RawEsme.connect(server.port)
        await esme.bind()
        esme.send(*[submit(b"x") for _ in range(5)])
        rs = await esme.recv_n(5)
        statuses = [r.command_status for r in rs]
        assert statuses == [0] + [ST.ESME_RTHROTTLED] * 4
        assert len(handler.submits) == 1  # throttled ones never reach the application
        # enquire_link is not rate limited
        assert (await esme.request(engine.EnquireLink())).command_name == "enquire_link_resp"
        # each bind has its own bucket
        esme2 = await RawEsme.connect(server.port)
        await esme2.bind()
        assert (await esme2.request(submit())).command_status == 0
        esme.close()
        esme2.close()


# ---- deliveries to the ESME ---------------------------------------------------------------


async def test_deliver_to_a_bound_receiver(server: SmscServer) -> None:
    tx = await RawEsme.connect(server.port)
    await tx.bind(engine.BindTransmitter)
    rx = await RawEsme.connect(server.port)
    await rx.bind(engine.BindReceiver)
    task = asyncio.create_task(
        server.deliver("acme", engine.DeliverSm(source_addr="1555", short_message=b"MO"))
    )
    got = await rx.recv()
    assert got.command_name == "deliver_sm" and got.short_message == b"MO"
    rx.send(got.make_response())
    resp = await asyncio.wait_for(task, GUARD)
    assert resp == engine.DeliverSmResp(sequence_number=got.sequence_number)
    with pytest.raises(SessionError):
        await server.deliver("nobody", engine.DeliverSm())
    tx.close()
    rx.close()


async def test_deliver_round_robin_and_error_status(server: SmscServer) -> None:
    a, b = await RawEsme.connect(server.port), await RawEsme.connect(server.port)
    await a.bind()
    await b.bind(engine.BindReceiver)
    tasks = [asyncio.create_task(server.deliver("acme", engine.DeliverSm())) for _ in range(2)]
    ga, gb = await a.recv(), await b.recv()
    a.send(ga.make_response(command_status=ST.ESME_RX_T_APPN))
    b.send(gb.make_response())
    results = await asyncio.wait_for(asyncio.gather(*tasks), GUARD)
    assert sorted(r.command_status for r in results) == [0, ST.ESME_RX_T_APPN]
    a.close()
    b.close()


async def test_alert_notification_and_enquire_link_to_the_esme(server: SmscServer) -> None:
    esme = await RawEsme.connect(server.port)
    await esme.bind(engine.BindReceiver)
    (conn,) = server.connections("acme")
    assert await conn.send_request(engine.AlertNotification(source_addr="1555")) is None
    alert = await esme.recv()
    assert alert.command_name == "alert_notification" and alert.source_addr == "1555"
    probe = asyncio.create_task(conn.send_request(engine.EnquireLink()))
    el = await esme.recv()
    esme.send(el.make_response())
    assert (await asyncio.wait_for(probe, GUARD)).command_name == "enquire_link_resp"
    with pytest.raises(SessionError):  # a receiver bind takes no submit_sm from the SMSC
        await conn.send_request(engine.SubmitSm())
    esme.close()


async def test_deliver_skips_a_bind_whose_window_is_full(handler: Recorder) -> None:
    async with SmscServer(handler, session_config=SessionConfig(window=1)) as server:
        stuck, ok = await RawEsme.connect(server.port), await RawEsme.connect(server.port)
        await stuck.bind(engine.BindReceiver)
        await ok.bind(engine.BindReceiver)
        first = asyncio.create_task(server.deliver("acme", engine.DeliverSm(short_message=b"1")))
        assert (await stuck.recv()).short_message == b"1"  # never answered
        for text in (b"2", b"3", b"4"):
            task = asyncio.create_task(server.deliver("acme", engine.DeliverSm(short_message=text)))
            got = await ok.recv()
            assert got.short_message == text
            ok.send(got.make_response())
            assert (await asyncio.wait_for(task, GUARD)).command_status == 0
        assert not first.done()
        first.cancel()
        stuck.close()
        ok.close()


async def test_deliver_in_flight_when_connection_drops(server: SmscServer) -> None:
    rx = await RawEsme.connect(server.port)
    await rx.bind(engine.BindReceiver)
    task = asyncio.create_task(server.deliver("acme", engine.DeliverSm()))
    await rx.recv()
    rx.writer.transport.abort()
    with pytest.raises(engine.ConnectionLostError):
        await asyncio.wait_for(task, GUARD)


# ---- timers, unbind and bad input ---------------------------------------------------------


async def test_idle_session_closed(handler: Recorder) -> None:
    cfg = SessionConfig(inactivity_timeout=0.2, enquire_link_interval=None)
    async with SmscServer(handler, session_config=cfg) as server:
        esme = await RawEsme.connect(server.port)
        await esme.bind()
        assert await esme.closed_by_server()
        await asyncio.wait_for(_until(lambda: handler.unbound != []), GUARD)
        assert server.connections() == []


async def test_unbound_connection_closed_after_bind_timeout(handler: Recorder) -> None:
    async with SmscServer(handler, session_config=SessionConfig(bind_timeout=0.2)) as server:
        esme = await RawEsme.connect(server.port)
        assert await esme.closed_by_server()


async def test_enquire_link_answered_and_sent(handler: Recorder) -> None:
    cfg = SessionConfig(enquire_link_interval=0.1, enquire_link_timeout=GUARD)
    async with SmscServer(handler, session_config=cfg) as server:
        esme = await RawEsme.connect(server.port)
        await esme.bind()
        probe = await esme.recv()  # the server probes an idle link
        assert probe.command_name == "enquire_link"
        esme.send(probe.make_response())
        esme.send(engine.EnquireLink())
        while True:  # the server may probe again meanwhile on a slow machine: answer it
            r = await esme.recv()
            if r.command_name != "enquire_link":
                break
            esme.send(r.make_response())
        assert r.command_name == "enquire_link_resp" and r.sequence_number == esme.seq
        assert server.connections()[0].state is SessionState.BOUND_TRX
        esme.close()


async def test_unanswered_enquire_link_closes(handler: Recorder) -> None:
    cfg = SessionConfig(enquire_link_interval=0.1, enquire_link_timeout=0.1)
    async with SmscServer(handler, session_config=cfg) as server:
        esme = await RawEsme.connect(server.port)
        await esme.bind()
        assert (await esme.recv()).command_name == "enquire_link"  # and never answered
        assert await esme.closed_by_server()
        await asyncio.wait_for(_until(lambda: handler.unbound != []), GUARD)


async def test_unbind_from_esme(server: SmscServer, handler: Recorder) -> None:
    esme = await RawEsme.connect(server.port)
    await esme.bind()
    r = await esme.request(engine.Unbind())
    assert r.command_name == "unbind_resp" and r.command_status == 0
    assert await esme.closed_by_server()
    await asyncio.wait_for(_until(lambda: len(handler.unbound) == 1), GUARD)


async def test_server_close_unbinds(handler: Recorder) -> None:
    server = SmscServer(handler)
    await server.start()
    esme = await RawEsme.connect(server.port)
    await esme.bind()

    async def answer_unbind() -> str:
        pdu = await esme.recv()
        esme.send(pdu.make_response())
        return str(pdu.command_name)

    answer = asyncio.create_task(answer_unbind())
    await asyncio.wait_for(server.close(), GUARD)
    assert await answer == "unbind"
    assert await esme.closed_by_server()


async def test_malformed_pdu_gets_generic_nack(server: SmscServer) -> None:
    esme = await RawEsme.connect(server.port)
    await esme.bind()
    esme.send_raw(bytes.fromhex("00000010 000000ee 00000000 00000063".replace(" ", "")))
    nack = await esme.recv()
    assert nack == engine.GenericNack(sequence_number=0x63, command_status=ST.ESME_RINVCMDID)
    assert (await esme.request(submit())).command_status == 0  # the session goes on
    esme.close()


async def test_bad_command_length_closes_only_that_connection(server: SmscServer) -> None:
    good = await RawEsme.connect(server.port)
    await good.bind()
    bad = await RawEsme.connect(server.port)
    await bad.bind(system_id="other", password="pw2")
    bad.send_raw(b"\x7f\x00\x00\x00" + b"\x00" * 12)
    nack = await bad.recv()
    assert nack.command_name == "generic_nack" and nack.command_status == ST.ESME_RINVCMDLEN
    assert await bad.closed_by_server()
    assert (await good.request(submit())).command_status == 0
    good.close()


async def test_max_pdu_length_bounded(handler: Recorder) -> None:
    cfg = SessionConfig(max_pdu_length=256)
    async with SmscServer(handler, session_config=cfg) as server:
        esme = await RawEsme.connect(server.port)
        await esme.bind()
        esme.send(engine.SubmitSm(destination_addr="1", message_payload=b"x" * 400))
        nack = await esme.recv()
        assert nack.command_status == ST.ESME_RINVCMDLEN
        assert await esme.closed_by_server()


async def test_hanging_async_handler_cancelled_on_close(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    class Silent(SmscHandler):
        async def on_submit_sm(self, conn: SmscConnection, pdu: Any) -> Any:
            started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise

    caplog.set_level(logging.WARNING, logger="engine")
    async with SmscServer(Silent()) as server:
        esme = await RawEsme.connect(server.port)
        await esme.bind()
        esme.send(submit())
        await asyncio.wait_for(started.wait(), GUARD)
        esme.writer.transport.abort()
        await asyncio.wait_for(cancelled.wait(), GUARD)
    assert caplog.text == ""


async def test_connection_limit(handler: Recorder) -> None:
    async with SmscServer(handler, max_connections=1) as server:
        first = await RawEsme.connect(server.port)
        assert (await first.bind()).command_status == 0
        second = await RawEsme.connect(server.port)
        assert await second.closed_by_server()
        assert (await first.request(submit())).command_status == 0
        first.close()


async def test_reading_pauses_while_the_esme_does_not_read(server: SmscServer) -> None:
    esme = await RawEsme.connect(server.port)
    await esme.bind()
    (conn,) = server.connections("acme")
    transport: Any = conn.transport
    assert transport.is_reading()
    conn.pause_writing()  # what asyncio calls at the write buffer's high-water mark
    assert not transport.is_reading()
    conn.resume_writing()
    assert transport.is_reading()
    assert (await esme.request(submit())).command_status == 0
    esme.close()


async def test_reading_pauses_while_handlers_are_behind() -> None:
    release = asyncio.Event()
    started: list[int] = []

    class Slow(SmscHandler):
        async def on_submit_sm(self, conn: SmscConnection, pdu: Any) -> Any:
            started.append(pdu.sequence_number)
            await release.wait()
            return f"s{pdu.sequence_number}"

    async with SmscServer(Slow(), max_inbound_queue=2) as server:
        esme = await RawEsme.connect(server.port)
        await esme.bind()
        (conn,) = server.connections()
        transport: Any = conn.transport
        esme.send(*[submit() for _ in range(5)])
        await asyncio.wait_for(_until(lambda: len(started) >= 2), GUARD)
        assert not transport.is_reading()  # the application is behind: stop reading
        release.set()
        rs = await esme.recv_n(5)
        assert sorted(r.message_id for r in rs) == [f"s{n}" for n in range(2, 7)]
        assert transport.is_reading()
        esme.close()


async def test_bad_server_arguments() -> None:
    with pytest.raises(ValueError, match="max_binds_per_system_id"):
        SmscServer(max_binds_per_system_id=0)
    with pytest.raises(ValueError, match="max_submit_rate"):
        SmscServer(max_submit_rate=0)
    with pytest.raises(ValueError, match="system_id"):
        SmscServer(system_id="x" * 16)
    with pytest.raises(ValueError, match="max_connections"):
        SmscServer(max_connections=0)
    shared = SmscHandler()
    SmscServer(shared)
    with pytest.raises(ValueError, match="another SmscServer"):
        SmscServer(shared)


async def _until(cond: Any) -> None:
    while not cond():
        await asyncio.sleep(0.01)


def test_serves_under_uvloop() -> None:
    import uvloop  # in the [test] extras: the benchmarks run the server on it

    async def scenario() -> tuple[int, str, int]:
        handler = Recorder()
        async with SmscServer(handler, credentials=CREDS) as server:
            esme = await RawEsme.connect(server.port)
            bound = await esme.bind()
            resp = await esme.request(submit())
            task = asyncio.create_task(server.deliver("acme", engine.DeliverSm()))
            got = await esme.recv()
            esme.send(got.make_response())
            delivered = await asyncio.wait_for(task, GUARD)
            esme.writer.transport.abort()
            RawEsme.opened.clear()
            return bound.command_status, resp.message_id, delivered.command_status

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(scenario()) == (0, "m1", 0)


# ---- hostile peers (issue 12) ---------------------------------------------------------------


async def test_idle_connections_cannot_lock_out_a_bind(handler: Recorder) -> None:
    # before: connections that never bind filled max_connections and a correct bind was then
    # closed with no answer
    async with SmscServer(
        handler, credentials=CREDS, close_grace=0.1, max_connections=20
    ) as server:
        idle = [await RawEsme.connect(server.port) for _ in range(25)]
        await asyncio.wait_for(_until(lambda: server.unbound == 10), GUARD)
        # 10 (max_unbound_per_address) are held; the older ones were closed to make room
        assert server.unbound_evicted == 15
        assert all([await e.closed_by_server() for e in idle[:15]])
        other = await RawEsme.connect(server.port, local="127.0.0.2")
        assert (await other.bind()).command_status == 0
        same = await RawEsme.connect(server.port)  # even from the flooding address
        assert (await same.bind(engine.BindReceiver)).command_status == 0
        assert len(server.connections("acme")) == 2
        assert (await other.request(submit())).command_status == 0


async def test_unbound_pool_limits_are_configurable(handler: Recorder) -> None:
    async with SmscServer(
        handler, credentials=CREDS, close_grace=0.1, max_unbound=4, max_unbound_per_address=3
    ) as server:
        a = [await RawEsme.connect(server.port) for _ in range(3)]
        b = [await RawEsme.connect(server.port, local="127.0.0.2") for _ in range(2)]
        await asyncio.wait_for(_until(lambda: server.unbound_evicted == 1), GUARD)
        # the pool was full: the oldest of the busiest address (127.0.0.1) made room
        assert await a[0].closed_by_server()
        assert server.unbound == 4
        assert (await b[0].bind()).command_status == 0
        assert server.unbound == 3  # bound: out of the unbound pool
        for e in (*a[1:], b[1]):
            e.close()


async def test_bound_sessions_keep_their_slots(handler: Recorder) -> None:
    async with SmscServer(handler, credentials=CREDS, close_grace=0.1, max_connections=2) as server:
        a = await RawEsme.connect(server.port)
        b = await RawEsme.connect(server.port)
        assert (await a.bind()).command_status == 0
        assert (await b.bind()).command_status == 0
        c = await RawEsme.connect(server.port)
        assert await c.closed_by_server()  # every slot is a bound session: refused
        assert server.connections_refused == 1
        assert (await a.request(submit())).command_status == 0


async def test_short_bind_timeout_by_default() -> None:
    assert SmscServer().session_config.bind_timeout == 10.0
    assert SmscServer(bind_timeout=2.0).session_config.bind_timeout == 2.0
    shorter = SessionConfig(bind_timeout=0.5)
    assert SmscServer(session_config=shorter).session_config.bind_timeout == 0.5


class FakeClock:
    """The bind guard's clock, moved by the test (no sleeping through a lock-out)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_bind_guessing_is_slowed_then_locked_out(
    handler: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    # before: every wrong password was answered at once, for ever; the right one then got in
    caplog.set_level(logging.INFO, logger="engine")
    clock = FakeClock()
    async with SmscServer(
        handler,
        credentials=CREDS,
        close_grace=0.1,
        bind_failure_delay=0.001,
        bind_failure_max_delay=0.01,
        bind_lockout_after=3,
        bind_lockout=60.0,
        clock=clock,
    ) as server:
        for guess in ("guess1", "guess2", "guess3"):
            esme = await RawEsme.connect(server.port)
            assert (await esme.bind(password=guess)).command_status == ST.ESME_RBINDFAIL
            assert await esme.closed_by_server()
        assert server.bind_guard.failures == 3
        (lockout,) = server.lockouts()
        assert (lockout.address, lockout.system_id, lockout.failures) == ("127.0.0.1", "acme", 3)
        # locked out: even the right password is refused without being checked
        esme = await RawEsme.connect(server.port)
        assert (await esme.bind()).command_status == ST.ESME_RBINDFAIL
        assert server.bind_guard.refused_locked == 1 and handler.peers[-1] != esme.writer
        # another address, or another system_id from this one, is not locked out
        other = await RawEsme.connect(server.port, local="127.0.0.2")
        assert (await other.bind()).command_status == 0
        mine = await RawEsme.connect(server.port)
        assert (await mine.bind(system_id="other", password="pw2")).command_status == 0
        clock.now += 61.0  # the lock-out is over
        assert server.lockouts() == []
        again = await RawEsme.connect(server.port)
        assert (await again.bind()).command_status == 0
    lines = [r.getMessage() for r in caplog.records if "lock-out" in r.getMessage()]
    assert len(lines) == 1 and "'acme'" in lines[0] and "127.0.0.1" in lines[0]
    assert "guess" not in caplog.text and "secret" not in caplog.text


def test_bind_guard_delay_grows_then_locks_out() -> None:
    from engine.aio.server import BindGuard

    g = BindGuard(delay=0.5, max_delay=3.0, lockout_after=5, lockout=100.0)
    delays = [g.failed("10.0.0.1", "acme", now=float(t))[0] for t in range(4)]
    assert delays == [0.5, 1.0, 2.0, 3.0]  # doubling, capped
    assert not g.locked("10.0.0.1", "acme", 4.0)
    _, lockout = g.failed("10.0.0.1", "acme", 4.0)
    assert lockout is not None and lockout.until == 104.0
    assert g.locked("10.0.0.1", "acme", 103.9) and not g.locked("10.0.0.1", "acme", 104.0)
    assert not g.locked("10.0.0.2", "acme", 50.0)
    # a success forgets; so does a quiet lock-out period
    g.failed("10.0.0.3", "x", 0.0)
    g.succeeded("10.0.0.3", "x")
    assert g.failed("10.0.0.3", "x", 1.0)[0] == 0.5
    assert g.failed("10.0.0.3", "x", 500.0)[0] == 0.5


async def test_receiver_that_never_answers_gets_a_bounded_deliver_queue(
    handler: Recorder,
) -> None:
    # before: every deliver waited for a window slot with no limit and no deadline
    cfg = SessionConfig(window=1, response_timeout=GUARD * 3)
    async with SmscServer(
        handler, credentials=CREDS, close_grace=0.1, session_config=cfg, max_deliver_queue=3
    ) as server:
        esme = await RawEsme.connect(server.port)
        await esme.bind(engine.BindReceiver)
        first = asyncio.create_task(server.deliver("acme", engine.DeliverSm()))
        assert (await esme.recv()).command_name == "deliver_sm"  # never answered
        queued = [asyncio.create_task(server.deliver("acme", engine.DeliverSm())) for _ in range(3)]
        await asyncio.wait_for(_until(lambda: server.deliver_backlog("acme") == 3), GUARD)
        assert server.deliver_queue_full("acme")
        with pytest.raises(engine.aio.server.DeliverQueueFullError) as info:
            await server.deliver("acme", engine.DeliverSm())
        assert info.value.command_status == ST.ESME_RMSGQFUL
        assert server.deliver_refused == 1
        esme.writer.transport.abort()  # what waited is never written: the caller is told
        for task in (first, *queued):
            with pytest.raises(engine.ConnectionLostError):
                await asyncio.wait_for(task, GUARD)
        assert server.deliver_backlog("acme") == 0


async def test_queued_deliver_has_a_deadline(handler: Recorder) -> None:
    cfg = SessionConfig(window=1, response_timeout=GUARD * 3)
    async with SmscServer(
        handler, credentials=CREDS, close_grace=0.1, session_config=cfg, deliver_queue_timeout=0.05
    ) as server:
        esme = await RawEsme.connect(server.port)
        await esme.bind(engine.BindReceiver)
        first = asyncio.create_task(server.deliver("acme", engine.DeliverSm()))
        assert (await esme.recv()).command_name == "deliver_sm"
        with pytest.raises(engine.aio.server.DeliverExpiredError):
            await asyncio.wait_for(server.deliver("acme", engine.DeliverSm()), GUARD)
        assert server.deliver_expired == 1 and server.deliver_backlog("acme") == 0
        first.cancel()


async def test_bound_peer_trickling_bytes_is_timed_out(
    handler: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    # before: each byte reset the inactivity timer, so a PDU that never completes held the
    # session for ever
    caplog.set_level(logging.INFO, logger="engine")
    cfg = SessionConfig(inactivity_timeout=0.5, enquire_link_interval=None, pdu_read_timeout=0.3)
    async with SmscServer(
        handler, credentials=CREDS, close_grace=0.1, session_config=cfg
    ) as server:
        esme = await RawEsme.connect(server.port)
        assert (await esme.bind()).command_status == 0
        wire = engine.encode(submit(b"x" * 200, sequence_number=2))

        async def trickle() -> None:
            for i in range(len(wire)):  # one byte every 20 ms: idle never, complete never
                esme.send_raw(wire[i : i + 1])
                await asyncio.sleep(0.02)

        dribbler = asyncio.create_task(trickle())
        assert await esme.closed_by_server()
        assert not dribbler.done()  # closed before the PDU could complete
        dribbler.cancel()
        await asyncio.wait_for(_until(lambda: handler.unbound != []), GUARD)
    assert "PDU read timeout" in caplog.text and "'acme'" in caplog.text
    assert handler.submits == []
