"""Rate scheduler benchmark: engine.RateScheduler vs a plain heapq pacer, one run.

The peer (``HeapqPacer`` below) is what one would write in Python for the same job: a
token bucket and a ``collections.deque`` per sender, and a ``heapq`` of (ready time, seq,
key) over the senders with queued messages; same semantics as ours at the sender level
(a message of s segments leaves when its bucket holds min(s, burst) tokens and takes s;
ties go to the sender queued first).  It has no accounts, links or expiry; ours keeps that
bookkeeping (unused here: no levels, no expiry) on the same path.

Workload, for N active senders (1,000 / 100,000 / 1,000,000):

- senders keyed like phone numbers (``+1415xxxxxxx``), rates cycling over 1, 3, 10 and
  100 segments/s (the tier defaults), burst 1, created before timing;
- **push**: M messages in total (K = M / N per sender), pushed round-robin over the
  senders; items are small ints (the caller's objects, not ours to count);
- **pop**: a dispatcher that ticks every 10 ms of simulated time and calls
  ``pop_ready(now)`` until everything has left; a "dispatch decision" is one message
  handed out;
- ours alone, once more with 10 accounts and 2 links whose rates hold the senders back
  (senders wait in the levels' wait lists), since the peer has no such levels.

The drained items are checked to be the same multiset for both, and each sender's items
in push order.

Repeats of the two are interleaved (a burst of load on the shared machine hits both);
the median of the repeats is printed, with the ratio.  Memory per queued message is the
RSS growth of a fresh child process that pushes M messages (tracemalloc does not see
the C arrays), minus the same run with the senders only.

Run: python bench/bench_sched.py [--quick]   (--quick: ~10-20 s; smaller M, no 1M row)
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import subprocess
import sys
from collections import deque
from heapq import heappop, heappush, heapreplace
from pathlib import Path
from time import perf_counter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import RateScheduler

RATES = (1.0, 3.0, 10.0, 100.0)
TICK = 0.01
_EPS = 1e-9
_INF = float("inf")


class HeapqPacer:
    """Per-sender token buckets and FIFOs over a heapq of ready times (the peer)."""

    def __init__(self) -> None:
        self.queues: dict[str, deque[tuple[object, int]]] = {}
        self.buckets: dict[str, list[float]] = {}  # tokens, last, rate, burst
        self.heap: list[tuple[float, int, str]] = []
        self.seq = 0
        self.count = 0

    def set_rate(self, key: str, per_second: float, burst: float = 1.0) -> None:
        self.buckets[key] = [burst, -_INF, per_second, burst]
        self.queues.setdefault(key, deque())

    @staticmethod
    def _ready(b: list[float], segments: int) -> float:
        need = segments if segments < b[3] else b[3]
        if b[0] >= need - _EPS:
            return b[1]
        return b[1] + (need - b[0]) / b[2]

    def push(self, key: str, item: object, segments: int = 1) -> None:
        q = self.queues[key]
        q.append((item, segments))
        self.count += 1
        if len(q) == 1:
            heappush(self.heap, (self._ready(self.buckets[key], segments), self.seq, key))
            self.seq += 1

    def pop_ready(self, now: float) -> list[object]:
        out: list[object] = []
        heap = self.heap
        while heap and heap[0][0] <= now:
            key = heap[0][2]
            q = self.queues[key]
            item, seg = q.popleft()
            b = self.buckets[key]
            if now > b[1]:
                b[0] = min(b[3], b[0] + b[2] * (now - b[1]))
                b[1] = now
            b[0] -= seg
            out.append(item)
            if q:
                heapreplace(heap, (self._ready(b, q[0][1]), self.seq, key))
                self.seq += 1
            else:
                heappop(heap)
        self.count -= len(out)
        return out

    def __len__(self) -> int:
        return self.count


def make_keys(n: int) -> list[str]:
    return [f"+1415{i:07d}" for i in range(n)]


def setup(impl: str, keys: list[str]) -> RateScheduler | HeapqPacer:
    s: RateScheduler | HeapqPacer = RateScheduler() if impl == "ours" else HeapqPacer()
    for i, key in enumerate(keys):
        s.set_rate(key, RATES[i % 4])
    return s


def run_push(s: RateScheduler | HeapqPacer, keys: list[str], per_sender: int) -> float:
    push = s.push
    item = 0
    t0 = perf_counter()
    for _ in range(per_sender):
        for key in keys:
            push(key, item)
            item += 1
    return perf_counter() - t0


def run_pop(s: RateScheduler | HeapqPacer) -> tuple[float, list[object]]:
    pop = s.pop_ready
    got: list[object] = []
    now = 0.0
    t0 = perf_counter()
    while len(s):
        got += pop(now)
        now += TICK
    return perf_counter() - t0, got


def one_round(impl: str, keys: list[str], per_sender: int) -> tuple[float, float, list[object]]:
    s = setup(impl, keys)
    gc.collect()
    tp = run_push(s, keys, per_sender)
    td, got = run_pop(s)
    return tp, td, got


def levels_round(keys: list[str], per_sender: int) -> float:
    """Pops per second when account and link buckets are what holds senders back."""
    s = RateScheduler()
    for a in range(10):
        s.set_account_rate(a, 20_000, 100)
    for link in range(2):
        s.set_link_rate(link, 150_000, 100)
    for i, key in enumerate(keys):
        s.set_rate(key, RATES[i % 4])
        s.assign(key, account=i % 10, link=i % 2)
    for _ in range(per_sender):
        for key in keys:
            s.push(key, 0)
    gc.collect()
    td, got = run_pop(s)
    assert len(got) == len(keys) * per_sender
    return len(got) / td


def check_same(ours: list[object], peer: list[object], n: int, per_sender: int) -> None:
    assert sorted(ours) == sorted(peer) == list(range(n * per_sender))  # type: ignore[type-var]
    # Per-sender order: item i belongs to sender i % n and is its (i // n)-th message.
    last = [-1] * n
    for item in ours:
        assert isinstance(item, int)
        k = item % n
        assert item > last[k], "ours broke a sender's order"
        last[k] = item


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def mem_child(impl: str, n: int, per_sender: int, push: bool) -> None:
    """Print the RSS growth (KiB) of creating n senders and pushing n*per_sender items."""
    keys = make_keys(n)
    item = object()  # one shared item: only the scheduler's own bytes are counted
    gc.collect()
    before = rss_kib()
    s = setup(impl, keys)
    if push:
        for _ in range(per_sender):
            for key in keys:
                s.push(key, item)
    gc.collect()
    print(rss_kib() - before)


def measure_mem(impl: str, n: int, per_sender: int) -> tuple[float, float]:
    """(bytes per sender, bytes per queued message), each from fresh child processes."""

    def child(push: bool) -> int:
        out = subprocess.run(
            [sys.executable, __file__, "--mem-child", impl, str(n), str(per_sender)]
            + (["--push"] if push else []),
            check=True,
            capture_output=True,
            text=True,
        )
        return int(out.stdout.strip())

    senders_only = child(False)
    with_msgs = child(True)
    return senders_only * 1024 / n, (with_msgs - senders_only) * 1024 / (n * per_sender)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="CI-sized run (~10-20 s)")
    ap.add_argument("--mem-child", nargs=3, metavar=("IMPL", "N", "K"), help=argparse.SUPPRESS)
    ap.add_argument("--push", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.mem_child:
        impl, n, k = args.mem_child
        mem_child(impl, int(n), int(k), args.push)
        return

    if args.quick:
        plan = [(1_000, 100), (100_000, 2)]
        repeats = 3
    else:
        plan = [(1_000, 1_000), (100_000, 10), (1_000_000, 1)]
        repeats = 5
    print(f"python {platform.python_version()} on {platform.machine()}, {repeats} repeats")
    print("figures are medians; the machine is shared: compare the ratios\n")
    header = (
        f"{'senders':>9} {'msgs':>9} | {'push/s ours':>12} {'heapq':>10} {'ratio':>6} | "
        f"{'pop/s ours':>12} {'heapq':>10} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for n, per_sender in plan:
        keys = make_keys(n)
        m = n * per_sender
        times: dict[str, tuple[list[float], list[float]]] = {"ours": ([], []), "heapq": ([], [])}
        checked = False
        for _ in range(repeats):
            results = {}
            for impl in ("ours", "heapq"):
                tp, td, got = one_round(impl, keys, per_sender)
                times[impl][0].append(tp)
                times[impl][1].append(td)
                results[impl] = got
            if not checked:
                check_same(results["ours"], results["heapq"], n, per_sender)
                checked = True
            del results
        med = {impl: (statistics.median(a), statistics.median(b)) for impl, (a, b) in times.items()}
        push_ours, push_peer = m / med["ours"][0], m / med["heapq"][0]
        pop_ours, pop_peer = m / med["ours"][1], m / med["heapq"][1]
        print(
            f"{n:>9,} {m:>9,} | {push_ours:>12,.0f} {push_peer:>10,.0f} "
            f"{push_ours / push_peer:>5.2f}x | {pop_ours:>12,.0f} {pop_peer:>10,.0f} "
            f"{pop_ours / pop_peer:>5.2f}x"
        )
        rows.append((n, m))

    n_lv, k_lv = (100_000, 2) if args.quick else (100_000, 10)
    rates = sorted(levels_round(make_keys(n_lv), k_lv) for _ in range(repeats))
    print(
        f"\nours with limiting levels ({n_lv:,} senders in 10 accounts of 20,000/s and 2 links"
        f" of 150,000/s, burst 100): {statistics.median(rates):,.0f} pops/s (no peer)"
    )

    print("\nmemory (RSS growth in fresh processes; items are one shared object):")
    n_mem, k_mem = (100_000, 5) if args.quick else (1_000_000, 5)
    for impl in ("ours", "heapq"):
        per_sender_b, per_msg_b = measure_mem(impl, n_mem, k_mem)
        print(
            f"  {impl:>5}: {n_mem:,} senders x {k_mem} msgs: {per_sender_b:,.0f} B/sender "
            f"(key, dict entry, bucket), {per_msg_b:,.1f} B/queued message"
        )


if __name__ == "__main__":
    main()
