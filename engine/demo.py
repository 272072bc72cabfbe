"""An end-to-end run of the gateway's outbound half on loopback, in one process.

``smpp-engine demo`` (or ``python -m engine demo``) is a thin face over the daemon's own
parts: messages are accepted into a SQLite store (durable before they count), and the
daemon's :class:`engine.aio.dispatcher.Dispatcher` paces them per sender with
:class:`engine.RateScheduler`, submits them over a real SMPP bind (:class:`engine.EsmeClient`,
through :class:`engine.aio.carriers.CarrierLinks`) to the simulated carrier
(:class:`engine.sim.SimCarrier`) and matches their delivery receipts back to the stored
rows.  It prints what happened and exits; nothing outside 127.0.0.1 is touched.
``smpp-engine serve`` runs the same dispatcher behind the REST API.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.aio.carriers import CarrierLinks
from engine.aio.dispatcher import Dispatcher
from engine.config import CarrierLinkConfig
from engine.scheduler import Pacer
from engine.sim import SimCarrier
from engine.store import FINAL_STATUSES, NewMessage, SqliteStore
from engine.text import plan_segments

__all__ = ["DemoResult", "run_demo"]

ACCOUNT = "AC" + "0" * 32
SYSTEM_ID = "demo"
PASSWORD = "demopass"  # the simulated carrier's own test credential, loopback only

# (sender, per-second rate, destinations): a short code paced at 100/s and a toll-free
# number at 3/s.  Destinations ending in 91 get an UNDELIV receipt from the sim (its rule).
_SENDERS = (
    ("12345", 100.0, [f"+1555010{i:04d}" for i in range(40)]),
    ("+18005550100", 3.0, ["+15550200001", "+15550200002", "+15550200091"]),
)
# One long message: two segments, two submit_sm, two receipts joined into one status.
_LONG = ("+18005550100", "+15550200003", "A long message, sent in two parts. " * 6)


@dataclass
class DemoResult:
    """What the demo observed: counts by final status and per-sender send times."""

    accepted: int = 0
    submitted: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    send_times: dict[str, list[float]] = field(default_factory=dict)
    elapsed: float = 0.0
    database: str = ""


async def run_demo(
    *, database: str | Path | None = None, say: Callable[[str], Any] = print
) -> DemoResult:
    """Run the demo; ``database`` keeps the SQLite file (default: a temporary one)."""
    with tempfile.TemporaryDirectory(prefix="smpp-engine-demo-") as tmp:
        path = Path(database) if database is not None else Path(tmp) / "demo.sqlite3"
        return await _run(path, say)


async def _run(path: Path, say: Callable[[str], Any]) -> DemoResult:
    result = DemoResult(database=str(path))
    loop = asyncio.get_running_loop()
    started = loop.time()
    holder: list[Dispatcher] = []

    async def on_deliver(link: str, pdu: Any) -> int:
        return await holder[0].on_deliver(link, pdu)

    def on_send(record: Any, now: float) -> None:
        result.submitted += 1
        result.send_times.setdefault(record.from_, []).append(now)

    async with (
        SimCarrier(credentials={SYSTEM_ID: PASSWORD}, receipt_delay=0.05) as carrier,
        await SqliteStore.open(path) as store,
    ):
        say(f"simulated carrier listening on 127.0.0.1:{carrier.port}; store {path}")
        links = CarrierLinks.from_config(
            [CarrierLinkConfig(name=SYSTEM_ID, port=carrier.port, system_id=SYSTEM_ID)],
            on_deliver,
            passwords={SYSTEM_ID: PASSWORD},
        )
        pacer = Pacer()
        for sender, rate, _ in _SENDERS:
            pacer.scheduler.set_rate(sender, rate)
        dispatcher = Dispatcher(store, links, pacer=pacer, on_send=on_send)
        holder.append(dispatcher)
        await links.start(wait=True)
        say("bound as transceiver")
        await dispatcher.start()
        try:
            texts = [
                (sender, to, f"Hello {to}")
                for sender, _, destinations in _SENDERS
                for to in destinations
            ]
            texts.append(_LONG)
            records = await store.accept_many(
                [
                    NewMessage(
                        account_sid=ACCOUNT,
                        from_=sender,
                        to=to,
                        body=body,
                        num_segments=plan_segments(body).num_segments,
                    )
                    for sender, to, body in texts
                ]
            )
            result.accepted = len(records)
            say(f"accepted {len(records)} messages (durable in SQLite before counted)")
            for record in records:
                dispatcher.accepted(record)
            deadline = loop.time() + 30.0
            while loop.time() < deadline:
                # One read of the account's messages (newest first), not one per message.
                stored, _ = await store.list_messages(ACCOUNT, page_size=len(records))
                if sum(m.status in FINAL_STATUSES for m in stored) == len(records):
                    break
                await asyncio.sleep(0.05)
            say(f"submitted {result.submitted}; receipts matched {dispatcher.stats.receipts}")
        finally:
            await dispatcher.stop(5.0)
            await links.close()
        stored, _ = await store.list_messages(ACCOUNT, page_size=len(records))
        by_sid = {m.sid: m.status for m in stored}
        result.statuses.update(by_sid.get(r.sid, "missing") for r in records)
        for error in dispatcher.stats.errors:
            say(f"error: {error}")
    result.elapsed = loop.time() - started
    for sender, times in result.send_times.items():
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        say(f"sender {sender}: {len(times)} messages over {span:.2f} s")
    say("final statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(result.statuses.items())))
    say(f"done in {result.elapsed:.2f} s")
    return result


def main(database: str | None = None) -> int:
    """Run the demo on a fresh event loop; 0 when every message reached a final status."""
    t0 = time.perf_counter()
    result = asyncio.run(run_demo(database=database))
    final = sum(result.statuses[s] for s in FINAL_STATUSES)
    ok = final == result.accepted
    took = time.perf_counter() - t0
    print(f"{'OK' if ok else 'INCOMPLETE'}: {final}/{result.accepted} final ({took:.2f} s)")
    return 0 if ok else 1
