"""The SQLite message store: one file in WAL mode, one writer thread, group commit.

Use::

    store = await SqliteStore.open("messages.db", synchronous="FULL")
    record = await store.accept(NewMessage(account_sid=..., from_=..., to=..., body=...))
    ...
    await store.close()

``synchronous`` (SQLite's ``PRAGMA synchronous``, in WAL mode):

- ``"FULL"`` (default): every group commit is fsynced before any waiter is answered; an
  accepted message survives a process crash *and* a power loss.  (The store's own syncer
  thread fsyncs the WAL, so that one group's fsync overlaps the next group's inserts; see
  :mod:`engine.store._sqlite_writer`.)
- ``"NORMAL"``: commits are not fsynced (the WAL is fsynced at checkpoints); an accepted
  message survives a process crash (SIGKILL, OOM) but the last commits before a power loss
  or kernel crash may be lost.
- ``"OFF"``: like NORMAL for a process crash; no fsync at all.  For tests and benchmarks.

All writes go to one writer thread (:mod:`engine.store._sqlite_writer`) that commits every
write waiting at that moment in one transaction.  Reads use a second connection on a reader
thread; WAL lets them run while the writer commits.

Several processes on one machine may open the same file (HTTP workers accepting, one
dispatcher polling :meth:`SqliteStore.list_queued`): message ids are given under SQLite's
write lock, in commit order, and a writer that finds the lock taken retries until
``busy_timeout``.  Only one process should call :meth:`SqliteStore.recover` (the one that
owns the senders): it requeues every ``sending`` message.  See docs/durability.md.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import math
import os
import sqlite3
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, get_args

from engine.errors import StoreError
from engine.store import _sqlite_sql as sql
from engine.store._sqlite_writer import (
    ACCEPT,
    CALL,
    STOP,
    AcceptGroup,
    Writer,
    record_from_row,
)
from engine.store.base import (
    HistoryEntry,
    InFlightPolicy,
    MessageNotFoundError,
    MessageRecord,
    NewMessage,
    Store,
    SyncLevel,
)
from engine.store.rules import (
    MAX_ACCOUNT_SID,
    MAX_NUMBER,
    check_carrier_id,
    check_carrier_ids,
    check_error,
    check_link,
    check_new_message,
    check_text,
)

__all__ = ["SqliteStore"]

_MAX_PAGE: Final = 1000  # Twilio's PageSize limit (error 20007)
_MAX_POLL: Final = 10_000  # rows per list_queued call
_PURGE_CHUNK: Final = 5000  # rows per purge transaction: accepts keep flowing in between
_RECEIPT_STATUSES: Final = frozenset({"delivered", "undelivered", "failed", "sent"})
_SID_LEN: Final = 34
_SEND_AT: Final = 128
"""Rows per op on the writer's queue: a loop iteration with more sends its group early,
so the writer starts on it while the loop makes the rest (without it, 1,000 producers
woken by one commit form one op, and the loop and the writer take turns instead of
overlapping)."""


class _SidMaker:
    """Twilio-style sids: ``SM`` + 12 hex digits of the time in ms + 20 random hex digits.

    The random part (80 bits) makes a sid unguessable, and unique across processes that
    share the file (each draws its own from os.urandom; a collision would need two of 2**80
    draws in the same millisecond to meet, and the unique index would refuse it rather than
    mix two messages up); the time prefix makes the sid index grow at its right edge (see
    _sqlite_sql).  Random bytes are drawn 1,024 sids at a time
    and the prefix is formatted once per millisecond (this runs once per accept).
    """

    __slots__ = ("_ms", "_prefix", "_random")

    def __init__(self) -> None:
        self._ms = -1
        self._prefix = ""
        self._random: list[str] = []

    def __call__(self, at: float) -> str:
        ms = int(at * 1000)
        if ms != self._ms:
            self._ms = ms
            self._prefix = f"SM{ms & 0xFFFFFFFFFFFF:012x}"
        random = self._random
        if not random:
            h = os.urandom(10 * 1024).hex()
            random += [h[i : i + 20] for i in range(0, len(h), 20)]
        return self._prefix + random.pop()


class SqliteStore(Store):
    """The default :class:`~engine.store.base.Store`: SQLite from the standard library.

    Parameters:
        path: the database file (created when missing; ``-wal``/``-shm`` files beside it).
        synchronous: ``"FULL"``, ``"NORMAL"`` or ``"OFF"`` (see the module docstring).
        max_batch: the most writes one transaction takes (each ``accept`` and each
            ``accept_many`` is one write; a transaction may exceed it by less than one
            loop iteration's group).  ``max_batch=1``: one transaction per write.
        in_flight_policy: what :meth:`recover` does with ``sending`` messages.
        number_index: index To and From per account for :meth:`list_messages` filters
            (costs the most of any index on accept; see bench/README.md).
        cache_size_kib: SQLite page cache per connection.
        wal_autocheckpoint: WAL pages between automatic checkpoints.
        fsync_thread: at ``FULL``, fsync the WAL on the store's syncer thread so that one
            group's fsync overlaps the next group's inserts (default); False leaves the
            fsync to SQLite, inside each commit (same guarantee, lower throughput).
        busy_timeout: seconds a write waits for another process's write lock (and a read
            for a file being recovered) before it fails.

    Opening blocks while the file is opened and the schema created: use :meth:`open` from a
    coroutine.  Call the store from one thread (one or more event loops in it); each
    waiter is answered on its own loop.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: SyncLevel = "FULL",
        max_batch: int = 4096,
        in_flight_policy: InFlightPolicy = "at-least-once",
        number_index: bool = False,
        cache_size_kib: int = 65536,
        wal_autocheckpoint: int = 4000,
        fsync_thread: bool = True,
        busy_timeout: float = 30.0,
    ) -> None:
        if synchronous not in get_args(SyncLevel):
            raise StoreError(
                f"synchronous: expected FULL, NORMAL or OFF, got {synchronous!r}",
                field="synchronous",
            )
        if in_flight_policy not in get_args(InFlightPolicy):
            raise StoreError(
                f"in_flight_policy: unknown {in_flight_policy!r}", field="in_flight_policy"
            )
        for name, value, low in (
            ("max_batch", max_batch, 1),
            ("cache_size_kib", cache_size_kib, 64),
            ("wal_autocheckpoint", wal_autocheckpoint, 100),
        ):
            if type(value) is not int or value < low:
                raise StoreError(f"{name}: expected an integer >= {low}, got {value!r}", field=name)
        if (
            type(busy_timeout) not in (int, float)
            or not math.isfinite(busy_timeout)
            or not 0 <= busy_timeout <= 3600
        ):
            raise StoreError(
                f"busy_timeout: expected seconds in 0..3600, got {busy_timeout!r}",
                field="busy_timeout",
            )
        if type(fsync_thread) is not bool:
            raise StoreError(
                f"fsync_thread: expected True or False, got {fsync_thread!r}", field="fsync_thread"
            )
        self.path = os.fspath(path)
        self.synchronous = synchronous
        self.in_flight_policy = in_flight_policy
        self._closed = False
        self._new_sid = _SidMaker()
        self._writer = Writer(
            self.path,
            synchronous=synchronous,
            max_batch=max_batch,
            number_index=number_index,
            cache_size_kib=cache_size_kib,
            wal_autocheckpoint=wal_autocheckpoint,
            fsync_thread=fsync_thread,
            busy_timeout=float(busy_timeout),
        )
        self._put = self._writer.queue.put
        self._writer.open()
        # Tickets are given here, on the callers' thread, in acceptance order; the writer
        # turns them into ids under the write lock (id = ticket + the group's offset).
        self._next_ticket = 1
        self._busy_timeout_ms = round(busy_timeout * 1000)
        self._groups: dict[asyncio.AbstractEventLoop, AcceptGroup] = {}
        self._send_at = min(_SEND_AT, max_batch)
        self._reader_conn: sqlite3.Connection | None = None
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="smpp-engine-store-reader")
        self._cache_size_kib = cache_size_kib

    @classmethod
    async def open(cls, path: str | os.PathLike[str], **options: Any) -> SqliteStore:
        """Open a store without blocking the event loop (same parameters as the class)."""
        return await asyncio.to_thread(cls, path, **options)

    @property
    def stats(self) -> dict[str, int]:
        """Counters since open: ``commits`` (group transactions), ``writes`` in them,
        ``busy_waits`` (transactions that found another process holding the write lock) and
        ``busy_wait_ms`` (the time they waited for it)."""
        return {
            "commits": self._writer.commits,
            "writes": self._writer.ops,
            "busy_waits": self._writer.busy_waits,
            "busy_wait_ms": round(self._writer.busy_wait_s * 1000),
        }

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<SqliteStore {self.path!r} synchronous={self.synchronous} {state}>"

    # -- writes ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")
        if self._writer.failure is not None:
            raise StoreError(f"the store cannot write: {self._writer.failure}")

    def _add(self, group: AcceptGroup, m: NewMessage, at: float) -> MessageRecord:
        """Check ``m``, give it a ticket and a sid, put its row in ``group``; its record,
        whose ``sender_seq`` is the ticket until the commit's offset is added."""
        # Runs once per accepted message on the event loop: kept to plain local work.
        check_new_message(m)
        msg_id = self._next_ticket
        self._next_ticket = msg_id + 1
        sid = self._new_sid(at)
        account, direction, from_, to, body = m.account_sid, m.direction, m.from_, m.to, m.body
        segments, media, cb, vp = m.num_segments, m.num_media, m.status_callback, m.validity_period
        status = "received" if direction == "inbound" else "queued"
        row = (msg_id, sid, account, direction, from_, to, body, status, segments, media, at, at)
        # The shape (which optional columns are given) picks the prepared INSERT: a NULL is
        # never bound (see _sqlite_sql).
        expires = None
        if vp is None:
            if cb is None:
                group.rows[0].append(row)
            else:
                group.rows[1].append((*row, cb))
        else:
            expires = at + vp
            if cb is None:
                group.rows[2].append((*row, expires))
            else:
                group.rows[3].append((*row, cb, expires))
        return MessageRecord(
            sid=sid,
            account_sid=account,
            direction=direction,
            from_=from_,
            to=to,
            body=body,
            status=status,
            num_segments=segments,
            num_media=media,
            date_created=at,
            date_updated=at,
            status_callback=cb,
            expires_at=expires,
            sender_seq=msg_id,
        )

    def _group(self, loop: asyncio.AbstractEventLoop) -> AcceptGroup:
        """This loop iteration's group: every accept until the loop runs its callbacks
        goes into one op on the writer's queue (one put, one wake-up of the writer)."""
        group = self._groups.get(loop)
        if group is None:
            group = self._groups[loop] = AcceptGroup(self._next_ticket)
            loop.call_soon(self._send_group, loop)
        return group

    def _send_group(self, loop: asyncio.AbstractEventLoop) -> None:
        group = self._groups.pop(loop, None)
        if group is None or not group.futures:
            return
        if self._writer.failure is not None or not self._writer.is_alive():
            err = StoreError(f"the store cannot write: {self._writer.failure}")
            for fut in group.futures:
                if not fut.done():
                    fut.set_exception(err)
            return
        self._put((ACCEPT, group, None, loop))

    async def accept(self, message: NewMessage, *, at: float | None = None) -> MessageRecord:
        """Store one new message; returns once it is committed (durable per ``synchronous``)."""
        if self._closed or self._writer.failure is not None:
            self._check_open()
        at = time.time() if at is None else _now(at)
        loop = asyncio.get_running_loop()
        group = self._group(loop)
        rec = self._add(group, message, at)
        fut = loop.create_future()
        group.futures.append(fut)
        if len(group.futures) + group.extra >= self._send_at:
            self._send_group(loop)
        rec.sender_seq += await fut  # the group's id offset, known after the commit
        return rec

    async def accept_many(
        self, messages: Sequence[NewMessage], *, at: float | None = None
    ) -> list[MessageRecord]:
        """Store several messages in one transaction, in order; all or none."""
        self._check_open()
        at = _now(at)
        if not messages:
            return []
        for m in messages:  # all checked before any row is added: all or none
            check_new_message(m)
        loop = asyncio.get_running_loop()
        group = self._group(loop)
        recs = [self._add(group, m, at) for m in messages]
        fut = loop.create_future()
        group.futures.append(fut)
        group.extra += len(messages) - 1
        if len(group.futures) + group.extra >= self._send_at:
            self._send_group(loop)
        offset = await fut
        for rec in recs:
            rec.sender_seq += offset
        return recs

    async def _call(self, handler: Any, *args: Any) -> Any:
        self._check_open()
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._put((CALL, (handler, args), fut, loop))
        return await fut

    async def record_inbound(
        self,
        account_sid: str,
        from_: str,
        to: str,
        body: str,
        *,
        num_segments: int = 1,
        link: str | None = None,
        at: float | None = None,
    ) -> MessageRecord:
        """Store a message received from a carrier (``received``, direction ``inbound``)."""
        m = NewMessage(
            account_sid=account_sid,
            from_=from_,
            to=to,
            body=body,
            direction="inbound",
            num_segments=num_segments,
        )
        check_new_message(m)
        if link is not None:
            check_link(link)
        self._check_open()
        at = _now(at)
        loop = asyncio.get_running_loop()
        group = self._group(loop)
        sid = self._new_sid(at)
        ticket = self._next_ticket
        self._next_ticket = ticket + 1
        row = (ticket, sid, account_sid, "inbound", from_, to, body, "received", num_segments)
        group.rows[4].append((*row, 0, at, at, link))
        fut = loop.create_future()
        group.futures.append(fut)
        if len(group.futures) + group.extra >= self._send_at:
            self._send_group(loop)
        offset = await fut
        return MessageRecord(
            sid=sid,
            account_sid=account_sid,
            direction="inbound",
            from_=from_,
            to=to,
            body=body,
            status="received",
            num_segments=num_segments,
            link=link,
            date_created=at,
            date_updated=at,
            sender_seq=ticket + offset,
        )

    async def mark_sending(self, sid: str, link: str, *, at: float | None = None) -> MessageRecord:
        check_text("sid", sid, _SID_LEN)
        check_link(link)
        return await self._call(Writer.mark_sending, sid, link, _now(at))  # type: ignore[no-any-return]

    async def mark_sent(
        self, sid: str, carrier_message_id: str | Sequence[str], *, at: float | None = None
    ) -> MessageRecord:
        check_text("sid", sid, _SID_LEN)
        ids = check_carrier_ids(carrier_message_id)
        return await self._call(Writer.mark_sent, sid, ids, _now(at))  # type: ignore[no-any-return]

    async def mark_failed(
        self, sid: str, error_code: int, error_message: str, *, at: float | None = None
    ) -> MessageRecord:
        check_text("sid", sid, _SID_LEN)
        check_error(error_code, error_message)
        return await self._call(Writer.mark_failed, sid, error_code, error_message, _now(at))  # type: ignore[no-any-return]

    async def requeue(
        self, sid: str, *, detail: str | None = None, at: float | None = None
    ) -> MessageRecord:
        check_text("sid", sid, _SID_LEN)
        check_text("detail", detail, 1024, optional=True)
        return await self._call(Writer.requeue, sid, detail, _now(at))  # type: ignore[no-any-return]

    async def apply_receipt(
        self,
        carrier_message_id: str,
        status: str,
        error_code: int | None = None,
        *,
        link: str | None = None,
        at: float | None = None,
    ) -> MessageRecord | None:
        _check_receipt(carrier_message_id, status, error_code, link)
        return await self._call(  # type: ignore[no-any-return]
            Writer.apply_receipt, carrier_message_id, status, error_code, link, _now(at)
        )

    async def mark_sending_many(
        self, items: Sequence[tuple[str, str]], *, at: float | None = None
    ) -> list[StoreError | None]:
        """See :meth:`Store.mark_sending_many`: one op, its UPDATEs with executemany."""
        at = _now(at)
        out: list[StoreError | None] = [None] * len(items)
        good: list[int] = []
        for i, (sid, link) in enumerate(items):
            try:
                check_text("sid", sid, _SID_LEN)
                check_link(link)
            except StoreError as exc:
                out[i] = exc
                continue
            good.append(i)
        if good:
            results = await self._call(Writer.mark_sending_many, [items[i] for i in good], at)
            for i, result in zip(good, results, strict=True):
                out[i] = result
        return out

    async def mark_sent_many(
        self, items: Sequence[tuple[str, str | Sequence[str]]], *, at: float | None = None
    ) -> list[StoreError | None]:
        """See :meth:`Store.mark_sent_many`: one op, multi-row INSERTs."""
        at = _now(at)
        out: list[StoreError | None] = [None] * len(items)
        good: list[int] = []
        checked: list[tuple[str, tuple[str, ...]]] = []
        for i, (sid, carrier_ids) in enumerate(items):
            try:
                check_text("sid", sid, _SID_LEN)
                checked.append((sid, check_carrier_ids(carrier_ids)))
            except StoreError as exc:
                out[i] = exc
                continue
            good.append(i)
        if good:
            results = await self._call(Writer.mark_sent_many, checked, at)
            for i, result in zip(good, results, strict=True):
                out[i] = result
        return out

    async def apply_receipts(
        self,
        receipts: Sequence[tuple[str, str, int | None, str | None]],
        *,
        at: float | None = None,
    ) -> list[MessageRecord | StoreError | None]:
        """See :meth:`Store.apply_receipts`: one op; the changed rows are not read back."""
        at = _now(at)
        out: list[MessageRecord | StoreError | None] = [None] * len(receipts)
        good: list[int] = []
        for i, (carrier_id, status, code, link) in enumerate(receipts):
            try:
                _check_receipt(carrier_id, status, code, link)
            except StoreError as exc:
                out[i] = exc
                continue
            good.append(i)
        if good:
            results = await self._call(Writer.apply_receipts, [receipts[i] for i in good], at)
            for i, result in zip(good, results, strict=True):
                out[i] = result
        return out

    async def recover(self, *, at: float | None = None) -> list[MessageRecord]:
        return await self._call(Writer.recover, self.in_flight_policy, _now(at))  # type: ignore[no-any-return]

    async def purge(self, older_than: float) -> int:
        if type(older_than) not in (int, float):
            raise StoreError(
                f"older_than: expected epoch seconds, got {older_than!r}", field="older_than"
            )
        total = 0
        while True:
            n: int = await self._call(Writer.purge_chunk, float(older_than), _PURGE_CHUNK)
            total += n
            if n < _PURGE_CHUNK:
                return total

    async def cancel(
        self, sid: str, account_sid: str | None = None, *, at: float | None = None
    ) -> MessageRecord:
        check_text("sid", sid, _SID_LEN)
        check_text("account_sid", account_sid, MAX_ACCOUNT_SID, optional=True)
        return await self._call(Writer.cancel, sid, account_sid, _now(at))  # type: ignore[no-any-return]

    async def redact(
        self, sid: str, account_sid: str | None = None, *, at: float | None = None
    ) -> MessageRecord:
        check_text("sid", sid, _SID_LEN)
        check_text("account_sid", account_sid, MAX_ACCOUNT_SID, optional=True)
        return await self._call(Writer.redact, sid, account_sid, _now(at))  # type: ignore[no-any-return]

    async def delete(self, sid: str, account_sid: str | None = None) -> bool:
        check_text("sid", sid, _SID_LEN)
        check_text("account_sid", account_sid, MAX_ACCOUNT_SID, optional=True)
        return await self._call(Writer.delete, sid, account_sid)  # type: ignore[no-any-return]

    async def close(self) -> None:
        """Commit every pending write, checkpoint the WAL, close both connections."""
        if self._closed:
            return
        self._closed = True
        for loop in list(self._groups):  # accepts made before close go before the STOP
            self._send_group(loop)
        if self._writer.is_alive():
            loop = asyncio.get_running_loop()
            fut = loop.create_future()
            self._put((STOP, None, fut, loop))
            await fut
            await asyncio.to_thread(self._writer.join)
        await loop_run(self._reader, self._close_reader)
        self._reader.shutdown(wait=True)

    # -- reads ----------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        # Runs on the reader thread only.
        conn = self._reader_conn
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA cache_size = -{self._cache_size_kib}")
            conn.execute("PRAGMA query_only = ON")
            conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            self._reader_conn = conn
        return conn

    def _close_reader(self) -> None:
        if self._reader_conn is not None:
            self._reader_conn.close()
            self._reader_conn = None

    async def _read(self, fn: Any, *args: Any) -> Any:
        self._check_open()
        return await loop_run(self._reader, fn, *args)

    async def get(self, sid: str, account_sid: str | None = None) -> MessageRecord | None:
        if type(sid) is not str or len(sid) != _SID_LEN or not sid.startswith("SM"):
            return None
        rec: MessageRecord | None = await self._read(self._get, sid)
        if rec is None or (account_sid is not None and rec.account_sid != account_sid):
            return None
        return rec

    def _get(self, sid: str) -> MessageRecord | None:
        row = self._conn().execute(sql.SELECT_BY_SID, (sid,)).fetchone()
        return None if row is None else record_from_row(row)

    async def history(self, sid: str) -> list[HistoryEntry]:
        check_text("sid", sid, _SID_LEN)
        return await self._read(self._history, sid)  # type: ignore[no-any-return]

    def _history(self, sid: str) -> list[HistoryEntry]:
        conn = self._conn()
        head = conn.execute(sql.SELECT_HEAD, (sid,)).fetchone()
        if head is None:
            raise MessageNotFoundError(f"sid: no message {sid!r}", field="sid")
        msg_id, direction, created = head
        first = HistoryEntry("received" if direction == "inbound" else "queued", created)
        rows = conn.execute(sql.SELECT_HISTORY, (msg_id,)).fetchall()
        return [first, *(HistoryEntry(s, a, d) for s, a, d in rows)]

    async def list_queued(self, after_seq: int = 0, limit: int = 1000) -> list[MessageRecord]:
        if type(after_seq) is not int or after_seq < 0:
            raise StoreError(
                f"after_seq: expected an integer >= 0, got {after_seq!r}", field="after_seq"
            )
        if type(limit) is not int or not 1 <= limit <= _MAX_POLL:
            raise StoreError(f"limit: expected 1..{_MAX_POLL}, got {limit!r}", field="limit")
        return await self._read(self._list_queued, after_seq, limit)  # type: ignore[no-any-return]

    def _list_queued(self, after_seq: int, limit: int) -> list[MessageRecord]:
        rows = self._conn().execute(sql.SELECT_LIST_QUEUED, (after_seq, limit)).fetchall()
        return [record_from_row(r) for r in rows]

    async def queued_segments(self, from_: str) -> int:
        check_text("from_", from_, MAX_NUMBER)
        return await self._read(self._queued_segments, from_)  # type: ignore[no-any-return]

    def _queued_segments(self, from_: str) -> int:
        row = self._conn().execute(sql.SELECT_QUEUED_SEGMENTS, (from_,)).fetchone()
        return 0 if row is None else int(row[0])

    async def list_messages(
        self,
        account_sid: str,
        *,
        to: str | None = None,
        from_: str | None = None,
        date_sent_before: float | None = None,
        date_sent_after: float | None = None,
        date_sent: _dt.date | None = None,
        page_size: int = 50,
        page_token: str | None = None,
    ) -> tuple[list[MessageRecord], str | None]:
        check_text("account_sid", account_sid, MAX_ACCOUNT_SID)
        check_text("to", to, MAX_NUMBER, optional=True)
        check_text("from_", from_, MAX_NUMBER, optional=True)
        check_text("page_token", page_token, _SID_LEN + 2, optional=True)
        if type(page_size) is not int or not 1 <= page_size <= _MAX_PAGE:
            raise StoreError(
                f"page_size: expected 1..{_MAX_PAGE}, got {page_size!r}", field="page_size"
            )
        where = ["account_sid = ?"]
        params: list[Any] = [account_sid]
        if to is not None:
            where.append("to_ = ?")
            params.append(to)
        if from_ is not None:
            where.append("from_ = ?")
            params.append(from_)
        for name, value, op in (
            ("date_sent_after", date_sent_after, ">="),
            ("date_sent_before", date_sent_before, "<="),
        ):
            if value is not None:
                if type(value) not in (int, float):
                    raise StoreError(f"{name}: expected epoch seconds", field=name)
                where.append(f"date_sent {op} ?")
                params.append(value)
        if date_sent is not None:
            if not isinstance(date_sent, _dt.date):
                raise StoreError("date_sent: expected a datetime.date", field="date_sent")
            day = _dt.datetime(date_sent.year, date_sent.month, date_sent.day, tzinfo=_dt.UTC)
            where.append("date_sent >= ? AND date_sent < ?")
            params += [day.timestamp(), day.timestamp() + 86400]
        if page_token is not None and not page_token.startswith("PA"):
            raise StoreError("page_token: not a token this store issued", field="page_token")
        return await self._read(  # type: ignore[no-any-return]
            self._list, " AND ".join(where), params, page_size, page_token, account_sid
        )

    def _list(
        self,
        where: str,
        params: list[Any],
        page_size: int,
        page_token: str | None,
        account_sid: str,
    ) -> tuple[list[MessageRecord], str | None]:
        conn = self._conn()
        if page_token is not None:
            anchor = conn.execute(sql.SELECT_PAGE_ANCHOR, (page_token[2:], account_sid)).fetchone()
            if anchor is None:
                raise StoreError("page_token: not a token this store issued", field="page_token")
            where += " AND id < ?"
            params = [*params, anchor[0]]
        rows = conn.execute(
            f"SELECT {sql.COLUMNS} FROM messages WHERE {where} ORDER BY id DESC LIMIT ?",
            [*params, page_size + 1],
        ).fetchall()
        records = [record_from_row(r) for r in rows[:page_size]]
        token = "PA" + records[-1].sid if len(rows) > page_size else None
        return records, token


def _check_receipt(carrier_id: str, status: str, error_code: int | None, link: str | None) -> None:
    """StoreError naming the field unless a receipt's values are in bounds."""
    check_carrier_id(carrier_id)
    if status not in _RECEIPT_STATUSES:
        raise StoreError(
            f"status: a receipt says delivered, undelivered, failed or sent, not {status!r}",
            field="status",
        )
    check_error(error_code, None, optional=True)
    if link is not None:
        check_link(link)


def _now(at: float | None) -> float:
    """``at`` checked (finite epoch seconds), or the current time when it is None."""
    if at is None:
        return time.time()
    if (type(at) is float or type(at) is int) and math.isfinite(at) and 0 <= at < 1e11:
        return float(at)
    raise StoreError(f"at: expected epoch seconds, got {at!r}", field="at")


async def loop_run(executor: ThreadPoolExecutor, fn: Any, *args: Any) -> Any:
    """Run ``fn(*args)`` on ``executor`` from the running loop."""
    return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)
