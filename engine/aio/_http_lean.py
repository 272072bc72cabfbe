"""A lean HTTP/1.1 keep-alive client for the webhook client's status callbacks.

aiohttp's client costs about 150 us of CPU per request (request and response objects,
header multidicts, stream readers, timers); a status callback needs none of it: its request
is a few prebuilt bytes and of its answer only the status matters (its body is read and
discarded so that the connection can be reused, twilio-compat.md §6).  This module keeps
raw :class:`asyncio.Protocol` connections per destination (scheme, host, port), one request
at a time on each (no pipelining: many application servers mishandle it), reused while the
server keeps them alive and closed after ``keepalive`` idle seconds.

How many connections a destination gets is decided by the caller
(:class:`engine.aio.webhook.WebhookClient` holds a semaphore per destination around every
request): a pool only ever has as many connections as requests ran on it at once.

Response parsing follows RFC 9112: a status line, headers up to an empty line (at most
:data:`MAX_HEAD` bytes), then a body framed by ``Transfer-Encoding: chunked``, by
``Content-Length``, or by the end of the connection; 1xx interim answers are skipped.
Anything else is a :class:`ProtocolViolation`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl as _ssl
import time
from typing import Final, cast

__all__ = ["MAX_HEAD", "ConnectFailed", "LeanPool", "ProtocolViolation", "Response"]

MAX_HEAD: Final = 16 * 1024
"""The most bytes of status line and headers a response may have."""
_MAX_CHUNK_LINE: Final = 1024


class ProtocolViolation(Exception):
    """The server's answer is not HTTP/1.x as RFC 9112 frames it."""


class ConnectFailed(Exception):
    """The connection could not be made; ``cause`` says why (an OSError: refused, a name
    not resolved, an ssl error, or TimeoutError for the connect timeout)."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause


class StaleConnection(ConnectionError):
    """A reused connection was closed by the server before any byte of the answer came:
    the usual keep-alive race, in which the request may be sent again on a new one."""


class Response:
    """What is kept of an answer: the status, its Content-Type header, and the body's
    first ``limit`` bytes (``truncated`` when there was more)."""

    __slots__ = ("body", "content_type", "status", "truncated")

    def __init__(self, status: int, content_type: str | None) -> None:
        self.status = status
        self.content_type = content_type
        self.body = b""
        self.truncated = False


# Body framing modes.
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILER, _UNTIL_CLOSE = range(7)


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time (:meth:`request`)."""

    def __init__(self, pool: LeanPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.used = 0  # requests completed on it
        self.idle_since = 0.0
        self._waiter: asyncio.Future[Response] | None = None
        self._buf = bytearray()
        self._mode = _HEAD
        self._left = 0
        self._keep_alive = True
        self._response: Response | None = None
        self._body = bytearray()
        self._limit = 0
        self._got_any = False

    # asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            # Bytes nobody asked for: the stream is out of step, never reuse it.
            self.close()
            return
        self._got_any = True
        self._buf += data
        try:
            self._parse()
        except ProtocolViolation as exc:
            self._fail(exc)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._mode == _UNTIL_CLOSE and self._response is not None:
            self._finish()
            return
        if not self._got_any and self.used:
            self._fail(StaleConnection("connection closed before the answer"))
        else:
            self._fail(
                ConnectionResetError("connection closed before the answer was complete")
                if exc is None
                else exc
            )

    # requests ---------------------------------------------------------------------------

    def request(self, data: bytes, limit: int) -> asyncio.Future[Response]:
        """Send ``data`` (a whole request); the future gets the answer."""
        assert self.transport is not None
        waiter = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        self._mode = _HEAD
        self._response = None
        self._body.clear()
        self._limit = limit
        self._got_any = False
        self._keep_alive = True
        self.transport.write(data)
        return waiter

    @property
    def reusable(self) -> bool:
        """True once an answer was read whole and the server keeps the connection."""
        return (
            not self.closed
            and self._keep_alive
            and self._waiter is not None
            and (self._waiter.done() and not self._buf)
        )

    def close(self) -> None:
        """Close now (a request in progress fails)."""
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()
            self.pool.forget(self)

    def _fail(self, exc: BaseException) -> None:
        self._keep_alive = False
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _finish(self) -> None:
        response = self._response
        assert response is not None and self._waiter is not None
        response.body = bytes(self._body[: self._limit])
        response.truncated = len(self._body) > self._limit
        self._response = None
        self.used += 1
        if not self._waiter.done():
            self._waiter.set_result(response)

    def _keep(self, chunk: bytes | bytearray) -> None:
        # Keep at most limit + 1 bytes: one more tells that the body was longer.
        room = self._limit + 1 - len(self._body)
        if room > 0:
            self._body += chunk[:room]

    def _parse(self) -> None:
        buf = self._buf
        while True:
            mode = self._mode
            if mode == _HEAD:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > MAX_HEAD:
                        raise ProtocolViolation("response head too long")
                    return
                head = bytes(buf[:end])
                del buf[: end + 4]
                if not self._head(head):
                    continue  # a 1xx interim answer: the real one follows
                if self._mode == _HEAD:  # no body
                    self._finish()
                    if buf:
                        raise ProtocolViolation("bytes after the answer")
                    return
            elif mode == _LENGTH:
                take = min(self._left, len(buf))
                self._keep(buf[:take])
                del buf[:take]
                self._left -= take
                if self._left:
                    return
                self._mode = _HEAD
                self._finish()
                if buf:
                    raise ProtocolViolation("bytes after the answer")
                return
            elif mode == _UNTIL_CLOSE:
                self._keep(buf)
                buf.clear()
                return
            elif mode in (_CHUNK_SIZE, _TRAILER):
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) > _MAX_CHUNK_LINE:
                        raise ProtocolViolation("chunk line too long")
                    return
                line = bytes(buf[:end])
                del buf[: end + 2]
                if mode == _TRAILER:
                    if not line:  # the empty line ends the message
                        self._mode = _HEAD
                        self._finish()
                        if buf:
                            raise ProtocolViolation("bytes after the answer")
                        return
                    continue
                size_text = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise ProtocolViolation("bad chunk size") from None
                if size < 0 or not size_text.isalnum():
                    raise ProtocolViolation("bad chunk size")
                if size == 0:
                    self._mode = _TRAILER
                else:
                    self._mode = _CHUNK_DATA
                    self._left = size
            elif mode == _CHUNK_DATA:
                take = min(self._left, len(buf))
                self._keep(buf[:take])
                del buf[:take]
                self._left -= take
                if self._left:
                    return
                self._mode = _CHUNK_CRLF
            else:  # _CHUNK_CRLF
                if len(buf) < 2:
                    return
                if buf[:2] != b"\r\n":
                    raise ProtocolViolation("chunk not followed by CRLF")
                del buf[:2]
                self._mode = _CHUNK_SIZE

    def _head(self, head: bytes) -> bool:
        """Read a response head; False for a 1xx interim answer.  Sets the body mode."""
        try:
            text = head.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
            raise ProtocolViolation("response head not text") from None
        lines = text.split("\r\n")
        status_line = lines[0]
        version, _, rest = status_line.partition(" ")
        code_text = rest[:3]
        if (
            version not in ("HTTP/1.1", "HTTP/1.0")
            or len(code_text) != 3
            or not code_text.isdigit()
            or rest[3:4] not in ("", " ")
        ):
            raise ProtocolViolation("not an HTTP/1.x status line")
        status = int(code_text)
        if status < 100:
            raise ProtocolViolation("bad status code")
        if 100 <= status < 200:
            if status == 101:
                raise ProtocolViolation("unexpected protocol switch")
            return False
        length: int | None = None
        chunked = False
        content_type = None
        keep_alive = version == "HTTP/1.1"
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise ProtocolViolation("malformed header line")
            lower = name.lower()
            if lower == "content-length":
                value = value.strip()
                if not value.isdigit() or (length is not None and int(value) != length):
                    raise ProtocolViolation("bad Content-Length")
                length = int(value)
            elif lower == "transfer-encoding":
                codings = [c.strip().lower() for c in value.split(",")]
                if codings[-1] != "chunked":
                    raise ProtocolViolation("unsupported Transfer-Encoding")
                chunked = True
            elif lower == "content-type":
                content_type = value.strip()
            elif lower == "connection":
                tokens = {t.strip().lower() for t in value.split(",")}
                if "close" in tokens:
                    keep_alive = False
                elif "keep-alive" in tokens:
                    keep_alive = True
        self._keep_alive = keep_alive
        self._response = Response(status, content_type)
        if status in (204, 304):
            self._mode = _HEAD
        elif chunked:
            self._mode = _CHUNK_SIZE
        elif length is not None:
            self._mode = _LENGTH if length else _HEAD
            self._left = length
        else:
            self._mode = _UNTIL_CLOSE
            self._keep_alive = False
        return True


class LeanPool:
    """Keep-alive connections to one destination; see the module docstring.

    ``host``/``port`` are where to connect; ``ssl`` a context for https (None: plain).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl: _ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        keepalive: float = 15.0,
    ) -> None:
        self.host = host
        self.port = port
        self.ssl = ssl
        self.server_hostname = server_hostname if ssl is not None else None
        self.keepalive = keepalive
        self._idle: list[_Connection] = []
        self._all: set[_Connection] = set()
        self.last_used = time.monotonic()

    def __len__(self) -> int:
        return len(self._all)

    def forget(self, conn: _Connection) -> None:
        """Called by a connection that closed."""
        self._all.discard(conn)
        with contextlib.suppress(ValueError):
            self._idle.remove(conn)

    async def _connect(self, connect_timeout: float) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(self),
                    self.host,
                    self.port,
                    ssl=self.ssl,
                    server_hostname=self.server_hostname,
                )
        except OSError as exc:  # TimeoutError, ssl.SSLError and gaierror are OSErrors
            raise ConnectFailed(exc) from exc
        self._all.add(conn)
        return conn

    async def request(self, data: bytes, limit: int, connect_timeout: float) -> Response:
        """Send one request on an idle connection (or a new one) and read its answer.

        Raises ConnectFailed when it cannot connect (within ``connect_timeout``),
        ProtocolViolation and ConnectionError for a
        bad or cut answer.  A reused connection that the server had closed is replaced
        once, silently.  The caller bounds the whole with its own timeout.
        """
        self.last_used = time.monotonic()
        for _ in range(2):
            conn = None
            while self._idle:
                candidate = self._idle.pop()
                if not candidate.closed:
                    conn = candidate
                    break
            if conn is None:
                conn = await self._connect(connect_timeout)
            try:
                response = await conn.request(data, limit)
            except StaleConnection:
                conn.close()
                continue
            except BaseException:
                conn.close()  # cancelled or failed half way: its stream is out of step
                raise
            if conn.reusable:
                conn.idle_since = time.monotonic()
                self._idle.append(conn)
            else:
                conn.close()
            return response
        raise ConnectionResetError("the server closed two connections before answering")

    def sweep(self, now: float) -> None:
        """Close the connections idle for longer than ``keepalive``."""
        keep = []
        for conn in self._idle:
            if now - conn.idle_since > self.keepalive:
                conn.closed = True
                if conn.transport is not None:
                    conn.transport.close()
                self._all.discard(conn)
            else:
                keep.append(conn)
        self._idle = keep

    def close(self) -> None:
        """Close every connection."""
        for conn in list(self._all):
            conn.close()
        self._all.clear()
        self._idle.clear()
