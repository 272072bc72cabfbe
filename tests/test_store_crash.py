"""Crash test: a process accepting messages under load is killed with SIGKILL at a random
moment; every message it reported accepted must be there, intact, and the queue must come
back in each sender's order.

The child (tests/store_crash_child.py) reports a store call on stdout only after the call
returned.  The parent kills it after a random number of reported accepts, then opens the
same file and checks, at synchronous=FULL and NORMAL (both must survive a process crash;
only FULL also survives a power loss, which a test on one machine cannot cut).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Literal

import pytest

from engine.store import SqliteStore
from tests.store_crash_child import ACCOUNT, SENDERS, body_of, order_of

CHILD = Path(__file__).with_name("store_crash_child.py")
HANG_GUARD = 120.0  # seconds; only to stop a broken run, never reached by a working one


def run_and_kill(path: Path, synchronous: str, run: int, kill_after: int) -> list[str]:
    """Start the child, SIGKILL it once it has reported ``kill_after`` accepts, and return
    every complete line it wrote."""
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(path), synchronous, str(run)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    timer = threading.Timer(HANG_GUARD, proc.kill)
    timer.start()
    lines: list[str] = []
    accepted = 0
    try:
        for raw in proc.stdout:
            if not raw.endswith(b"\n"):
                break  # a line cut by the kill was never fully reported
            line = raw.decode()[:-1]
            lines.append(line)
            if line.startswith("A "):
                accepted += 1
                if accepted == kill_after:
                    os.kill(proc.pid, signal.SIGKILL)
                    break
        # What the child wrote before it died was reported too: read it.
        for raw in proc.stdout:
            if raw.endswith(b"\n"):
                lines.append(raw.decode()[:-1])
        proc.wait()
        err = proc.stderr.read().decode()
    finally:
        timer.cancel()
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"child ended on its own: {err[-2000:]}"
    assert accepted >= kill_after, err[-2000:]
    return lines


@pytest.mark.parametrize("synchronous", ["FULL", "NORMAL"])
async def test_sigkill_under_load_loses_nothing_accepted(
    tmp_path: Path, synchronous: Literal["FULL", "NORMAL"]
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    path = tmp_path / "crash.db"
    reported: dict[str, tuple[str, int, int]] = {}
    intended: set[str] = set()  # mark_sending may have committed (D printed)
    sending: set[str] = set()  # mark_sending returned (S printed)
    sent: set[str] = set()  # mark_sent returned (T printed)
    for run in range(2):  # crash, recover, crash again on the same file
        lines = run_and_kill(path, synchronous, run, rng.randrange(200, 2500))
        for line in lines:
            kind, _, rest = line.partition(" ")
            if kind == "A":
                sid, sender, nth = rest.split()
                reported[sid] = (sender, run, int(nth))
            elif kind == "D":
                intended.add(rest)
            elif kind == "S":
                sending.add(rest)
            elif kind == "T":
                sent.add(rest)
        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok", seed

        store = await SqliteStore.open(path, synchronous=synchronous)
        try:
            queued = await store.recover()
            for sid, (who, in_run, n) in reported.items():
                rec = await store.get(sid, ACCOUNT)
                assert rec is not None, f"seed {seed}: accepted {sid} lost"
                assert (rec.from_, rec.body) == (who, body_of(who, in_run, n)), seed
                if sid in sent:
                    assert rec.status == "sent", seed
            queued_sids = {q.sid for q in queued}
            for sid in reported.keys() - intended:
                assert sid in queued_sids, f"seed {seed}: {sid} not queued again"
            for sid in intended - sent:
                rec = await store.get(sid)
                assert rec is not None and rec.status in ("queued", "sent"), seed
                # In flight at the kill: queued again and flagged (at-least-once).
                if sid in sending and rec.status == "queued":
                    assert rec.possible_duplicate and rec.attempts >= 1, seed
                    assert sid in queued_sids, seed
            # Each sender's queue comes back in its original order, bodies intact.
            for sender in SENDERS:
                keys = [order_of(q.body) for q in queued if q.from_ == sender]
                assert keys == sorted(keys) and len(set(keys)) == len(keys), seed
                for q in queued:
                    if q.from_ == sender:
                        assert q.body == body_of(sender, *order_of(q.body)), seed
        finally:
            await store.close()
        # The recovered queue is the next run's starting state; nothing of it was sent.
    assert len(reported) >= 400
