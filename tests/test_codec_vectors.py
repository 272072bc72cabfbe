"""Golden vectors: hand-built SMPP 3.4 bytes decoded, re-encoded and framed.

The vectors (tests/vectors/pdu_vectors.py) are laid out from the spec's tables, never
produced by our encoder.  Each one is decoded and compared field by field, encoded back
byte for byte, built from its field values and encoded, and fed to :class:`PduReader`
whole, one octet at a time and followed by the start of another PDU.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

import engine
from engine import DecodeError, EncodeError, PduReader

_VECTORS_PATH = Path(__file__).parent / "vectors" / "pdu_vectors.py"


def _load_vectors() -> Any:
    """Load the vector data file by path (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location("pdu_vectors", _VECTORS_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("pdu_vectors", module)
    spec.loader.exec_module(module)
    return module


V = _load_vectors()
VECTORS = V.VECTORS
BAD_VECTORS = V.BAD_VECTORS

# Derived from other fields: read-only on the PDU, never passed to a constructor.
DERIVED = {"sm_length", "number_of_dests", "no_unsuccess"}
# A PDU that follows a vector in stream tests: enquire_link, seq 0x0A0B0C0D.
NEXT_PDU = bytes.fromhex("00000010 00000015 00000000 0a0b0c0d".replace(" ", ""))

ids = [v.name for v in VECTORS]


def _check_fields(pdu: Any, vector: Any) -> None:
    assert type(pdu).__name__ == vector.cls
    assert isinstance(pdu, getattr(engine, vector.cls))
    for name, expected in vector.fields.items():
        got = getattr(pdu, name)
        assert got == expected, f"{vector.name}: {name} = {got!r}, expected {expected!r}"
        if expected is not None:
            assert isinstance(got, type(expected)), f"{vector.name}: {name} is {type(got)}"
    assert list(pdu.tlvs) == vector.tlvs
    assert list(pdu.unknown_tlvs) == vector.unknown_tlvs
    for tag, value in vector.tlvs:
        assert pdu.get_tlv(tag) == value


def _canonical(vector: Any) -> bytes:
    return bytes.fromhex(vector.canonical if vector.canonical is not None else vector.hex)


def _build(vector: Any) -> Any:
    """Build the vector's PDU by keyword from its field values.

    TLVs go in by name as keywords too, then ``tlvs`` is set to fix the wire order (and to
    add unknown tags).
    """
    cls = getattr(engine, vector.cls)
    kwargs = {
        name: value
        for name, value in vector.fields.items()
        if name not in DERIVED and value is not None
    }
    pdu = cls(**kwargs)
    if vector.tlvs:
        pdu.tlvs = vector.tlvs
    return pdu


# ---- the vector data itself -------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS + BAD_VECTORS, ids=lambda v: v.name)
def test_vector_command_length_matches_its_bytes(vector: Any) -> None:
    data = bytes.fromhex(vector.hex)
    assert int.from_bytes(data[:4], "big") == len(data)


def test_every_command_id_has_a_vector_and_a_class() -> None:
    assert len(V.ALL_COMMAND_IDS) == 27  # §5.1.2.1, generic_nack included
    assert {v.cls for v in VECTORS} == set(V.ALL_COMMAND_IDS)
    assert len(engine.PDU_CLASSES) == len(V.ALL_COMMAND_IDS)
    for cls_name, command_id in V.ALL_COMMAND_IDS.items():
        cls = getattr(engine, cls_name)
        assert engine.PDU_CLASSES[command_id] is cls
        assert cls.command_id == command_id


def test_tlv_names_cover_smpp34() -> None:
    assert {tag: engine.Tag(tag).name for tag in engine.TLV_NAMES} == engine.TLV_NAMES
    assert set(engine.TLV_NAMES) == {int(t) for t in engine.Tag}


# ---- decode and encode ------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS, ids=ids)
def test_decode_gives_the_spec_fields(vector: Any) -> None:
    _check_fields(engine.decode(bytes.fromhex(vector.hex)), vector)


@pytest.mark.parametrize("vector", VECTORS, ids=ids)
def test_decode_accepts_bytearray_and_memoryview(vector: Any) -> None:
    data = bytes.fromhex(vector.hex)
    expected = engine.decode(data)
    assert engine.decode(bytearray(data)) == expected
    assert engine.decode(memoryview(data)) == expected
    # A slice of a larger buffer (no copy made by the caller).
    assert engine.decode(memoryview(b"\xff" * 3 + data + b"\xee")[3 : 3 + len(data)]) == expected


@pytest.mark.parametrize("vector", VECTORS, ids=ids)
def test_reencode_is_byte_for_byte(vector: Any) -> None:
    assert engine.encode(engine.decode(bytes.fromhex(vector.hex))) == _canonical(vector)


@pytest.mark.parametrize("vector", VECTORS, ids=ids)
def test_build_from_fields_encodes_to_the_vector(vector: Any) -> None:
    pdu = _build(vector)
    assert engine.encode(pdu) == _canonical(vector)
    assert pdu == engine.decode(bytes.fromhex(vector.hex))
    _check_fields(pdu, vector)


def test_encode_many_concatenates() -> None:
    pdus = [engine.decode(bytes.fromhex(v.hex)) for v in VECTORS]
    assert engine.encode_many(pdus) == b"".join(_canonical(v) for v in VECTORS)
    assert engine.encode_many(iter(pdus)) == engine.encode_many(pdus)
    assert engine.encode_many([]) == b""


def test_equality_sees_every_field() -> None:
    data = bytes.fromhex(VECTORS[0].hex)
    a, b = engine.decode(data), engine.decode(data)
    assert a == b
    b.password = "other"
    assert a != b
    receipt = next(v for v in VECTORS if v.name == "deliver_sm_receipt")
    a, b = engine.decode(bytes.fromhex(receipt.hex)), engine.decode(bytes.fromhex(receipt.hex))
    b.message_state = 3
    assert a != b
    assert b.get_tlv(0x0427) == 3
    assert engine.encode(b)[-1] == 3


def test_tlv_setters_agree() -> None:
    pdu = engine.SubmitSm(sequence_number=1, sar_msg_ref_num=7)
    assert pdu.sar_msg_ref_num == 7
    assert pdu.get_tlv(0x020C) == 7
    pdu.set_tlv(0x020E, 2)
    assert pdu.sar_total_segments == 2
    pdu.set_tlv(0x1400, b"\x01")
    assert pdu.unknown_tlvs == [(0x1400, b"\x01")]
    assert pdu.tlvs == [(0x020C, 7), (0x020E, 2), (0x1400, b"\x01")]
    pdu.sar_msg_ref_num = None  # removing a TLV
    assert pdu.get_tlv(0x020C) is None
    assert [tag for tag, _ in pdu.tlvs] == [0x020E, 0x1400]


def test_to_dict_has_the_spec_names() -> None:
    receipt = next(v for v in VECTORS if v.name == "deliver_sm_receipt")
    d = engine.decode(bytes.fromhex(receipt.hex)).to_dict()
    assert d["source_addr"] == "15557654321"
    assert d["short_message"] == V.RECEIPT_TEXT.encode()
    assert d["receipted_message_id"] == "0123456789"
    assert d["message_state"] == 2


@pytest.mark.parametrize(
    "vector",
    [v for v in VECTORS if v.cls not in ("Outbind", "AlertNotification")],
    ids=lambda v: v.name,
)
def test_make_response_pairs_request_and_response(vector: Any) -> None:
    pdu = engine.decode(bytes.fromhex(vector.hex))
    if not isinstance(pdu, engine.RequestPdu):
        assert isinstance(pdu, engine.ResponsePdu)
        return
    resp = pdu.make_response(command_status=0x58)
    assert isinstance(resp, type(pdu).response_class)
    assert resp.command_id == pdu.command_id | 0x80000000
    assert resp.sequence_number == pdu.sequence_number
    assert resp.command_status == 0x58


def test_make_response_takes_fields() -> None:
    resp = engine.SubmitSm(sequence_number=77).make_response(message_id="abc")
    assert isinstance(resp, engine.SubmitSmResp)
    header = bytes.fromhex("00000014 80000004 00000000 0000004d".replace(" ", ""))
    assert engine.encode(resp) == header + b"abc\x00"


# ---- the stream framer --------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS, ids=ids)
def test_reader_whole(vector: Any) -> None:
    data = bytes.fromhex(vector.hex)
    reader = PduReader()
    out = reader.feed(data)
    assert len(out) == 1
    _check_fields(out[0], vector)
    assert reader.buffered == 0


@pytest.mark.parametrize("vector", VECTORS, ids=ids)
def test_reader_one_octet_at_a_time(vector: Any) -> None:
    data = bytes.fromhex(vector.hex)
    reader = PduReader()
    for i in range(len(data) - 1):
        assert reader.feed(data[i : i + 1]) == []
        assert reader.buffered == i + 1
    out = reader.feed(data[-1:])
    assert len(out) == 1
    _check_fields(out[0], vector)
    assert reader.buffered == 0


@pytest.mark.parametrize("vector", VECTORS, ids=ids)
@pytest.mark.parametrize("tail", [1, 3, 4, 5, 15])
def test_reader_keeps_the_tail(vector: Any, tail: int) -> None:
    data = bytes.fromhex(vector.hex)
    reader = PduReader()
    out = reader.feed(bytearray(data + NEXT_PDU[:tail]))
    assert len(out) == 1
    _check_fields(out[0], vector)
    assert reader.buffered == tail
    (nxt,) = reader.feed(memoryview(NEXT_PDU)[tail:])
    assert isinstance(nxt, engine.EnquireLink)
    assert nxt.sequence_number == 0x0A0B0C0D
    assert reader.buffered == 0


def test_reader_whole_stream_in_one_feed_and_in_odd_chunks() -> None:
    stream = b"".join(bytes.fromhex(v.hex) for v in VECTORS) * 3
    expected = [engine.decode(bytes.fromhex(v.hex)) for v in VECTORS] * 3
    assert PduReader().feed(stream) == expected
    for size in (2, 7, 16, 17, 100, 1000):
        reader = PduReader()
        got: list[Any] = []
        for i in range(0, len(stream), size):
            got.extend(reader.feed(stream[i : i + size]))
        assert got == expected
        assert reader.buffered == 0


def test_reader_feed_empty_is_harmless() -> None:
    reader = PduReader()
    assert reader.feed(b"") == []
    assert reader.feed(NEXT_PDU[:2]) == []
    assert reader.feed(b"") == []
    assert reader.buffered == 2
    assert len(reader.feed(NEXT_PDU[2:])) == 1


def test_reader_accepts_exactly_max_pdu_length() -> None:
    # data_sm (§4.7.1) with empty strings and a message_payload TLV, 1024 octets in all.
    body = "00" + "0000" + "00" + "0000" + "00" + "000000"  # 10 octets
    payload = b"p" * (1024 - 16 - 10 - 4)
    data = bytes.fromhex("00000400 00000103 00000000 00000001".replace(" ", "") + body)
    data += bytes.fromhex("0424") + len(payload).to_bytes(2, "big") + payload
    assert len(data) == 1024
    (pdu,) = PduReader(max_pdu_length=1024).feed(data)
    assert isinstance(pdu, engine.DataSm)
    assert pdu.message_payload == payload


# ---- decode errors ------------------------------------------------------------------------


def _check_error(err: DecodeError, bad: Any) -> None:
    assert isinstance(err, DecodeError)
    assert isinstance(err, engine.EngineError)
    assert isinstance(err, ValueError)
    assert err.recoverable is True, bad.name
    if bad.command_status is not None:
        assert err.command_status == bad.command_status, bad.name
    else:
        assert err.command_status != 0, bad.name
    if bad.sequence_number is not None:
        assert err.sequence_number == bad.sequence_number, bad.name
    data = bytes.fromhex(bad.hex)
    assert err.command_id == int.from_bytes(data[4:8], "big"), bad.name
    if bad.field is not None:
        assert err.field is not None, bad.name
        assert any(name in err.field for name in bad.field), (bad.name, err.field)
        assert err.offset is not None and 16 <= err.offset <= len(data), (bad.name, err.offset)
    if bad.offset is not None:
        assert err.offset == bad.offset, (bad.name, err.offset)


@pytest.mark.parametrize("bad", BAD_VECTORS, ids=lambda v: v.name)
def test_decode_refuses(bad: Any) -> None:
    with pytest.raises(DecodeError) as info:
        engine.decode(bytes.fromhex(bad.hex))
    _check_error(info.value, bad)


@pytest.mark.parametrize("bad", BAD_VECTORS, ids=lambda v: v.name)
def test_reader_returns_bad_pdu_inline_and_goes_on(bad: Any) -> None:
    reader = PduReader()
    good = bytes.fromhex(VECTORS[0].hex)
    out = reader.feed(good + bytes.fromhex(bad.hex) + NEXT_PDU)
    assert len(out) == 3
    assert out[0] == engine.decode(good)
    assert isinstance(out[1], DecodeError)
    _check_error(out[1], bad)
    assert isinstance(out[2], engine.EnquireLink)
    assert out[2].sequence_number == 0x0A0B0C0D
    assert reader.buffered == 0


@pytest.mark.parametrize("name,header,max_len", V.BAD_LENGTH_HEADERS, ids=lambda x: str(x))
def test_bad_command_length_refused_on_four_octets(name: str, header: str, max_len: int) -> None:
    data = bytes.fromhex(header)
    reader = PduReader(max_pdu_length=max_len)
    assert reader.max_pdu_length == max_len
    assert reader.feed(data[:3]) == []
    with pytest.raises(DecodeError) as info:
        reader.feed(data[3:4])
    err = info.value
    assert err.recoverable is False
    assert err.command_status == 0x02  # ESME_RINVCMDLEN
    # All four octets at once, and the whole header, fail the same way.
    for chunk in (data[:4], data, NEXT_PDU + data):
        fresh = PduReader(max_pdu_length=max_len)
        with pytest.raises(DecodeError) as info:
            fresh.feed(chunk)
        assert info.value.recoverable is False
        assert info.value.command_status == 0x02


@pytest.mark.parametrize("name,header,max_len", V.BAD_LENGTH_HEADERS[:2], ids=lambda x: str(x))
def test_decode_refuses_short_command_length(name: str, header: str, max_len: int) -> None:
    with pytest.raises(DecodeError) as info:
        engine.decode(bytes.fromhex(header))
    assert info.value.command_status == 0x02


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00",
        b"\x00\x00\x00\x10",
        NEXT_PDU[:15],
        NEXT_PDU[:-1],
        NEXT_PDU + b"\x00",  # command_length 16, 17 octets given
        NEXT_PDU + NEXT_PDU,  # two PDUs: decode takes exactly one
        bytes.fromhex(VECTORS[0].hex)[:-1],
        bytes.fromhex("00000011 00000015 00000000 00000001 00".replace(" ", "")),  # stray octet
    ],
    ids=lambda d: d.hex()[:40] or "empty",
)
def test_decode_wants_exactly_one_whole_pdu(data: bytes) -> None:
    with pytest.raises(DecodeError):
        engine.decode(data)


def test_decode_error_type_is_stable() -> None:
    assert issubclass(DecodeError, engine.SmppError)
    assert issubclass(DecodeError, ValueError)
    assert issubclass(EncodeError, engine.EngineError)
    assert issubclass(EncodeError, ValueError)


# ---- encode errors ------------------------------------------------------------------------

S = engine.SubmitSm
ENCODE_ERRORS: list[tuple[str, Any, tuple[str, ...]]] = [
    ("source_addr_21", lambda: S(source_addr="1" * 21), ("source_addr",)),
    ("destination_addr_21", lambda: S(destination_addr="1" * 21), ("destination_addr",)),
    ("short_message_255", lambda: S(short_message=b"x" * 255), ("short_message",)),
    ("esm_class_256", lambda: S(esm_class=256), ("esm_class",)),
    ("esm_class_negative", lambda: S(esm_class=-1), ("esm_class",)),
    ("data_coding_256", lambda: S(data_coding=256), ("data_coding",)),
    ("sequence_negative", lambda: S(sequence_number=-1), ("sequence_number",)),
    ("sequence_2_32", lambda: S(sequence_number=2**32), ("sequence_number",)),
    ("command_status_2_32", lambda: S(command_status=2**32), ("command_status",)),
    ("service_type_6", lambda: S(service_type="ABCDEF"), ("service_type",)),
    ("schedule_17", lambda: S(schedule_delivery_time="2" * 17), ("schedule_delivery_time",)),
    ("validity_17", lambda: S(validity_period="2" * 17), ("validity_period",)),
    ("nul_inside_c_string", lambda: S(source_addr="15\x0055"), ("source_addr",)),
    ("sar_msg_ref_num_65536", lambda: S(sar_msg_ref_num=65536), ("sar_msg_ref_num",)),
    ("sar_total_segments_256", lambda: S(sar_total_segments=256), ("sar_total_segments",)),
    ("message_state_tlv_256", lambda: engine.DeliverSm(message_state=256), ("message_state",)),
    (
        "receipted_message_id_65",
        lambda: engine.DeliverSm(receipted_message_id="r" * 65),
        ("receipted_message_id",),
    ),
    ("system_id_16", lambda: engine.BindTransmitter(system_id="x" * 16), ("system_id",)),
    ("password_9", lambda: engine.BindTransceiver(password="x" * 9), ("password",)),
    ("system_type_13", lambda: engine.BindReceiver(system_type="x" * 13), ("system_type",)),
    ("address_range_41", lambda: engine.BindReceiver(address_range="x" * 41), ("address_range",)),
    (
        "interface_version_256",
        lambda: engine.BindReceiver(interface_version=256),
        ("interface_version",),
    ),
    ("outbind_password_9", lambda: engine.Outbind(password="x" * 9), ("password",)),
    ("resp_system_id_16", lambda: engine.BindReceiverResp(system_id="x" * 16), ("system_id",)),
    ("message_id_65", lambda: engine.SubmitSmResp(message_id="m" * 65), ("message_id",)),
    ("data_sm_source_65", lambda: engine.DataSm(source_addr="x" * 65), ("source_addr",)),
    ("query_sm_source_21", lambda: engine.QuerySm(source_addr="x" * 21), ("source_addr",)),
    ("final_date_17", lambda: engine.QuerySmResp(final_date="x" * 17), ("final_date",)),
    ("error_code_256", lambda: engine.QuerySmResp(error_code=256), ("error_code",)),
    ("cancel_dest_21", lambda: engine.CancelSm(destination_addr="x" * 21), ("destination_addr",)),
    ("replace_sm_255", lambda: engine.ReplaceSm(short_message=b"x" * 255), ("short_message",)),
    ("esme_addr_65", lambda: engine.AlertNotification(esme_addr="x" * 65), ("esme_addr",)),
    (
        "multi_dest_addr_21",
        lambda: engine.SubmitMulti(dest_addresses=[(1, 1, "x" * 21)]),
        ("dest_addresses", "destination_addr"),
    ),
    (
        "multi_dl_name_21",
        lambda: engine.SubmitMulti(dest_addresses=["x" * 21]),
        ("dest_addresses", "dl_name"),
    ),
    (
        "multi_255_dests",
        lambda: engine.SubmitMulti(dest_addresses=[(1, 1, "1")] * 255),
        ("dest_addresses", "number_of_dests"),
    ),
    (
        "unsuccess_error_code_2_32",
        lambda: engine.SubmitMultiResp(unsuccess_smes=[(1, 1, "1", 2**32)]),
        ("unsuccess_smes", "error_status_code"),
    ),
]


@pytest.mark.parametrize("name,build,fields", ENCODE_ERRORS, ids=[e[0] for e in ENCODE_ERRORS])
def test_encode_refuses_out_of_range(name: str, build: Any, fields: tuple[str, ...]) -> None:
    # The constructor may refuse at once, or encode() later: either way an EncodeError
    # naming the field.
    with pytest.raises(EncodeError) as info:
        engine.encode(build())
    assert info.value.field is not None
    assert any(f in info.value.field for f in fields), (name, info.value.field)
    assert any(f in str(info.value) for f in fields), (name, str(info.value))


def test_encode_accepts_the_maxima() -> None:
    pdus = [
        S(
            source_addr="1" * 20,
            destination_addr="2" * 20,
            short_message=b"x" * 254,
            esm_class=255,
            sequence_number=0x7FFFFFFF,  # §3.2: the largest sequence_number
            service_type="ABCDE",
            sar_msg_ref_num=65535,
        ),
        engine.DataSm(source_addr="x" * 64, destination_addr="y" * 64),
        engine.AlertNotification(source_addr="x" * 64, esme_addr="y" * 64),
        engine.SubmitSmResp(message_id="m" * 64),
        engine.BindTransmitter(system_id="x" * 15, password="p" * 8, system_type="t" * 12),
        # §4.5.1: at most 254 destinations.
        engine.SubmitMulti(dest_addresses=[(1, 1, "1" * 20)] * 253 + ["d" * 20]),
    ]
    for pdu in pdus:
        assert engine.decode(engine.encode(pdu)) == pdu
    sm = engine.decode(engine.encode(pdus[0]))
    assert sm.sm_length == 254
    assert sm.sequence_number == 0x7FFFFFFF
