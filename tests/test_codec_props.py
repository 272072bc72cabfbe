"""Property tests of the PDU codec (hypothesis).

- every PDU class, with any valid field values and TLVs: ``decode(encode(p)) == p``;
- ``PduReader`` over ``encode_many`` of several PDUs, cut anywhere, gives them back;
- random bytes, and valid PDUs mutated or truncated, through ``decode`` and ``PduReader``:
  the only exception ever raised is :class:`engine.DecodeError`.

Field limits are SMPP 3.4's (§4 tables, sizes include the C-string NUL; §5.3.2 for TLVs).
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine import DecodeError, PduReader

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ_SETTINGS = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ---- field strategies ---------------------------------------------------------------------

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
seq = st.integers(0, 0x7FFFFFFF)  # §3.2: sequence_number 0x00000001..0x7FFFFFFF (+0)
PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


def cstr(max_chars: int) -> st.SearchStrategy[str]:
    """A C-octet string value: printable ASCII, no NUL, at most ``max_chars`` characters."""
    return st.text(PRINTABLE, max_size=max_chars)


# §7.1.1: "" or YYMMDDhhmmsstnnp (16 chars), p is '+', '-' (absolute) or 'R' (relative).
smpp_time = st.one_of(
    st.just(""),
    st.builds(
        lambda digits, p: digits + p,
        st.text(st.sampled_from("0123456789"), min_size=15, max_size=15),
        st.sampled_from("+-R"),
    ),
)
short_message = st.binary(max_size=254)
sme = st.tuples(u8, u8, cstr(20))
dest_address = st.one_of(sme, cstr(20))  # SME address or distribution list name (§4.5.1.1)
unsuccess_sme = st.tuples(u8, u8, cstr(20), u32)

COMMON: dict[str, st.SearchStrategy[Any]] = {
    "service_type": cstr(5),
    "source_addr_ton": u8,
    "source_addr_npi": u8,
    "source_addr": cstr(20),
    "dest_addr_ton": u8,
    "dest_addr_npi": u8,
    "destination_addr": cstr(20),
    "esm_class": u8,
    "protocol_id": u8,
    "priority_flag": u8,
    "schedule_delivery_time": smpp_time,
    "validity_period": smpp_time,
    "registered_delivery": u8,
    "replace_if_present_flag": u8,
    "data_coding": u8,
    "sm_default_msg_id": u8,
    "short_message": short_message,
    "system_id": cstr(15),
    "password": cstr(8),
    "system_type": cstr(12),
    "interface_version": u8,
    "addr_ton": u8,
    "addr_npi": u8,
    "address_range": cstr(40),
    "message_id": cstr(64),
    "final_date": smpp_time,
    "message_state": u8,
    "error_code": u8,
    "esme_addr_ton": u8,
    "esme_addr_npi": u8,
    "esme_addr": cstr(64),
    "dest_addresses": st.lists(dest_address, max_size=8),
    "unsuccess_smes": st.lists(unsuccess_sme, max_size=8),
}

_SM = [
    "service_type",
    "source_addr_ton",
    "source_addr_npi",
    "source_addr",
    "dest_addr_ton",
    "dest_addr_npi",
    "destination_addr",
    "esm_class",
    "protocol_id",
    "priority_flag",
    "schedule_delivery_time",
    "validity_period",
    "registered_delivery",
    "replace_if_present_flag",
    "data_coding",
    "sm_default_msg_id",
    "short_message",
]
_BIND = [
    "system_id",
    "password",
    "system_type",
    "interface_version",
    "addr_ton",
    "addr_npi",
    "address_range",
]
_SRC = ["source_addr_ton", "source_addr_npi", "source_addr"]
_DST = ["dest_addr_ton", "dest_addr_npi", "destination_addr"]

# Mandatory fields of each PDU (SMPP 3.4 §4), overrides where a limit differs.
CLASS_FIELDS: dict[str, tuple[list[str], dict[str, st.SearchStrategy[Any]]]] = {
    "BindTransmitter": (_BIND, {}),
    "BindReceiver": (_BIND, {}),
    "BindTransceiver": (_BIND, {}),
    "BindTransmitterResp": (["system_id"], {}),
    "BindReceiverResp": (["system_id"], {}),
    "BindTransceiverResp": (["system_id"], {}),
    "Outbind": (["system_id", "password"], {}),
    "Unbind": ([], {}),
    "UnbindResp": ([], {}),
    "GenericNack": ([], {}),
    "EnquireLink": ([], {}),
    "EnquireLinkResp": ([], {}),
    "CancelSmResp": ([], {}),
    "ReplaceSmResp": ([], {}),
    "SubmitSm": (_SM, {}),
    "DeliverSm": (_SM, {}),
    "SubmitSmResp": (["message_id"], {}),
    "DeliverSmResp": (["message_id"], {}),
    "DataSmResp": (["message_id"], {}),
    "SubmitMulti": (
        [f for f in _SM if f not in _DST] + ["dest_addresses"],
        {},
    ),
    "SubmitMultiResp": (["message_id", "unsuccess_smes"], {}),
    "DataSm": (
        ["service_type", *_SRC, *_DST, "esm_class", "registered_delivery", "data_coding"],
        {"source_addr": cstr(64), "destination_addr": cstr(64)},  # §4.7.1: 65 with NUL
    ),
    "QuerySm": (["message_id", *_SRC], {}),
    "QuerySmResp": (["message_id", "final_date", "message_state", "error_code"], {}),
    "CancelSm": (["service_type", "message_id", *_SRC, *_DST], {}),
    "ReplaceSm": (
        [
            "message_id",
            *_SRC,
            "schedule_delivery_time",
            "validity_period",
            "registered_delivery",
            "sm_default_msg_id",
            "short_message",
        ],
        {},
    ),
    "AlertNotification": (
        [*_SRC, "esme_addr_ton", "esme_addr_npi", "esme_addr"],
        {"source_addr": cstr(64)},  # §4.12.1: 65 with NUL
    ),
}


def octets(min_size: int, max_size: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=min_size, max_size=max_size)


# TLV value strategies by tag (§5.3.2).  source_telematics_id's width is inconsistent in the
# spec text (1 or 2 octets), so values stay below 256 there.
TLV_VALUES: dict[int, st.SearchStrategy[Any]] = {
    0x0005: u8,
    0x0006: u8,
    0x0007: u8,
    0x0008: u16,
    0x000D: u8,
    0x000E: u8,
    0x000F: u8,
    0x0010: u8,
    0x0017: u32,
    0x0019: u8,
    0x001D: cstr(255),
    0x001E: cstr(64),
    0x0030: u8,
    0x0201: u8,
    0x0202: octets(2, 23),
    0x0203: octets(2, 23),
    0x0204: u16,
    0x0205: u8,
    0x020A: u16,
    0x020B: u16,
    0x020C: u16,
    0x020D: u8,
    0x020E: u8,
    0x020F: u8,
    0x0210: u8,
    0x0302: u8,
    0x0303: octets(0, 65),
    0x0304: u8,
    0x0381: octets(4, 19),
    0x0420: u8,
    0x0421: u8,
    0x0422: u8,
    0x0423: octets(3, 3),
    0x0424: octets(0, 400),
    0x0425: u8,
    0x0426: u8,
    0x0427: u8,
    0x0501: u8,
    0x1201: u8,
    0x1203: u16,
    0x1204: u8,
    0x130C: st.just(True),
    0x1380: u8,
    0x1383: octets(2, 2),
}


def test_tlv_table_covers_every_spec_tlv() -> None:
    assert set(TLV_VALUES) == set(engine.TLV_NAMES)


unknown_tag = st.integers(0, 0xFFFF).filter(lambda t: t not in TLV_VALUES)
tlv = st.one_of(
    st.sampled_from(sorted(TLV_VALUES)).flatmap(lambda t: st.tuples(st.just(t), TLV_VALUES[t])),
    st.tuples(unknown_tag, st.binary(max_size=20)),
)
tlv_list = st.lists(tlv, max_size=6, unique_by=lambda kv: kv[0])

REQUEST_STATUS = st.just(0)
RESPONSE_STATUS = st.one_of(st.just(0), st.sampled_from([0x03, 0x0D, 0x45, 0x58, 0xFF]), u32)


@st.composite
def pdu_of(draw: st.DrawFn, cls_name: str) -> Any:
    cls = getattr(engine, cls_name)
    names, overrides = CLASS_FIELDS[cls_name]
    kwargs = {name: draw(overrides.get(name, COMMON[name])) for name in names}
    kwargs["sequence_number"] = draw(seq)
    is_resp = issubclass(cls, engine.ResponsePdu)
    kwargs["command_status"] = draw(RESPONSE_STATUS if is_resp else REQUEST_STATUS)
    pdu = cls(**kwargs)
    tlvs = draw(tlv_list)
    if tlvs:
        pdu.tlvs = tlvs
    return pdu


any_pdu = st.sampled_from(sorted(CLASS_FIELDS)).flatmap(pdu_of)


def test_strategies_cover_every_pdu_class() -> None:
    assert {getattr(engine, n) for n in CLASS_FIELDS} == set(engine.PDU_CLASSES.values())


# ---- round trips --------------------------------------------------------------------------


@SETTINGS
@given(any_pdu)
def test_round_trip(pdu: Any) -> None:
    data = engine.encode(pdu)
    assert int.from_bytes(data[:4], "big") == len(data)
    assert int.from_bytes(data[4:8], "big") == type(pdu).command_id
    back = engine.decode(data)
    assert type(back) is type(pdu)
    assert back == pdu
    assert back.tlvs == pdu.tlvs
    assert engine.encode(back) == data


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_round_trip_each_class(data: st.DataObject) -> None:
    # Every class at least a few times, whatever the sampler above favours.
    for cls_name in sorted(CLASS_FIELDS):
        pdu = data.draw(pdu_of(cls_name))
        assert engine.decode(engine.encode(pdu)) == pdu


@SETTINGS
@given(st.lists(any_pdu, max_size=8), st.lists(st.integers(0, 3000), max_size=6))
def test_reader_gives_back_the_stream(pdus: list[Any], cuts: list[int]) -> None:
    stream = engine.encode_many(pdus)
    assert stream == b"".join(engine.encode(p) for p in pdus)
    assert PduReader().feed(stream) == pdus
    reader = PduReader()
    got: list[Any] = []
    points = sorted({c % (len(stream) + 1) for c in cuts})
    start = 0
    for point in [*points, len(stream)]:
        got.extend(reader.feed(stream[start:point]))
        start = point
    assert got == pdus
    assert reader.buffered == 0


# ---- fuzz: only DecodeError, never anything else ----------------------------------------


def _decode_only_decode_error(data: bytes) -> None:
    try:
        pdu = engine.decode(data)
    except DecodeError as err:
        assert err.command_status != 0
        return
    # Whatever decodes and re-encodes must decode to the same PDU (canonical form may
    # differ).  The encoder may refuse a value the decoder let through, with EncodeError.
    try:
        again = engine.encode(pdu)
    except engine.EncodeError:
        return
    assert engine.decode(again) == pdu


def _reader_only_decode_error(data: bytes, chunk: int) -> None:
    reader = PduReader(max_pdu_length=4096)
    for i in range(0, len(data), chunk):
        try:
            out = reader.feed(data[i : i + chunk])
        except DecodeError as err:
            assert err.recoverable is False
            return
        for item in out:
            assert isinstance(item, engine.Pdu | DecodeError), type(item)
    assert 0 <= reader.buffered < 4096


COMMAND_IDS = sorted(engine.PDU_CLASSES) if engine.PDU_CLASSES else [4]


@st.composite
def framed_random_body(draw: st.DrawFn) -> bytes:
    """A correct header around a random body: reaches every body parser."""
    command_id = draw(st.one_of(st.sampled_from(COMMAND_IDS), u32))
    body = draw(st.binary(max_size=300))
    return (
        (16 + len(body)).to_bytes(4, "big")
        + command_id.to_bytes(4, "big")
        + draw(u32).to_bytes(4, "big")
        + draw(u32).to_bytes(4, "big")
        + body
    )


@st.composite
def mutated_pdu(draw: st.DrawFn) -> bytes:
    """A valid PDU with octets flipped, cut, inserted or dropped (length sometimes fixed)."""
    data = bytearray(engine.encode(draw(any_pdu)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "cut", "insert", "drop"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[pos] = draw(u8)
        elif op == "cut":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif op == "drop" and data:
            del data[pos]
    if draw(st.booleans()) and len(data) >= 4:
        data[0:4] = len(data).to_bytes(4, "big")
    return bytes(data)


@FUZZ_SETTINGS
@given(st.binary(max_size=200))
def test_fuzz_random_bytes(data: bytes) -> None:
    _decode_only_decode_error(data)
    _reader_only_decode_error(data, 7)


@FUZZ_SETTINGS
@given(framed_random_body(), st.integers(1, 64))
def test_fuzz_framed_random_body(data: bytes, chunk: int) -> None:
    _decode_only_decode_error(data)
    _reader_only_decode_error(data + data, chunk)


@FUZZ_SETTINGS
@given(mutated_pdu(), st.integers(1, 64))
def test_fuzz_mutated_pdus(data: bytes, chunk: int) -> None:
    _decode_only_decode_error(data)
    _reader_only_decode_error(data, chunk)


@SETTINGS
@given(any_pdu, st.integers(1, 300))
def test_truncated_pdu_is_a_decode_error(pdu: Any, cut: int) -> None:
    data = engine.encode(pdu)
    cut = min(cut, len(data))
    try:
        engine.decode(data[:-cut])
    except DecodeError:
        pass
    else:
        raise AssertionError("a truncated PDU decoded")
    # The reader waits for the rest instead.
    reader = PduReader()
    assert reader.feed(data[:-cut]) == []
    assert reader.buffered == len(data) - cut


@SETTINGS
@given(any_pdu)
def test_pickle_and_copy_keep_the_pdu(pdu: Any) -> None:
    assert pickle.loads(pickle.dumps(pdu)) == pdu
    twin = copy.copy(pdu)
    assert twin == pdu
    # A copy's TLVs are its own: changing them leaves the original alone.
    before = pdu.tlvs
    twin.set_tlv(0x1400, b"\x01")
    twin.sar_msg_ref_num = 7
    assert pdu.tlvs == before
