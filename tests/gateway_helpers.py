"""Helpers for the gateway tests: a gateway on loopback, the real twilio client pointed at
it, and a real aiohttp app that receives status callbacks and checks their signatures with
the helper library's own RequestValidator."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from engine.aio.app import Gateway
from engine.config import CarrierLinkConfig, GatewayConfig, default

WAIT = 30.0  # a safety net for waits on events, never a timing assertion


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CARRIER_SYSTEM_ID = "acme"
CARRIER_PASSWORD = "secret"
CARRIER_PASSWORD_ENV = "TEST_CARRIER_PASSWORD"


def carrier_link(
    monkeypatch: pytest.MonkeyPatch, port: int | None = None, *, name: str = "carrier-a"
) -> CarrierLinkConfig:
    """A configured link to a carrier on 127.0.0.1:``port`` (default: a free port where
    nothing listens, i.e. a carrier that is down) as ``acme``/``secret``, the password read
    from the environment as a real configuration reads it."""
    monkeypatch.setenv(CARRIER_PASSWORD_ENV, CARRIER_PASSWORD)
    return CarrierLinkConfig(
        name=name,
        host="127.0.0.1",
        port=free_port() if port is None else port,
        system_id=CARRIER_SYSTEM_ID,
        password_env=CARRIER_PASSWORD_ENV,
    )


def gateway_config(tmp_path: Path, **changes: Any) -> GatewayConfig:
    """The embedded default in ``tmp_path`` on a free port, recording what the sim gets."""
    import msgspec

    cfg = default(str(tmp_path / "data"), "127.0.0.1:0")
    cfg = msgspec.structs.replace(cfg, sim_record=True, synchronous="NORMAL", **changes)
    return cfg


@contextlib.asynccontextmanager
async def running_gateway(tmp_path: Path, **changes: Any) -> AsyncIterator[Gateway]:
    """A started :class:`Gateway` (stopped on exit)."""
    gw = Gateway(gateway_config(tmp_path, **changes))
    await gw.start()
    try:
        yield gw
    finally:
        await gw.stop()


def twilio_client(
    gw: Gateway, sid: str | None = None, token: str | None = None, account_sid: str | None = None
) -> Client:
    """The real helper library, with only its base URL changed."""
    assert gw.demo is not None
    client = Client(
        sid or gw.demo.account_sid, token or gw.demo.auth_token, account_sid=account_sid
    )
    client.api.base_url = gw.api_url
    return client


async def eventually(check: Callable[[], Awaitable[bool] | bool], what: str) -> None:
    """Wait until ``check()`` is true (polling); fail naming ``what`` after WAIT seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class CallbackSink:
    """A real aiohttp app on loopback that records status callbacks."""

    tokens: dict[str, str]
    received: list[dict[str, str]] = field(default_factory=list)
    invalid: list[dict[str, str]] = field(default_factory=list)
    hang: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    def url(self, path: str = "/status") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def handle(self, request: web.Request) -> web.Response:
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        if request.path == "/hang":
            await self.hang.wait()
        token = self.tokens.get(form.get("AccountSid", ""), "")
        url = f"http://127.0.0.1:{self.port}{request.path_qs}"
        ok = RequestValidator(token).validate(
            url, form, request.headers.get("X-Twilio-Signature", "")
        )
        async with self.arrived:
            (self.received if ok else self.invalid).append(form)
            self.arrived.notify_all()
        return web.Response(status=204)

    def statuses(self, sid: str) -> list[str]:
        return [f["MessageStatus"] for f in self.received if f.get("MessageSid") == sid]


@contextlib.asynccontextmanager
async def callback_sink(tokens: dict[str, str]) -> AsyncIterator[CallbackSink]:
    sink = CallbackSink(tokens)
    app = web.Application()
    app.router.add_post("/{tail:.*}", sink.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    sink.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield sink
    finally:
        sink.hang.set()
        await runner.cleanup()
