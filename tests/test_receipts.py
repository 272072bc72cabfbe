"""Delivery receipt text: parse, build, carrier variants, TLV preference, id matching."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import DecodeError
from engine.pdu.constants import MessageState
from engine.receipts import (
    STATE_TO_STAT,
    Receipt,
    build_receipt_text,
    is_receipt,
    message_id_keys,
    normalize_message_id,
    parse_receipt_text,
    receipt_from_pdu,
    stat_to_state,
    state_to_stat,
)

ANCHOR = (
    "id:0123456789 sub:001 dlvrd:001 submit date:2611261200 done date:2611261201 "
    "stat:DELIVRD err:000 text:hello"
)


def test_parse_appendix_b_anchor() -> None:
    r = parse_receipt_text(ANCHOR)
    assert r == Receipt(
        message_id="0123456789",
        sub=1,
        dlvrd=1,
        submit_date=datetime(2026, 11, 26, 12, 0),
        done_date=datetime(2026, 11, 26, 12, 1),
        stat="DELIVRD",
        err="000",
        text="hello",
        message_state=MessageState.DELIVERED,
    )
    assert r.state is MessageState.DELIVERED
    assert r.is_final


def test_parse_bytes_same_as_str() -> None:
    assert parse_receipt_text(ANCHOR.encode()) == parse_receipt_text(ANCHOR)


@pytest.mark.parametrize(
    ("text", "field", "expected"),
    [
        # key case and 'Text:' vs 'text:'
        ("ID:abc SUB:001 DLVRD:000 STAT:undeliv ERR:034 Text:Hi there", "stat", "UNDELIV"),
        ("Id:abc Stat:Expired Text:x", "text", "x"),
        ("id:abc stat:DELIVRD Text:Hello World  ", "text", "Hello World"),
        # 12-digit dates with seconds
        (
            "id:1 submit date:261126120005 done date:261126120107 stat:DELIVRD",
            "done_date",
            datetime(2026, 11, 26, 12, 1, 7),
        ),
        (
            "id:1 submit date:261126120005 stat:DELIVRD",
            "submit_date",
            datetime(2026, 11, 26, 12, 0, 5),
        ),
        # 14-digit (four-digit year) dates
        (
            "id:1 done date:20261126120107 stat:DELIVRD",
            "done_date",
            datetime(2026, 11, 26, 12, 1, 7),
        ),
        # underscore key spelling and extra spaces
        (
            "id:  77   submit_date: 2611261200  done_date:2611261201 stat:  ACCEPTD",
            "submit_date",
            datetime(2026, 11, 26, 12, 0),
        ),
        ("id:  77   submit_date: 2611261200  stat:  ACCEPTD", "stat", "ACCEPTD"),
        ("id:  77   stat:  ACCEPTD", "message_id", "77"),
        # missing fields are None
        ("id:abc stat:DELIVRD", "sub", None),
        ("id:abc stat:DELIVRD", "done_date", None),
        ("id:abc stat:DELIVRD", "text", None),
        ("id:abc", "stat", None),
        ("id:abc", "message_state", None),
        # an impossible date is None, not an error
        ("id:abc done date:2613991299 stat:DELIVRD", "done_date", None),
        # NUL padding
        ("id:abc\x00 stat:DELIVRD\x00", "stat", "DELIVRD"),
        # the text field may itself hold key-like words; it runs to the end
        ("id:9 stat:DELIVRD err:000 text:stat:FAKE id:other", "text", "stat:FAKE id:other"),
        ("id:9 stat:DELIVRD err:000 text:stat:FAKE id:other", "message_id", "9"),
        # spelled-out states
        ("id:9 stat:DELIVERED", "message_state", MessageState.DELIVERED),
        ("id:9 stat:REJECTD err:0x0B", "err", "0x0B"),
        ("id:9 stat:REJECTD", "message_state", MessageState.REJECTED),
    ],
)
def test_parse_variants(text: str, field: str, expected: object) -> None:
    assert getattr(parse_receipt_text(text), field) == expected


def test_receipted_id_key_is_not_id() -> None:
    r = parse_receipt_text("receipted_id:zzz id:real stat:DELIVRD")
    assert r.message_id == "real"


@pytest.mark.parametrize("text", ["", "stat:DELIVRD err:000", "id: stat:DELIVRD", "hello"])
def test_no_id_raises_decode_error(text: str) -> None:
    with pytest.raises(DecodeError) as info:
        parse_receipt_text(text)
    assert info.value.field == "short_message"


def test_build_then_parse_round_trip() -> None:
    t = build_receipt_text(
        "a1b2",
        "delivrd",
        submit_date=datetime(2026, 1, 2, 3, 4),
        done_date=datetime(2026, 1, 2, 3, 5),
        text="a very long message body that gets cut",
    )
    assert t == (
        "id:a1b2 sub:001 dlvrd:001 submit date:2601020304 done date:2601020305 "
        "stat:DELIVRD err:000 text:a very long message "
    )
    r = parse_receipt_text(t)
    assert (r.message_id, r.dlvrd, r.stat, r.text) == ("a1b2", 1, "DELIVRD", "a very long message")


def test_build_from_state_and_seconds() -> None:
    t = build_receipt_text(
        "7",
        MessageState.UNDELIVERABLE,
        err=34,
        done_date=datetime(2026, 1, 2, 3, 4, 5),
        seconds=True,
    )
    assert "dlvrd:000" in t and "stat:UNDELIV" in t and "err:034" in t
    assert "done date:260102030405" in t
    r = parse_receipt_text(t)
    assert r.done_date == datetime(2026, 1, 2, 3, 4, 5)
    assert r.submit_date is None  # the all-zero placeholder is no date
    assert r.message_state == MessageState.UNDELIVERABLE
    assert r.is_final


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mid=st.text(alphabet="0123456789abcdefABCDEF-", min_size=1, max_size=40),
    state=st.sampled_from(list(MessageState)),
    sub=st.integers(0, 999),
    when=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
    body=st.text(alphabet=st.characters(codec="ascii", exclude_characters="\x00"), max_size=30),
)
def test_build_parse_property(
    mid: str, state: MessageState, sub: int, when: datetime, body: str
) -> None:
    when = when.replace(second=0, microsecond=0)
    r = parse_receipt_text(build_receipt_text(mid, state, sub=sub, done_date=when, text=body))
    assert r.message_id == mid
    assert r.sub == sub
    assert r.done_date == when
    assert r.message_state == state
    assert r.text == body[:20].strip()


def test_stat_state_mapping_complete() -> None:
    for state in MessageState:
        word = state_to_stat(state)
        assert stat_to_state(word) is state
        assert stat_to_state(word.lower()) is state
    assert set(STATE_TO_STAT.values()) == {
        "DELIVRD",
        "EXPIRED",
        "DELETED",
        "UNDELIV",
        "ACCEPTD",
        "UNKNOWN",
        "REJECTD",
        "ENROUTE",
    }
    assert stat_to_state("BOGUS") is None
    assert stat_to_state(None) is None
    assert state_to_stat(99) == "UNKNOWN"


def _pdu(**kw: object) -> SimpleNamespace:
    base: dict[str, object] = {
        "esm_class": 0x04,
        "data_coding": 0,
        "short_message": b"",
        "message_payload": None,
        "receipted_message_id": None,
        "message_state": None,
    }
    base.update(kw)
    return SimpleNamespace(**base)


def test_receipt_from_pdu_prefers_tlvs() -> None:
    pdu = _pdu(
        short_message=b"id:0000000123 sub:001 dlvrd:000 stat:ENROUTE err:000 text:x",
        receipted_message_id="7b",
        message_state=int(MessageState.DELIVERED),
    )
    r = receipt_from_pdu(pdu)
    assert r.message_id == "7b"
    assert r.message_state == MessageState.DELIVERED
    assert r.stat == "ENROUTE"  # the text's word is kept; the state is the TLV's


def test_receipt_from_pdu_text_only_and_payload() -> None:
    r = receipt_from_pdu(_pdu(short_message=ANCHOR.encode()))
    assert (r.message_id, r.message_state) == ("0123456789", MessageState.DELIVERED)
    r2 = receipt_from_pdu(_pdu(message_payload=ANCHOR.encode()))
    assert r2 == r


def test_receipt_from_pdu_ucs2_text() -> None:
    r = receipt_from_pdu(_pdu(data_coding=8, short_message=ANCHOR.encode("utf-16-be")))
    assert r.message_id == "0123456789" and r.text == "hello"


def test_receipt_from_pdu_tlv_only() -> None:
    r = receipt_from_pdu(_pdu(receipted_message_id="abc", message_state=5))
    assert r.message_id == "abc"
    assert r.stat == "UNDELIV"
    assert r.message_state == MessageState.UNDELIVERABLE


def test_receipt_from_pdu_without_any_id() -> None:
    with pytest.raises(DecodeError) as info:
        receipt_from_pdu(_pdu(short_message=b"stat:DELIVRD"))
    assert info.value.field == "receipted_message_id"


def test_is_receipt() -> None:
    assert is_receipt(_pdu())
    assert is_receipt(_pdu(esm_class=0x20))
    assert is_receipt(_pdu(esm_class=0, receipted_message_id="x"))
    assert is_receipt(_pdu(esm_class=0, short_message=ANCHOR.encode()))
    assert not is_receipt(_pdu(esm_class=0, short_message=ANCHOR.encode()), sniff=False)
    assert not is_receipt(_pdu(esm_class=0x40, short_message=b"\x05\x00\x03\x01\x02\x01hi"))
    assert not is_receipt(_pdu(esm_class=0, short_message=b"hello id: there"))


@pytest.mark.parametrize(
    ("raw", "canon"),
    [
        ("000A1B", "a1b"),
        ("a1b", "a1b"),
        ("  0123456789\x00", "123456789"),
        ("0", "0"),
        ("0000", "0"),
        ("6F1D0F6E-8B4D-4C1A-9A0B-0D2D3F4E5A6B", "6f1d0f6e-8b4d-4c1a-9a0b-0d2d3f4e5a6b"),
        ("MsgXYZ01", "MsgXYZ01"),  # not hex: left alone, case kept
        ("0x1F", "1f"),  # a 0x prefix in front of hex digits is dropped
        ("0X00a1B", "a1b"),
        ("0x0", "0"),
        ("0xZZ", "0xZZ"),  # not hex after the prefix: left alone
        ("0x", "0x"),
    ],
)
def test_normalize_message_id(raw: str, canon: str) -> None:
    assert normalize_message_id(raw) == canon


def test_message_id_keys_hex_vs_decimal() -> None:
    # submit_sm_resp says hex, the receipt says decimal (and pads it), or the reverse
    assert message_id_keys("0A1B") & message_id_keys("2587")
    assert message_id_keys("2587") & message_id_keys("00000A1B")
    assert message_id_keys("FF") & message_id_keys("255")
    # leading zeros and case
    assert message_id_keys("000abc") & message_id_keys("ABC")
    # different numbers do not meet
    assert not message_id_keys("0A1B") & message_id_keys("2588")
    assert not message_id_keys("abc") & message_id_keys("abd")
    assert message_id_keys("not-hex-id") == {"not-hex-id"}


def test_message_id_keys_0x_prefix() -> None:
    # submit_sm_resp says "0x1F"; the receipt says "31", "1F" or "0000001f"
    assert message_id_keys("0x1F") == {"1f", "31"}
    for other in ("31", "1F", "0000001f", "0X1f"):
        assert message_id_keys("0x1F") & message_id_keys(other), other
    assert not message_id_keys("0x1F") & message_id_keys("32")
    assert message_id_keys("0xZZ") == {"0xZZ"}


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**64))
def test_message_id_keys_property(n: int) -> None:
    hex_form = format(n, "X").rjust(12, "0")
    dec_form = str(n).rjust(20, "0")
    assert message_id_keys(hex_form) & message_id_keys(dec_form)
    assert normalize_message_id(message_id_keys(dec_form).pop()) in message_id_keys(dec_form)


def test_receipt_from_real_pdu_anchor() -> None:
    """The codec anchor's receipt, through the real codec: TLVs and text agree."""
    import engine

    wire = engine.encode(
        engine.DeliverSm(
            esm_class=0x04,
            short_message=ANCHOR.encode(),
            receipted_message_id="0123456789",
            message_state=2,
        )
    )
    pdu = engine.decode(wire)
    assert is_receipt(pdu, sniff=False)
    r = receipt_from_pdu(pdu)
    assert r.message_id == "0123456789"
    assert r.message_state == MessageState.DELIVERED
    assert r.done_date == datetime(2026, 11, 26, 12, 1)
    assert message_id_keys(r.message_id) & message_id_keys("123456789")


def test_receipt_round_trip_through_codec() -> None:
    import engine

    text = build_receipt_text("00FF", MessageState.EXPIRED, err=1)
    pdu = engine.DeliverSm(
        esm_class=0x04, short_message=text.encode(), receipted_message_id="ff", message_state=3
    )
    r = receipt_from_pdu(engine.decode(engine.encode(pdu)))
    assert (r.message_id, r.stat, r.err, r.message_state) == ("ff", "EXPIRED", "001", 3)
    assert r.is_final


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mid=st.text(alphabet="0123456789abcdefXYZ-", min_size=1, max_size=20),
    state=st.sampled_from(list(MessageState)),
    when=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
    body=st.text(alphabet=st.characters(codec="latin-1", exclude_characters="\x00"), max_size=25),
    upper=st.booleans(),
    seconds=st.booleans(),
)
def test_fast_path_agrees_with_tolerant_parser(
    mid: str, state: MessageState, when: datetime, body: str, upper: bool, seconds: bool
) -> None:
    from engine.receipts import _FAST_RE, _parse_tolerant

    text = build_receipt_text(mid, state, done_date=when, text=body, seconds=seconds)
    if upper:
        text = text.replace("id:", "ID:").replace("text:", "Text:").replace("stat:", "Stat:")
    assert _FAST_RE.match(text) is not None
    assert parse_receipt_text(text) == _parse_tolerant(text)
