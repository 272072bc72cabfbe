"""A process of tests/test_store_multiprocess.py: an accepting worker or the poller.

Usage::

    python tests/store_mp_child.py accept PATH SYNCHRONOUS TAG COUNT
    python tests/store_mp_child.py poll PATH TOTAL

Both open the store and print ``ready``, then wait for a line on stdin (the parent starts
every process at once, so that the writers contend for the lock).

``accept``: four producers (three senders of their own and one sender that every worker
shares) accept COUNT messages each, one at a time or in groups of three, concurrently; the
body of a producer's n-th message is ``TAG|sender|n``.  At the end one JSON line: every
record as ``[sid, sender_seq, from_, body]`` in the order each call returned, and the
store's stats.

``poll``: calls ``list_queued(after_seq=last seen)`` until TOTAL messages were seen, then
prints one JSON line with what it saw, in order, as ``[sid, sender_seq, body]``.

Every process stops by itself after LIFETIME seconds (a broken parent leaves no orphan).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.store import MessageRecord, NewMessage, SqliteStore

ACCOUNT = "AC" + "d" * 32
SHARED_SENDER = "+15550009999"
LIFETIME = 90.0


def senders(tag: str) -> list[str]:
    """The senders a worker uses: three of its own, then the shared one."""
    return [f"+1555{tag}{i:05d}"[:16] for i in range(3)] + [SHARED_SENDER]


async def _accept(path: str, synchronous: str, tag: str, count: int) -> None:
    store = await SqliteStore.open(path, synchronous=synchronous)
    try:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        done: list[MessageRecord] = []

        async def producer(k: int, sender: str) -> None:
            n = 0
            while n < count:
                if k % 2:  # odd producers accept in groups of three
                    group = [
                        NewMessage(
                            account_sid=ACCOUNT,
                            from_=sender,
                            to="+19990000000",
                            body=f"{tag}|{sender}|{n + j}",
                        )
                        for j in range(min(3, count - n))
                    ]
                    done.extend(await store.accept_many(group))
                    n += len(group)
                else:
                    m = NewMessage(
                        account_sid=ACCOUNT,
                        from_=sender,
                        to="+19990000000",
                        body=f"{tag}|{sender}|{n}",
                    )
                    done.append(await store.accept(m))
                    n += 1

        await asyncio.gather(*(producer(k, s) for k, s in enumerate(senders(tag))))
        out: dict[str, Any] = {
            "records": [[r.sid, r.sender_seq, r.from_, r.body] for r in done],
            "stats": store.stats,
        }
        print(json.dumps(out), flush=True)
    finally:
        await store.close()


async def _poll(path: str, total: int) -> None:
    store = await SqliteStore.open(path, synchronous="NORMAL")
    try:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        seen: list[list[Any]] = []
        last = 0
        polls = 0
        while len(seen) < total:
            batch = await store.list_queued(last, limit=500)
            polls += 1
            seen += [[r.sid, r.sender_seq, r.body] for r in batch]
            if batch:
                last = batch[-1].sender_seq
            else:
                await asyncio.sleep(0.002)
        print(json.dumps({"seen": seen, "polls": polls}), flush=True)
    finally:
        await store.close()


async def main(argv: list[str]) -> None:
    if argv[0] == "accept":
        work = _accept(argv[1], argv[2], argv[3], int(argv[4]))
    else:
        work = _poll(argv[1], int(argv[2]))
    await asyncio.wait_for(work, LIFETIME)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
