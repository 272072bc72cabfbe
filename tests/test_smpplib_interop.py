"""Interop: smpplib (an independent SMPP implementation) as the ESME against our SmscServer.

smpplib is synchronous; every blocking call runs in a worker thread (asyncio.to_thread)
with a socket timeout as a hang guard, while the server runs on the test's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp

import engine
from engine import CommandStatus
from engine.aio.server import SmscConnection, SmscHandler, SmscServer

GUARD = 10.0  # socket timeout / wait_for: hang guards only


class Handler(SmscHandler):
    def __init__(self) -> None:
        self.submits: list[Any] = []

    def on_submit_sm(self, conn: SmscConnection, pdu: Any) -> Any:
        self.submits.append(pdu)
        return f"id{len(self.submits):04d}"


@pytest.fixture
async def server() -> AsyncIterator[SmscServer]:
    async with SmscServer(
        Handler(), credentials={"acme": "secret"}, system_id="OURSMSC", close_grace=2.0
    ) as srv:
        yield srv


async def _call(fn: Any, *args: Any, **kw: Any) -> Any:
    return await asyncio.wait_for(asyncio.to_thread(fn, *args, **kw), GUARD * 2)


def _client(port: int) -> smpplib.client.Client:
    return smpplib.client.Client("127.0.0.1", port, timeout=GUARD, allow_unknown_opt_params=True)


async def test_smpplib_binds_submits_and_receives_a_delivery(server: SmscServer) -> None:
    handler = server.handler
    assert isinstance(handler, Handler)
    sent: list[Any] = []
    received: list[Any] = []
    client = _client(server.port)
    client.set_message_sent_handler(lambda pdu: sent.append(pdu))
    client.set_message_received_handler(lambda pdu: received.append(pdu))
    try:
        await _call(client.connect)
        bind_resp = await _call(client.bind_transceiver, system_id="acme", password="secret")
        assert bind_resp.status == 0 and bind_resp.system_id == b"OURSMSC"
        (conn,) = server.connections("acme")
        assert conn.bind_type == "transceiver"

        await _call(
            client.send_message,
            source_addr_ton=1,
            source_addr="15550001",
            dest_addr_ton=1,
            destination_addr="15559999",
            short_message=b"hello from smpplib",
            registered_delivery=1,
        )
        await _call(client.read_once, auto_send_enquire_link=False)
        (resp,) = sent
        assert resp.status == 0 and resp.message_id == b"id0001"
        (pdu,) = handler.submits
        assert (pdu.source_addr, pdu.destination_addr) == ("15550001", "15559999")
        assert pdu.short_message == b"hello from smpplib" and pdu.registered_delivery == 1

        delivery = asyncio.create_task(
            server.deliver(
                "acme",
                engine.DeliverSm(
                    source_addr="15559999",
                    destination_addr="15550001",
                    short_message=b"reply",
                ),
            )
        )
        await _call(client.read_once, auto_send_enquire_link=False)
        (mo,) = received
        assert mo.short_message == b"reply" and mo.source_addr == b"15559999"
        answer = await asyncio.wait_for(delivery, GUARD)
        assert answer.command_name == "deliver_sm_resp" and answer.command_status == 0

        # enquire_link from smpplib is answered
        client.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=client))
        el = await _call(client.read_pdu)
        assert el.command == "enquire_link_resp"

        unbind_resp = await _call(client.unbind)
        assert unbind_resp.command == "unbind_resp" and unbind_resp.status == 0
    finally:
        client.disconnect()


async def test_smpplib_wrong_password_is_refused(server: SmscServer) -> None:
    client = _client(server.port)
    try:
        await _call(client.connect)
        with pytest.raises(smpplib.exceptions.PDUError) as info:
            await _call(client.bind_transmitter, system_id="acme", password="wrong")
        # One answer for a wrong password and an unknown system_id (no enumeration).
        assert info.value.args[1] == CommandStatus.ESME_RBINDFAIL
    finally:
        client.disconnect()


async def test_smpplib_receiver_cannot_submit(server: SmscServer) -> None:
    errors: list[Any] = []
    client = _client(server.port)
    client.set_error_pdu_handler(lambda pdu: errors.append(pdu))
    try:
        await _call(client.connect)
        await _call(client.bind_receiver, system_id="acme", password="secret")
        # smpplib refuses this itself; write its PDU past that check to see our answer
        ssm = smpplib.smpp.make_pdu(
            "submit_sm", client=client, destination_addr="1", short_message=b"x"
        )
        await _call(client._socket.sendall, ssm.generate())
        await _call(client.read_once, auto_send_enquire_link=False)
        (err,) = errors
        assert err.command == "submit_sm_resp" and err.status == CommandStatus.ESME_RINVBNDSTS
        assert server.handler.submits == []  # type: ignore[attr-defined]
    finally:
        client.disconnect()
