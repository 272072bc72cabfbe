"""The webhook client against real aiohttp apps on 127.0.0.1.

Signatures are checked by the helper library's own ``RequestValidator`` in the receiving
app.  No timing assertions: the hanging-host tests use events (a callback to another host
arrives while the first is still hanging), and bounded waits are only a safety net.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

import hypothesis.strategies as st
import pytest
from aiohttp import web
from hypothesis import given
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from engine.aio.webhook import WebhookClient, WebhookResult, _form_encode
from engine.twilio.alerts import Alert
from engine.twilio.callbacks import status_callback_params
from engine.twilio.twiml import MessageVerb, TwimlError, parse_webhook_answer

TOKEN = "0123456789abcdef0123456789abcdef"
AC = "AC" + "1" * 32
SM = "SM" + "2" * 32
SAFETY = 10.0  # seconds; a net for a broken test, never a measured bound

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    """One request as the receiving app saw it."""

    method: str
    url: str
    form: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    valid: bool


@dataclass
class App:
    """A real aiohttp app that validates every request's signature, then calls ``answer``."""

    answer: Handler
    seen: list[Seen] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    base: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        url = f"http://127.0.0.1:{request.url.port}{request.raw_path}"
        signature = request.headers.get("X-Twilio-Signature", "")
        form = await request.post()
        validator = RequestValidator(TOKEN)
        params = form if request.method == "POST" else {}
        self.seen.append(
            Seen(
                method=request.method,
                url=url,
                form={k: str(v) for k, v in form.items()},
                query=dict(request.query),
                headers=dict(request.headers),
                valid=validator.validate(url, params, signature),
            )
        )
        self.arrived.set()
        return await self.answer(request)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[App]]]:
    runners: list[web.AppRunner] = []
    apps: list[App] = []

    async def start(answer: Handler) -> App:
        app = App(answer)
        web_app = web.Application()
        web_app.router.add_route("*", "/{tail:.*}", app.handle)
        runner = web.AppRunner(web_app, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        app.base = f"http://127.0.0.1:{port}"
        runners.append(runner)
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.release.set()
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def client() -> AsyncIterator[WebhookClient]:
    async with WebhookClient(
        connect_timeout=2.0, total_timeout=5.0, backoff_initial=0.01, backoff_max=0.05
    ) as c:
        yield c


def free_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def ok(request: web.Request) -> web.Response:
    return web.Response(status=204)


async def hang(app_ref: list[App]) -> None:
    await app_ref[0].release.wait()


def twiml(text: str) -> Handler:
    async def answer(request: web.Request) -> web.Response:
        r = MessagingResponse()
        r.message(text)
        return web.Response(text=str(r), content_type="text/xml")

    return answer


def cb_params(status: str = "delivered") -> dict[str, str]:
    return status_callback_params(
        message_sid=SM,
        account_sid=AC,
        from_="+15550001111",
        to="+15550002222",
        status=status,
        error_code=30003 if status == "undelivered" else None,
        raw_dlr_done_date="2612041142",
    )


async def wait(event: asyncio.Event) -> None:
    await asyncio.wait_for(event.wait(), SAFETY)


async def until(predicate: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), SAFETY)


# -- signatures, headers, methods ------------------------------------------------------------


async def test_post_callback_is_signed_as_twilio_signs(serve, client: WebhookClient) -> None:
    app = await serve(ok)
    url = app.base.replace("://", "://user:p%40ss@") + "/status?account=a&x=%20y#rc=3"
    assert client.send_status_callback(url, cb_params("undelivered"), TOKEN)
    await wait(app.arrived)
    await until(lambda: client.sent == 1)
    (seen,) = app.seen
    assert seen.valid
    assert seen.method == "POST"
    assert seen.url == app.base + "/status?account=a&x=%20y"
    assert seen.form == cb_params("undelivered")
    assert seen.form["ErrorCode"] == "30003"
    assert seen.headers["User-Agent"] == "TwilioProxy/1.1"
    assert seen.headers["I-Twilio-Idempotency-Token"]
    assert seen.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert seen.headers["Authorization"] == "Basic " + base64.b64encode(b"user:p@ss").decode()
    assert client.stats().pending == 0


async def test_get_callback_is_signed_over_the_full_url(serve, client: WebhookClient) -> None:
    app = await serve(ok)
    params = dict(cb_params(), Body="Olá & 👋 +1")
    assert client.send_status_callback(app.base + "/cb?k=v", params, TOKEN, method="get")
    await wait(app.arrived)
    (seen,) = app.seen
    assert seen.valid
    assert seen.method == "GET"
    assert seen.form == {}
    assert seen.query == {"k": "v", **params}


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_fetch_twiml_signed_and_parsed(serve, client: WebhookClient, method: str) -> None:
    app = await serve(twiml("Thanks, got it"))
    params = {"MessageSid": SM, "AccountSid": AC, "Body": "hello é", "From": "+1", "To": "+2"}
    result = await client.fetch_twiml(app.base + "/sms", method, params, TOKEN)
    assert result.ok, result
    assert result.status == 200
    assert result.content_type == "text/xml"
    assert app.seen[0].valid
    assert app.seen[0].method == method
    assert (app.seen[0].form if method == "POST" else app.seen[0].query) == params
    reply = parse_webhook_answer(result.content_type, result.body)
    assert reply.verbs == [MessageVerb(body="Thanks, got it")]
    assert client.fetched == 1


# -- retries and alerts --------------------------------------------------------------------


async def test_retries_on_500_then_succeeds(serve, client: WebhookClient) -> None:
    calls = 0

    async def flaky(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.Response(status=500 if calls < 3 else 200)

    app = await serve(flaky)
    assert client.send_status_callback(app.base + "/cb", cb_params(), TOKEN)
    await until(lambda: client.sent == 1)
    assert calls == 3
    assert client.retried == 2 and client.failed == 0
    assert all(s.valid for s in app.seen)
    tokens = {s.headers["I-Twilio-Idempotency-Token"] for s in app.seen}
    assert len(tokens) == 1  # one delivery, one token across its retries


async def test_final_failure_is_an_alert(serve) -> None:
    alerts: list[Alert] = []
    got = asyncio.Event()

    def on_alert(alert: Alert) -> None:
        alerts.append(alert)
        got.set()

    async def always_500(request: web.Request) -> web.Response:
        return web.Response(status=503)

    app = await serve(always_500)
    async with WebhookClient(
        on_alert=on_alert, max_attempts=2, backoff_initial=0.01, clock=lambda: 1234.5
    ) as client:
        url = app.base.replace("://", "://u:secret@") + "/cb?q=1"
        assert client.send_status_callback(url, cb_params(), TOKEN)
        await wait(got)
        assert client.failed == 1 and client.retried == 1 and client.sent == 0
    (alert,) = alerts
    assert alert.error_code == 11200
    assert alert.response_status == 503
    assert alert.log_level == "error"
    assert alert.account_sid == AC and alert.message_sid == SM
    assert alert.url == app.base + "/cb?q=1"  # no userinfo
    assert alert.request_method == "POST"
    assert alert.date_created == 1234.5
    assert alert.sid.startswith("NO") and len(alert.sid) == 34
    assert len(app.seen) == 2


async def test_4xx_is_not_retried(serve) -> None:
    alerts: list[Alert] = []

    async def not_found(request: web.Request) -> web.Response:
        return web.Response(status=404)

    app = await serve(not_found)
    async with WebhookClient(on_alert=alerts.append, max_attempts=5) as client:
        client.send_status_callback(app.base + "/nope", cb_params(), TOKEN)
        await until(lambda: client.failed == 1)
    assert len(app.seen) == 1
    assert [a.error_code for a in alerts] == [11200]


async def test_connection_refused_and_bad_urls_alert() -> None:
    alerts: list[Alert] = []
    async with WebhookClient(
        on_alert=alerts.append, max_attempts=2, backoff_initial=0.01
    ) as client:
        assert client.send_status_callback(f"http://127.0.0.1:{free_port()}/cb", cb_params(), TOKEN)
        assert client.send_status_callback("ftp://example.com/cb", cb_params(), TOKEN)
        assert client.send_status_callback("http:///nohost", cb_params(), TOKEN)
        await until(lambda: len(alerts) == 3)
        assert client.failed == 3 and client.retried == 1
    assert sorted(a.error_code for a in alerts) == [11205, 11210, 11210]


# -- isolation, bounds, shutdown -----------------------------------------------------------


async def test_hanging_host_does_not_delay_another_host(serve) -> None:
    ref: list[App] = []
    started = 0

    async def hanging(request: web.Request) -> web.Response:
        nonlocal started
        started += 1
        await hang(ref)
        return web.Response(status=200)

    slow = await serve(hanging)
    ref.append(slow)
    fast = await serve(twiml("fast"))
    async with WebhookClient(per_destination_concurrency=1, close_grace=0.2) as client:
        for _ in range(3):
            assert client.send_status_callback(slow.base + "/cb", cb_params(), TOKEN)
        await wait(slow.arrived)
        assert client.send_status_callback(fast.base + "/cb", cb_params(), TOKEN)
        await wait(fast.arrived)
        result = await client.fetch_twiml(fast.base + "/sms", "POST", {"A": "1"}, TOKEN)
        # The other host was served while the slow one still holds its only slot.
        assert started == 1 and not slow.release.is_set()
        assert result.ok
        assert client.pending == 3  # the slow host's three: one in flight, two queued
        slow.release.set()
        await until(lambda: client.sent == 4)


async def test_pending_bound_drops_and_counts(serve) -> None:
    ref: list[App] = []

    async def hanging(request: web.Request) -> web.Response:
        await hang(ref)
        return web.Response(status=200)

    slow = await serve(hanging)
    ref.append(slow)
    other = await serve(ok)
    async with WebhookClient(
        max_pending=3, max_pending_per_destination=2, close_grace=0.2
    ) as client:
        assert client.send_status_callback(slow.base + "/a", cb_params(), TOKEN)
        assert client.send_status_callback(slow.base + "/b", cb_params(), TOKEN)
        assert not client.send_status_callback(slow.base + "/c", cb_params(), TOKEN)
        assert client.dropped == 1
        # The per-destination bound left room for another host ...
        assert client.send_status_callback(other.base + "/d", cb_params(), TOKEN)
        await wait(other.arrived)
        await until(lambda: client.sent == 1)
        assert client.send_status_callback(other.base + "/e", cb_params(), TOKEN)
        # ... until the overall bound is reached.
        assert not client.send_status_callback(other.base + "/f", cb_params(), TOKEN)
        assert client.dropped == 2
        result = await client.fetch_twiml(slow.base + "/sms", "POST", {}, TOKEN)
        assert result.error_code == 11200 and "pending" in (result.error_text or "")
        slow.release.set()


async def test_close_with_a_hanging_callback_returns(serve) -> None:
    ref: list[App] = []

    async def hanging(request: web.Request) -> web.Response:
        await hang(ref)
        return web.Response(status=200)

    slow = await serve(hanging)
    ref.append(slow)
    client = WebhookClient(close_grace=0.1, total_timeout=60.0)
    await client.start()
    assert client.send_status_callback(slow.base + "/cb", cb_params(), TOKEN)
    fetch = asyncio.create_task(client.fetch_twiml(slow.base + "/sms", "POST", {}, TOKEN))
    await until(lambda: len(slow.seen) == 2)
    await asyncio.wait_for(client.close(), SAFETY)
    assert client.abandoned == 1
    assert client.pending == 0
    result = await asyncio.wait_for(fetch, SAFETY)
    assert result.error_code == 11200 and result.error_text == "webhook client closed"
    assert not client.send_status_callback(slow.base + "/cb", cb_params(), TOKEN)


# -- fetch_twiml failures --------------------------------------------------------------------


async def fetch(client: WebhookClient, url: str) -> WebhookResult:
    return await client.fetch_twiml(url, "POST", {"MessageSid": SM}, TOKEN)


async def test_fetch_timeout(serve) -> None:
    ref: list[App] = []

    async def hanging(request: web.Request) -> web.Response:
        await hang(ref)
        return web.Response(status=200)

    slow = await serve(hanging)
    ref.append(slow)
    async with WebhookClient(total_timeout=0.3, close_grace=0.1) as client:
        result = await fetch(client, slow.base + "/sms")
        assert result.error_code == 11200
        assert result.status is None
        assert client.fetch_failed == 1
        slow.release.set()


async def test_fetch_500_refused_bad_host(serve, client: WebhookClient) -> None:
    async def fail(request: web.Request) -> web.Response:
        return web.Response(status=500, text="<Response/>", content_type="text/xml")

    app = await serve(fail)
    result = await fetch(client, app.base + "/sms")
    assert (result.error_code, result.status) == (11200, 500)
    assert len(app.seen) == 1  # a TwiML fetch is retried only when it could not connect
    assert (await fetch(client, f"http://127.0.0.1:{free_port()}/sms")).error_code == 11205
    assert (await fetch(client, "http://no-such-host.invalid/sms")).error_code == 11210
    assert (await fetch(client, "mailto:someone@example.com")).error_code == 11210
    assert (await client.fetch_twiml(app.base, "PUT", {}, TOKEN)).error_code == 11210


async def test_fetch_content_types(serve, client: WebhookClient) -> None:
    async def answer(request: web.Request) -> web.StreamResponse:
        kind = request.path.strip("/")
        if kind == "html":
            return web.Response(text="<html><body>Welcome</body></html>", content_type="text/html")
        if kind == "json":
            return web.json_response({"message": "hi"})
        if kind == "none":
            response = web.Response(body=b"<Response/>")
            response.headers.pop("Content-Type", None)
            return response
        if kind == "plain":
            return web.Response(text="Thanks!", content_type="text/plain")
        if kind == "empty":
            return web.Response(status=200)
        return web.Response(status=204)

    app = await serve(answer)
    html = await fetch(client, app.base + "/html")
    assert html.ok and html.content_type == "text/html"
    with pytest.raises(TwimlError) as info:
        parse_webhook_answer(html.content_type, html.body)
    assert info.value.code == 12102
    assert (await fetch(client, app.base + "/json")).error_code == 12300
    plain = await fetch(client, app.base + "/plain")
    assert plain.ok and plain.charset == "utf-8"
    assert parse_webhook_answer(plain.content_type, plain.body).verbs == [
        MessageVerb(body="Thanks!")
    ]
    for empty in ("/empty", "/nocontent"):
        result = await fetch(client, app.base + empty)
        assert result.ok and result.body == b""
        assert parse_webhook_answer(result.content_type, result.body).verbs == []


async def test_fetch_huge_body(serve, client: WebhookClient) -> None:
    big = b"<Response><Message>" + b"x" * 100_000 + b"</Message></Response>"

    async def answer(request: web.Request) -> web.StreamResponse:
        if request.path == "/sized":
            return web.Response(body=big, content_type="text/xml")
        response = web.StreamResponse(headers={"Content-Type": "text/xml"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for i in range(0, len(big), 4096):
            await response.write(big[i : i + 4096])
        await response.write_eof()
        return response

    app = await serve(answer)
    for path in ("/sized", "/chunked"):
        result = await fetch(client, app.base + path)
        assert result.error_code == 11750, path
        assert result.body == b""
    exact = await WebhookClient(max_body=len(big)).__aenter__()
    try:
        assert (await fetch(exact, app.base + "/chunked")).ok
    finally:
        await exact.close()


async def test_fetch_protocol_violation() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"this is not HTTP\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with WebhookClient() as client:
            result = await fetch(client, f"http://127.0.0.1:{port}/sms")
        assert result.error_code == 11206
    finally:
        server.close()
        await server.wait_closed()


async def test_no_secrets_in_logs(serve, caplog: pytest.LogCaptureFixture) -> None:
    async def fail(request: web.Request) -> web.Response:
        return web.Response(status=500)

    app = await serve(fail)
    caplog.set_level(logging.DEBUG)
    secret_token = "SECRET-TOKEN-" + "9" * 20
    async with WebhookClient(max_attempts=2, backoff_initial=0.01) as client:
        url = app.base.replace("://", "://user:hunter2@") + "/cb"
        client.send_status_callback(url, cb_params(), secret_token)
        await until(lambda: client.failed == 1)
        await fetch(client, url)
    signatures = {s.headers["X-Twilio-Signature"] for s in app.seen}
    assert "status callback to" in caplog.text  # something was logged ...
    for secret in (secret_token, "hunter2", *signatures):
        assert secret not in caplog.text  # ... but no secret


async def test_fetch_failures_are_alerted_and_redirect_loops_stop(serve) -> None:
    alerts: list[Alert] = []

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/again")

    app = await serve(loop)
    async with WebhookClient(on_alert=alerts.append, max_redirects=3) as client:
        params = {"MessageSid": SM, "AccountSid": AC}
        result = await client.fetch_twiml(app.base + "/sms", "POST", params, TOKEN)
        assert result.error_code == 11215
        assert app.seen[0].valid and 2 <= len(app.seen) <= 4
        quiet = await client.fetch_twiml(app.base + "/x", "GET", params, TOKEN, alert=False)
        assert quiet.error_code == 11215
    (alert,) = alerts
    assert (alert.error_code, alert.account_sid, alert.message_sid) == (11215, AC, SM)
    assert alert.url == app.base + "/sms" and alert.request_method == "POST"


@given(st.dictionaries(st.text(), st.text() | st.sampled_from(["+15550001111", "a+b", "x-y_z.~"])))
def test_form_body_is_what_urlencode_writes(params: dict[str, str]) -> None:
    assert _form_encode(params) == urlencode(params)


# -- the lean keep-alive client of status callbacks ------------------------------------------


async def test_callbacks_reuse_one_keep_alive_connection(serve) -> None:
    peers: set[tuple[str, int]] = set()

    async def note_peer(request: web.Request) -> web.Response:
        assert request.transport is not None
        peers.add(request.transport.get_extra_info("peername"))
        return web.Response(status=200, text="ok")

    app = await serve(note_peer)
    async with WebhookClient(per_destination_concurrency=1) as client:
        for i in range(20):
            assert client.send_status_callback(app.base + f"/cb?n={i}", cb_params(), TOKEN)
        await until(lambda: client.sent == 20)
    assert len(app.seen) == 20 and all(s.valid for s in app.seen)
    assert len(peers) == 1  # one connection carried all twenty
    tokens = {s.headers["I-Twilio-Idempotency-Token"] for s in app.seen}
    assert len(tokens) == 20
    assert all(len(t) == 36 and t[14] == "4" and t[19] in "89ab" for t in tokens)


@pytest.mark.parametrize("lean", [True, False])
async def test_both_clients_send_the_same_signed_request(serve, lean: bool) -> None:
    app = await serve(ok)
    url = app.base.replace("://", "://user:p%40ss@") + "/status?account=a&x=%20y#rc=3"
    async with WebhookClient(lean=lean) as client:
        assert client.send_status_callback(url, cb_params("undelivered"), TOKEN)
        await until(lambda: client.sent == 1)
    (seen,) = app.seen
    assert seen.valid and seen.url == app.base + "/status?account=a&x=%20y"
    assert seen.form == cb_params("undelivered")
    assert seen.headers["Host"] == app.base.removeprefix("http://")
    assert seen.headers["Authorization"] == "Basic " + base64.b64encode(b"user:p@ss").decode()


async def test_redirected_callback_is_followed(serve, client: WebhookClient) -> None:
    async def answer(request: web.Request) -> web.Response:
        if request.path == "/old":
            raise web.HTTPTemporaryRedirect("/new")
        return web.Response(status=200)

    app = await serve(answer)
    assert client.send_status_callback(app.base + "/old", cb_params(), TOKEN)
    await until(lambda: client.sent == 1)
    # The lean client hands a redirect to aiohttp, which asks again and follows it ...
    assert [s.url.rsplit("/", 1)[1] for s in app.seen] == ["old", "old", "new"]
    assert app.seen[-1].form == cb_params()
    # ... and from then on that URL goes to aiohttp at once.
    assert client.send_status_callback(app.base + "/old", cb_params(), TOKEN)
    await until(lambda: client.sent == 2)
    assert [s.url.rsplit("/", 1)[1] for s in app.seen[3:]] == ["old", "new"]


async def raw_server(
    answers: list[bytes], requests: list[bytes], *, close_after: bool = False
) -> tuple[asyncio.Server, str]:
    """A TCP server that reads one request head and body at a time and writes the next
    of ``answers`` (as given: framing under test)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                requests.append(head + await reader.readexactly(length))
                writer.write(answers.pop(0))
                await writer.drain()
                if close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def test_lean_client_reads_every_framing_and_keeps_the_connection() -> None:
    answers = [
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;x=y\r\nabc\r\n10\r\n" + b"z" * 16 + b"\r\n0\r\nTrailer: 1\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n" + b"x" * 20000,
        b"HTTP/1.0 200 OK\r\n\r\nuntil the end",
    ]
    requests: list[bytes] = []
    server, base = await raw_server(answers, requests)
    try:
        async with WebhookClient(per_destination_concurrency=1) as client:
            for i in range(5):
                assert client.send_status_callback(f"{base}/cb{i}", cb_params(), TOKEN)
                await until(lambda i=i: client.sent == i + 1)
            assert client.failed == 0
        assert len(requests) == 5
        assert [r.split(b" ")[1] for r in requests] == [f"/cb{i}".encode() for i in range(5)]
        for raw in requests:
            head, _, body = raw.partition(b"\r\n\r\n")
            assert body.decode() == _form_encode(cb_params())
            headers = dict(line.decode().split(": ", 1) for line in head.split(b"\r\n")[1:] if line)
            url = base + raw.split(b" ")[1].decode()
            assert RequestValidator(TOKEN).validate(url, cb_params(), headers["X-Twilio-Signature"])
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    "answer",
    [
        b"this is not HTTP\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhi",  # cut short
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
    ],
)
async def test_lean_client_protocol_violations_are_11206(answer: bytes) -> None:
    alerts: list[Alert] = []
    requests: list[bytes] = []
    server, base = await raw_server([answer], requests, close_after=True)
    try:
        async with WebhookClient(on_alert=alerts.append, max_attempts=1) as client:
            assert client.send_status_callback(base + "/cb", cb_params(), TOKEN)
            await until(lambda: client.failed == 1)
        assert [a.error_code for a in alerts] == [11206]
    finally:
        server.close()
        await server.wait_closed()


async def test_server_closing_an_idle_connection_is_not_a_failure() -> None:
    # The server answers once per connection and then closes it: the client's next
    # request finds its kept connection gone and goes out on a new one, uncounted.
    answers = [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"] * 3
    requests: list[bytes] = []
    server, base = await raw_server(answers, requests, close_after=True)
    try:
        async with WebhookClient(max_attempts=1) as client:
            for i in range(3):
                assert client.send_status_callback(f"{base}/cb", cb_params(), TOKEN)
                await until(lambda i=i: client.sent == i + 1)
            assert client.failed == 0 and client.retried == 0
        assert len(requests) == 3
    finally:
        server.close()
        await server.wait_closed()


def test_lean_client_under_uvloop() -> None:
    # The daemon runs on uvloop, whose transports are not asyncio.Transport subclasses.
    uvloop = pytest.importorskip("uvloop")

    async def main() -> list[Seen]:
        runner = web.AppRunner(web.Application())
        app = App(ok)
        runner.app.router.add_post("/cb", app.handle)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        try:
            async with WebhookClient() as client:
                for _ in range(3):
                    assert client.send_status_callback(base + "/cb", cb_params(), TOKEN)
                await until(lambda: client.sent == 3)
                assert client.failed == 0
        finally:
            await runner.cleanup()
        return app.seen

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        seen = runner.run(main())
    assert len(seen) == 3 and all(s.valid for s in seen)


_plain = st.from_regex(r"[A-Za-z0-9_.~+-]*", fullmatch=True)


@given(st.dictionaries(_plain, _plain))
def test_plain_form_body_is_what_urlencode_writes(params: dict[str, str]) -> None:
    assert _form_encode(params) == urlencode(params)
