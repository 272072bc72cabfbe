"""MO reassembly: any order, duplicates, timeouts, bounded memory, all three schemes."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine.errors import DecodeError
from engine.reassembly import InboundMessage, Reassembler, split_part
from engine.text import build_deliver_sms, decode_text, plan_segments, udh_concat

LONG_GSM = "The quick brown fox jumps over the lazy dog [€] " * 8  # 3 GSM-7 segments
LONG_UCS2 = "Привет, мир! 😀 " * 12  # 3 UCS-2 segments


def wire(pdus: list[Any]) -> list[Any]:
    """The PDUs as the session would see them: encoded, framed and decoded again."""
    out = engine.PduReader().feed(engine.encode_many(pdus))
    assert not any(isinstance(p, Exception) for p in out)
    return out


def deliver_sm(**fields: Any) -> Any:
    [pdu] = wire([engine.DeliverSm(**fields)])
    return pdu


def parts(
    text: str, method: str = "udh", ref: int = 7, src: str = "15550001", dst: str = "15559999"
) -> list[Any]:
    pdus = build_deliver_sms(src, dst, text, method=method, reference=ref)
    for i, p in enumerate(pdus, 1):
        p.sequence_number = i
    return wire(pdus)


@pytest.mark.parametrize("method", ["udh", "udh16", "sar"])
@pytest.mark.parametrize("text", [LONG_GSM, LONG_UCS2], ids=["gsm", "ucs2"])
def test_in_order(method: str, text: str) -> None:
    pdus = parts(text, method)
    assert len(pdus) == 3
    r = Reassembler()
    assert r.add(pdus[0], 0.0) is None
    assert r.add(pdus[1], 1.0) is None
    assert r.pending == 1
    msg = r.add(pdus[2], 2.0)
    assert isinstance(msg, InboundMessage)
    assert msg.text == text
    assert msg.complete and msg.missing == ()
    assert (msg.source_addr, msg.destination_addr) == ("15550001", "15559999")
    assert msg.num_parts == 3 and msg.reference == 7
    assert msg.data_coding == (0 if text is LONG_GSM else 8)
    assert msg.sequence_numbers == [1, 2, 3]
    assert r.pending == 0


@pytest.mark.parametrize("method", ["udh", "udh16", "sar"])
def test_any_order_with_duplicates(method: str) -> None:
    pdus = parts(LONG_GSM, method)
    r = Reassembler()
    order = [pdus[2], pdus[2], pdus[0], pdus[2], pdus[0]]
    assert all(r.add(p, 0.0) is None for p in order)
    assert r.duplicates == 3
    msg = r.add(pdus[1], 0.0)
    assert msg is not None and msg.text == LONG_GSM
    assert msg.sequence_numbers == [1, 2, 3]
    # a part resent after completion is dropped, not the start of a new set
    assert r.add(pdus[1], 5.0) is None
    assert r.pending == 0 and r.duplicates == 4
    assert r.expire(1e6) == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["udh", "udh16", "sar"]),
    st.sampled_from([LONG_GSM, LONG_UCS2, "x" * 1000, "😀" * 300]),
    st.randoms(use_true_random=False),
    st.integers(0, 5),
)
def test_any_order_property(method: str, text: str, rnd: random.Random, dups: int) -> None:
    pdus = parts(text, method)
    feed = pdus + [rnd.choice(pdus) for _ in range(dups)]
    rnd.shuffle(feed)
    r = Reassembler()
    results = [m for m in (r.add(p, 0.0) for p in feed) if m is not None]
    assert len(results) == 1
    assert results[0].text == text
    assert results[0].num_parts == len(pdus)
    assert r.pending == 0


def test_single_part_returns_at_once() -> None:
    r = Reassembler()
    [pdu] = parts("hello")
    msg = r.add(pdu, 0.0)
    assert msg is not None and msg.text == "hello" and msg.num_parts == 1
    assert msg.reference is None and r.pending == 0


def test_single_part_with_other_udh_element() -> None:
    # port addressing only (IEI 0x05): not concatenated; the UDH is stripped
    udh = bytes([6, 0x05, 4, 0x0B, 0x84, 0x23, 0xF0])
    pdu = deliver_sm(esm_class=0x40, short_message=udh + b"hi")
    msg = Reassembler().add(pdu, 0.0)
    assert msg is not None and msg.text == "hi" and msg.payload == b"hi"


def test_message_payload_single_pdu() -> None:
    [pdu] = wire(build_deliver_sms("1", "2", LONG_UCS2, method="payload"))
    assert pdu.short_message == b"" and pdu.data_coding == 8
    msg = Reassembler().add(pdu, 0.0)
    assert msg is not None and msg.text == LONG_UCS2


def test_senders_and_references_do_not_mix() -> None:
    a = parts(LONG_GSM, ref=7, src="111")
    b = parts(LONG_UCS2, ref=7, src="222")
    c = parts(LONG_GSM.upper(), ref=8, src="111")
    d = parts(LONG_GSM.lower(), "udh16", ref=7, src="111")  # same number, other scheme
    r = Reassembler()
    done = []
    for group in zip(a, b, c, d, strict=True):
        for p in group:
            m = r.add(p, 0.0)
            if m is not None:
                done.append(m)
    assert sorted(m.text for m in done) == sorted(
        [LONG_GSM, LONG_UCS2, LONG_GSM.upper(), LONG_GSM.lower()]
    )


def test_timeout_gives_up_with_what_arrived() -> None:
    pdus = parts(LONG_GSM)
    r = Reassembler(timeout=1800.0)
    r.add(pdus[0], 100.0)
    r.add(pdus[2], 200.0)
    assert r.next_deadline() == 1900.0
    assert r.expire(1899.9) == []
    [lost] = r.expire(1900.0)
    assert not lost.complete
    assert lost.missing == (2,)
    assert lost.num_parts == 3
    assert lost.sequence_numbers == [1, 3]
    assert lost.text == r_text(pdus, [0, 2])
    assert r.pending == 0 and r.next_deadline() is None
    # the late part now starts a new set rather than resurrecting the old one
    assert r.add(pdus[1], 1901.0) is None and r.pending == 1


def r_text(pdus: list[Any], idx: list[int]) -> str:
    plan = plan_segments(LONG_GSM)
    return "".join(decode_text(plan.parts[i], 0) for i in idx)


def test_stale_set_is_replaced_when_reference_reused() -> None:
    old = parts("A" * 400, ref=9)
    new = parts("B" * 400, ref=9)
    r = Reassembler(timeout=60.0)
    r.add(old[0], 0.0)
    r.add(new[0], 100.0)  # same key, but the old set is past its timeout
    r.add(new[1], 100.0)
    msg = r.add(new[2], 100.0)
    assert msg is not None and msg.text == "B" * 400
    [lost] = r.expire(100.0)
    assert lost.text.startswith("A") and lost.missing == (2, 3)


def test_max_pending_bounds_memory() -> None:
    r = Reassembler(max_pending=3)
    heads = [parts(LONG_GSM, ref=i)[0] for i in range(5)]
    for t, p in enumerate(heads):
        r.add(p, float(t))
    assert r.pending == 3
    evicted = r.expire(0.0)  # nothing timed out; the two oldest were evicted
    assert [m.reference for m in evicted] == [0, 1]
    assert all(not m.complete for m in evicted)


def test_nonsense_numbers_are_delivered_alone() -> None:
    r = Reassembler()
    for udh in (udh_concat(1, 1, 1), bytes([5, 0, 3, 1, 3, 0]), bytes([5, 0, 3, 1, 2, 3])):
        pdu = deliver_sm(esm_class=0x40, short_message=udh + b"x")
        msg = r.add(pdu, 0.0)
        assert msg is not None and msg.text == "x"
    assert r.pending == 0


def test_malformed_udh_raises() -> None:
    pdu = deliver_sm(esm_class=0x40, short_message=b"\x09\x00\x03")
    with pytest.raises(DecodeError) as info:
        Reassembler().add(pdu, 0.0)
    assert info.value.field == "short_message"


def test_binary_data_coding_keeps_payload() -> None:
    pdu = deliver_sm(data_coding=4, short_message=b"\x00\xff")
    msg = Reassembler().add(pdu, 0.0)
    assert msg is not None and msg.text == "" and msg.payload == b"\x00\xff"


def test_split_escape_across_parts_still_decodes() -> None:
    # a sender that split an escape pair between two parts (smpplib's FIXME)
    p1 = deliver_sm(esm_class=0x40, short_message=udh_concat(3, 2, 1) + b"ab\x1b")
    p2 = deliver_sm(esm_class=0x40, short_message=udh_concat(3, 2, 2) + b"ecd")
    r = Reassembler()
    r.add(p2, 0.0)
    msg = r.add(p1, 0.0)
    assert msg is not None and msg.text == "ab€cd"


def test_split_part() -> None:
    scheme, info, payload = split_part(parts(LONG_GSM, "sar")[1])
    assert scheme == "sar" and info is not None and (info.seqnum, info.total) == (2, 3)
    assert payload and not payload.startswith(b"\x05")
    assert split_part(deliver_sm(short_message=b"hi")) == (None, None, b"hi")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        Reassembler(timeout=0)
    with pytest.raises(ValueError):
        Reassembler(max_pending=0)
