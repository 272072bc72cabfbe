"""An end-to-end run of the parts that exist today, on loopback, in one process.

``smpp-engine demo`` (or ``python -m engine demo``) wires the library's pieces the way the
daemon will: messages are accepted into a SQLite store (durable before they count), paced
per sender by :class:`engine.RateScheduler`, submitted over a real SMPP bind by
:class:`engine.EsmeClient` to the simulated carrier (:class:`engine.sim.SimCarrier`), and
their delivery receipts are matched back to the stored rows.  It prints what happened and
exits; nothing outside 127.0.0.1 is touched.

This is a demonstration and a smoke test, not the daemon: the REST API, webhooks and the
long-running dispatcher are not built yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine._core import RateScheduler
from engine.aio.client import EsmeClient
from engine.lifecycle import Outcome, link_error_outcome, receipt_outcome, submit_outcome
from engine.pdu.constants import CommandStatus, RegisteredDelivery
from engine.receipts import receipt_from_pdu
from engine.sim import SimCarrier
from engine.store import FINAL_STATUSES, NewMessage, SqliteStore, Store
from engine.text import build_submit_sms, plan_segments

__all__ = ["DemoResult", "run_demo"]

ACCOUNT = "AC" + "0" * 32
SYSTEM_ID = "demo"
PASSWORD = "demopass"  # the simulated carrier's own test credential, loopback only

# A message the carrier did not take (a link error that is safe to retry, a throttle
# answer) goes back to the scheduler; after this many attempts it fails.
_MAX_ATTEMPTS = 5

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
    receipts_pending: set[str] = set()
    all_receipts = asyncio.Event()
    receipt_errors: list[str] = []

    async with (
        SimCarrier(credentials={SYSTEM_ID: PASSWORD}, receipt_delay=0.05) as carrier,
        await SqliteStore.open(path) as store,
    ):
        say(f"simulated carrier listening on 127.0.0.1:{carrier.port}; store {path}")

        async def on_deliver(pdu: Any) -> int:
            # A receipt: match it to its stored message by the carrier's message id.
            try:
                receipt = receipt_from_pdu(pdu)
                outcome = receipt_outcome(receipt.stat, receipt.err)
                record = await store.apply_receipt(
                    receipt.message_id, outcome.status, outcome.error_code
                )
            except Exception as exc:  # a bad receipt is recorded, never fatal
                receipt_errors.append(f"{type(exc).__name__}: {exc}")
                return int(CommandStatus.ESME_ROK)
            if record is not None and record.status in FINAL_STATUSES:
                # A long message's first part receipt leaves it "sent": wait for the rest.
                receipts_pending.discard(record.sid)
                if not receipts_pending:
                    all_receipts.set()
            return int(CommandStatus.ESME_ROK)

        async with EsmeClient(
            "127.0.0.1",
            carrier.port,
            system_id=SYSTEM_ID,
            password=PASSWORD,
            window=10,
            on_deliver=on_deliver,
        ) as client:
            say("bound as transceiver")
            scheduler = RateScheduler()
            for sender, rate, _ in _SENDERS:
                scheduler.set_rate(sender, rate)
            texts = [
                (sender, to, f"Hello {to}")
                for sender, _, destinations in _SENDERS
                for to in destinations
            ]
            texts.append(_LONG)
            accepted = [
                NewMessage(
                    account_sid=ACCOUNT,
                    from_=sender,
                    to=to,
                    body=body,
                    num_segments=plan_segments(body).num_segments,
                )
                for sender, to, body in texts
            ]
            records = await store.accept_many(accepted)
            result.accepted = len(records)
            say(f"accepted {len(records)} messages (durable in SQLite before counted)")
            for record in records:
                scheduler.push(record.from_, record, record.num_segments)
                receipts_pending.add(record.sid)

            attempts: Counter[str] = Counter()
            while len(scheduler):
                now = loop.time()
                ready = scheduler.pop_ready(now)
                if not ready:
                    wake = scheduler.next_ready_at()
                    await asyncio.sleep(max(0.0, (wake or now) - now))
                    continue
                for record in ready:
                    attempts[record.sid] += 1
                again = await asyncio.gather(
                    *(_send(store, client, r, result, now, attempts[r.sid]) for r in ready)
                )
                for record, requeued in zip(ready, again, strict=True):
                    if requeued:  # not taken by the carrier: paced again like a new one
                        scheduler.push(record.from_, record, record.num_segments)

            say(f"submitted {result.submitted}; waiting for delivery receipts")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_receipts.wait(), timeout=10.0)

        # One read of the account's messages (newest first), not one query per message.
        stored, _ = await store.list_messages(ACCOUNT, page_size=len(records))
        by_sid = {m.sid: m.status for m in stored}
        result.statuses.update(by_sid.get(r.sid, "missing") for r in records)
    result.elapsed = loop.time() - started
    for sender, times in result.send_times.items():
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        say(f"sender {sender}: {len(times)} messages over {span:.2f} s")
    say("final statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(result.statuses.items())))
    for error in receipt_errors:
        say(f"receipt error: {error}")
    say(f"done in {result.elapsed:.2f} s")
    return result


async def _send(
    store: Store, client: EsmeClient, record: Any, result: DemoResult, now: float, attempt: int
) -> bool:
    """Submit one stored message: mark it sending first (at-least-once), then record what
    the carrier said.  True when it goes back to the queue for another attempt."""
    await store.mark_sending(record.sid, SYSTEM_ID)
    parts = build_submit_sms(
        record.from_,
        record.to,
        record.body,
        registered_delivery=int(RegisteredDelivery.SUCCESS_OR_FAILURE),
    )
    # The parts go in order through one submit_many: each gets its own carrier id and,
    # later, its own receipt; the store joins them (delivered only when every part is).
    responses = await client.submit_many(parts)
    outcomes = [_part_outcome(r) for r in responses]
    failed = next((o for o in outcomes if o is not None and o.status == "failed"), None)
    if failed is not None:
        await store.mark_failed(record.sid, failed.error_code or 30008, failed.error_message or "")
    elif any(o is None or o.status == "queued" for o in outcomes):
        # Never accepted (LinkDownError, ThrottledError: retry-safe) or outcome unknown
        # (at-least-once: sent again; a late receipt of the first attempt still matches).
        if attempt >= _MAX_ATTEMPTS:
            await store.mark_failed(
                record.sid, 30008, f"not accepted by the carrier in {attempt} attempts"
            )
        else:
            await store.requeue(record.sid, detail=f"attempt {attempt} not accepted")
            return True
    else:
        await store.mark_sent(record.sid, [r.message_id for r in responses])
    result.submitted += 1
    result.send_times.setdefault(record.from_, []).append(now)
    return False


def _part_outcome(response: Any) -> Outcome | None:
    """One part's outcome: None (send again) or a lifecycle Outcome."""
    if isinstance(response, BaseException):
        return link_error_outcome(response)
    return submit_outcome(response.command_status)


def main(database: str | None = None) -> int:
    """Run the demo on a fresh event loop; 0 when every message reached a final status."""
    t0 = time.perf_counter()
    result = asyncio.run(run_demo(database=database))
    final = sum(result.statuses[s] for s in FINAL_STATUSES)
    ok = final == result.accepted
    took = time.perf_counter() - t0
    print(f"{'OK' if ok else 'INCOMPLETE'}: {final}/{result.accepted} final ({took:.2f} s)")
    return 0 if ok else 1
