"""RateScheduler properties over large random workloads, in simulated time only.

A simulated dispatcher pushes at random times and pops at every time the scheduler names
(next_ready_at / next_expiry_at), which is the fastest any caller can drain it.  The
record of what left when is then checked against the contract, independently of how the
scheduler computes it:

- rate: for every sender, account and link, in any window [t, t + T] at most
  max(burst, largest message) + rate * T segments leave (burst + rate * T when no message
  is larger than the burst);
- order: each sender's items leave in push order; nothing is lost (pushed = sent +
  expired + queued); nothing leaves at or after its expires_at and nothing expires early;
- next_ready_at: popping at the time it names yields an item, popping just before yields
  none (when nothing expires in between);
- throughput: with every queue backlogged the total is the sum of the rates.
"""

from __future__ import annotations

import bisect
import random
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import RateScheduler
from engine.scheduler import TIER_RATES, classify_sender

EPS = 1e-6
RELAXED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Msg:
    key: Hashable
    seq: int
    segments: int
    pushed_at: float
    expires_at: float | None


@dataclass
class Record:
    """What happened to each message, and the limits that applied."""

    sent: list[tuple[float, Msg]] = field(default_factory=list)
    expired: list[tuple[float, Msg]] = field(default_factory=list)
    pushed: int = 0
    # Each sent message's (account, link) when it left, parallel to `sent`.
    via: list[tuple[Hashable | None, Hashable | None]] = field(default_factory=list)
    # Indexes into `sent` of sends taken back by requeue() (a carrier throttle).
    undone: set[int] = field(default_factory=set)
    account_of: dict[Hashable, Hashable] = field(default_factory=dict)
    link_of: dict[Hashable, Hashable] = field(default_factory=dict)


def window_excess(
    events: Iterable[tuple[float, int]], rate: float, burst: float, lengths: Iterable[float]
) -> list[tuple[float, float, float, float]]:
    """(start, T, segments, bound) of every window that lets too much through."""
    ev = sorted(events)
    times = [t for t, _ in ev]
    prefix = [0]
    for _, s in ev:
        prefix.append(prefix[-1] + s)
    biggest = max((s for _, s in ev), default=1)
    bad: list[tuple[float, float, float, float]] = []
    for T in lengths:
        bound = max(burst, biggest) + rate * T + EPS
        for i, t in enumerate(times):
            j = bisect.bisect_right(times, t + T)
            total = prefix[j] - prefix[i]
            if total > bound:
                bad.append((t, T, total, bound))
    return bad


WINDOWS = (0.0, 0.5, 1.0, 3.0)


def check_record(
    rec: Record,
    sched: RateScheduler,
    sender_rates: Mapping[Any, tuple[float, float]],
    account_rates: Mapping[Any, tuple[float, float]],
    link_rates: Mapping[Any, tuple[float, float]],
) -> None:
    sent = [(t, m) for i, (t, m) in enumerate(rec.sent) if i not in rec.undone]
    via = [v for i, v in enumerate(rec.via) if i not in rec.undone]
    # Nothing lost.
    assert rec.pushed == len(sent) + len(rec.expired) + len(sched)
    # Per-sender order, and expiry honoured both ways.
    last_seq: dict[Hashable, int] = {}
    for t, m in sent:
        assert m.seq > last_seq.get(m.key, -1), (m, last_seq.get(m.key))
        last_seq[m.key] = m.seq
        assert m.expires_at is None or t < m.expires_at, (t, m)
        assert t >= m.pushed_at - EPS
    for t, m in rec.expired:
        assert m.expires_at is not None and m.expires_at <= t, (t, m)
    # Rates at every level.
    by_sender: dict[Hashable, list[tuple[float, int]]] = defaultdict(list)
    by_account: dict[Hashable, list[tuple[float, int]]] = defaultdict(list)
    by_link: dict[Hashable, list[tuple[float, int]]] = defaultdict(list)
    for (t, m), (acc, link) in zip(sent, via, strict=True):
        by_sender[m.key].append((t, m.segments))
        if acc is not None:
            by_account[acc].append((t, m.segments))
        if link is not None:
            by_link[link].append((t, m.segments))
    for key, events in by_sender.items():
        rate, burst = sender_rates[key]
        assert window_excess(events, rate, burst, WINDOWS) == [], key
    for acc, events in by_account.items():
        if acc in account_rates:
            rate, burst = account_rates[acc]
            assert window_excess(events, rate, burst, WINDOWS) == [], acc
    for link, events in by_link.items():
        if link in link_rates:
            rate, burst = link_rates[link]
            assert window_excess(events, rate, burst, WINDOWS) == [], link


class Sim:
    """A dispatcher in simulated time that records everything and checks next_ready_at."""

    def __init__(self, sched: RateScheduler) -> None:
        self.s = sched
        self.rec = Record()
        self.seq = 0
        self.now = 0.0
        self.ready_checks = 0

    def push(
        self, key: Hashable, segments: int = 1, ttl: float | None = None, **kw: Hashable
    ) -> Msg:
        exp = None if ttl is None else self.now + ttl
        m = Msg(key, self.seq, segments, self.now, exp)
        self.s.push(key, m, segments, exp, **kw)
        self.seq += 1
        self.rec.pushed += 1
        if "account" in kw:
            self.rec.account_of[key] = kw["account"]
        if "link" in kw:
            self.rec.link_of[key] = kw["link"]
        return m

    def pop(self, t: float, limit: int | None = None) -> list[Msg]:
        self.now = t
        out = self.s.pop_ready(t, limit)
        self.rec.sent += [(t, m) for m in out]
        self.rec.via += [(self.rec.account_of.get(m.key), self.rec.link_of.get(m.key)) for m in out]
        self.rec.expired += [(t, m) for m in self.s.pop_expired(t)]
        return out

    def assign(self, key: Hashable, account: Hashable | None, link: Hashable | None) -> None:
        self.s.assign(key, account=account, link=link)
        for table, value in ((self.rec.account_of, account), (self.rec.link_of, link)):
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value

    def requeue_last(self) -> None:
        """The carrier throttled the last message sent: it goes back to its queue's head."""
        live = [i for i in range(len(self.rec.sent)) if i not in self.rec.undone]
        if not live:
            return
        i = live[-1]
        _, m = self.rec.sent[i]
        self.rec.undone.add(i)
        self.s.requeue(m.key, m, m.segments, m.expires_at)

    def step(self, until: float) -> bool:
        """Handle the next event at or before `until`; False when there is none."""
        r = self.s.next_ready_at()
        e = self.s.next_expiry_at()
        if r is not None:
            r = max(r, self.now)
        if e is not None:
            e = max(e, self.now)  # a requeued message may have expired already
        times = [x for x in (r, e) if x is not None]
        if not times or min(times) > until:
            return False
        t = min(times)
        if r is not None and t == r and (e is None or e > r):
            before = self.now + (r - self.now) * 0.999
            if self.now < before < r:
                assert self.s.pop_ready(before) == [], f"ready before next_ready_at() = {r}"
                self.now = before
            assert self.pop(r), f"nothing ready at next_ready_at() = {r}"
            self.ready_checks += 1
        else:
            self.pop(t)
        return True

    def advance(self, until: float) -> None:
        while self.step(until):
            pass
        self.now = max(self.now, until)

    def run_until(
        self, until: float, arrivals: Iterable[tuple[float, int, Callable[[], None]]] = ()
    ) -> None:
        """Pop at every event time up to `until`, running each arrival at its time."""
        pending = sorted(arrivals)
        i = 0
        while i < len(pending) and pending[i][0] <= until:
            self.advance(pending[i][0])
            while i < len(pending) and pending[i][0] <= self.now:
                pending[i][2]()
                i += 1
        self.advance(until)


def mixed_keys(rng: random.Random, n: int) -> list[str]:
    """Sender keys of every tier, in proportions like a real tenant mix."""
    keys: list[str] = []
    for i in range(n):
        kind = i % 10
        if kind < 5:
            keys.append(f"+1415{i:07d}")  # long code
        elif kind < 7:
            keys.append(f"+1{rng.choice(['800', '833', '844', '888'])}{i:07d}")  # toll-free
        elif kind == 7:
            keys.append(f"+4477{i:08d}")  # international
        elif kind == 8:
            keys.append(f"ACME{i:05d}"[:11])  # alphanumeric
        else:
            keys.append(str(10000 + i % 90000) if i < 90000 else f"{i:06d}"[:6])  # short
    return list(dict.fromkeys(keys))


def test_thousands_of_senders_random_pushes_hold_every_limit() -> None:
    rng = random.Random(20261127)
    sched = RateScheduler()
    sim = Sim(sched)
    keys = mixed_keys(rng, 3000)
    sender_rates: dict[Hashable, tuple[float, float]] = {}
    for key in keys:
        if rng.random() < 0.1:  # a number that carries its own rate
            rate, burst = rng.choice([0.5, 2.0, 7.0, 30.0]), rng.choice([1, 2, 5])
            sched.set_rate(key, rate, burst)
            sender_rates[key] = (rate, burst)
        else:
            sender_rates[key] = (TIER_RATES[classify_sender(key)], 1.0)
    account_rates = {"AC1": (40.0, 5.0), "AC2": (300.0, 10.0), "AC3": (15.0, 1.0)}
    link_rates = {"L1": (400.0, 20.0), "L2": (60.0, 3.0)}
    for acc, (r, b) in account_rates.items():
        sched.set_account_rate(acc, r, b)
    for link, (r, b) in link_rates.items():
        sched.set_link_rate(link, r, b)
    accounts = [*account_rates, "AC-free"]
    links = [*link_rates, "L-free"]
    where = {k: (rng.choice(accounts), rng.choice(links)) for k in keys}

    def push_one(key: str) -> None:
        acc, link = where[key]
        seg = rng.choice([1, 1, 1, 1, 2, 3, 6])
        ttl = rng.uniform(0.5, 20.0) if rng.random() < 0.2 else None
        try:
            sim.push(key, seg, ttl, account=acc, link=link)
        except Exception as exc:  # only a full queue may refuse
            assert type(exc).__name__ == "QueueFullError"

    arrivals: list[tuple[float, int, Callable[[], None]]] = []
    for i in range(20_000):
        key = rng.choice(keys)
        arrivals.append((rng.uniform(0.0, 30.0), i, partial(push_one, key)))
    # A throttle on one link mid-run.
    arrivals.append((20.0, -1, lambda: sched.pause_link("L2", 25.0)))
    for key in keys[:1500]:  # a backlog from the start
        for _ in range(rng.randint(0, 4)):
            push_one(key)
    sim.run_until(40.0, arrivals)
    paused_from = 20.0
    assert len(sim.rec.sent) > 5_000 and len(sim.rec.expired) > 100
    assert sim.ready_checks > 1000
    check_record(sim.rec, sched, sender_rates, account_rates, link_rates)
    # The paused link sent nothing while paused; the others kept going.
    during = [m for t, m in sim.rec.sent if paused_from < t < 25.0]
    assert during and all(sim.rec.link_of[m.key] != "L2" for m in during)
    assert {sim.rec.link_of[m.key] for m in during} >= {"L1", "L-free"}


def test_backlogged_senders_send_the_sum_of_their_rates() -> None:
    rng = random.Random(7)
    sched = RateScheduler()
    sim = Sim(sched)
    keys = mixed_keys(rng, 2000)
    depth = 40
    for key in keys:
        for _ in range(depth):
            sim.push(key)
    T = 10.0
    sim.advance(T)
    rates = {k: TIER_RATES[classify_sender(k)] for k in keys}
    sent: defaultdict[Hashable, int] = defaultdict(int)
    for _, m in sim.rec.sent:
        sent[m.key] += 1
    for key in keys:
        # From a full bucket of 1 at t = 0: one now and one per 1/rate, while it lasts.
        expected = min(depth, 1 + int(rates[key] * T + 1e-9))
        assert sent[key] in (expected, expected - 1), (key, sent[key], expected)
    total = sum(sent.values())
    ideal = sum(min(depth, 1 + rates[k] * T) for k in keys)
    assert ideal - len(keys) <= total <= ideal
    check_record(sim.rec, sched, {k: (rates[k], 1.0) for k in keys}, {}, {})


def test_two_crossed_limits_starve_nobody() -> None:
    """Accounts and links crossed, equal rates, times in lock-step: every pair advances."""
    sched = RateScheduler()
    sim = Sim(sched)
    for name in ("A1", "A2"):
        sched.set_account_rate(name, 10)
    for name in ("L1", "L2"):
        sched.set_link_rate(name, 10)
    pairs = [("A1", "L1"), ("A1", "L2"), ("A2", "L1"), ("A2", "L2")]
    for i in range(200):
        acc, link = pairs[i % 4]
        key = f"S{i}"
        sched.set_rate(key, 50)
        for _ in range(20):
            sim.push(key, account=acc, link=link)
    sim.advance(100.0)
    per_pair: defaultdict[tuple[Hashable, Hashable], int] = defaultdict(int)
    per_sender: defaultdict[Hashable, int] = defaultdict(int)
    for _, m in sim.rec.sent:
        per_pair[(sim.rec.account_of[m.key], sim.rec.link_of[m.key])] += 1
        per_sender[m.key] += 1
    total = sum(per_pair.values())
    assert total >= 0.9 * 2000  # both links busy: ~20/s for 100 s
    assert min(per_pair.values()) >= total / 4 * 0.5, dict(per_pair)
    assert len(per_sender) == 200 and min(per_sender.values()) >= 3
    check_record(
        sim.rec,
        sched,
        {f"S{i}": (50.0, 1.0) for i in range(200)},
        {"A1": (10.0, 1.0), "A2": (10.0, 1.0)},
        {"L1": (10.0, 1.0), "L2": (10.0, 1.0)},
    )


def test_late_pops_never_exceed_the_rate_and_never_bank_credit() -> None:
    """A dispatcher that wakes late (every 0.37 s) still sends at most burst + rate * T."""
    sched = RateScheduler()
    sim = Sim(sched)
    for i in range(300):
        sched.set_rate(i, 3.0, burst=2)
        for _ in range(150):
            sim.push(i)
    for step in range(82):  # t = 0 .. 29.97
        sim.pop(step * 0.37)
    check_record(sim.rec, sched, {i: (3.0, 2.0) for i in range(300)}, {}, {})
    counts: defaultdict[Hashable, int] = defaultdict(int)
    for _, m in sim.rec.sent:
        counts[m.key] += 1
    # 2 at once, then 3/s for 29.97 s: the grid loses nothing (1.11 tokens per wake-up
    # fits in the burst of 2), and idle time never banks more than 2.
    assert set(counts.values()) == {int(2 + 3 * 29.97)}


# --- hypothesis: random operation sequences -----------------------------------------------

KEYS = ["k0", "k1", "k2", "k3", "k4", "k5"]

op = st.one_of(
    st.tuples(
        st.just("push"),
        st.integers(0, 5),
        st.integers(1, 4),
        st.one_of(st.none(), st.floats(0.01, 5.0)),
    ),
    st.tuples(st.just("advance"), st.floats(0.0, 3.0)),
    st.tuples(st.just("pop_limit"), st.integers(0, 3)),
    st.tuples(st.just("pause"), st.integers(0, 1), st.floats(0.0, 4.0)),
    st.tuples(st.just("resume"), st.integers(0, 1)),
    st.tuples(st.just("assign"), st.integers(0, 5), st.integers(0, 2), st.integers(0, 2)),
    st.tuples(st.just("requeue_last")),
)


@settings(RELAXED, max_examples=300)
@given(
    rates=st.lists(
        st.tuples(st.sampled_from([0.5, 1.0, 3.0, 10.0]), st.integers(1, 4)),
        min_size=6,
        max_size=6,
    ),
    levels=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=6, max_size=6),
    acc_rate=st.tuples(st.sampled_from([1.0, 2.0, 5.0]), st.integers(1, 3)),
    link_rate=st.tuples(st.sampled_from([1.0, 4.0]), st.integers(1, 3)),
    ops=st.lists(op, max_size=60),
)
def test_random_operations_keep_the_contract(
    rates: list[tuple[float, int]],
    levels: list[tuple[int, int]],
    acc_rate: tuple[float, int],
    link_rate: tuple[float, int],
    ops: list[tuple],
) -> None:
    sched = RateScheduler(validity=6.0)
    sim = Sim(sched)
    sched.set_account_rate("A0", *acc_rate)
    sched.set_link_rate("L0", *link_rate)
    # Pauses as (link, index of the first send after it, until, index where it ended).
    pauses: list[list] = []
    for key, (r, b), (a, k) in zip(KEYS, rates, levels, strict=True):
        sched.set_rate(key, r, b)
        sim.assign(key, f"A{a - 1}" if a else None, f"L{k - 1}" if k else None)
    for o in ops:
        if o[0] == "push":
            key = KEYS[o[1]]
            try:
                sim.push(key, o[2], o[3])
            except Exception as exc:
                assert type(exc).__name__ == "QueueFullError"
                r, _ = dict(zip(KEYS, rates, strict=True))[key]
                assert sched.queued_segments(key) + o[2] > r * 6.0
        elif o[0] == "advance":
            sim.advance(sim.now + o[1])
        elif o[0] == "pop_limit":
            out = sim.pop(sim.now, o[1])
            assert len(out) <= o[1]
        elif o[0] == "pause":
            link = f"L{o[1]}"
            sched.pause_link(link, sim.now + o[2])
            for p in pauses:  # a new pause replaces the link's current one
                if p[0] == link and p[3] is None:
                    p[3] = len(sim.rec.sent)
            pauses.append([link, len(sim.rec.sent), sim.now + o[2], None])
        elif o[0] == "assign":
            sim.assign(
                KEYS[o[1]], f"A{o[2] - 1}" if o[2] else None, f"L{o[3] - 1}" if o[3] else None
            )
        elif o[0] == "requeue_last":
            sim.requeue_last()
        elif o[0] == "resume":
            link = f"L{o[1]}"
            sched.resume_link(link)
            for p in pauses:
                if p[0] == link and p[3] is None:
                    p[3] = len(sim.rec.sent)
    # Drain everything (pauses are finite): every message leaves or expires, none is lost.
    sim.advance(sim.now + 1e6)
    assert len(sched) == 0 and sched.segments == 0
    assert sched.next_ready_at() is None and sched.next_expiry_at() is None
    sender_rates = {k: (float(r), float(b)) for k, (r, b) in zip(KEYS, rates, strict=True)}
    check_record(
        sim.rec,
        sched,
        sender_rates,
        {"A0": (acc_rate[0], float(acc_rate[1]))},
        {"L0": (link_rate[0], float(link_rate[1]))},
    )
    # Nothing left a link while it was paused.
    for link, first, until, end in pauses:
        for (t, m), (_, via_link) in zip(
            sim.rec.sent[first:end], sim.rec.via[first:end], strict=True
        ):
            assert not (via_link == link and t < until - EPS), (t, m, until)
