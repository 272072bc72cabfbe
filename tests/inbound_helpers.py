"""A real application for the inbound tests: an aiohttp app on loopback that receives the
gateway's inbound webhooks, checks their signatures with the helper library's own
RequestValidator (POST and GET) and answers what each path says."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from aiohttp import web
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

BOMB = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    ' <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n'
    ' <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">\n'
    ' <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">\n'
    "]>\n<Response><Message>&lol4;</Message></Response>"
)


@dataclass
class Hit:
    """One request the app received."""

    path: str
    method: str
    params: dict[str, str]
    valid: bool


@dataclass
class WebhookApp:
    """The app's state: what it received, and switches the tests turn."""

    tokens: dict[str, str]
    hits: list[Hit] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    answers: dict[str, Callable[[Hit], web.Response]] = field(default_factory=dict)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]

    async def wait_for(self, path: str, count: int = 1, timeout: float = 30.0) -> list[Hit]:
        """The hits on ``path`` once there are ``count`` (a safety-net timeout only)."""
        async with self.arrived:
            await asyncio.wait_for(
                self.arrived.wait_for(lambda: len(self.on(path)) >= count), timeout
            )
        return self.on(path)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == "POST":
            form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
            params: dict[str, str] = form
            signed_params: dict[str, str] = form
        else:
            params = dict(request.query)
            signed_params = {}
        token = self.tokens.get(params.get("AccountSid", ""), "")
        url = f"http://127.0.0.1:{self.port}{request.path_qs}"
        valid = RequestValidator(token).validate(
            url, signed_params, request.headers.get("X-Twilio-Signature", "")
        )
        hit = Hit(request.path, request.method, params, valid)
        async with self.arrived:
            self.hits.append(hit)
            self.arrived.notify_all()
        if request.path == "/hang":
            await self.release.wait()
        answer = self.answers.get(request.path)
        if answer is not None:
            return answer(hit)
        return twiml(f"echo: {params.get('Body', '')}")


def twiml(*bodies: str) -> web.Response:
    """A MessagingResponse answer with one <Message> per body."""
    r = MessagingResponse()
    for body in bodies:
        r.message(body)
    return web.Response(text=str(r), content_type="text/xml")


def xml(text: str, content_type: str = "text/xml", status: int = 200) -> web.Response:
    """A raw answer."""
    return web.Response(text=text, content_type=content_type, status=status)


@contextlib.asynccontextmanager
async def webhook_app(tokens: dict[str, str]) -> AsyncIterator[WebhookApp]:
    """The app, listening on a free loopback port until the block ends."""
    state = WebhookApp(tokens)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", state.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield state
    finally:
        state.release.set()
        await runner.cleanup()
