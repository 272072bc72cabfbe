"""What is particular to the SQLite backend: opening options, the file it leaves, how a
database error inside a group commit is reported, and which indexes the queries use."""

from __future__ import annotations

import asyncio
import errno
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from engine.errors import StoreError
from engine.store import NewMessage, SqliteStore, _sqlite_writer
from engine.store import _sqlite_sql as sql
from engine.store._sqlite_writer import carrier_id_keys

AC = "AC" + "5" * 32


def msg(body: str = "hi", to: str = "+15550000001", **kw: Any) -> NewMessage:
    return NewMessage(account_sid=AC, from_="+15557770000", to=to, body=body, **kw)


@pytest.mark.parametrize(
    "field,kw",
    [
        ("synchronous", {"synchronous": "EXTRA"}),
        ("in_flight_policy", {"in_flight_policy": "exactly-once"}),
        ("max_batch", {"max_batch": 0}),
        ("fsync_thread", {"fsync_thread": "yes"}),
        ("cache_size_kib", {"cache_size_kib": "big"}),
        ("wal_autocheckpoint", {"wal_autocheckpoint": 1}),
    ],
)
def test_bad_options_name_the_option(tmp_path: Path, field: str, kw: dict[str, Any]) -> None:
    with pytest.raises(StoreError) as info:
        SqliteStore(tmp_path / "x.db", **kw)
    assert info.value.field == field
    assert not (tmp_path / "x.db").exists()


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not an SQLite file at all, just text " * 100)
    with pytest.raises(StoreError, match="open"):
        SqliteStore(path)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="schema version 99"):
        SqliteStore(path)


async def test_a_version_1_file_is_upgraded(tmp_path: Path) -> None:
    """Version 2 only added the parts table: a version 1 file gets it and keeps its rows;
    a message sent before the upgrade (no parts rows) takes the one-part receipt rules."""
    path = tmp_path / "v1.db"
    store = await SqliteStore.open(path, synchronous="OFF")
    rec = await store.accept(msg())
    await store.mark_sending(rec.sid, "bind-1")
    await store.mark_sent(rec.sid, "77")
    waiting = await store.accept(msg(num_segments=3))
    await store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE parts")
        conn.execute("DROP TABLE ids_used")
        conn.execute("DROP TABLE sender_queue")
        conn.execute("PRAGMA user_version = 1")
    store = await SqliteStore.open(path, synchronous="OFF")
    try:
        got = await store.apply_receipt("77", "undelivered", 30003)
        assert got is not None and (got.sid, got.status) == (rec.sid, "undelivered")
        # The sender's queue count is rebuilt from the messages at the upgrade.
        assert await store.queued_segments(waiting.from_) == 3
        two = await store.accept(msg())
        await store.mark_sending(two.sid, "bind-1")
        await store.mark_sent(two.sid, ["81", "82"])
        assert (await store.apply_receipt("81", "delivered")).status == "sent"  # type: ignore[union-attr]
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
        plan = " ".join(
            str(r) for r in conn.execute("EXPLAIN QUERY PLAN SELECT * FROM parts WHERE msg_id = 1")
        )
        assert "SEARCH parts USING PRIMARY KEY" in plan


async def test_purge_takes_the_parts_too(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    store = await SqliteStore.open(path, synchronous="OFF")
    try:
        rec = await store.accept(msg(), at=1000.0)
        await store.mark_sending(rec.sid, "bind-1")
        await store.mark_sent(rec.sid, ["91", "92"])
        kept = await store.accept(msg(), at=5000.0)
        await store.mark_sending(kept.sid, "bind-1")
        await store.mark_sent(kept.sid, ["93", "94", "95"])
        assert await store.purge(2000.0) == 1
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*), min(canon_id) FROM parts").fetchone() == (3, "93")


async def test_wal_mode_and_a_clean_close(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    store = await SqliteStore.open(path, synchronous="NORMAL")
    await store.accept(msg())
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    await store.close()
    # The close checkpointed: the WAL is empty and the main file holds the row.
    wal = Path(str(path) + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT count(*) FROM messages").fetchone()[0] == 1


async def test_a_database_error_fails_the_whole_group_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    store = await SqliteStore.open(path, synchronous="NORMAL")
    try:
        with sqlite3.connect(path) as raw:  # a real SQLite error inside the writer's transaction
            raw.execute(
                "CREATE TRIGGER boom BEFORE INSERT ON messages WHEN NEW.body = 'boom' "
                "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
            )
        results = await asyncio.gather(
            *(store.accept(msg(f"ok{i}")) for i in range(20)),
            store.accept_many([msg("fine"), msg("boom")]),
            return_exceptions=True,
        )
        failed = [r for r in results if isinstance(r, StoreError)]
        assert failed and all("nothing in this group was written" in str(e) for e in failed)
        assert any("disk on fire" in str(e) for e in failed)
        stored, _ = await store.list_messages(AC, page_size=100)
        succeeded = [r for r in results if not isinstance(r, BaseException)]
        # Exactly what was reported accepted is there; none of a failed group is.
        assert len(stored) == sum(len(r) if isinstance(r, list) else 1 for r in succeeded)
        assert "boom" not in {m.body for m in stored}
        after = await store.accept(msg("after"))
        assert await store.get(after.sid) == after
        ids = [m.sender_seq for m in stored] + [after.sender_seq]
        assert len(set(ids)) == len(ids)
    finally:
        await store.close()


async def test_number_index_is_used_when_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    store = await SqliteStore.open(path, number_index=True)
    try:
        await store.accept_many([msg(str(i), to=f"+1555{i:07d}") for i in range(30)])
        page, _ = await store.list_messages(AC, to="+15550000007")
        assert [m.body for m in page] == ["7"]
    finally:
        await store.close()
    with sqlite3.connect(path) as raw:
        plan = " ".join(
            str(row)
            for row in raw.execute(
                "EXPLAIN QUERY PLAN SELECT id FROM messages WHERE account_sid = ? AND to_ = ? "
                "ORDER BY id DESC LIMIT 51",
                (AC, "+15550000007"),
            )
        )
        assert "messages_to" in plan
        plan = " ".join(
            str(row)
            for row in raw.execute(
                "EXPLAIN QUERY PLAN SELECT id FROM messages "
                "WHERE status IN ('queued', 'sending') ORDER BY id"
            )
        )
        assert "messages_pending" in plan


async def test_sids_grow_with_time_and_stay_unguessable(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "m.db", synchronous="OFF")
    try:
        a = await store.accept(msg(), at=1_790_000_000.0)
        b = await store.accept(msg(), at=1_790_000_001.0)
        assert a.sid[:14] < b.sid[:14]  # the time prefix: the sid index appends
        many = await store.accept_many([msg()] * 2000, at=1_790_000_002.0)
        tails = {r.sid[14:] for r in many}
        assert len(tails) == 2000  # 80 random bits each
    finally:
        await store.close()


@pytest.mark.parametrize(
    "carrier_id,canonical,keys",
    [
        ("0x1F", "1f", {"1f", "31"}),
        ("0X00ff", "ff", {"ff", "255"}),
        ("0xZZ", "0xZZ", {"0xZZ"}),
        ("31", "31", {"31", "1f", "49"}),
        (" 42\x00", "42", {"42", "2a", "66"}),
    ],
)
def test_carrier_id_keys(carrier_id: str, canonical: str, keys: set[str]) -> None:
    assert carrier_id_keys(carrier_id) == (canonical, keys)


async def test_one_wakeup_per_commit_not_per_message(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "m.db", synchronous="NORMAL")
    loop = asyncio.get_running_loop()
    calls = 0
    real = loop.call_soon_threadsafe

    def counting(*args: Any, **kw: Any) -> Any:
        nonlocal calls
        calls += 1
        return real(*args, **kw)

    loop.call_soon_threadsafe = counting  # type: ignore[method-assign,assignment]
    try:
        before = store.stats["commits"]
        await asyncio.gather(*(store.accept(msg(str(i))) for i in range(500)))
        commits = store.stats["commits"] - before
        assert calls == commits < 500
    finally:
        del loop.call_soon_threadsafe
        await store.close()


async def test_full_answers_only_after_the_wal_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At FULL the commit is fsynced by the store's syncer thread: while that fsync has not
    returned, the row is committed (another connection sees it) but nobody is answered."""
    path = tmp_path / "m.db"
    store = await SqliteStore.open(path, synchronous="FULL")
    entered, gate = threading.Event(), threading.Event()
    real_fsync = os.fsync

    def gated_fsync(fd: int) -> None:
        entered.set()
        assert gate.wait(30), "hang guard"
        real_fsync(fd)

    monkeypatch.setattr(_sqlite_writer.os, "fsync", gated_fsync)
    try:
        task = asyncio.ensure_future(store.accept(msg("held")))
        assert await asyncio.to_thread(entered.wait, 30)
        with sqlite3.connect(path) as raw:
            assert raw.execute("SELECT body FROM messages").fetchall() == [("held",)]
        await asyncio.sleep(0.05)  # the loop turns; the accept cannot have returned
        assert not task.done()
        gate.set()
        rec = await asyncio.wait_for(task, 30)
        assert rec.body == "held"
    finally:
        gate.set()
        monkeypatch.undo()
        await store.close()


async def test_a_failed_fsync_fails_its_group_and_stops_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await SqliteStore.open(tmp_path / "m.db", synchronous="FULL")
    before = await store.accept(msg("before"))

    def broken_fsync(fd: int) -> None:  # the disk reports an I/O error
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(_sqlite_writer.os, "fsync", broken_fsync)
    try:
        results = await asyncio.wait_for(
            asyncio.gather(
                *(store.accept(msg(f"x{i}")) for i in range(50)),
                store.accept_many([msg("m1"), msg("m2")]),
                return_exceptions=True,
            ),
            30,
        )
        assert all(isinstance(r, StoreError) and "fsync" in str(r) for r in results), results
        with pytest.raises(StoreError, match="fsync"):
            await store.accept(msg("after"))
    finally:
        monkeypatch.undo()
        await store.close()
    reopened = await SqliteStore.open(tmp_path / "m.db", synchronous="FULL")
    try:
        assert await reopened.get(before.sid) == before
    finally:
        await reopened.close()


async def test_max_batch_one_is_one_transaction_per_write(tmp_path: Path) -> None:
    """The benchmark's peer: concurrent accepts, yet one commit each."""
    store = await SqliteStore.open(tmp_path / "m.db", synchronous="NORMAL", max_batch=1)
    try:
        before = store.stats["commits"]
        recs = await asyncio.gather(*(store.accept(msg(str(i))) for i in range(40)))
        await store.accept_many([msg("a"), msg("b")])
        assert store.stats["commits"] - before == 41
        assert len({r.sid for r in recs}) == 40
    finally:
        await store.close()


@pytest.mark.parametrize(
    "options,syncer,sqlite_level",
    [
        ({"synchronous": "FULL"}, True, 1),  # SQLite at NORMAL, the syncer fsyncs
        ({"synchronous": "FULL", "fsync_thread": False}, False, 2),  # SQLite's own FULL
        ({"synchronous": "NORMAL"}, False, 1),
    ],
)
async def test_who_fsyncs_at_each_level(
    tmp_path: Path, options: dict[str, Any], syncer: bool, sqlite_level: int
) -> None:
    store = await SqliteStore.open(tmp_path / "m.db", **options)
    try:
        thread = store._writer._syncer
        assert (thread is not None and thread.is_alive()) is syncer
        conn = store._writer.conn
        assert conn is not None
        level = await store._call(lambda w: conn.execute("PRAGMA synchronous").fetchone()[0])
        assert level == sqlite_level
    finally:
        await store.close()


async def test_the_poll_and_the_queue_count_are_index_lookups(tmp_path: Path) -> None:
    """list_queued must stay cheap when nothing is new: a range of the partial queue index,
    never a scan of the table; queued_segments one primary-key read."""
    path = tmp_path / "m.db"
    store = await SqliteStore.open(path, synchronous="OFF")
    try:
        await store.accept_many([msg(str(i)) for i in range(50)])
    finally:
        await store.close()
    with sqlite3.connect(path) as raw:
        raw.execute("ANALYZE")

        def plan(stmt: str, params: tuple[object, ...]) -> str:
            rows = raw.execute(f"EXPLAIN QUERY PLAN {stmt}", params).fetchall()
            return " | ".join(str(r[-1]) for r in rows)

        poll = plan(sql.SELECT_LIST_QUEUED, (10, 100))
        assert "USING INDEX messages_pending (id>?)" in poll, poll
        assert "TEMP B-TREE" not in poll, poll  # already in id order
        count = plan(sql.SELECT_QUEUED_SEGMENTS, ("+15557770000",))
        assert "SEARCH sender_queue USING PRIMARY KEY (from_=?)" in count, count
