"""Several processes share one SQLite store file: two accept at once while a third polls.

What the daemon relies on (issue 7: HTTP workers as processes, one dispatcher that learns
of new messages by polling :meth:`SqliteStore.list_queued`): every accepted message is seen
by the poller exactly once, ids strictly increase in the poll, each process's messages of
one sender keep the order that process accepted them in, and nobody gets an error while
the writers take turns at SQLite's write lock.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from engine.errors import StoreError
from engine.store import NewMessage, SqliteStore
from tests.store_mp_child import senders

CHILD = Path(__file__).with_name("store_mp_child.py")
HANG_GUARD = 120.0  # seconds; only stops a broken run
COUNT = 400  # messages per producer; 4 producers per worker


def _start(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(CHILD), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _run_all(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    workers = [
        _start("accept", str(path), "FULL", "1", str(COUNT)),
        _start("accept", str(path), "NORMAL", "2", str(COUNT)),
    ]
    poller = _start("poll", str(path), str(2 * 4 * COUNT))
    procs = [*workers, poller]
    timers = [threading.Timer(HANG_GUARD, p.kill) for p in procs]
    for t in timers:
        t.start()
    try:
        for p in procs:  # every process has the store open before any starts
            assert p.stdout is not None and p.stdout.readline() == b"ready\n", p.stderr
        for p in procs:
            assert p.stdin is not None
            p.stdin.write(b"go\n")
            p.stdin.flush()
        outs = []
        for p in procs:
            out, err = p.communicate()
            assert p.returncode == 0, err.decode()[-3000:]
            assert b"Error" not in err and b"Traceback" not in err, err.decode()[-3000:]
            outs.append(json.loads(out.decode().strip().splitlines()[-1]))
    finally:
        for t in timers:
            t.cancel()
        for p in procs:
            p.kill()
            p.wait()
    return outs[:2], outs[2]


async def test_two_accepting_processes_and_a_poller(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    store = await SqliteStore.open(path)  # the file exists before the race to create it
    await store.close()
    worker_outs, poll_out = await asyncio.to_thread(_run_all, path)
    # How often a writer found the other one holding the lock (not asserted: it depends on
    # the scheduling; printed for `pytest -s`).
    print(
        "busy waits:", [o["stats"]["busy_waits"] for o in worker_outs], "polls:", poll_out["polls"]
    )

    accepted: dict[str, tuple[int, str]] = {}
    for tag, out in zip(("1", "2"), worker_outs, strict=True):
        for sid, seq, _, body in out["records"]:
            assert sid not in accepted, "two accepts got one sid"
            accepted[sid] = (seq, body)
        assert len(out["records"]) == 4 * COUNT
        # Per sender, this process's acceptance order is the order of the ids.
        for sender in senders(tag):
            mine = [(seq, body) for _, seq, f, body in out["records"] if f == sender]
            mine.sort()
            assert [b for _, b in mine] == [f"{tag}|{sender}|{n}" for n in range(COUNT)]

    seen = poll_out["seen"]
    seqs = [s for _, s, _ in seen]
    assert all(a < b for a, b in itertools.pairwise(seqs)), "ids not increasing"
    assert len({sid for sid, _, _ in seen}) == len(seen), "a message was seen twice"
    # Exactly the accepted messages, each with the sender_seq its accept returned.
    assert {sid: (seq, body) for sid, seq, body in seen} == accepted
    # The ids are one gap-free run: every commit followed the one before it.
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))

    store = await SqliteStore.open(path)
    try:
        recs = await store.list_queued(0, limit=10_000)
        assert [(r.sid, r.sender_seq) for r in recs] == [(sid, s) for sid, s, _ in seen]
    finally:
        await store.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _msg(body: str = "hi") -> NewMessage:
    return NewMessage(
        account_sid="AC" + "e" * 32, from_="+15550001111", to="+15550002222", body=body
    )


async def _wait_for(cond: Any) -> None:
    for _ in range(2000):  # a safety net only; the condition ends the wait
        if cond():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


async def test_a_held_write_lock_is_waited_for_not_reported(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    store = await SqliteStore.open(path, synchronous="NORMAL")
    other = sqlite3.connect(path, isolation_level=None)  # another writer of the file
    try:
        before = await store.accept(_msg("before"))
        other.execute("BEGIN IMMEDIATE")
        other.execute(
            "INSERT INTO messages (id, sid, account_sid, direction, from_, to_, body, status,"
            " num_segments, date_created, date_updated) VALUES"
            " ((SELECT max(id) FROM messages) + 1, 'SM' || hex(randomblob(16)), 'ACx',"
            " 'outbound-api', '+1', '+2', 'other', 'queued', 1, 0, 0)"
        )
        task = asyncio.ensure_future(store.accept(_msg("during")))
        await _wait_for(lambda: store.stats["busy_waits"] >= 1)
        assert not task.done()
        other.execute("COMMIT")
        during = await task
        # Committed after the other writer's row: its id comes after that one.
        other_id = other.execute("SELECT id FROM messages WHERE body = 'other'").fetchone()[0]
        assert before.sender_seq < other_id < during.sender_seq
        polled = await store.list_queued(before.sender_seq)
        assert [r.body for r in polled] == ["other", "during"]
    finally:
        other.close()
        await store.close()


async def test_a_lock_held_past_busy_timeout_fails_that_group_only(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    store = await SqliteStore.open(path, synchronous="NORMAL", busy_timeout=0.05)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError, match="locked"):
            await store.accept(_msg("refused"))
        other.execute("ROLLBACK")
        after = await store.accept(_msg("after"))
        assert [r.sid for r in await store.list_queued()] == [after.sid]
    finally:
        other.close()
        await store.close()
