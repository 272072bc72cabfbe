"""The process that tests/test_store_crash.py kills: accepts messages under load, forever.

Usage: ``python tests/store_crash_child.py PATH SYNCHRONOUS RUN`` (RUN numbers the runs
on one file, so that bodies stay unique and ordered across restarts).

Several senders accept messages concurrently (some one by one, some in groups of five) and
a dispatcher moves every third message through mark_sending and mark_sent.  A line goes to
stdout only AFTER the store call it reports has returned:

    A <sid> <sender> <n>   accepted (sender's n-th message; body = body_of(sender, RUN, n))
    D <sid>                about to call mark_sending (printed before, as intent)
    S <sid>                mark_sending returned
    T <sid>                mark_sent returned

It stops by itself after ``LIFETIME`` seconds so that a failed parent leaves no orphan.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.store import NewMessage, SqliteStore

ACCOUNT = "AC" + "c" * 32
SENDERS = [f"+1555000{i:04d}" for i in range(8)]
LIFETIME = 60.0


def body_of(sender: str, run: int, n: int) -> str:
    """The body of a sender's n-th message in run ``run`` (the parent checks it intact)."""
    return f"{sender}|{run}|{n}|" + "éx"[n % 2] * (n % 170)


def order_of(body: str) -> tuple[int, int]:
    """(run, n) of a body made by :func:`body_of`: a sender's messages sort by it."""
    _, run, n, _ = body.split("|", 3)
    return int(run), int(n)


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def sender_loop(
    store: SqliteStore, index: int, run: int, dispatch: asyncio.Queue[str]
) -> None:
    sender = SENDERS[index]
    n = 0
    while True:
        if index % 2:  # odd senders accept in groups
            group = [
                NewMessage(account_sid=ACCOUNT, from_=sender, to="+19990000000",
                           body=body_of(sender, run, n + k))
                for k in range(5)
            ]  # fmt: skip
            recs = await store.accept_many(group)
        else:
            recs = [
                await store.accept(
                    NewMessage(account_sid=ACCOUNT, from_=sender, to="+19990000000",
                               body=body_of(sender, run, n))
                )
            ]  # fmt: skip
        for rec in recs:
            _say(f"A {rec.sid} {sender} {n}")
            if n % 3 == 0:
                dispatch.put_nowait(rec.sid)
            n += 1


async def dispatcher(store: SqliteStore, dispatch: asyncio.Queue[str]) -> None:
    k = 0
    while True:
        sid = await dispatch.get()
        _say(f"D {sid}")
        await store.mark_sending(sid, "bind-1")
        _say(f"S {sid}")
        await store.mark_sent(sid, f"c{k:x}")
        _say(f"T {sid}")
        k += 1


async def main(path: str, synchronous: str, run: int) -> None:
    store = await SqliteStore.open(path, synchronous=synchronous)
    dispatch: asyncio.Queue[str] = asyncio.Queue()
    tasks = [
        asyncio.ensure_future(sender_loop(store, i, run, dispatch)) for i in range(len(SENDERS))
    ]
    tasks.append(asyncio.ensure_future(dispatcher(store, dispatch)))
    _say("READY")
    await asyncio.wait(tasks, timeout=LIFETIME, return_when=asyncio.FIRST_EXCEPTION)
    for t in tasks:
        if t.done() and t.exception() is not None:
            raise t.exception()  # type: ignore[misc]
        t.cancel()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
