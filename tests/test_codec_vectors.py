"""Golden vectors: hand-built SMPP 3.4 bytes decoded, re-encoded and framed.

The vectors (tests/vectors/pdu_vectors.py) are laid out from the spec's tables, never
produced by our encoder.  Each one is decoded and compared field by field, encoded back
byte for byte, built from its field values and encoded, and fed to :class:`PduReader`
whole, one octet at a time and followed by the start of another PDU.  Bytes that must
be refused and values that must not encode are in test_codec_errors.py.
"""

from __future__ import annotations

import copy
import importlib.util
import pickle
import sys
from pathlib import Path
from typing import Any

import pytest

import engine
from engine import PduReader

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


@pytest.mark.parametrize("vector", VECTORS, ids=ids)
def test_pickle_and_copy_keep_every_field_and_the_tlv_order(vector: Any) -> None:
    pdu = engine.decode(bytes.fromhex(vector.hex))
    for twin in (pickle.loads(pickle.dumps(pdu)), copy.copy(pdu), copy.deepcopy(pdu)):
        assert type(twin) is type(pdu)
        assert twin.tlvs == vector.tlvs
        assert twin == pdu
        assert engine.encode(twin) == _canonical(vector)


def test_encode_many_concatenates() -> None:
    pdus = [engine.decode(bytes.fromhex(v.hex)) for v in VECTORS]
    assert engine.encode_many(pdus) == b"".join(_canonical(v) for v in VECTORS)
    assert engine.encode_many(iter(pdus)) == engine.encode_many(pdus)
    assert engine.encode_many([]) == b""


def test_equality_sees_every_field() -> None:
    data = bytes.fromhex(VECTORS[0].hex)
    a: Any = engine.decode(data)
    b: Any = engine.decode(data)
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
    pdu: Any = engine.decode(bytes.fromhex(vector.hex))
    if not isinstance(pdu, engine.RequestPdu):
        assert isinstance(pdu, engine.ResponsePdu)
        return
    resp = pdu.make_response(command_status=0x58)
    response_class: Any = type(pdu).response_class
    assert isinstance(resp, response_class)
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


def test_reader_and_decode_copy_what_they_keep() -> None:
    # asyncio's BufferedProtocol hands out one buffer again and again: neither the framer's
    # tail nor a decoded PDU may alias the caller's memory.
    workload = next(v for v in VECTORS if v.name == "submit_sm_workload")
    data = bytes.fromhex(workload.hex)
    expected = engine.decode(data)
    buf = bytearray(data[:100])
    reader = PduReader()
    assert reader.feed(memoryview(buf)) == []
    buf[:] = b"\xee" * 100
    assert reader.feed(bytearray(data[100:])) == [expected]
    buf = bytearray(data)
    pdu: Any = engine.decode(buf)
    buf[-160:] = b"\xee" * 160
    assert pdu == expected
    assert pdu.short_message == V.WORKLOAD_TEXT.encode()


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
