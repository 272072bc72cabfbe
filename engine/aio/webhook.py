"""The webhook client: signed status callbacks and TwiML fetches, isolated per destination.

:class:`WebhookClient` owns one :class:`aiohttp.ClientSession` and makes the two kinds of
request the gateway sends to applications (twilio-compat.md §5-§7):

- :meth:`WebhookClient.send_status_callback` queues a status callback and returns at once;
  it is delivered in the background, retried with back-off on connection failures,
  timeouts, 429 and 5xx, and a final failure is reported through ``on_alert``;
- :meth:`WebhookClient.fetch_twiml` asks a number's ``SmsUrl`` what to do with an inbound
  message and returns a :class:`WebhookResult` with Twilio's alert code decided, never
  raising for what the remote end does.

Every request is signed with ``X-Twilio-Signature`` (see :mod:`engine.twilio.signature`)
over the URL exactly as it is requested, and carries ``I-Twilio-Idempotency-Token`` (one
per delivery, the same on its retries) and ``User-Agent: TwilioProxy/1.1``.  A
``user:pass@`` in the URL becomes HTTP Basic credentials and is neither signed, logged nor
put in an alert.  No cookies are kept: one customer's webhook never sees another's.

Isolation: requests are grouped by destination (scheme, host, port).  Each destination has
its own concurrency limit and its own bound on waiting requests, and every request has a
total timeout, so a slow, failing or hanging URL holds at most
``per_destination_concurrency`` of the ``max_concurrency`` connections, for at most the
timeout, and never delays requests to other destinations or the caller.  Pending status
callbacks are bounded (``max_pending``); beyond it they are dropped and counted.

Neither the Auth Token nor a signature is ever logged.  Use the client from the event loop
that started it.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import os
import random
import re
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Final, Self
from urllib.parse import quote_plus, unquote, urlsplit

import aiohttp
import msgspec
from yarl import URL

from engine.aio._http_lean import ConnectFailed, LeanPool, ProtocolViolation
from engine.aio.client import backoff_delay
from engine.twilio.alerts import Alert, new_alert
from engine.twilio.signature import (
    SIGNATURE_HEADER,
    compute_signature,
    signing_url,
    url_userinfo,
    url_with_query,
)
from engine.twilio.twiml import MAX_TWIML_BYTES, TWIML_CONTENT_TYPES

__all__ = ["USER_AGENT", "WebhookClient", "WebhookResult", "WebhookStats"]

log = logging.getLogger("engine.aio.webhook")

USER_AGENT: Final = "TwilioProxy/1.1"
"""The User-Agent Twilio's webhooks carry; some applications check it."""

_FORM: Final = "application/x-www-form-urlencoded"
_READABLE_TYPES: Final = TWIML_CONTENT_TYPES | {"text/plain"}
# What is read of a status callback's answer: its content is ignored (§6), but the
# connection can be reused only once the body has been consumed.
_CALLBACK_READ_LIMIT: Final = 8192
_KEEPALIVE: Final = 15.0  # seconds an idle lean connection is kept (aiohttp's default too)
_SWEEP_EVERY: Final = 5.0


class _Tokens:
    """``I-Twilio-Idempotency-Token`` values: random UUID version 4 strings, their random
    bytes drawn 256 at a time (``uuid.uuid4()`` makes one system call per token)."""

    __slots__ = ("_left",)

    def __init__(self) -> None:
        self._left: list[str] = []

    def __call__(self) -> str:
        left = self._left
        if not left:
            raw = bytearray(os.urandom(16 * 256))
            for i in range(0, len(raw), 16):
                raw[i + 6] = (raw[i + 6] & 0x0F) | 0x40  # version 4
                raw[i + 8] = (raw[i + 8] & 0x3F) | 0x80  # RFC 4122 variant
                h = raw[i : i + 16].hex()
                left.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
        return left.pop()


class WebhookResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a webhook request gave.

    ``error_code`` is None on success (a 2xx whose body is empty or of a TwiML or text
    type); otherwise Twilio's alert code with ``error_text`` saying why: 11200 (non-2xx,
    timeout), 11205 (could not connect), 11206 (HTTP protocol violation), 11210 (bad host
    or URL), 11215 (too many redirects), 11220/11237 (TLS), 11750 (body over the limit;
    ``body`` is then empty), 12300 (unsupported Content-Type).  ``status`` is the HTTP
    status when a response came back; ``content_type`` its media type, lower case, without
    parameters; ``charset`` its declared charset; ``url`` the URL finally answering (after
    redirects, without userinfo); ``elapsed`` seconds from the call.
    """

    status: int | None
    content_type: str | None
    body: bytes
    error_code: int | None
    error_text: str | None
    elapsed: float
    charset: str | None = None
    url: str | None = None

    @property
    def ok(self) -> bool:
        """True when the answer can be acted on (no error code)."""
        return self.error_code is None


class WebhookStats(msgspec.Struct, frozen=True):
    """Counters since start.  ``sent``/``retried``/``failed``/``dropped``/``abandoned`` are
    status callbacks (abandoned: still pending when :meth:`WebhookClient.close` gave up);
    ``fetched``/``fetch_failed`` are :meth:`WebhookClient.fetch_twiml` calls; ``pending``
    is every request queued or in flight now."""

    sent: int
    retried: int
    failed: int
    dropped: int
    abandoned: int
    pending: int
    fetched: int
    fetch_failed: int


class _Outcome(msgspec.Struct):
    status: int | None = None
    content_type: str | None = None
    charset: str | None = None
    body: bytes = b""
    error_code: int | None = None
    error_text: str | None = None
    retryable: bool = False
    url: str | None = None


class _Target(msgspec.Struct, frozen=True):
    """A webhook URL, checked and parsed once (see :func:`_target`)."""

    url: str  # as signed and sent: no userinfo, no fragment, ASCII
    request_url: URL  # the same, for aiohttp, not re-encoded
    key: tuple[str, str, int]  # the destination: scheme, host, port
    authorization: str | None  # HTTP Basic from the URL's userinfo
    log_url: str  # scheme://host:port/path only, for logs
    head: str  # the lean client's request line, Host and Authorization header lines

    @property
    def display_url(self) -> str:
        """The URL for alerts: without userinfo, query included."""
        return self.url


class _Request(msgspec.Struct, frozen=True):
    """One prepared request: what is sent, identical on every attempt."""

    method: str
    url: URL  # encoded exactly as signed
    body: bytes | None
    headers: dict[str, str]  # Authorization from the URL's userinfo included
    target: _Target
    wire: bytes | None = None  # the whole request for the lean client (POST callbacks)

    @property
    def key(self) -> tuple[str, str, int]:
        return self.target.key

    @property
    def display_url(self) -> str:
        return self.target.display_url

    @property
    def log_url(self) -> str:
        return self.target.log_url


class _BadUrl(Exception):
    pass


class _Destination:
    """Per (scheme, host, port): the concurrency limit and the count of waiting requests."""

    __slots__ = ("pending", "semaphore")

    def __init__(self, concurrency: int) -> None:
        self.semaphore = asyncio.Semaphore(concurrency)
        self.pending = 0


def _media_type(header: str | None) -> tuple[str | None, str | None]:
    """(media type lower case, charset) of a Content-Type header."""
    if not header:
        return None, None
    media, *params = header.split(";")
    charset = None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    return media.strip().lower() or None, charset


_PLAIN = re.compile(r"[A-Za-z0-9_.~+-]*").fullmatch
_NOT_PRINTABLE_ASCII = re.compile(r"[^\x21-\x7e]").search


def _form_quote(text: str) -> str:
    # SIDs, statuses, dates and E.164 numbers need no escape but the "+".
    return text.replace("+", "%2B") if _PLAIN(text) else quote_plus(text)


def _form_encode(params: Mapping[str, str]) -> str:
    """``params`` as an x-www-form-urlencoded body, exactly as ``urllib.parse.urlencode``
    writes it, faster on the usual values."""
    if _PLAIN("".join(params) + "".join(params.values())):
        # Every name and value plain (the usual callback): one check, one escape pass.
        return "&".join(f"{k}={v}" for k, v in params.items()).replace("+", "%2B")
    return "&".join(f"{_form_quote(k)}={_form_quote(v)}" for k, v in params.items())


@functools.lru_cache(maxsize=4096)
def _target(url: str) -> _Target | str:
    """Check and parse a webhook URL once; an error text when it cannot be requested.

    Callback URLs repeat (one per application), so this is cached.
    """
    if len(url) > 4000:
        return "URL longer than 4000 characters"
    target = signing_url(url)
    if _NOT_PRINTABLE_ASCII(target):
        # What is sent must be exactly what is signed: percent-encode first, then sign.
        try:
            target = str(URL(target))
        except ValueError as exc:
            return f"invalid URL: {exc}"
    try:
        parts = urlsplit(target)
        port = parts.port
        request_url = URL(target, encoded=True)
    except ValueError as exc:
        return f"invalid URL: {exc}"
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return "URL scheme is not http or https"
    host = (parts.hostname or "").lower()
    if not host:
        return "URL has no host"
    key = (scheme, host, port or (443 if scheme == "https" else 80))
    authorization = None
    userinfo = url_userinfo(url)
    if userinfo is not None:
        credentials = f"{unquote(userinfo[0])}:{unquote(userinfo[1])}".encode()
        authorization = "Basic " + base64.b64encode(credentials).decode("ascii")
    log_url = f"{scheme}://{host}:{key[2]}{parts.path}"
    # What the lean client sends: the request target exactly as signed, Host as aiohttp
    # writes it (the port only when it is not the scheme's default).
    path = parts.path or "/"
    if parts.query or target.endswith("?"):
        path = f"{path}?{parts.query}"
    netloc = parts.netloc.rpartition("@")[2]
    host_header = netloc
    if port is not None and port == (443 if scheme == "https" else 80):
        host_header = netloc.rsplit(":", 1)[0]
    head = f"POST {path} HTTP/1.1\r\nHost: {host_header}\r\n"
    if authorization is not None:
        head += f"Authorization: {authorization}\r\n"
    return _Target(target, request_url, key, authorization, log_url, head)


class WebhookClient:
    """Signed webhook requests with per-destination isolation (see the module docstring).

    Timeouts are in seconds.  ``connect_timeout`` bounds the TCP (and TLS) connect,
    ``total_timeout`` a TwiML fetch from the call to the last byte, including the wait for a
    free connection to its destination; ``callback_timeout`` (default ``total_timeout``)
    bounds each status-callback attempt.  A status callback is tried at most
    ``max_attempts`` times with exponential back-off (``backoff_initial`` doubling up to
    ``backoff_max``, with jitter).  A TwiML fetch is retried ``fetch_retries`` times, at
    once, only when it could not connect (Twilio's default policy).  ``on_alert`` gets an
    :class:`engine.twilio.alerts.Alert` for every status callback that finally failed and
    every failed fetch (unless ``alert=False``); it is called on the loop, must not block, and
    an exception from it is logged and ignored.  ``clock`` gives the alerts' ``date_created``.
    The pending bounds count both kinds of request; a fetch over them fails at once (11200).
    """

    def __init__(
        self,
        *,
        on_alert: Callable[[Alert], None] | None = None,
        connect_timeout: float = 5.0,
        total_timeout: float = 15.0,
        callback_timeout: float | None = None,
        max_body: int = MAX_TWIML_BYTES,
        max_attempts: int = 3,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        fetch_retries: int = 1,
        max_redirects: int = 10,
        max_pending: int = 10_000,
        max_pending_per_destination: int = 1_000,
        max_concurrency: int = 256,
        per_destination_concurrency: int = 8,
        close_grace: float = 5.0,
        user_agent: str = USER_AGENT,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        lean: bool = True,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        for name, value in (
            ("connect_timeout", connect_timeout),
            ("total_timeout", total_timeout),
            ("close_grace", close_grace),
        ):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        for name, count in (
            ("max_body", max_body),
            ("max_attempts", max_attempts),
            ("max_pending", max_pending),
            ("max_pending_per_destination", max_pending_per_destination),
            ("max_concurrency", max_concurrency),
            ("per_destination_concurrency", per_destination_concurrency),
        ):
            if count < 1:
                raise ValueError(f"{name} must be >= 1, got {count!r}")
        self._on_alert = on_alert
        self._connect_timeout = connect_timeout
        self._total_timeout = total_timeout
        self._callback_timeout = callback_timeout if callback_timeout else total_timeout
        self._max_body = max_body
        self._max_attempts = max_attempts
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._fetch_retries = max(0, fetch_retries)
        self._max_redirects = max_redirects
        self._max_pending = max_pending
        self._max_pending_per_destination = max_pending_per_destination
        self._max_concurrency = max_concurrency
        self._per_destination = per_destination_concurrency
        self._close_grace = close_grace
        self._user_agent = user_agent
        self._clock = clock
        self._rng = rng or random.Random()
        self._session: aiohttp.ClientSession | None = None
        self._lean = lean
        self._ssl_context = ssl_context
        self._pools: dict[tuple[str, str, int], LeanPool] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self._redirecting: set[str] = set()  # callback URLs that answered a redirect
        self._token = _Tokens()
        self._common_headers = (
            f"User-Agent: {user_agent}\r\nAccept: */*\r\nContent-Type: {_FORM}\r\n"
        )
        self._global: asyncio.Semaphore | None = None
        self._destinations: dict[tuple[str, str, int], _Destination] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._fetch_tasks: set[asyncio.Task[_Outcome]] = set()
        self._closing = False
        self._pending = 0
        self.sent = 0
        self.retried = 0
        self.failed = 0
        self.dropped = 0
        self.abandoned = 0
        self.fetched = 0
        self.fetch_failed = 0

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Open the HTTP session.  Call once, from the loop that will use the client."""
        if self._session is not None:
            raise RuntimeError("WebhookClient already started")
        connector = aiohttp.TCPConnector(
            limit=self._max_concurrency, limit_per_host=self._per_destination
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            raise_for_status=False,
        )
        self._global = asyncio.Semaphore(self._max_concurrency)
        if self._lean:
            self._sweeper = asyncio.get_running_loop().call_later(_SWEEP_EVERY, self._sweep)

    def _sweep(self) -> None:
        """Close lean connections idle for too long; forget pools with none left."""
        now = time.monotonic()
        for key, pool in list(self._pools.items()):
            pool.sweep(now)
            if not len(pool) and now - pool.last_used > _KEEPALIVE:
                del self._pools[key]
        if not self._closing:
            self._sweeper = asyncio.get_running_loop().call_later(_SWEEP_EVERY, self._sweep)

    async def close(self, grace: float | None = None) -> None:
        """Stop accepting, let pending requests finish within ``grace`` seconds (default
        ``close_grace``), cancel the rest (counted as ``abandoned``) and close the session.
        A cancelled :meth:`fetch_twiml` returns an 11200 result to its caller."""
        if self._closing:
            return
        self._closing = True
        everything = [*self._tasks, *self._fetch_tasks]
        if everything:
            _, pending_any = await asyncio.wait(
                everything, timeout=self._close_grace if grace is None else grace
            )
            for task in pending_any:
                task.cancel()
            if pending_any:
                await asyncio.gather(*pending_any, return_exceptions=True)
                log.warning("webhook client closed with %d request(s) abandoned", len(pending_any))
        if self._sweeper is not None:
            self._sweeper.cancel()
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def stats(self) -> WebhookStats:
        """A snapshot of the counters."""
        return WebhookStats(
            sent=self.sent,
            retried=self.retried,
            failed=self.failed,
            dropped=self.dropped,
            abandoned=self.abandoned,
            pending=self._pending,
            fetched=self.fetched,
            fetch_failed=self.fetch_failed,
        )

    @property
    def pending(self) -> int:
        """Requests queued or in flight."""
        return self._pending

    # -- status callbacks --------------------------------------------------------------

    def send_status_callback(
        self, url: str, params: Mapping[str, str], auth_token: str, *, method: str = "POST"
    ) -> bool:
        """Queue a signed status callback; returns at once.

        Returns False (and counts a drop) when the client is closing or the pending bound,
        overall or for this destination, is reached.  A URL that cannot be requested at
        all is accepted (True) and reported through ``on_alert`` as 11210.  ``params``
        should hold ``AccountSid`` and ``MessageSid``: the alert names them.
        """
        if self._session is None:
            raise RuntimeError("WebhookClient not started")
        if self._closing:
            self.dropped += 1
            return False
        try:
            request = self._prepare(url, method, params, auth_token, lean=self._lean)
        except _BadUrl as exc:
            self.failed += 1
            outcome = _Outcome(error_code=11210, error_text=str(exc))
            asyncio.get_running_loop().call_soon(
                self._alert, params, signing_url(url)[:4000], method.upper()[:10], outcome
            )
            return True
        destination = self._destinations.get(request.key)
        if self._pending >= self._max_pending or (
            destination is not None and destination.pending >= self._max_pending_per_destination
        ):
            self.dropped += 1
            log.debug("status callback to %s dropped: too many pending", request.log_url)
            return False
        destination = self._enter(request.key)
        task = asyncio.create_task(self._deliver(request, params, destination))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _deliver(
        self, request: _Request, params: Mapping[str, str], destination: _Destination
    ) -> None:
        outcome = _Outcome()
        try:
            for attempt in range(self._max_attempts):
                async with destination.semaphore:
                    outcome = await self._attempt(
                        request, self._callback_timeout, _CALLBACK_READ_LIMIT, truncate=True
                    )
                if outcome.error_code is None:
                    self.sent += 1
                    return
                if not outcome.retryable or attempt + 1 >= self._max_attempts:
                    break
                self.retried += 1
                await asyncio.sleep(
                    backoff_delay(
                        attempt, self._backoff_initial, self._backoff_max, self._rng.random()
                    )
                )
            self.failed += 1
            log.warning(
                "status callback to %s failed: %s %s",
                request.log_url,
                outcome.error_code,
                outcome.error_text,
            )
            self._alert(params, request.display_url, request.method, outcome)
        except asyncio.CancelledError:
            self.abandoned += 1
            raise
        finally:
            self._leave(request.key, destination)

    # -- TwiML fetch -------------------------------------------------------------------

    async def fetch_twiml(
        self,
        url: str,
        method: str,
        params: Mapping[str, str],
        auth_token: str,
        *,
        alert: bool = True,
    ) -> WebhookResult:
        """Request ``url`` (an ``SmsUrl``) with ``method`` (POST: form body; GET: ``params``
        in the query, signed over the full URL) and return what it answered.

        Never raises for a remote failure: see :class:`WebhookResult` for the codes.  When
        ``alert`` is true a failure is also reported through ``on_alert`` (naming the
        ``AccountSid`` and ``MessageSid`` of ``params``).  The caller then parses ``body``
        (``engine.twilio.twiml.parse_webhook_answer``) and records what that raises itself.
        """
        if self._session is None:
            raise RuntimeError("WebhookClient not started")
        loop = asyncio.get_running_loop()
        started = loop.time()

        def result(outcome: _Outcome) -> WebhookResult:
            if outcome.error_code is None:
                self.fetched += 1
            else:
                self.fetch_failed += 1
                if alert:
                    self._alert(params, signing_url(url)[:4000], method.upper()[:10], outcome)
            return WebhookResult(
                status=outcome.status,
                content_type=outcome.content_type,
                charset=outcome.charset,
                body=outcome.body,
                error_code=outcome.error_code,
                error_text=outcome.error_text,
                elapsed=loop.time() - started,
                url=outcome.url,
            )

        if self._closing:
            return result(_Outcome(error_code=11200, error_text="webhook client closing"))
        try:
            request = self._prepare(url, method, params, auth_token)
        except _BadUrl as exc:
            return result(_Outcome(error_code=11210, error_text=str(exc)))
        destination = self._destinations.get(request.key)
        if self._pending >= self._max_pending or (
            destination is not None and destination.pending >= self._max_pending_per_destination
        ):
            self.dropped += 1
            return result(
                _Outcome(error_code=11200, error_text="too many pending webhook requests")
            )
        destination = self._enter(request.key)
        task = asyncio.create_task(self._fetch(request, destination, started + self._total_timeout))
        self._fetch_tasks.add(task)
        task.add_done_callback(self._fetch_tasks.discard)
        try:
            outcome = await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # our caller was cancelled, not the request
            outcome = _Outcome(error_code=11200, error_text="webhook client closed")
        return result(outcome)

    async def _fetch(
        self, request: _Request, destination: _Destination, deadline: float
    ) -> _Outcome:
        loop = asyncio.get_running_loop()
        try:
            try:
                async with asyncio.timeout_at(deadline):
                    await destination.semaphore.acquire()
            except TimeoutError:
                return _Outcome(
                    error_code=11200, error_text="timed out waiting for a connection to the host"
                )
            try:
                outcome = _Outcome()
                for attempt in range(1 + self._fetch_retries):
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        if attempt == 0:
                            outcome = _Outcome(error_code=11200, error_text="timed out")
                        break
                    outcome = await self._attempt(request, remaining, self._max_body)
                    if outcome.error_code != 11205:
                        break
            finally:
                destination.semaphore.release()
            readable = outcome.content_type in _READABLE_TYPES
            if outcome.error_code is None and outcome.body and not readable:
                shown = outcome.content_type or "(none)"
                outcome.error_code = 12300
                outcome.error_text = f"unsupported Content-Type {shown[:60]!r}"
            if outcome.error_code is not None:
                log.info(
                    "webhook %s failed: %s %s",
                    request.log_url,
                    outcome.error_code,
                    outcome.error_text,
                )
            return outcome
        finally:
            self._leave(request.key, destination)

    # -- shared ------------------------------------------------------------------------

    def _enter(self, key: tuple[str, str, int]) -> _Destination:
        destination = self._destinations.get(key)
        if destination is None:
            destination = self._destinations[key] = _Destination(self._per_destination)
        destination.pending += 1
        self._pending += 1
        return destination

    def _leave(self, key: tuple[str, str, int], destination: _Destination) -> None:
        destination.pending -= 1
        self._pending -= 1
        if destination.pending == 0 and self._destinations.get(key) is destination:
            del self._destinations[key]

    def _prepare(
        self,
        url: str,
        method: str,
        params: Mapping[str, str],
        auth_token: str,
        *,
        lean: bool = False,
    ) -> _Request:
        """Build the request that is signed and sent; raises _BadUrl.  ``lean``: also the
        bytes of a POST for the lean client (status callbacks)."""
        method = method.upper()
        if method not in ("GET", "POST"):
            raise _BadUrl(f"method {method[:10]!r} is not GET or POST")
        target = _target(url)
        if isinstance(target, str):
            raise _BadUrl(target)
        token = self._token()
        headers = {
            "User-Agent": self._user_agent,
            "I-Twilio-Idempotency-Token": token,
            "Accept": "*/*",
        }
        if target.authorization is not None:
            headers["Authorization"] = target.authorization
        if method == "GET":
            full = url_with_query(target.url, params)
            headers[SIGNATURE_HEADER] = compute_signature(full, None, auth_token)
            try:
                request_url = URL(full, encoded=True)
            except ValueError as exc:
                raise _BadUrl(f"invalid URL: {exc}") from None
            return _Request(method, request_url, None, headers, target)
        headers["Content-Type"] = _FORM
        signature = headers[SIGNATURE_HEADER] = compute_signature(target.url, params, auth_token)
        body = _form_encode(params).encode("ascii")
        wire = None
        if lean:
            wire = (
                f"{target.head}{self._common_headers}I-Twilio-Idempotency-Token: {token}\r\n"
                f"{SIGNATURE_HEADER}: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode("ascii") + body
        return _Request(method, target.request_url, body, headers, target, wire)

    async def _attempt(
        self, request: _Request, timeout: float, read_limit: int, *, truncate: bool = False
    ) -> _Outcome:
        """One HTTP exchange; never raises except CancelledError."""
        assert self._session is not None and self._global is not None
        if request.wire is not None and request.target.url not in self._redirecting:
            async with self._global:
                outcome = await self._lean_attempt(request, timeout, read_limit, truncate)
            if outcome is not None:
                return outcome
            # A redirect: aiohttp follows it, below, and takes this URL from now on (its
            # first request went twice: once answered with the redirect, once followed).
            if len(self._redirecting) >= 4096:
                self._redirecting.clear()
            self._redirecting.add(request.target.url)
        client_timeout = aiohttp.ClientTimeout(
            total=timeout, sock_connect=min(self._connect_timeout, timeout)
        )
        async with self._global:
            try:
                async with self._session.request(
                    request.method,
                    request.url,
                    data=request.body,
                    headers=request.headers,
                    timeout=client_timeout,
                    allow_redirects=True,
                    max_redirects=self._max_redirects,
                ) as response:
                    media, charset = _media_type(response.headers.get("Content-Type"))
                    outcome = _Outcome(
                        status=response.status,
                        content_type=media,
                        charset=charset,
                        url=str(response.url.with_user(None)),
                    )
                    too_large = (response.content_length or 0) > read_limit
                    body = b"" if too_large else await self._read(response, read_limit)
                    if too_large or len(body) > read_limit:
                        if not truncate:
                            outcome.error_code = 11750
                            outcome.error_text = f"response body larger than {read_limit} bytes"
                            return outcome
                        body = body[:read_limit]
                    outcome.body = body
                    if not 200 <= response.status < 300:
                        outcome.error_code = 11200
                        outcome.error_text = f"HTTP {response.status}"
                        outcome.retryable = response.status >= 500 or response.status == 429
                    return outcome
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every remote failure becomes a code, never a crash
                return self._classify(exc)

    async def _lean_attempt(
        self, request: _Request, timeout: float, read_limit: int, truncate: bool
    ) -> _Outcome | None:
        """One exchange on the lean client; None when the answer is a redirect."""
        assert request.wire is not None
        key = request.key
        pool = self._pools.get(key)
        if pool is None:
            context = None
            if key[0] == "https":
                if self._ssl_context is None:
                    self._ssl_context = ssl.create_default_context()
                context = self._ssl_context
            pool = self._pools[key] = LeanPool(
                key[1], key[2], ssl=context, server_hostname=key[1], keepalive=_KEEPALIVE
            )
        try:
            async with asyncio.timeout(timeout):
                response = await pool.request(
                    request.wire, read_limit, min(self._connect_timeout, timeout)
                )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every remote failure becomes a code, never a crash
            return self._classify_lean(exc)
        status = response.status
        if 300 <= status < 400 and status != 304:
            return None
        media, charset = _media_type(response.content_type)
        outcome = _Outcome(
            status=status, content_type=media, charset=charset, url=request.display_url
        )
        if response.truncated and not truncate:
            outcome.error_code = 11750
            outcome.error_text = f"response body larger than {read_limit} bytes"
            return outcome
        outcome.body = response.body[:read_limit]
        if not 200 <= status < 300:
            outcome.error_code = 11200
            outcome.error_text = f"HTTP {status}"
            outcome.retryable = status >= 500 or status == 429
        return outcome

    @staticmethod
    def _classify_lean(exc: Exception) -> _Outcome:
        """Twilio's alert code for a lean-client failure (as :meth:`_classify` for aiohttp)."""
        name = type(exc).__name__
        if isinstance(exc, ConnectFailed):
            cause = exc.cause
            if isinstance(cause, ssl.SSLCertVerificationError):
                return _Outcome(error_code=11237, error_text="TLS certificate not accepted")
            if isinstance(cause, ssl.SSLError):
                return _Outcome(error_code=11220, error_text="TLS handshake failed")
            if isinstance(cause, socket.gaierror):
                return _Outcome(
                    error_code=11210, error_text="host name not resolved", retryable=True
                )
            if isinstance(cause, TimeoutError):
                return _Outcome(error_code=11205, error_text="connect timed out", retryable=True)
            return _Outcome(
                error_code=11205, error_text=f"could not connect ({cause})", retryable=True
            )
        if isinstance(exc, TimeoutError):
            return _Outcome(error_code=11200, error_text="timed out", retryable=True)
        if isinstance(exc, ProtocolViolation | ConnectionResetError):
            return _Outcome(
                error_code=11206, error_text=f"HTTP protocol violation ({name})", retryable=True
            )
        if isinstance(exc, OSError):
            return _Outcome(
                error_code=11205, error_text=f"connection failed ({name})", retryable=True
            )
        log.error("unexpected webhook failure", exc_info=exc)
        return _Outcome(error_code=12400, error_text=f"internal failure ({name})")

    @staticmethod
    async def _read(response: aiohttp.ClientResponse, limit: int) -> bytes:
        """At most ``limit + 1`` bytes of the body (one more tells that it is too long)."""
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = await response.content.read(limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)

    @staticmethod
    def _classify(exc: Exception) -> _Outcome:
        """Twilio's alert code for an exception out of one request, and whether to retry."""
        name = type(exc).__name__
        if isinstance(exc, aiohttp.ClientConnectorDNSError):
            return _Outcome(error_code=11210, error_text="host name not resolved", retryable=True)
        if isinstance(exc, aiohttp.ClientConnectorCertificateError):
            return _Outcome(error_code=11237, error_text="TLS certificate not accepted")
        if isinstance(exc, aiohttp.ClientSSLError):
            return _Outcome(error_code=11220, error_text="TLS handshake failed")
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return _Outcome(error_code=11205, error_text="connect timed out", retryable=True)
        if isinstance(exc, aiohttp.ClientConnectorError):
            return _Outcome(
                error_code=11205, error_text=f"could not connect ({exc.os_error})", retryable=True
            )
        if isinstance(exc, aiohttp.TooManyRedirects):
            return _Outcome(error_code=11215, error_text="too many redirects")
        if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
            return _Outcome(error_code=11210, error_text="invalid URL (redirect?)")
        if isinstance(exc, TimeoutError):  # total or read timeout (asyncio's is an alias)
            return _Outcome(error_code=11200, error_text="timed out", retryable=True)
        if isinstance(
            exc,
            aiohttp.ClientResponseError
            | aiohttp.ClientPayloadError
            | aiohttp.ServerDisconnectedError,
        ):
            return _Outcome(
                error_code=11206, error_text=f"HTTP protocol violation ({name})", retryable=True
            )
        if isinstance(exc, aiohttp.ClientError | OSError):
            return _Outcome(
                error_code=11205, error_text=f"connection failed ({name})", retryable=True
            )
        log.error("unexpected webhook failure", exc_info=exc)
        return _Outcome(error_code=12400, error_text=f"internal failure ({name})")

    def _alert(self, params: Mapping[str, str], url: str, method: str, outcome: _Outcome) -> None:
        if self._on_alert is None:
            return
        alert = new_alert(
            account_sid=params.get("AccountSid", ""),
            error_code=outcome.error_code or 12400,
            text=outcome.error_text or "",
            now=self._clock(),
            url=url,
            request_method=method,
            response_status=outcome.status,
            message_sid=params.get("MessageSid"),
        )
        try:
            self._on_alert(alert)
        except Exception:
            log.exception(
                "on_alert raised; alert %s (%s) not recorded", alert.sid, alert.error_code
            )
