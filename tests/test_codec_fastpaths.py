"""The codec's fast paths behave exactly like the general ones (issue 11, decoding at full
speed; issue 12, the range named in an out-of-range error).

Fields are served by member descriptors, the final PDU classes are built by a vectorcall
constructor, decoded TLVs are kept inline until a list is needed, and the hot classes
reuse freed objects: each test here pins a behaviour one of these could break.
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest

import engine
from engine import EncodeError

RECEIPT_TEXT = b"id:0123456789 sub:001 dlvrd:001 submit date:2601010000 done date:2601010000"


def _receipt(**tlvs: Any) -> engine.DeliverSm:
    return engine.DeliverSm(
        sequence_number=7,
        source_addr_ton=1,
        source_addr_npi=1,
        source_addr="15557654321",
        destination_addr="15551234567",
        esm_class=4,
        short_message=RECEIPT_TEXT,
        **tlvs,
    )


@pytest.mark.parametrize(
    ("build", "field", "top"),
    [
        (lambda: engine.EnquireLink(command_status=-1), "command_status", 4294967295),
        (lambda: engine.EnquireLink(sequence_number=2**32), "sequence_number", 4294967295),
        (lambda: engine.SubmitSm(esm_class=256), "esm_class", 255),
        (lambda: engine.SubmitSm(destination_port=65536), "destination_port", 65535),
        (lambda: engine.SubmitSm(qos_time_to_live=-5), "qos_time_to_live", 4294967295),
    ],
)
def test_out_of_range_names_the_real_range(build: Any, field: str, top: int) -> None:
    with pytest.raises(EncodeError) as info:
        engine.encode(build())
    assert info.value.field == field
    assert f"is out of range 0..{top}" in str(info.value)


def test_constructor_matches_the_declared_defaults() -> None:
    pdu = engine.SubmitSm()
    assert pdu.to_dict() == {
        "command_id": 4,
        "command_status": 0,
        "sequence_number": 0,
        "service_type": "",
        "source_addr_ton": 0,
        "source_addr_npi": 0,
        "source_addr": "",
        "dest_addr_ton": 0,
        "dest_addr_npi": 0,
        "destination_addr": "",
        "esm_class": 0,
        "protocol_id": 0,
        "priority_flag": 0,
        "schedule_delivery_time": "",
        "validity_period": "",
        "registered_delivery": 0,
        "replace_if_present_flag": 0,
        "data_coding": 0,
        "sm_default_msg_id": 0,
        "short_message": b"",
    }
    assert engine.BindTransmitter().interface_version == 0x34


def test_constructor_keywords_in_any_order_and_tlv_keywords() -> None:
    a = engine.SubmitSm(short_message=b"x", sequence_number=3, source_addr="1", message_state=2)
    b = engine.SubmitSm(message_state=2, source_addr="1", sequence_number=3, short_message=b"x")
    assert a == b
    assert a.tlvs == [(0x0427, 2)]
    fields: dict[str, Any] = {"sequence_number": 9, "destination_addr": "2", "sar_msg_ref_num": 1}
    assert engine.SubmitSm(**fields).to_dict()["sar_msg_ref_num"] == 1
    assert engine.SubmitSm(sequence_number=1, message_state=None).tlvs == []


def test_constructor_refuses_positional_and_unknown_keywords() -> None:
    submit: Any = engine.SubmitSm
    with pytest.raises(TypeError, match="keyword"):
        submit(1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'source_adr'"):
        submit(source_adr="1")
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        engine.EnquireLinkResp(system_id="x")


def test_fields_read_write_and_delete_like_attributes() -> None:
    pdu: Any = engine.SubmitSm(source_addr="1")
    pdu.source_addr = "2"
    assert pdu.source_addr == "2"
    del pdu.source_addr  # resets to None, as before; the encoder then writes an empty field
    assert pdu.source_addr is None
    back: Any = engine.decode(engine.encode(pdu))
    assert back.source_addr == ""
    pdu.message_state = 3
    del pdu.message_state
    assert pdu.message_state is None and pdu.tlvs == []
    with pytest.raises(AttributeError):
        del pdu.no_such_field


def test_inline_tlvs_keep_wire_order_through_every_use() -> None:
    pdu = engine.decode(engine.encode(_receipt(receipted_message_id="0123456789", message_state=2)))
    assert pdu.receipted_message_id == "0123456789"
    assert pdu.get_tlv(0x0427) == 2
    pdu.set_tlv(0x0425, 1)  # moves the inline TLVs into the list, then appends
    assert pdu.tlvs == [(0x001E, "0123456789"), (0x0427, 2), (0x0425, 1)]
    again = engine.decode(engine.encode(_receipt(message_state=2)))
    again.tlvs = [(0x0427, 5)]
    assert again.message_state == 5 and again.tlvs == [(0x0427, 5)]


def test_more_tlvs_than_inline_slots() -> None:
    tlvs = [
        (0x0427, 2),
        (0x001E, "id1"),
        (0x7777, b"\x01\x02"),
        (0x0425, 3),
        (0x020C, 9),
        (0x0204, 300),
    ]
    sent = _receipt()
    sent.tlvs = tlvs
    data = engine.encode(sent)
    for n in range(len(tlvs) + 1):
        partial = _receipt()
        partial.tlvs = tlvs[:n]
        got = engine.decode(engine.encode(partial))
        assert got.tlvs == tlvs[:n]
        assert got.unknown_tlvs == [t for t in tlvs[:n] if t[0] == 0x7777]
        assert engine.encode(got) == engine.encode(partial)
    got = engine.decode(data)
    assert got.sar_msg_ref_num == 9 and got.user_message_reference == 300
    assert got == sent
    assert got.to_dict()["message_state"] == 2
    assert "tlv_0x7777" in repr(got)


def test_decoded_pdu_copies_pickles_and_compares() -> None:
    pdu = engine.decode(engine.encode(_receipt(receipted_message_id="abc", message_state=2)))
    for other in (copy.copy(pdu), copy.deepcopy(pdu), pickle.loads(pickle.dumps(pdu))):
        assert other == pdu
        assert other.tlvs == [(0x001E, "abc"), (0x0427, 2)]


def test_reused_objects_start_clean() -> None:
    # The hot classes reuse freed objects: nothing of a previous PDU may show through.
    first = engine.decode(engine.encode(_receipt(receipted_message_id="old", message_state=5)))
    assert first.message_state == 5
    del first
    for _ in range(200):
        fresh = engine.DeliverSm()
        assert fresh.tlvs == [] and fresh.message_state is None and fresh.source_addr == ""
        bare = engine.decode(engine.encode(engine.DeliverSm(sequence_number=1)))
        assert bare.tlvs == [] and bare.receipted_message_id is None


def test_one_octet_fields_take_any_int_like_value() -> None:
    # The encoder knows small ints by address; bools, big ints and int subclasses take the
    # general path with the same result or the same error.
    class Flag(int):
        pass

    base = engine.encode(engine.SubmitSm(esm_class=1, data_coding=8))
    assert engine.encode(engine.SubmitSm(esm_class=True, data_coding=Flag(8))) == base
    assert engine.encode(engine.SubmitSm(esm_class=int("1"), data_coding=2**3)) == base
    with pytest.raises(EncodeError, match="esm_class must be an integer"):
        engine.encode(engine.SubmitSm(esm_class=1.0))  # type: ignore[arg-type]
    with pytest.raises(EncodeError, match=r"0\.\.255"):
        engine.encode(engine.SubmitSm(esm_class=2**70))


def test_cstr_fast_path_agrees_with_the_general_one() -> None:
    addrs: tuple[Any, ...] = ("", "1", "15551234567", "x" * 20, "é" * 5, b"12345")
    for addr in addrs:
        pdu = engine.SubmitSm(source_addr=addr, destination_addr="2")
        got: Any = engine.decode(engine.encode(pdu))
        assert got.source_addr == (addr.decode() if isinstance(addr, bytes) else addr)
    with pytest.raises(EncodeError, match="source_addr is 21 characters"):
        engine.encode(engine.SubmitSm(source_addr="1" * 21))
    with pytest.raises(EncodeError, match="NUL"):
        engine.encode(engine.SubmitSm(source_addr="1\x002"))
    with pytest.raises(EncodeError, match="outside Latin-1"):
        engine.encode(engine.SubmitSm(source_addr="Ω"))
    with pytest.raises(EncodeError, match="16 characters"):
        engine.encode(engine.SubmitSm(validity_period="1"))
