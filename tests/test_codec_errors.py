"""Decode and encode errors: what the codec refuses, and what its errors say.

- PDUs that frame correctly but whose body is wrong (tests/vectors/pdu_vectors.py
  BAD_VECTORS): ``decode`` raises DecodeError with the command_status to answer with, the
  sequence_number, the field and its offset; ``PduReader`` returns the error inline and
  goes on with the next PDU.
- command_length below 16 or above the maximum: refused as soon as its 4 octets arrive,
  recoverable False (the stream is lost).
- Values out of range: EncodeError naming the field.
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
# A PDU that follows the bad one in stream tests: enquire_link, seq 0x0A0B0C0D.
NEXT_PDU = bytes.fromhex("00000010 00000015 00000000 0a0b0c0d".replace(" ", ""))


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


def test_pdus_before_a_bad_command_length_are_kept() -> None:
    # _core.pyi: the PDUs decoded earlier in the failing feed are on the error's ``pdus``.
    good = bytes.fromhex(VECTORS[0].hex)
    reader = PduReader()
    with pytest.raises(DecodeError) as info:
        reader.feed(good + NEXT_PDU + bytes.fromhex("0000000f"))
    err: Any = info.value
    assert err.recoverable is False
    assert err.pdus == [engine.decode(good), engine.decode(NEXT_PDU)]
    with pytest.raises(DecodeError) as info:
        PduReader().feed(bytes.fromhex("00000000 00000015".replace(" ", "")))
    err = info.value
    assert err.pdus == []
    # Inline (recoverable) errors keep their place among the PDUs.
    bad = bytes.fromhex(BAD_VECTORS[0].hex)
    with pytest.raises(DecodeError) as info:
        PduReader().feed(bad + good + bytes.fromhex("ffffffff"))
    err = info.value
    first, second = err.pdus
    assert isinstance(first, DecodeError) and first.command_status == 0x03
    assert second == engine.decode(good)


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
    sm: Any = engine.decode(engine.encode(pdus[0]))
    assert sm.sm_length == 254
    assert sm.sequence_number == 0x7FFFFFFF


@pytest.mark.parametrize("tag", [-1, 0x10000, "0x1400", 1.5])
def test_bad_tlv_tag_is_an_encode_error_naming_the_field(tag: Any) -> None:
    pdu = engine.SubmitSm()
    with pytest.raises(EncodeError) as info:
        pdu.set_tlv(tag, b"x")
    assert info.value.field == "tlvs"
    with pytest.raises(EncodeError):
        pdu.tlvs = [(tag, b"x")]
    assert pdu.tlvs == []


@pytest.mark.parametrize("item", [5, (1, 1), None, b"dl"])
def test_bad_submit_multi_destination_is_an_encode_error(item: Any) -> None:
    with pytest.raises(EncodeError) as info:
        engine.SubmitMulti(dest_addresses=[item])
    assert info.value.field == "dest_addresses"


def test_recoverable_decode_error_has_no_pdus() -> None:
    with pytest.raises(DecodeError) as info:
        engine.decode(bytes.fromhex("0000001000000099" + "00000000" + "00000001"))
    assert info.value.pdus == []
