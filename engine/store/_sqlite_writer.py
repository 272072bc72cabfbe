"""The SQLite store's writer: one thread, one connection, group commit.

Every write the store makes is an *op* put on one queue; the accepts an event loop makes
in one iteration are one op (an :class:`AcceptGroup`, with one future per call).  The
thread takes every op that is waiting (up to ``max_batch`` writes), runs them in one
transaction, commits once (one fsync at ``synchronous=FULL``), and only then resolves the
waiters: one ``loop.call_soon_threadsafe`` per event loop per commit, never one per
message.  While it
commits, new ops queue up and form the next group, so durability does not cap throughput.

At ``synchronous=FULL`` the fsync is not SQLite's: SQLite commits at NORMAL (no fsync)
and a second thread, the syncer, fsyncs the WAL file and only then answers the group's
waiters.  Meanwhile the writer already runs the next group, so the fsync of one group
overlaps the inserts of the next instead of adding to them.  This is what SQLite's FULL
does in WAL mode (fsync the WAL after each commit; checkpoints sync as in NORMAL), done
one group later on another thread; nobody is answered before the fsync that covers their
commit returned.  If an fsync fails, that group and every later write fail and the store
refuses new work (what the WAL holds may not be on disk).

An op that breaks a rule (unknown sid, illegal transition) fails alone and writes nothing;
a database error rolls the whole group back and fails every op in it, so nothing is
reported accepted that is not committed.

Several processes may write the same file.  Message ids are given inside the transaction,
after ``BEGIN IMMEDIATE`` took SQLite's write lock: the group's rows carry *tickets* (a
per-process counter, in acceptance order) and the writer reads the highest id given so far
once per group and binds ``offset = that + 1 - lowest ticket``; each row's id is
``offset + ticket``.  So ids grow in commit order across processes (a reader never sees a
gap that a later commit fills), and each waiter learns its offset with its answer.  When
another process holds the write lock, ``BEGIN IMMEDIATE`` is retried every fraction of a
millisecond (not SQLite's own busy handler, which sleeps 1, 2, 5 ... 100 ms and so lets a
busy writer keep the lock between its groups) until ``busy_timeout`` runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Sequence
from itertools import chain
from typing import Any

import msgspec

from engine.errors import StoreError
from engine.receipts import message_id_keys, normalize_message_id
from engine.store import _sqlite_sql as sql
from engine.store.base import (
    IN_FLIGHT_ERROR_CODE,
    MessageNotFoundError,
    MessageRecord,
    MessageStateError,
)
from engine.store.rules import (
    check_transition,
    part_receipt_target,
    receipt_target,
)

__all__ = ["AcceptGroup", "Op", "Writer", "carrier_id_keys", "record_from_row"]

# Op kinds.  An op is (kind, payload, future, loop).
ACCEPT = 0  # payload: an AcceptGroup; future None (the group holds one per waiter)
CALL = 2  # payload: (handler, args): handler(writer, *args) -> result
STOP = 3

Op = tuple[int, Any, "asyncio.Future[Any] | None", "asyncio.AbstractEventLoop | None"]

_IN_FLIGHT_MESSAGE = "in flight when the process stopped; outcome unknown"

_ON_ITS_WAY = frozenset({"accepted", "queued", "sending"})
_CANCELABLE = frozenset({"accepted", "queued"})
_IN_QUEUE = frozenset({"queued", "sending"})  # counted in sender_queue

# BEGIN IMMEDIATE retries while another connection holds the write lock: the first sleep,
# and the longest (short, so that a waiting writer sees the lock free between another
# busy writer's groups; each try costs a few microseconds).
_BUSY_FIRST_SLEEP = 50e-6
_BUSY_MAX_SLEEP = 500e-6


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


def record_from_row(r: tuple[Any, ...]) -> MessageRecord:
    """A MessageRecord from a row selected with :data:`_sqlite_sql.COLUMNS`."""
    return MessageRecord(
        sid=r[0],
        account_sid=r[1],
        direction=r[2],
        from_=r[3],
        to=r[4],
        body=r[5],
        status=r[6],
        num_segments=r[7],
        num_media=r[8],
        error_code=r[9],
        error_message=r[10],
        carrier_message_id=r[11],
        link=r[12],
        date_created=r[13],
        date_updated=r[14],
        date_sent=r[15],
        status_callback=r[16],
        expires_at=r[17],
        attempts=r[18],
        possible_duplicate=bool(r[19]),
        sender_seq=r[20],
        price=r[21],
        price_unit=r[22],
    )


def carrier_id_keys(carrier_id: str) -> tuple[str, set[str]]:
    """The canonical spelling of a carrier id and every spelling it may take in a receipt
    (:func:`engine.receipts.normalize_message_id` and :func:`~engine.receipts.message_id_keys`,
    which also read a ``0x`` prefix: ``0x1F`` in submit_sm_resp meets ``31`` or ``1F``)."""
    return normalize_message_id(carrier_id), message_id_keys(carrier_id)


class AcceptGroup:
    """The accepts one event loop made in one iteration: one op on the writer's queue.

    ``rows`` holds the INSERT rows by shape (see :data:`_sqlite_sql.INSERT_ACCEPT`), each
    starting with its ticket; ``first`` is the lowest ticket in the group; ``futures`` one
    future per waiting ``accept``/``accept_many``/``record_inbound`` call, answered with
    the id offset (id = offset + ticket); ``extra`` the rows beyond one per future
    (``accept_many``).  The whole group is in one transaction, so an ``accept_many`` is all
    or none.
    """

    __slots__ = ("extra", "first", "futures", "rows")

    def __init__(self, first: int) -> None:
        self.rows: tuple[list[tuple[Any, ...]], ...] = ([], [], [], [], [])
        self.futures: list[asyncio.Future[int]] = []
        self.extra = 0
        self.first = first


def _resolve(items: list[tuple[Any, Any, BaseException | None]]) -> None:
    # Runs on the waiters' loop: one call per commit.  An item's first element is one
    # future, or a list of them (an AcceptGroup's, all answered alike).
    for target, result, exc in items:
        for fut in target if type(target) is list else (target,):
            if fut.cancelled():
                continue
            if exc is None:
                fut.set_result(result)
            else:
                fut.set_exception(exc)


def _match_part_rows(
    rows: Any, canon: str, keys: set[str]
) -> tuple[int, int, list[str | None]] | None:
    """:meth:`Writer._match_part` over ``(attempt, index, canon_id, outcome)`` rows of one
    message, in attempt and part order."""
    by_attempt: dict[int, list[str | None]] = {}
    best: tuple[bool, int, int] | None = None
    for attempt, index, part_canon, outcome in rows:
        by_attempt.setdefault(attempt, []).append(outcome)
        if part_canon == canon or not message_id_keys(part_canon).isdisjoint(keys):
            rank = (part_canon == canon, attempt, -index)
            if best is None or rank > best:
                best = rank
    if best is None:
        return None
    return best[1], -best[2], by_attempt[best[1]]


def _name_os_thread(name: str) -> None:
    """Give the running thread ``name`` where ps, top and /proc show it (Linux; at most
    15 bytes), so that an operator or a benchmark can tell the store's CPU apart."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


class Writer(threading.Thread):
    """The writer thread.  Opened by :class:`engine.store.sqlite.SqliteStore`."""

    def __init__(
        self,
        path: str,
        *,
        synchronous: str,
        max_batch: int,
        number_index: bool,
        cache_size_kib: int,
        wal_autocheckpoint: int,
        fsync_thread: bool = True,
        busy_timeout: float = 30.0,
    ) -> None:
        super().__init__(name="smpp-engine-store-writer", daemon=True)
        self.queue: queue.SimpleQueue[Op] = queue.SimpleQueue()
        self.max_batch = max_batch
        self.failure: BaseException | None = None
        self._ready = threading.Event()
        self._path = path
        # FULL: SQLite at NORMAL + the syncer's fsync of the WAL (module docstring).
        self._full = synchronous == "FULL" and fsync_thread
        self._syncer: _Syncer | None = None
        self._pragmas = (
            "PRAGMA journal_mode = WAL",
            f"PRAGMA synchronous = {'NORMAL' if self._full else synchronous}",
            f"PRAGMA cache_size = -{cache_size_kib}",
            "PRAGMA temp_store = MEMORY",
            f"PRAGMA wal_autocheckpoint = {wal_autocheckpoint}",
            f"PRAGMA busy_timeout = {round(busy_timeout * 1000)}",
        )
        self._busy_timeout = busy_timeout
        self._number_index = number_index
        self.conn: sqlite3.Connection | None = None
        self.busy_waits = 0  # BEGIN IMMEDIATEs that found another connection writing
        self.busy_wait_s = 0.0  # and the time they waited for it
        self.commits = 0  # transactions committed (groups); read by SqliteStore.stats
        self.ops = 0  # writes in them (each accept, accept_many and other call)

    # -- lifecycle ------------------------------------------------------------------------

    def open(self) -> None:
        """Start the thread and wait until the database is open (raises what opening raised)."""
        self.start()
        self._ready.wait()
        if self.failure is not None:
            raise self.failure

    def _open(self) -> sqlite3.Connection:
        # Room for every prepared multi-row INSERT (4 shapes x 9 sizes) and the rest.
        conn = sqlite3.connect(
            self._path, isolation_level=None, check_same_thread=False, cached_statements=256
        )
        try:
            for p in self._pragmas:
                conn.execute(p)
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if mode != "wal":
                raise StoreError(f"path: cannot use WAL mode on {self._path!r} ({mode})")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in sql.UPGRADABLE_VERSIONS:
                raise StoreError(f"path: schema version {version} is not {sql.SCHEMA_VERSION}")
            conn.execute("BEGIN IMMEDIATE")  # SQLite's busy handler waits here, at open
            version = conn.execute("PRAGMA user_version").fetchone()[0]  # under the lock
            for stmt in sql.SCHEMA:
                conn.execute(stmt)
            if version != sql.SCHEMA_VERSION:  # a new file, or one from before sender_queue
                conn.execute(sql.REBUILD_SENDER_QUEUE)
            for stmt in sql.NUMBER_INDEXES if self._number_index else ():
                conn.execute(stmt)
            conn.execute(f"PRAGMA user_version = {sql.SCHEMA_VERSION}")
            conn.execute("COMMIT")
            # From here on BEGIN IMMEDIATE waits in _begin (module docstring).  Once the
            # write lock is held, nothing else in WAL mode waits on another connection.
            conn.execute("PRAGMA busy_timeout = 0")
        except BaseException:
            conn.close()
            raise
        return conn

    def run(self) -> None:
        _name_os_thread("store-writer")
        try:
            self.conn = self._open()
        except BaseException as exc:
            self.failure = exc if isinstance(exc, StoreError) else StoreError(f"open: {exc}")
            self._ready.set()
            return
        try:
            if self._full:
                self._syncer = _Syncer(self)
                self._syncer.start()
        except BaseException as exc:
            self.conn.close()
            self.failure = StoreError(f"open: {exc}")
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop()
            self._stop_syncer()  # every answer given before the checkpoint
            self.checkpoint()  # leave a short WAL behind a clean close
        except BaseException as exc:  # a bug: fail everything that waits, refuse new work
            self.failure = StoreError(f"store writer stopped: {exc!r}")
            self._stop_syncer()
            self._drain_failed()
        finally:
            self.conn.close()

    def _stop_syncer(self) -> None:
        syncer = self._syncer
        if syncer is not None and syncer.is_alive():
            syncer.queue.put(None)
            syncer.join()

    def _drain_failed(self) -> None:
        while True:
            try:
                kind, payload, fut, loop = self.queue.get_nowait()
            except queue.Empty:
                return
            target = payload.futures if kind == ACCEPT else fut
            if target is not None and loop is not None:
                self._post(loop, [(target, None, StoreError(str(self.failure)))])

    # -- the loop -------------------------------------------------------------------------

    def _loop(self) -> None:
        q = self.queue
        get = q.get
        get_nowait = q.get_nowait
        max_batch = self.max_batch
        while True:
            op = get()
            batch = [op]
            # Count writes, not ops: an AcceptGroup op holds up to max_batch accepts
            # (SqliteStore sends a group once it has that many).
            n = len(op[1].futures) if op[0] == ACCEPT else 1
            try:
                while n < max_batch:
                    op = get_nowait()
                    batch.append(op)
                    n += len(op[1].futures) if op[0] == ACCEPT else 1
            except queue.Empty:
                pass
            if self._run_batch(batch):
                return

    def _run_batch(self, batch: list[Op]) -> bool:
        """Run one group in one transaction; True when a STOP op was in it."""
        conn = self.conn
        assert conn is not None
        done: list[tuple[Op, Any, BaseException | None]] = []
        pending: list[list[tuple[Any, ...]]] = [[], [], [], [], []]
        stop = False
        writes = 0
        offset = 0
        try:
            self._begin()
            first = [op[1].first for op in batch if op[0] == ACCEPT]
            if first:
                # Under the write lock: no other process can give an id until COMMIT.
                base = conn.execute(sql.SELECT_ID_BASE).fetchone()[0]
                offset = base + 1 - min(first)
            for op in batch:
                kind, payload = op[0], op[1]
                if kind == ACCEPT:
                    for shape, rows in enumerate(payload.rows):
                        if rows:
                            pending[shape] += rows
                    done.append((op, offset, None))
                    writes += len(payload.futures)
                    continue
                writes += 1
                if kind == CALL:
                    self._flush(pending, offset)  # a later op may touch a row accepted earlier
                    handler, args = payload
                    try:
                        done.append((op, handler(self, *args), None))
                    except StoreError as exc:
                        done.append((op, None, exc))
                else:
                    stop = True
                    done.append((op, None, None))
            self._flush(pending, offset)
            conn.execute("COMMIT")
            self.commits += 1
            self.ops += writes
        except Exception as exc:
            if conn.in_transaction:
                # If even the rollback fails, SQLite rolls back when the connection closes
                # or the next transaction starts; the waiters must be answered either way.
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            err = f"database error, nothing in this group was written: {exc!r}"
            done = [(op, None, None if op[0] == STOP else StoreError(err)) for op in batch]
        if self._syncer is not None:
            self._syncer.queue.put(done)  # answered after the fsync that covers this commit
        else:
            self._answer(done)
        return stop

    def _begin(self) -> None:
        """BEGIN IMMEDIATE, retried while another connection holds the write lock."""
        conn = self.conn
        assert conn is not None
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
        self.busy_waits += 1
        start = time.monotonic()
        deadline = start + self._busy_timeout
        delay = _BUSY_FIRST_SLEEP
        try:
            while True:
                time.sleep(delay)
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc) or time.monotonic() > deadline:
                        raise
                delay = min(delay * 2, _BUSY_MAX_SLEEP)
        finally:
            self.busy_wait_s += time.monotonic() - start

    def _flush(self, pending: list[list[tuple[Any, ...]]], offset: int) -> None:
        conn = self.conn
        assert conn is not None
        # The senders' queue counts, one UPSERT per sender per flush (an index on the queue
        # by sender cost ~1 us per accepted row; this costs a dict update per row).
        segments: dict[str, int] = {}
        get = segments.get
        for rows in pending[:4]:  # shape 4 is inbound: never queued
            for r in rows:
                if r[7] == "queued":  # else "received": an inbound message via accept()
                    segments[r[4]] = get(r[4], 0) + r[8]
        if segments:
            conn.executemany(sql.JOIN_SENDER_QUEUE, segments.items())
        for shape, rows in enumerate(pending):
            if not rows:
                continue
            stmts = sql.INSERT_ACCEPT_ROWS[shape]
            i, left = 0, len(rows)
            for size in sql.CHUNKS:
                while left >= size:
                    conn.execute(stmts[size], [offset, *chain.from_iterable(rows[i : i + size])])
                    i += size
                    left -= size
            rows.clear()

    def _answer(self, done: list[tuple[Op, Any, BaseException | None]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for (kind, payload, fut, loop), result, exc in done:
            target = payload.futures if kind == ACCEPT else fut
            if target is not None and loop is not None:
                items = by_loop.get(loop)
                if items is None:
                    items = by_loop[loop] = []
                items.append((target, result, exc))
        for loop, items in by_loop.items():
            self._post(loop, items)

    @staticmethod
    def _post(loop: asyncio.AbstractEventLoop, items: list[Any]) -> None:
        # RuntimeError: the waiters' loop is closed, nobody is left to tell.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_resolve, items)

    def fail_unsynced(self, done: list[tuple[Op, Any, BaseException | None]], exc: OSError) -> None:
        """The syncer's fsync failed: fail ``done`` and refuse all further work."""
        if self.failure is None:
            self.failure = StoreError(f"fsync of the WAL failed, the store stops: {exc!r}")
        err = StoreError(f"not durable, the fsync after this commit failed: {exc!r}")
        self._answer([(op, None, None if op[0] == STOP else err) for op, _, _ in done])

    # -- handlers (run on this thread, inside the group's transaction) --------------------

    def _state(self, sid: str) -> tuple[int, str]:
        assert self.conn is not None
        row = self.conn.execute(sql.SELECT_STATE, (sid,)).fetchone()
        if row is None:
            raise MessageNotFoundError(f"sid: no message {sid!r}", field="sid")
        return row[0], row[1]

    def _owned(self, sid: str, account_sid: str | None) -> tuple[int, str] | None:
        """(id, status) of ``sid`` when it exists and belongs to ``account_sid`` (None: any)."""
        assert self.conn is not None
        row = self.conn.execute(sql.SELECT_OWNER, (sid,)).fetchone()
        if row is None or (account_sid is not None and row[2] != account_sid):
            return None
        return row[0], row[1]

    def _owned_or_raise(self, sid: str, account_sid: str | None) -> tuple[int, str]:
        found = self._owned(sid, account_sid)
        if found is None:
            # Another account's message is reported exactly like an unknown one.
            raise MessageNotFoundError(f"sid: no message {sid!r}", field="sid")
        return found

    def _by_id(self, msg_id: int) -> MessageRecord:
        assert self.conn is not None
        return record_from_row(self.conn.execute(sql.SELECT_BY_ID, (msg_id,)).fetchone())

    def _update(self, stmt: str, params: tuple[Any, ...], *, was: str) -> MessageRecord:
        """Run an UPDATE ... RETURNING of one message that was ``was`` before it; keeps the
        sender's queue count (``sender_queue``) when the message leaves the queue."""
        assert self.conn is not None
        rec = record_from_row(self.conn.execute(stmt, params).fetchone())
        if was in _IN_QUEUE and rec.status not in _IN_QUEUE:
            self.conn.execute(sql.LEAVE_SENDER_QUEUE, (rec.num_segments, rec.from_))
        return rec

    @staticmethod
    def _transition(sid: str, status: str, new: str) -> bool:
        """rules.check_transition, its refusal as a MessageStateError (the API and the
        dispatcher tell it from a missing message by class or ``reason``)."""
        try:
            return check_transition(sid, status, new)
        except StoreError as exc:
            raise MessageStateError(str(exc), status=status) from None

    def _history(self, msg_id: int, status: str, at: float, detail: str | None) -> None:
        assert self.conn is not None
        self.conn.execute(sql.INSERT_HISTORY, (msg_id, status, at, detail))

    def mark_sending(self, sid: str, link: str, at: float) -> MessageRecord:
        msg_id, status = self._state(sid)
        self._transition(sid, status, "sending")
        self._history(msg_id, "sending", at, f"link {link}")
        return self._update(sql.UPDATE_SENDING, (link, at, msg_id), was=status)

    def mark_sent(self, sid: str, carrier_ids: tuple[str, ...], at: float) -> MessageRecord:
        assert self.conn is not None
        msg_id, status = self._state(sid)
        changed = self._transition(sid, status, "sent")
        rec = self._by_id(msg_id)
        # The parts of this attempt: a repeated id is a no-op, a new one is a further part
        # (dispatchers that record the parts one by one, as their submit_sm_resps come).
        known = {
            canon: index
            for index, canon in self.conn.execute(sql.SELECT_ATTEMPT_PARTS, (msg_id, rec.attempts))
        }
        index = len(known)
        for carrier_id in carrier_ids:
            canon = normalize_message_id(carrier_id)
            if canon in known:
                continue
            self.conn.execute(sql.INSERT_PART, (msg_id, rec.attempts, index, canon))
            known[canon] = index
            index += 1
            self._index_carrier_id(msg_id, carrier_id, rec.link)
        if not changed:
            return rec
        first = carrier_ids[0]
        detail = (
            f"carrier id {first}"
            if len(carrier_ids) == 1
            else f"carrier ids {', '.join(carrier_ids)} ({len(carrier_ids)} parts)"
        )
        self._history(msg_id, "sent", at, detail)
        return self._update(sql.UPDATE_SENT, (first, at, at, msg_id), was=status)

    def _index_carrier_id(self, msg_id: int, carrier_id: str, link: str | None) -> None:
        assert self.conn is not None
        canon, keys = carrier_id_keys(carrier_id)
        self.conn.executemany(
            sql.INSERT_CARRIER_ID, [(k, msg_id, link, int(k == canon)) for k in keys]
        )

    def mark_failed(self, sid: str, code: int, message: str, at: float) -> MessageRecord:
        msg_id, status = self._state(sid)
        if not self._transition(sid, status, "failed"):
            return self._by_id(msg_id)
        self._history(msg_id, "failed", at, f"{code} {message}")
        return self._update(sql.UPDATE_FAILED, (code, message, at, msg_id), was=status)

    def requeue(self, sid: str, detail: str | None, at: float) -> MessageRecord:
        msg_id, status = self._state(sid)
        if not self._transition(sid, status, "queued"):
            return self._by_id(msg_id)
        self._history(msg_id, "queued", at, detail)
        return self._update(sql.UPDATE_QUEUED, (at, msg_id), was=status)

    def apply_receipt(
        self, carrier_id: str, status: str, code: int | None, link: str | None, at: float
    ) -> MessageRecord | None:
        assert self.conn is not None
        canon, key_set = carrier_id_keys(carrier_id)
        keys = sorted(key_set)
        params: list[Any] = list(keys)
        if link is not None:
            params.append(link)
        params.append(canon)
        row = self.conn.execute(sql.lookup_receipt(len(keys), link is not None), params).fetchone()
        if row is None:
            return None
        msg_id = row[0]
        rec = self._by_id(msg_id)
        part = self._match_part(msg_id, canon, key_set)
        if part is not None and len(part[2]) > 1:
            return self._part_receipt(rec, msg_id, part, carrier_id, status, code, at)
        target = receipt_target(rec.status, status)
        if target is None:
            return rec
        self._history(msg_id, target, at, f"receipt for carrier id {carrier_id}")
        err_message = None if code is None else f"carrier error {code}"
        return self._update(
            sql.UPDATE_RECEIPT, (target, code, err_message, at, at, msg_id), was=rec.status
        )

    def _match_part(
        self, msg_id: int, canon: str, keys: set[str]
    ) -> tuple[int, int, list[str | None]] | None:
        """The part a receipt is for: (attempt, part index, outcomes of that attempt's
        parts); None when the message has no part under these ids (a version 1 row).
        Preference as in the lookup: the exact canonical spelling, then the newest attempt."""
        assert self.conn is not None
        return _match_part_rows(self.conn.execute(sql.SELECT_PARTS, (msg_id,)), canon, keys)

    # -- batch writes (the dispatcher's per-iteration calls) -----------------------------

    def _rows(self, stmts: dict[int, str], rows: list[tuple[Any, ...]]) -> None:
        """INSERT ``rows`` with the multi-row statements ``stmts`` (one step per statement;
        see :data:`_sqlite_sql.CHUNKS`)."""
        conn = self.conn
        assert conn is not None
        i, left = 0, len(rows)
        for size in sql.CHUNKS:
            while left >= size:
                conn.execute(stmts[size], list(chain.from_iterable(rows[i : i + size])))
                i += size
                left -= size

    def _send_states(self, sids: Sequence[str]) -> dict[str, list[Any]]:
        """sid -> [id, status, attempts, link, from_, num_segments] of the messages named."""
        conn = self.conn
        assert conn is not None
        out: dict[str, list[Any]] = {}
        unique = list(dict.fromkeys(sids))
        for i in range(0, len(unique), 500):
            chunk = unique[i : i + 500]
            stmt = sql.select_in(sql.SELECT_SEND_STATE_IN, len(chunk))
            for sid, *rest in conn.execute(stmt, chunk):
                out[sid] = rest
        return out

    def _leave_queue(self, leaving: dict[str, int]) -> None:
        if leaving:
            assert self.conn is not None
            self.conn.executemany(
                sql.LEAVE_SENDER_QUEUE, [(n, from_) for from_, n in leaving.items()]
            )

    def mark_sending_many(
        self, items: Sequence[tuple[str, str]], at: float
    ) -> list[StoreError | None]:
        """:meth:`mark_sending` for each ``(sid, link)``, in order, without reading the rows
        back: None for each one marked, else the StoreError it would raise."""
        assert self.conn is not None
        states = self._send_states([sid for sid, _ in items])
        out: list[StoreError | None] = []
        history: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        for sid, link in items:
            state = states.get(sid)
            if state is None:
                out.append(MessageNotFoundError(f"sid: no message {sid!r}", field="sid"))
                continue
            try:
                self._transition(sid, state[1], "sending")
            except MessageStateError as exc:
                out.append(exc)
                continue
            state[1] = "sending"  # queued and sending both count in sender_queue
            history.append((state[0], "sending", at, f"link {link}"))
            updates.append((link, at, state[0]))
            out.append(None)
        self._rows(sql.INSERT_HISTORY_ROWS, history)
        if updates:
            self.conn.executemany(sql.UPDATE_SENDING_NR, updates)
        return out

    def mark_sent_many(
        self, items: Sequence[tuple[str, tuple[str, ...]]], at: float
    ) -> list[StoreError | None]:
        """:meth:`mark_sent` for each ``(sid, carrier ids)``, in order, without reading the
        rows back: None for each one marked, else the StoreError it would raise."""
        assert self.conn is not None
        states = self._send_states([sid for sid, _ in items])
        repeated = {sid for sid, n in Counter(sid for sid, _ in items).items() if n > 1}
        out: list[StoreError | None] = []
        parts: list[tuple[Any, ...]] = []
        keys: list[tuple[Any, ...]] = []
        history: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        leaving: dict[str, int] = {}
        for sid, ids in items:
            state = states.get(sid)
            if state is None:
                out.append(MessageNotFoundError(f"sid: no message {sid!r}", field="sid"))
                continue
            msg_id, status, attempts, link, from_, segments = state
            if status != "sending" or sid in repeated:
                # Not the plain case (a repeat, a further part, a refusal): one by one.
                try:
                    self.mark_sent(sid, ids, at)
                    out.append(None)
                except StoreError as exc:
                    out.append(exc)
                continue
            # sending: this attempt has no part yet (only mark_sent adds them, and it
            # leaves "sending"; mark_sending starts a new attempt).
            for index, carrier_id in enumerate(ids):
                canon, spellings = carrier_id_keys(carrier_id)
                parts.append((msg_id, attempts, index, canon))
                keys += [(k, msg_id, link, int(k == canon)) for k in spellings]
            first = ids[0]
            detail = (
                f"carrier id {first}"
                if len(ids) == 1
                else f"carrier ids {', '.join(ids)} ({len(ids)} parts)"
            )
            history.append((msg_id, "sent", at, detail))
            updates.append((first, at, at, msg_id))
            leaving[from_] = leaving.get(from_, 0) + segments
            out.append(None)
        self._rows(sql.INSERT_PART_ROWS, parts)
        self._rows(sql.INSERT_CARRIER_ID_ROWS, keys)
        self._rows(sql.INSERT_HISTORY_ROWS, history)
        if updates:
            self.conn.executemany(sql.UPDATE_SENT_NR, updates)
        self._leave_queue(leaving)
        return out

    def apply_receipts(
        self,
        receipts: Sequence[tuple[str, str, int | None, str | None]],
        at: float,
    ) -> list[MessageRecord | StoreError | None]:
        """:meth:`apply_receipt` for each ``(carrier id, status, error code, link)``, in
        order; the rows changed are written together and not read back."""
        conn = self.conn
        assert conn is not None
        found: list[tuple[int, str, set[str]] | None] = []
        for carrier_id, _status, _code, link in receipts:
            canon, key_set = carrier_id_keys(carrier_id)
            params: list[Any] = sorted(key_set)
            n_keys = len(params)
            if link is not None:
                params.append(link)
            params.append(canon)
            row = conn.execute(sql.lookup_receipt(n_keys, link is not None), params).fetchone()
            found.append(None if row is None else (row[0], canon, key_set))
        ids = Counter(f[0] for f in found if f is not None)
        records: dict[int, MessageRecord] = {}
        parts: dict[int, list[tuple[int, int, str, str | None]]] = {}
        unique = [i for i, n in ids.items() if n == 1]
        for i in range(0, len(unique), 500):
            chunk = unique[i : i + 500]
            for r in conn.execute(sql.select_in(sql.SELECT_BY_IDS_IN, len(chunk)), chunk):
                records[r[20]] = record_from_row(r)
            for msg_id, *part in conn.execute(
                sql.select_in(sql.SELECT_PARTS_IN, len(chunk)) + " ORDER BY attempt, part_index",
                chunk,
            ):
                parts.setdefault(msg_id, []).append(tuple(part))
        out: list[MessageRecord | StoreError | None] = []
        history: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        leaving: dict[str, int] = {}
        for (carrier_id, status, code, link), hit in zip(receipts, found, strict=True):
            if hit is None:
                out.append(None)
                continue
            msg_id, canon, key_set = hit
            rec = records.get(msg_id)
            if rec is None:
                # Several receipts for one message in this batch: one by one, in order.
                try:
                    out.append(self.apply_receipt(carrier_id, status, code, link, at))
                except StoreError as exc:
                    out.append(exc)
                continue
            part = _match_part_rows(parts.get(msg_id, ()), canon, key_set)
            if part is not None and len(part[2]) > 1:
                out.append(self._part_receipt(rec, msg_id, part, carrier_id, status, code, at))
                continue
            target = receipt_target(rec.status, status)
            if target is None:
                out.append(rec)
                continue
            history.append((msg_id, target, at, f"receipt for carrier id {carrier_id}"))
            err_message = None if code is None else f"carrier error {code}"
            updates.append((target, code, err_message, at, at, msg_id))
            if rec.status in _IN_QUEUE and target not in _IN_QUEUE:
                leaving[rec.from_] = leaving.get(rec.from_, 0) + rec.num_segments
            out.append(
                msgspec.structs.replace(
                    rec,
                    status=target,
                    error_code=code,
                    error_message=err_message,
                    date_updated=at,
                    date_sent=at if rec.date_sent is None else rec.date_sent,
                )
            )
        self._rows(sql.INSERT_HISTORY_ROWS, history)
        if updates:
            conn.executemany(sql.UPDATE_RECEIPT_NR, updates)
        self._leave_queue(leaving)
        return out

    def _part_receipt(
        self,
        rec: MessageRecord,
        msg_id: int,
        part: tuple[int, int, list[str | None]],
        carrier_id: str,
        status: str,
        code: int | None,
        at: float,
    ) -> MessageRecord:
        """A receipt for one part of a multipart attempt (rules.part_receipt_target)."""
        assert self.conn is not None
        attempt, index, outcomes = part
        if status == "sent" or outcomes[index] is not None:
            return rec  # intermediate, or a repeat for this part
        target = part_receipt_target(rec.status, outcomes, index, status)
        self.conn.execute(sql.UPDATE_PART, (status, msg_id, attempt, index))
        detail = f"receipt for part {index + 1} of {len(outcomes)} (carrier id {carrier_id})"
        if target is None:
            self._history(msg_id, rec.status, at, f"{detail}: {status}")
            return rec
        self._history(msg_id, target, at, detail)
        err_message = None if code is None else f"carrier error {code}"
        return self._update(
            sql.UPDATE_RECEIPT, (target, code, err_message, at, at, msg_id), was=rec.status
        )

    def cancel(self, sid: str, account_sid: str | None, at: float) -> MessageRecord:
        msg_id, status = self._owned_or_raise(sid, account_sid)
        if status == "canceled":
            return self._by_id(msg_id)
        if status not in _CANCELABLE:
            raise MessageStateError(
                f"{sid}: only a queued message can be canceled, this one is {status}",
                status=status,
            )
        self._history(msg_id, "canceled", at, None)
        return self._update(sql.UPDATE_CANCELED, (at, msg_id), was=status)

    def redact(self, sid: str, account_sid: str | None, at: float) -> MessageRecord:
        msg_id, status = self._owned_or_raise(sid, account_sid)
        self._history(msg_id, status, at, "body redacted")
        return self._update(sql.UPDATE_REDACT, (at, msg_id), was=status)

    def delete(self, sid: str, account_sid: str | None) -> bool:
        assert self.conn is not None
        found = self._owned(sid, account_sid)
        if found is None:
            return False
        msg_id, status = found
        if status in _ON_ITS_WAY:
            raise MessageStateError(
                f"{sid}: a message that is {status} is still on its way and cannot be "
                "deleted (cancel it first)",
                status=status,
            )
        self._delete_ids([(msg_id,)])
        return True

    def _delete_ids(self, ids: list[tuple[int]]) -> None:
        conn = self.conn
        assert conn is not None
        conn.executemany("DELETE FROM history WHERE msg_id = ?", ids)
        conn.executemany("DELETE FROM carrier_ids WHERE msg_id = ?", ids)
        conn.executemany("DELETE FROM parts WHERE msg_id = ?", ids)
        conn.executemany("DELETE FROM messages WHERE id = ?", ids)
        # The highest id ever given is never given again (see _sqlite_sql).
        conn.execute(sql.RAISE_ID_FLOOR, (max(i for (i,) in ids),))

    def recover(self, policy: str, at: float) -> list[MessageRecord]:
        assert self.conn is not None
        conn = self.conn
        in_flight = conn.execute(sql.SELECT_SENDING_IDS).fetchall()
        for msg_id, from_, segments in in_flight:
            if policy == "at-least-once":
                conn.execute(sql.RECOVER_REQUEUE, (at, msg_id))
                self._history(msg_id, "queued", at, f"{_IN_FLIGHT_MESSAGE}: sent again")
            else:
                conn.execute(
                    sql.RECOVER_FAIL, (IN_FLIGHT_ERROR_CODE, _IN_FLIGHT_MESSAGE, at, msg_id)
                )
                conn.execute(sql.LEAVE_SENDER_QUEUE, (segments, from_))
                self._history(msg_id, "failed", at, f"{IN_FLIGHT_ERROR_CODE} {_IN_FLIGHT_MESSAGE}")
        return [record_from_row(r) for r in conn.execute(sql.SELECT_QUEUED)]

    def purge_chunk(self, older_than: float, limit: int) -> int:
        assert self.conn is not None
        conn = self.conn
        ids = [(r[0],) for r in conn.execute(sql.PURGE_SELECT, (older_than, limit))]
        if ids:
            self._delete_ids(ids)
        return len(ids)

    def checkpoint(self) -> None:
        """Truncate the WAL at close.  Another process using the file may hold it open or
        be writing: then the WAL stays for it (or the last one to close) to checkpoint."""
        assert self.conn is not None
        try:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise


class _Syncer(threading.Thread):
    """At synchronous=FULL: fsyncs the WAL after the writer's commits, then answers them.

    It takes every commit waiting at that moment and covers them with one fsync (on its
    own descriptor of the ``-wal`` file: fsync writes out the file, whoever wrote it).
    ``None`` on the queue stops it after what came before.
    """

    def __init__(self, writer: Writer) -> None:
        super().__init__(name="smpp-engine-store-syncer", daemon=True)
        self.queue: queue.SimpleQueue[list[tuple[Op, Any, BaseException | None]] | None] = (
            queue.SimpleQueue()
        )
        self._writer = writer
        wal = writer._path + "-wal"
        self._fd = os.open(wal, os.O_RDONLY | os.O_CREAT, 0o644)
        try:
            # The WAL's directory entry too, once (SQLite at NORMAL may not have synced it).
            os.fsync(self._fd)
            directory = os.open(os.path.dirname(os.path.abspath(wal)), os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except BaseException:
            os.close(self._fd)
            raise

    def run(self) -> None:
        _name_os_thread("store-syncer")
        q = self.queue
        writer = self._writer
        failed: OSError | None = None  # after one failed fsync, nothing is durable
        try:
            while True:
                items = [q.get()]
                with contextlib.suppress(queue.Empty):
                    while True:
                        items.append(q.get_nowait())
                done = [d for group in items if group is not None for d in group]
                if done:
                    try:
                        if failed is not None:
                            raise failed
                        os.fsync(self._fd)
                    except OSError as exc:
                        failed = exc
                        writer.fail_unsynced(done, exc)
                    else:
                        writer._answer(done)
                if None in items:
                    return
        finally:
            os.close(self._fd)
