"""The inbound path: a person texts a number, its owner's application says what to do.

The dispatcher reassembles and stores an inbound message (``received``, direction
``inbound``) before the carrier's deliver_sm is answered, then hands it to
:meth:`InboundHandler.received`, which does what must also be done before that answer
and leaves the rest to the background:

1. Opt-out keywords (:mod:`engine.twilio.optout`, twilio-compat.md §11) when the number
   has opt-out handling on: ``STOP`` & co. record the opt-out, ``START`` & co. remove it
   (both written before the deliver_sm is answered, so an answered STOP is never lost);
   the confirmation reply (the number's own text or Twilio's default) is then sent as a
   normal ``outbound-reply`` message in the background.
2. The webhook (§5): a background session asks the number's ``SmsUrl`` (``SmsMethod``,
   signed with the owner's auth token, Twilio's parameters with the From/To geo fields)
   what to do; ``<Message>`` verbs become replies through the normal flow (validation as a
   REST create, ``store.accept``, the dispatcher woken), ``<Redirect>`` is followed.  Any
   failure (connection, timeout, non-2xx, not TwiML, invalid XML, refused XML, root not
   ``<Response>``, a redirect loop) is recorded as an alert with Twilio's code and the
   ``SmsFallbackUrl`` is asked instead, with ``ErrorCode`` and ``ErrorUrl``.

Isolation: a session never holds the dispatcher or the carrier; each destination host is
bounded inside the webhook client; sessions in progress are bounded (``max_pending``,
beyond it a message's webhook is dropped, counted and recorded as an 11200 alert).

Redirects: at most ``max_documents`` documents per session (Twilio's 50, alert 14106).  A
loop is also detected early: a redirect to a (method, URL) whose document is byte for
byte the one it already gave is a loop (the same document would redirect the same way
again), so "<Redirect>/same</Redirect>" stops after two fetches, while an application
whose answers change (a counter, a state machine) may redirect to itself up to the bound.

Loop protection: more than ``reply_limit`` (20) replies from one number to one recipient
within ``reply_window`` (60 s) are dropped with alert 14107, so two applications that
answer each other cannot loop for ever.

Alerts are written to the directory by a background writer in batches (never on the
event loop: a SQLite commit waits for the disk), bounded, with a count of what was
dropped.  Inbound messages for a number no account owns are stored under
:data:`UNROUTED_ACCOUNT`, a reserved account sid that no credentials can act as, so an
operator can find them (``store.list_messages(UNROUTED_ACCOUNT)``) and nothing is lost.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from engine.errors import EngineError, StoreError
from engine.store import MessageRecord, NewMessage, Store
from engine.text import count_segments
from engine.twilio.alerts import Alert, new_alert
from engine.twilio.callbacks import Geo, fallback_params, inbound_webhook_params
from engine.twilio.codes import ApiError
from engine.twilio.optout import KeywordAction, KeywordReplies, classify, reply_for
from engine.twilio.signature import signing_url
from engine.twilio.twiml import TwimlError, parse_webhook_answer
from engine.twilio.validation import MAX_BODY, body_length, normalize_to

__all__ = [
    "UNROUTED_ACCOUNT",
    "InboundHandler",
    "InboundStats",
    "ReplyHooks",
    "TwimlFetcher",
]

log = logging.getLogger("engine.aio.inbound")

UNROUTED_ACCOUNT: Final = "AC" + "0" * 32
"""The reserved account that holds inbound messages for numbers no account owns."""

MAX_DOCUMENTS: Final = 50  # Twilio: more than 50 documents in one reply session, 14106
MAX_REPLIES: Final = 10  # Twilio: more than 10 <Message> replies to one inbound, 14109
_TOKEN_TTL: Final = 5.0
_ALERT_BATCH: Final = 500
_EMPTY_ANSWER: Final = "empty answer; no reply"


class TwimlFetcher(Protocol):
    """What the handler needs of :class:`engine.aio.webhook.WebhookClient`."""

    async def fetch_twiml(
        self,
        url: str,
        method: str,
        params: Mapping[str, str],
        auth_token: str,
        *,
        alert: bool = True,
    ) -> Any: ...


class ReplyHooks(Protocol):
    """What the handler tells the dispatcher (engine.aio.dispatcher.Dispatcher)."""

    def accepted(self, record: MessageRecord) -> None:
        """A reply was accepted (durable): send it."""


@dataclass
class InboundStats:
    """Counters since start (read by tests, the bench and metrics)."""

    received: int = 0
    keywords: int = 0
    sessions: int = 0
    sessions_dropped: int = 0
    documents: int = 0
    fallbacks: int = 0
    replies: int = 0
    replies_refused: int = 0
    incomplete: int = 0
    alerts: int = 0
    alerts_dropped: int = 0


@dataclass
class _Session:
    """One inbound message's conversation with its application."""

    record: MessageRecord
    number: Any
    token: str
    documents: int = 0
    replies: int = 0
    too_many_replies: bool = False


class _Failure(Exception):
    """A document could not be acted on: Twilio's code and the URL that failed."""

    def __init__(self, code: int, url: str) -> None:
        super().__init__(code)
        self.code = code
        self.url = url


def _geo_of_unknown(number: str) -> Geo:
    """Where the numbering plan places a number that is not ours (country, state, city).

    North American numbers are placed by NPA-NXX (the geocoder's own granularity there),
    so the answer is cached per 6-digit prefix: senders rarely repeat, prefixes do."""
    if len(number) == 12 and number.startswith("+1") and number[1:].isdigit():
        return _geo_cached(number[:8] + "0000")
    return _geo_cached(number)


@functools.lru_cache(maxsize=65536)
def _geo_cached(number: str) -> Geo:
    from engine.numbers import describe

    try:
        facts = describe(number)
    except Exception:
        # Not a valid number of its plan (a test range, an alphanumeric sender): at most
        # its country, from the country code.
        import phonenumbers

        try:
            parsed = phonenumbers.parse(number, None)
        except phonenumbers.NumberParseException:
            return Geo()
        country = phonenumbers.region_code_for_country_code(parsed.country_code or 0)
        return Geo(country=country if country != "ZZ" else "")
    return Geo(
        city=(facts.locality or "").upper(),
        state=facts.region or "",
        country=facts.iso_country or "",
    )


def _geo_of_number(number: Any) -> Geo:
    return Geo(
        city=(getattr(number, "locality", None) or "").upper(),
        state=getattr(number, "region", None) or "",
        zip=getattr(number, "postal_code", None) or "",
        country=getattr(number, "iso_country", None) or "",
    )


class InboundHandler:
    """Opt-out keywords, webhooks, TwiML replies and alerts for inbound messages (see the
    module docstring).  ``start()`` on the loop, ``received``/``incomplete`` from the
    dispatcher, ``close()`` at shutdown (before the webhook client closes).

    ``expire`` (the dispatcher's ``expire_inbound``) is awaited every ``expire_interval``
    seconds so that incomplete multipart messages are given up on (and recorded) even when
    no other inbound message arrives.
    """

    def __init__(
        self,
        *,
        store: Store,
        directory: Any,
        webhooks: TwimlFetcher,
        hooks: ReplyHooks | None = None,
        max_pending: int = 10_000,
        max_documents: int = MAX_DOCUMENTS,
        max_replies: int = MAX_REPLIES,
        max_alerts_pending: int = 10_000,
        expire: Callable[[], Awaitable[Any]] | None = None,
        expire_interval: float = 1.0,
        reply_limit: int = 20,
        reply_window: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_pending < 1 or max_documents < 1 or max_replies < 0:
            raise ValueError("max_pending and max_documents must be >= 1, max_replies >= 0")
        self.store = store
        self.directory = directory
        self.webhooks = webhooks
        self.hooks = hooks
        self.max_pending = max_pending
        self.max_documents = max_documents
        self.max_replies = max_replies
        self.expire = expire
        self.expire_interval = expire_interval
        self.clock = clock
        self.reply_limit = reply_limit
        self.reply_window = reply_window
        # (from, to) -> (start of its window, replies in it): loop protection (14107)
        self._pairs: dict[tuple[str, str], tuple[float, int]] = {}
        self.stats = InboundStats()
        self._sessions: set[asyncio.Task[None]] = set()
        self._tokens: dict[str, tuple[float, str | None]] = {}
        self._alerts: collections.deque[Alert] = collections.deque()
        self._max_alerts = max_alerts_pending
        self._alert_wake = asyncio.Event()
        self._alerts_flushed = asyncio.Event()
        self._unwritten = 0  # alerts queued or being written
        self._writer: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._closing = False
        self._writer_stop = False

    # lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the alert writer and the reassembly expiry ticker."""
        loop = asyncio.get_running_loop()
        self._writer = loop.create_task(self._write_alerts(), name="inbound-alerts")
        if self.expire is not None:
            self._ticker = loop.create_task(self._tick(), name="inbound-expiry")

    async def close(self, grace: float = 5.0) -> None:
        """Let sessions in progress finish within ``grace`` seconds (then cancel them),
        write the alerts still pending and stop."""
        self._closing = True
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._sessions:
            _, pending = await asyncio.wait(set(self._sessions), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("%d inbound webhook session(s) abandoned at shutdown", len(pending))
                await asyncio.gather(*pending, return_exceptions=True)
        if self._writer is not None:
            # The writer drains what is queued, then ends (never cancelled mid-write: the
            # directory closes after this).
            self._writer_stop = True
            self._alert_wake.set()
            await self._writer

    @property
    def pending(self) -> int:
        """Webhook sessions in progress."""
        return len(self._sessions)

    async def idle(self) -> None:
        """Wait until no session is in progress and every alert is written (tests)."""
        while self._sessions or self._unwritten:
            if self._sessions:
                await asyncio.wait(set(self._sessions))
            if self._unwritten:
                self._alerts_flushed.clear()
                self._alert_wake.set()
                await self._alerts_flushed.wait()

    # from the dispatcher ---------------------------------------------------------------

    async def received(self, record: MessageRecord, number: Any) -> None:
        """An inbound message was stored for ``number`` (its owner's NumberRecord).

        Records an opt-out/opt-in keyword (awaited: done before the carrier is answered)
        and starts the webhook session in the background.  Never raises for what the
        application does.
        """
        self.stats.received += 1
        action = None
        if number is not None and getattr(number, "opt_out_enabled", True):
            action = classify(record.body)
        if action is not None:
            self.stats.keywords += 1
            await self._keyword(record, number, action)
        if number is None or not getattr(number, "sms_url", None):
            return
        if self._closing or len(self._sessions) >= self.max_pending:
            self.stats.sessions_dropped += 1
            self._alert(
                record,
                number.account_sid,
                11200,
                "webhook not requested: too many inbound webhooks pending",
                url=signing_url(number.sms_url)[:4000],
                method=number.sms_method,
            )
            return
        task = asyncio.get_running_loop().create_task(self._session(record, number, action))
        self._sessions.add(task)
        task.add_done_callback(self._session_done)

    async def incomplete(
        self, record: MessageRecord, number: Any, missing: tuple[int, ...]
    ) -> None:
        """A multipart message given up on was stored with the parts that came (30009)."""
        self.stats.incomplete += 1
        account = getattr(number, "account_sid", None) or UNROUTED_ACCOUNT
        shown = ", ".join(str(i) for i in missing[:20])
        self._alert(
            record,
            account,
            30009,
            f"inbound message from {record.from_} to {record.to} is missing part(s) {shown} "
            f"of {record.num_segments}; stored with the parts that arrived",
        )

    def _session_done(self, task: asyncio.Task[None]) -> None:
        self._sessions.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("inbound webhook session failed", exc_info=task.exception())

    # opt-out keywords ------------------------------------------------------------------

    async def _keyword(self, record: MessageRecord, number: Any, action: KeywordAction) -> None:
        directory = self.directory
        phone, sender = record.to, record.from_
        if action is not KeywordAction.HELP:
            opted_out = action is KeywordAction.STOP
            await asyncio.to_thread(directory.set_opted_out, phone, sender, opted_out)
            log.info("%s %s %s", sender, "opted out of" if opted_out else "opted in to", phone)
        replies = KeywordReplies()
        getter = getattr(directory, "keyword_replies", None)
        if getter is not None:
            opt_out, opt_in, help_text = getter(phone, number.account_sid)
            replies = KeywordReplies(opt_out=opt_out, opt_in=opt_in, help=help_text)
        text = reply_for(action, replies)
        if text is None:
            return
        # The confirmation is sent even to a sender who just opted out (Twilio does).
        task = asyncio.get_running_loop().create_task(
            self._send_reply(record, number, phone, sender, text, None, check_opt_out=False)
        )
        self._sessions.add(task)
        task.add_done_callback(self._session_done)

    # the webhook session ---------------------------------------------------------------

    def _token(self, account_sid: str) -> str | None:
        now = time.monotonic()
        hit = self._tokens.get(account_sid)
        if hit is not None and hit[0] > now:
            return hit[1]
        account = self.directory.get_account(account_sid)
        token = getattr(account, "auth_token", None) if account is not None else None
        if len(self._tokens) > 10_000:
            self._tokens.clear()
        self._tokens[account_sid] = (now + _TOKEN_TTL, token)
        return token

    def _params(
        self, record: MessageRecord, number: Any, action: KeywordAction | None
    ) -> dict[str, str]:
        # The sender is placed by the numbering plan (as Twilio does for any phone), not
        # looked up in the directory: senders rarely repeat, and a miss costs a query.
        from_geo = _geo_of_unknown(record.from_)
        return inbound_webhook_params(
            message_sid=record.sid,
            account_sid=record.account_sid,
            from_=record.from_,
            to=record.to,
            body=record.body,
            num_segments=max(1, record.num_segments),
            from_geo=from_geo,
            to_geo=_geo_of_number(number),
            extra={"OptOutType": action.value} if action is not None else None,
        )

    async def _session(
        self, record: MessageRecord, number: Any, action: KeywordAction | None
    ) -> None:
        self.stats.sessions += 1
        token = self._token(number.account_sid)
        if token is None:
            log.warning(
                "%s: no auth token for %s; webhook not sent", record.sid, number.account_sid
            )
            return
        session = _Session(record, number, token)
        params = self._params(record, number, action)
        try:
            await self._follow(session, number.sms_url, number.sms_method or "POST", params)
            return
        except _Failure as failure:
            fallback = getattr(number, "sms_fallback_url", None)
            if not fallback:
                return
            self.stats.fallbacks += 1
            error_url = signing_url(failure.url)[:4000]
            params = fallback_params(params, failure.code, error_url)
            method = getattr(number, "sms_fallback_method", None) or "POST"
        with contextlib.suppress(_Failure):  # already recorded; nothing after the fallback
            await self._follow(session, fallback, method, params)

    async def _follow(
        self, session: _Session, url: str, method: str, params: Mapping[str, str]
    ) -> None:
        """Fetch ``url`` and act on its TwiML, following redirects; raises _Failure (after
        recording the alert) when a document cannot be acted on."""
        record = session.record
        account = session.number.account_sid
        seen: dict[tuple[str, str], set[bytes]] = {}
        while True:
            shown = signing_url(url)[:4000]
            if session.documents >= self.max_documents:
                self._alert(
                    record,
                    account,
                    14106,
                    f"more than {self.max_documents} documents fetched for one inbound message",
                    url=shown,
                    method=method,
                )
                raise _Failure(14106, url)
            session.documents += 1
            self.stats.documents += 1
            result = await self.webhooks.fetch_twiml(
                url, method, params, session.token, alert=False
            )
            if result.error_code is not None:
                self._alert(
                    record,
                    account,
                    result.error_code,
                    result.error_text or "webhook failed",
                    url=shown,
                    method=method,
                    status=result.status,
                )
                raise _Failure(result.error_code, url)
            try:
                reply = parse_webhook_answer(
                    result.content_type, result.body, charset=result.charset, base_url=url
                )
            except TwimlError as exc:
                self._alert(
                    record, account, exc.code, exc.message, url=shown, method=method,
                    status=result.status,
                )  # fmt: skip
                raise _Failure(exc.code, url) from None
            for warning in reply.warnings:
                if warning.message != _EMPTY_ANSWER:  # a 204 or empty 200: a plain "no reply"
                    self._alert(
                        record, account, warning.code, warning.message, url=shown, method=method
                    )
            redirect = reply.redirect
            if redirect is not None:
                key = (method, url)
                digest = hashlib.blake2b(result.body, digest_size=16).digest()
                bodies = seen.setdefault(key, set())
                if digest in bodies:
                    self._alert(
                        record,
                        account,
                        14106,
                        f"redirect loop: {method} {shown} gave the same document again",
                        url=shown,
                        method=method,
                    )
                    raise _Failure(14106, url)
                bodies.add(digest)
            for verb in reply.messages:
                if session.replies >= self.max_replies:
                    if not session.too_many_replies:
                        session.too_many_replies = True
                        self._alert(
                            record,
                            account,
                            14109,
                            f"more than {self.max_replies} <Message> replies; the rest dropped",
                            url=shown,
                            method=method,
                        )
                    break
                session.replies += 1
                if verb.media:
                    self._alert(
                        record, account, 12200, "<Media> is not supported (SMS only); ignored",
                        url=shown, method=method,
                    )  # fmt: skip
                if not verb.body:
                    continue
                await self._reply(session, verb)
            if redirect is None:
                return
            url, method = redirect.url, redirect.method

    async def _reply(self, session: _Session, verb: Any) -> None:
        """One ``<Message>``: checked like a REST create, then accepted (outbound-reply)."""
        record, number = session.record, session.number
        account = number.account_sid
        from_ = (verb.from_ or record.to).strip()
        if from_ != record.to:
            owned = self.directory.owned_number(account, from_)
            if owned is None:
                self._refuse(record, account, 14102, f"<Message from> {from_} is not your number")
                return
            if not owned.sms:
                self._refuse(record, account, 14108, f"<Message from> {from_} is not SMS capable")
                return
        elif not getattr(number, "sms", True):
            self._refuse(record, account, 14108, f"{from_} is not SMS capable")
            return
        callback = verb.action or verb.status_callback
        await self._send_reply(record, number, from_, verb.to or record.from_, verb.body, callback)

    async def _send_reply(
        self,
        record: MessageRecord,
        number: Any,
        from_: str,
        to: str,
        body: str,
        status_callback: str | None,
        *,
        check_opt_out: bool = True,
    ) -> None:
        account = number.account_sid
        try:
            to = normalize_to(to, from_)
        except ApiError:
            self._refuse(record, account, 14101, f"<Message to> {to[:40]!r} cannot be messaged")
            return
        if to == from_:
            self._refuse(record, account, 14101, f"<Message to> {to} is the sending number")
            return
        if body_length(body) > MAX_BODY:
            self._refuse(record, account, 21617, f"reply longer than {MAX_BODY} characters")
            return
        if "\x00" in body:
            self._refuse(record, account, 14103, "reply body contains a NUL character")
            return
        if check_opt_out and self.directory.is_opted_out(from_, to):
            self._refuse(record, account, 21610, f"{to} has opted out of messages from {from_}")
            return
        if check_opt_out and not self._within_reply_limit(from_, to):
            # Two applications answering each other for ever (Twilio 14107); keyword
            # confirmations (check_opt_out False) are not counted, as on Twilio.
            self._refuse(
                record,
                account,
                14107,
                f"more than {self.reply_limit} replies from {from_} to {to} within "
                f"{self.reply_window:g} s; reply dropped",
            )
            return
        try:
            reply = await self.store.accept(
                NewMessage(
                    account_sid=account,
                    from_=from_,
                    to=to,
                    body=body,
                    direction="outbound-reply",
                    num_segments=count_segments(body),
                    status_callback=status_callback,
                )
            )
        except (StoreError, EngineError) as exc:
            self._refuse(record, account, 12400, f"reply not accepted: {exc}")
            return
        self.stats.replies += 1
        if self.hooks is not None:
            self.hooks.accepted(reply)

    def _within_reply_limit(self, from_: str, to: str) -> bool:
        now = time.monotonic()
        key = (from_, to)
        start, count = self._pairs.get(key, (now, 0))
        if now - start >= self.reply_window:
            start, count = now, 0
        if count >= self.reply_limit:
            return False
        if len(self._pairs) >= 100_000:
            self._pairs = {k: v for k, v in self._pairs.items() if now - v[0] < self.reply_window}
        self._pairs[key] = (start, count + 1)
        return True

    def _refuse(self, record: MessageRecord, account: str, code: int, text: str) -> None:
        self.stats.replies_refused += 1
        self._alert(record, account, code, text)

    # alerts ----------------------------------------------------------------------------

    def _alert(
        self,
        record: MessageRecord,
        account: str,
        code: int,
        text: str,
        *,
        url: str | None = None,
        method: str | None = None,
        status: int | None = None,
    ) -> None:
        alert = new_alert(
            account_sid=account,
            error_code=code,
            text=text[:1000],
            now=self.clock(),
            url=url,
            request_method=method.upper()[:10] if method else None,
            response_status=status,
            message_sid=record.sid,
        )
        log.info("alert %s on %s: %s", code, record.sid, text[:200])
        if len(self._alerts) >= self._max_alerts:
            self.stats.alerts_dropped += 1
            return
        self.stats.alerts += 1
        self._unwritten += 1
        self._alerts.append(alert)
        self._alert_wake.set()

    def _add_alerts(self, batch: list[Alert]) -> None:
        add = self.directory.add_alert
        for alert in batch:
            try:
                add(alert)
            except Exception as exc:
                log.warning("alert %s not recorded: %s", alert.error_code, exc)

    async def _write_alerts(self) -> None:
        while True:
            await self._alert_wake.wait()
            self._alert_wake.clear()
            while self._alerts:
                batch = [
                    self._alerts.popleft() for _ in range(min(_ALERT_BATCH, len(self._alerts)))
                ]
                try:
                    await asyncio.to_thread(self._add_alerts, batch)
                finally:
                    self._unwritten -= len(batch)
            self._alerts_flushed.set()
            if self._writer_stop:
                return

    async def _tick(self) -> None:
        assert self.expire is not None
        while True:
            await asyncio.sleep(self.expire_interval)
            try:
                await self.expire()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("inbound reassembly expiry failed")
