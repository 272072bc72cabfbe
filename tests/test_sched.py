"""RateScheduler and the tier policy: worked examples in simulated time.

Each test states the exact semantics it pins down (engine/_sched.pxi docstring): a
message leaves when every bucket on its path holds min(segments, burst) tokens, then takes
`segments` tokens from each; buckets start full and never bank beyond their burst.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

import engine
from engine import QueueFullError, RateScheduler
from engine.scheduler import TIER_RATES, Pacer, Tier, classify_sender, tier_rate


def drain(s: RateScheduler, until: float, start: float = 0.0) -> list[tuple[float, Any]]:
    """Event-driven dispatcher loop: (time, item) for everything sent in [start, until]."""
    sent: list[tuple[float, Any]] = []
    while True:
        t = s.next_ready_at()
        if t is None or t > until:
            return sent
        t = max(t, start)
        items = s.pop_ready(t)
        assert items, f"next_ready_at() said {t} but pop_ready yielded nothing"
        sent += [(t, item) for item in items]


# --- single sender ------------------------------------------------------------------------


def test_one_per_second_in_order() -> None:
    s = RateScheduler()
    s.set_rate("a", 1)
    for i in range(5):
        s.push("a", i)
    assert len(s) == 5 and s.queued("a") == 5
    assert s.pop_ready(100.0) == [0]  # a full bucket of burst 1: one now
    assert s.pop_ready(100.5) == []
    assert s.next_ready_at() == 101.0
    assert s.pop_ready(101.0) == [1]
    assert s.pop_ready(110.0) == [2]  # idle time does not bank beyond burst 1
    assert s.pop_ready(110.99) == []
    assert s.pop_ready(111.0) == [3]
    assert len(s) == 1


def test_burst_allows_that_many_at_once_and_no_more() -> None:
    s = RateScheduler()
    s.set_rate("a", 2, burst=3)
    for i in range(10):
        s.push("a", i)
    assert s.pop_ready(0.0) == [0, 1, 2]
    assert s.pop_ready(0.49) == []
    assert s.pop_ready(0.5) == [3]
    assert s.pop_ready(1000.0) == [4, 5, 6]  # refilled to 3, not to 2000


def test_multi_segment_message_leaves_whole_then_blocks_for_its_segments() -> None:
    s = RateScheduler()
    s.set_rate("a", 1)
    s.push("a", "three", segments=3)
    s.push("a", "one")
    assert s.queued_segments("a") == 4
    assert s.pop_ready(0.0) == ["three"]
    # The bucket is at 1 - 3 = -2: it needs 3 s to be back at 1.
    assert s.next_ready_at() == 3.0
    assert s.pop_ready(2.999) == []
    assert s.pop_ready(3.0) == ["one"]


def test_multi_segment_waits_for_min_of_segments_and_burst() -> None:
    s = RateScheduler()
    s.set_rate("a", 1, burst=5)
    s.push("a", "x", segments=4)
    s.push("a", "y", segments=4)
    assert s.pop_ready(0.0) == ["x"]  # 5 tokens >= 4
    assert s.next_ready_at() == 3.0  # 1 token left: 3 s to reach 4
    assert s.pop_ready(3.0) == ["y"]


def test_segments_pushed_separately_stay_contiguous_and_spaced() -> None:
    s = RateScheduler()
    s.set_rate("a", 1)
    for part in (1, 2, 3):
        s.push("a", ("msg1", part))
    s.push("a", ("msg2", 1))
    sent = drain(s, 100.0)
    assert sent == [(0.0, ("msg1", 1)), (1.0, ("msg1", 2)), (2.0, ("msg1", 3)), (3.0, ("msg2", 1))]


def test_limit_caps_one_call() -> None:
    s = RateScheduler()
    for k in range(10):
        s.set_rate(k, 1)
        s.push(k, k)
    assert s.pop_ready(0.0, limit=3) == [0, 1, 2]
    assert s.pop_ready(0.0, limit=0) == []
    assert s.pop_ready(0.0) == list(range(3, 10))


def test_senders_ready_together_go_round_robin() -> None:
    s = RateScheduler()
    for k in "abc":
        s.set_rate(k, 10, burst=10)
        for i in range(3):
            s.push(k, (k, i))
    out = s.pop_ready(0.0, limit=5)
    # Ready at the same time: the one queued first goes first, and a sender that sent
    # goes behind the others ready at the same time.
    assert out == [("a", 0), ("b", 0), ("c", 0), ("a", 1), ("b", 1)]


def test_set_rate_on_a_waiting_sender_moves_it() -> None:
    s = RateScheduler()
    s.set_rate("a", 0.1)
    s.push("a", 1)
    s.push("a", 2)
    assert s.pop_ready(0.0) == [1]
    assert s.next_ready_at() == pytest.approx(10.0)
    s.set_rate("a", 1)
    assert s.next_ready_at() == pytest.approx(1.0)
    assert s.pop_ready(1.0) == [2]


def test_next_ready_at_is_none_when_empty_and_minus_inf_for_a_fresh_sender() -> None:
    s = RateScheduler()
    assert s.next_ready_at() is None
    s.set_rate("a", 1)
    s.push("a", 1)
    assert s.next_ready_at() == -math.inf
    assert s.pop_ready(5.0) == [1]
    assert s.next_ready_at() is None
    s.push("a", 2)
    assert s.next_ready_at() == 6.0


def test_requeue_puts_back_at_the_head() -> None:
    s = RateScheduler()
    s.set_rate("a", 1)
    for i in range(3):
        s.push("a", i)
    assert s.pop_ready(0.0) == [0]
    s.requeue("a", 0)  # throttled by the carrier: it goes first again
    assert s.queued("a") == 3
    assert s.pop_ready(1.0) == [0]
    assert s.pop_ready(2.0) == [1]


def test_requeue_ignores_the_queue_limit() -> None:
    s = RateScheduler(validity=2)
    s.set_rate("a", 1)
    s.push("a", 1)
    s.push("a", 2)
    with pytest.raises(QueueFullError):
        s.push("a", 3)
    s.requeue("a", 0)
    assert s.queued("a") == 3


# --- defaults by tier -------------------------------------------------------------------


@pytest.mark.parametrize(
    "key,tier",
    [
        ("+14155550100", Tier.LONG_CODE),
        ("14155550100", Tier.LONG_CODE),
        ("+18005550100", Tier.TOLL_FREE),
        ("+18335550100", Tier.TOLL_FREE),
        ("+18445550100", Tier.TOLL_FREE),
        ("+18555550100", Tier.TOLL_FREE),
        ("+18665550100", Tier.TOLL_FREE),
        ("+18775550100", Tier.TOLL_FREE),
        ("+18885550100", Tier.TOLL_FREE),
        ("+18995550100", Tier.LONG_CODE),
        ("18885550100", Tier.TOLL_FREE),
        ("12345", Tier.SHORT_CODE),
        ("123456", Tier.SHORT_CODE),
        ("+447700900123", Tier.INTERNATIONAL),
        ("+33612345678", Tier.INTERNATIONAL),
        ("ACME", Tier.ALPHANUMERIC),
        ("Shop24", Tier.ALPHANUMERIC),
        ("+1800FLOWERS", Tier.ALPHANUMERIC),
    ],
)
def test_classify_sender(key: str, tier: Tier) -> None:
    assert classify_sender(key) is tier
    assert tier_rate(key) == TIER_RATES[tier]


@pytest.mark.parametrize(
    "key", ["", "+", "1234", "1234567", "+1415555010", "+141555501000", "+12", "+44 7700", "é1"]
)
def test_classify_sender_refuses_what_is_no_sender(key: str) -> None:
    with pytest.raises(ValueError, match="key"):
        classify_sender(key)


def test_classify_sender_bounds_length_and_type() -> None:
    with pytest.raises(ValueError, match="key"):
        classify_sender("A" * 33)
    with pytest.raises(TypeError, match="key"):
        classify_sender(12345)  # type: ignore[arg-type]


def test_tier_defaults_apply_to_keys_without_a_rate() -> None:
    s = RateScheduler()
    keys = {
        "+14155550100": 1.0,
        "+18005550100": 3.0,
        "55555": 100.0,
        "ACME": 10.0,
        "+447700900123": 10.0,
    }
    for key in keys:
        for i in range(400):
            s.push(key, (key, i))
    sent = drain(s, 10.005)
    for key, rate in keys.items():
        n = sum(1 for _, (k, _) in sent if k == key)
        # Burst 1 from a full bucket at t=0: 1 + rate * 10 messages by t = 10.
        assert n == min(400, 1 + int(rate * 10)), key
        assert s.rate_of(key) == (rate, 1.0, False)


def test_own_rate_overrides_the_tier() -> None:
    s = RateScheduler()
    s.set_rate("+14155550100", 5)
    assert s.rate_of("+14155550100") == (5.0, 1.0, True)
    assert s.rate_of("unknown") is None


def test_custom_rate_for_and_non_str_keys() -> None:
    s = RateScheduler(lambda key: 2.0)
    s.push(42, "x")
    assert s.rate_of(42) == (2.0, 1.0, False)
    plain = RateScheduler()
    with pytest.raises(TypeError, match="set_rate"):
        plain.push(42, "x")
    assert len(plain) == 0


# --- queue limit and expiry -------------------------------------------------------------


def test_queue_holds_validity_worth_of_segments() -> None:
    s = RateScheduler()
    assert s.validity == 36_000.0
    key = "+14155550100"  # long code, 1/s: 36,000 segments
    for i in range(18_000):
        s.push(key, i, segments=2)
    assert s.queued_segments(key) == 36_000
    with pytest.raises(QueueFullError, match="full") as info:
        s.push(key, "one more")
    assert info.value.twilio_code == 21611
    assert s.queued(key) == 18_000  # the refused push changed nothing
    assert s.pop_ready(0.0) == [0]
    s.push(key, "fits again", segments=2)
    with pytest.raises(QueueFullError):
        s.push(key, "no", segments=1)


def test_message_larger_than_the_whole_queue_is_refused() -> None:
    s = RateScheduler(validity=2)
    s.set_rate("a", 1)
    with pytest.raises(QueueFullError):
        s.push("a", "x", segments=3)
    assert len(s) == 0


def test_expired_messages_leave_and_are_reported() -> None:
    s = RateScheduler()
    s.set_rate("a", 1)
    for i in range(5):
        s.push("a", i, expires_at=2.5)
    s.push("a", "late", expires_at=100.0)
    assert s.next_expiry_at() == 2.5
    assert s.pop_ready(0.0) == [0]
    assert s.pop_ready(1.0) == [1]
    assert s.pop_ready(2.0) == [2]
    assert s.pop_expired(2.4) == []
    assert s.pop_ready(3.0) == ["late"]  # 3 and 4 expired at 2.5: never sent
    assert s.pop_expired(3.0) == [3, 4]
    assert s.pop_expired(3.0) == []
    assert len(s) == 0 and s.next_expiry_at() is None


def test_expiry_at_exactly_now_counts_as_expired() -> None:
    s = RateScheduler()
    s.set_rate("a", 1)
    s.push("a", "x", expires_at=5.0)
    assert s.pop_ready(5.0) == []
    assert s.pop_expired(5.0) == ["x"]


def test_expiry_out_of_push_order_takes_the_middle() -> None:
    s = RateScheduler()
    s.set_rate("a", 1)
    s.push("a", "first", expires_at=100.0)
    s.push("a", "short", expires_at=1.5)
    s.push("a", "third", expires_at=100.0)
    assert s.next_expiry_at() == 1.5
    assert s.pop_ready(0.0) == ["first"]
    assert s.pop_expired(2.0) == ["short"]
    assert s.queued("a") == 1
    assert s.pop_ready(2.0) == ["third"]
    assert s.next_expiry_at() is None


def test_next_expiry_at_skips_messages_already_sent() -> None:
    s = RateScheduler()
    s.set_rate("a", 1, burst=2)
    s.push("a", 1, expires_at=10.0)
    s.push("a", 2, expires_at=20.0)
    s.push("a", 3, expires_at=30.0)
    assert s.pop_ready(0.0) == [1, 2]
    assert s.next_expiry_at() == 30.0


def test_expiry_while_parked_keeps_the_wait_and_drops_empty_senders() -> None:
    s = RateScheduler()
    s.set_link_rate("L", 1)
    for k in "abc":
        s.set_rate(k, 100)
    s.push("a", "a1", link="L")
    s.push("b", "b-exp", expires_at=0.7, link="L")
    s.push("b", "b2")
    s.push("c", "c-exp", expires_at=0.7, link="L")
    assert s.pop_ready(0.0) == ["a1"]  # the link's one token; b and c wait at the link
    assert s.pop_expired(0.8) == ["b-exp", "c-exp"]
    assert s.queued("c") == 0 and s.queued("b") == 1
    assert s.next_ready_at() == 1.0
    assert s.pop_ready(1.0) == ["b2"]
    assert s.next_ready_at() is None and len(s) == 0


def test_queue_limit_scales_with_rate_and_validity() -> None:
    s = RateScheduler(validity=60)
    s.set_rate("a", 0.5)
    for i in range(30):
        s.push("a", i)
    with pytest.raises(QueueFullError):
        s.push("a", 30)
    s.set_rate("a", 1)
    s.push("a", 30)
    assert s.queued("a") == 31


# --- accounts and links -----------------------------------------------------------------


def test_account_rate_applies_on_top_of_senders() -> None:
    s = RateScheduler()
    s.set_account_rate("AC1", 2)
    for k in "abcd":
        s.set_rate(k, 10)
        s.assign(k, account="AC1")
        for i in range(10):
            s.push(k, (k, i))
    sent = drain(s, 10.25)
    assert len(sent) == 1 + 2 * 10  # burst 1 then 2/s
    # Round-robin among the account's senders.
    counts = {k: sum(1 for _, (kk, _) in sent if kk == k) for k in "abcd"}
    assert max(counts.values()) - min(counts.values()) <= 1, counts


def test_link_rate_and_account_rate_both_hold() -> None:
    s = RateScheduler()
    s.set_account_rate("AC", 5)
    s.set_link_rate("L", 2)
    for k in "ab":
        s.set_rate(k, 100)
        for i in range(50):
            s.push(k, (k, i), account="AC", link="L")
    sent = drain(s, 10.25)
    assert len(sent) == 1 + 2 * 10  # the link is the tighter one


def test_throttle_pauses_one_link_only() -> None:
    s = RateScheduler()
    s.set_rate("a", 1)
    s.set_rate("b", 1)
    s.assign("a", link="L1")
    s.assign("b", link="L2")
    for i in range(10):
        s.push("a", ("a", i))
        s.push("b", ("b", i))
    assert s.pop_ready(0.0) == [("a", 0), ("b", 0)]
    s.pause_link("L1", 5.0)
    sent = drain(s, 4.9)
    assert sent == [(1.0, ("b", 1)), (2.0, ("b", 2)), (3.0, ("b", 3)), (4.0, ("b", 4))]
    assert s.next_ready_at() == 5.0
    # a waited at the paused link since t = 1: it goes first, in its order.
    assert s.pop_ready(5.0) == [("a", 1), ("b", 5)]
    s.pause_link("L1", 1000.0)
    s.resume_link("L1")
    assert s.pop_ready(6.0) == [("a", 2), ("b", 6)]


def test_resume_link_ends_the_pause_early() -> None:
    s = RateScheduler()
    s.set_rate("a", 1)
    s.push("a", 1, link="L")
    s.push("a", 2)
    s.pause_link("L", 100.0)
    assert s.pop_ready(10.0) == []
    assert s.next_ready_at() == 100.0
    s.resume_link("L")
    s.resume_link("never seen")
    assert s.pop_ready(10.0) == [1]
    assert s.pop_ready(11.0) == [2]


def test_reassigning_a_parked_sender_frees_it() -> None:
    s = RateScheduler()
    s.set_rate("a", 1)
    s.push("a", 1, link="L")
    s.pause_link("L", 100.0)
    assert s.pop_ready(0.0) == []  # parked at the paused link
    s.assign("a", link=None)
    assert s.pop_ready(0.0) == [1]


def test_account_limit_does_not_starve_anyone() -> None:
    s = RateScheduler()
    s.set_account_rate("AC", 10)
    n = 500
    for k in range(n):
        s.set_rate(k, 100, burst=5)
        for i in range(5):
            s.push(k, (k, i), account="AC")
    sent = drain(s, 99.95)  # 1 + 10 * 99.95 -> 1000 messages
    assert len(sent) == 1000
    counts = [0] * n
    for _, (k, _) in sent:
        counts[k] += 1
    assert min(counts) == 2 and max(counts) == 2, (min(counts), max(counts))


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0, -1, math.inf, math.nan])
def test_bad_rates_are_refused_naming_the_argument(rate: float) -> None:
    s = RateScheduler()
    with pytest.raises(ValueError, match="per_second"):
        s.set_rate("a", rate)
    with pytest.raises(ValueError, match="per_second"):
        s.set_account_rate("A", rate)
    with pytest.raises(ValueError, match="per_second"):
        s.set_link_rate("L", rate)
    with pytest.raises(ValueError, match="per_second"):
        RateScheduler(lambda key: rate).push("a", 1)


@pytest.mark.parametrize("burst", [0, 0.5, -3, math.inf, math.nan])
def test_bad_bursts_are_refused(burst: float) -> None:
    with pytest.raises(ValueError, match="burst"):
        RateScheduler().set_rate("a", 1, burst=burst)
    with pytest.raises(ValueError, match="burst"):
        RateScheduler(default_burst=burst)


@pytest.mark.parametrize("segments", [0, -1, 256])
def test_bad_segment_counts_are_refused(segments: int) -> None:
    s = RateScheduler()
    with pytest.raises(ValueError, match="segments"):
        s.push("+14155550100", "x", segments=segments)
    assert len(s) == 0


@pytest.mark.parametrize("segments", [1.0, "1", True, None])
def test_segments_must_be_an_int(segments: object) -> None:
    with pytest.raises(TypeError, match="segments"):
        RateScheduler().push("+14155550100", "x", segments=segments)  # type: ignore[arg-type]


def test_bad_times_and_limits_are_refused() -> None:
    s = RateScheduler()
    with pytest.raises(ValueError, match="now"):
        s.pop_ready(math.nan)
    with pytest.raises(TypeError, match="now"):
        s.pop_ready("soon")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="now"):
        s.pop_expired(math.nan)
    with pytest.raises(ValueError, match="now"):
        s.pop_ready(-math.inf)
    with pytest.raises(ValueError, match="expires_at"):
        s.push("ACME", 1, expires_at=math.nan)
    with pytest.raises(ValueError, match="until"):
        s.pause_link("L", math.nan)
    with pytest.raises(ValueError, match="limit"):
        s.pop_ready(0.0, limit=-1)
    with pytest.raises(TypeError, match="limit"):
        s.pop_ready(0.0, limit=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="validity"):
        RateScheduler(validity=0)
    with pytest.raises(TypeError, match="rate_for"):
        RateScheduler(5)  # type: ignore[arg-type]
    assert len(s) == 0


def test_unknown_key_is_zero_queued() -> None:
    s = RateScheduler()
    assert s.queued("nobody") == 0
    assert s.queued_segments("nobody") == 0


def test_items_are_owned_and_released() -> None:
    import gc
    import weakref

    class Item:
        pass

    s = RateScheduler()
    s.set_rate("a", 1)
    kept = Item()
    ref = weakref.ref(kept)
    s.push("a", kept)
    del kept
    gc.collect()
    assert ref() is not None  # the scheduler holds it
    (out,) = s.pop_ready(0.0)
    assert ref() is out
    del out
    gc.collect()
    assert ref() is None  # and lets it go once popped

    dropped = Item()
    ref2 = weakref.ref(dropped)
    s2 = RateScheduler()
    s2.set_rate("a", 1)
    s2.push("a", dropped)
    del dropped, s2
    gc.collect()
    assert ref2() is None  # a scheduler freed with queued items releases them


def test_repr_has_counts_not_keys() -> None:
    s = RateScheduler()
    s.push("+14155550100", "secret body")
    text = repr(s)
    assert "messages=1" in text
    assert "4155550100" not in text and "secret" not in text


# --- Pacer -------------------------------------------------------------------------------


def test_pacer_stamps_validity_and_uses_tiers() -> None:
    p = Pacer(validity=10.0)
    exp = p.push("+14155550100", "m1", now=100.0)
    assert exp == 110.0
    p.push("+14155550100", "m2", now=100.0)
    p.push("+14155550100", "m3", now=100.0)
    assert p.scheduler.pop_ready(100.0) == ["m1"]
    assert p.scheduler.pop_ready(101.0) == ["m2"]
    assert p.scheduler.pop_expired(110.0) == ["m3"]


def test_pacer_tier_and_rate_overrides() -> None:
    p = Pacer(tier_rates={Tier.LONG_CODE: 2.0})
    p.push("+14155550100", 1, now=0.0)
    assert p.scheduler.rate_of("+14155550100") == (2.0, 1.0, False)
    p.push("+14155550101", 1, now=0.0, tier=Tier.SHORT_CODE)
    assert p.scheduler.rate_of("+14155550101") == (100.0, 1.0, True)
    p.push("+14155550102", 1, now=0.0, rate=7)
    assert p.scheduler.rate_of("+14155550102") == (7.0, 1.0, True)
    p.push("+14155550102", 2, now=0.0, tier="short_code")  # an own rate wins over a tier
    assert p.scheduler.rate_of("+14155550102") == (7.0, 1.0, True)


def test_pacer_backoff_doubles_per_link_and_resets() -> None:
    p = Pacer(backoff=1.0, max_backoff=4.0)
    assert p.throttled("L1", 0.0) == 1.0
    assert p.throttled("L1", 1.0) == 3.0
    assert p.throttled("L1", 3.0) == 7.0
    assert p.throttled("L1", 7.0) == 11.0  # capped at 4
    assert p.throttled("L2", 0.0) == 1.0  # another link has its own back-off
    p.link_ok("L1")
    assert p.throttled("L1", 20.0) == 21.0


def test_pacer_refuses_bad_configuration() -> None:
    with pytest.raises(ValueError, match="tier_rates"):
        Pacer(tier_rates={Tier.TOLL_FREE: 0})
    with pytest.raises(ValueError, match="backoff"):
        Pacer(backoff=0)


def test_public_names() -> None:
    for name in ("RateScheduler", "Pacer", "Tier", "classify_sender"):
        assert name in engine.__all__
    assert engine.RateScheduler is RateScheduler
