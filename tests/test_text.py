"""Text codecs, segment counts (Twilio's rules) and the UDH helpers: worked examples."""

from __future__ import annotations

from typing import Any

import pytest

import engine
from engine.errors import DecodeError, EncodeError
from engine.text import (
    GSM7_BASIC_CHARS,
    GSM7_EXTENSION_CHARS,
    ConcatInfo,
    build_deliver_sms,
    build_submit_sms,
    concat_info,
    count_segments,
    decode_text,
    encode_text,
    gsm7_decode,
    gsm7_encode,
    gsm7_length,
    gsm7_pack,
    gsm7_unpack,
    is_gsm7,
    parse_udh,
    plan_segments,
    udh_concat,
)

# 3GPP TS 23.038 §6.2.1, written out independently of the engine's table (0x1B = escape).
TS23038_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
TS23038_EXT = {
    "\x0c": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}


def test_table_sizes() -> None:
    assert len(TS23038_BASIC) == 128
    assert len(GSM7_BASIC_CHARS) == 127 and "\x1b" not in GSM7_BASIC_CHARS
    assert set(GSM7_EXTENSION_CHARS) == set(TS23038_EXT)


@pytest.mark.parametrize("code", [c for c in range(128) if c != 0x1B])
def test_basic_table_round_trip(code: int) -> None:
    ch = TS23038_BASIC[code]
    assert gsm7_encode(ch) == bytes([code])
    assert gsm7_decode(bytes([code])) == ch
    assert is_gsm7(ch)
    assert gsm7_length(ch) == 1


@pytest.mark.parametrize(("ch", "code"), sorted(TS23038_EXT.items()))
def test_extension_table_round_trip(ch: str, code: int) -> None:
    assert gsm7_encode(ch) == bytes([0x1B, code])
    assert gsm7_decode(bytes([0x1B, code])) == ch
    assert gsm7_length(ch) == 2


def test_whole_alphabet_in_one_string() -> None:
    text = GSM7_BASIC_CHARS + GSM7_EXTENSION_CHARS
    enc = gsm7_encode(text)
    assert len(enc) == 127 + 2 * 10 == gsm7_length(text)
    assert gsm7_decode(enc) == text


@pytest.mark.parametrize(
    ("text", "index"),
    [("`", 0), ("abcç", 3), ("héllo á", 6), ("\x1b", 0), ("ok 😀", 3), ("Ё", 0), ("\t", 0)],
)
def test_encode_rejects_non_gsm_naming_char_and_index(text: str, index: int) -> None:
    with pytest.raises(EncodeError) as info:
        gsm7_encode(text)
    err = info.value
    assert err.field == "short_message"
    assert err.index == index  # type: ignore[attr-defined]
    assert err.char == text[index]  # type: ignore[attr-defined]
    assert f"index {index}" in str(err) and f"U+{ord(text[index]):04X}" in str(err)
    assert not is_gsm7(text)
    assert gsm7_length(text) == -1


def test_decode_escape_edge_cases() -> None:
    # an escape followed by a code the extension table lacks shows the basic character
    assert gsm7_decode(b"\x1bA") == "A"
    # a lone trailing escape and the reserved double escape show as a space
    assert gsm7_decode(b"ab\x1b") == "ab "
    assert gsm7_decode(b"\x1b\x1ba") == " a"


def test_decode_rejects_8bit_octets() -> None:
    with pytest.raises(DecodeError) as info:
        gsm7_decode(b"ab\x80")
    assert info.value.field == "short_message" and info.value.offset == 2
    assert gsm7_decode(b"ab\x80c", "replace") == "ab\ufffdc"


def test_decode_accepts_bytes_like() -> None:
    assert gsm7_decode(bytearray(b"Hi")) == gsm7_decode(memoryview(b"Hi")) == "Hi"
    with pytest.raises(TypeError):
        gsm7_decode("Hi")  # type: ignore[arg-type]


def test_pack_known_vectors() -> None:
    # 3GPP TS 23.038 §6.1.2.1.1 style example: "hellohello" packs to E8329BFD4697D9EC37
    assert gsm7_pack(gsm7_encode("hellohello")).hex().upper() == "E8329BFD4697D9EC37"
    assert gsm7_unpack(bytes.fromhex("E8329BFD4697D9EC37"), 10) == gsm7_encode("hellohello")
    # eight septets fill seven octets exactly
    assert len(gsm7_pack(b"\x41" * 8)) == 7
    # after a 6-octet UDH one fill bit aligns the text: 'A' (0x41) shifted left by one
    assert gsm7_pack(b"A", fill_bits=1) == bytes([0x82])
    assert gsm7_unpack(bytes([0x82]), 1, fill_bits=1) == b"A"
    assert gsm7_unpack(b"", -1) == b""
    assert gsm7_unpack(gsm7_pack(b"abc"), -1)[:3] == b"abc"


def test_pack_unpack_errors() -> None:
    with pytest.raises(EncodeError):
        gsm7_pack(b"\x80")
    with pytest.raises(DecodeError) as info:
        gsm7_unpack(b"\x00\x00", 3)
    assert info.value.field == "short_message"
    with pytest.raises(ValueError):
        gsm7_pack(b"a", fill_bits=7)


@pytest.mark.parametrize(
    ("dc", "text", "expected"),
    [
        (0, "@€", b"\x00\x1be"),
        (1, "Hi!", b"Hi!"),
        (3, "café ÿ", "café ÿ".encode("latin-1")),
        (8, "Жa", b"\x04\x16\x00a"),
        (8, "😀", b"\xd8\x3d\xde\x00"),  # a surrogate pair
    ],
)
def test_encode_decode_text(dc: int, text: str, expected: bytes) -> None:
    assert encode_text(text, dc) == expected
    assert decode_text(expected, dc) == text


@pytest.mark.parametrize(("dc", "text", "index"), [(1, "abé", 2), (3, "a€", 1), (0, "a`", 1)])
def test_encode_text_names_bad_char(dc: int, text: str, index: int) -> None:
    with pytest.raises(EncodeError) as info:
        encode_text(text, dc)
    assert info.value.field == "short_message"
    assert info.value.index == index  # type: ignore[attr-defined]


def test_encode_text_lone_surrogate_is_an_error() -> None:
    with pytest.raises(EncodeError):
        encode_text("a\ud800b", 8)


def test_unsupported_data_codings() -> None:
    with pytest.raises(EncodeError) as e1:
        encode_text("a", 4)
    assert e1.value.field == "data_coding"
    with pytest.raises(DecodeError) as e2:
        decode_text(b"a", 4)
    assert e2.value.field == "data_coding"
    with pytest.raises(EncodeError):
        plan_segments("a", 1)


def test_decode_text_errors() -> None:
    with pytest.raises(DecodeError) as info:
        decode_text(b"\x00a\x00", 8)  # odd length
    assert info.value.field == "short_message"
    with pytest.raises(DecodeError):
        decode_text(b"\xd8\x3d", 8)  # half a surrogate pair
    assert decode_text(b"\xd8\x3d", 8, "replace") == "\ufffd"
    with pytest.raises(DecodeError):
        decode_text(b"\xff", 1)


def test_decode_text_gsm_coding_groups() -> None:
    assert decode_text(b"Hi", 0xF0) == "Hi"  # message class 0, default alphabet
    assert decode_text(b"\x00a", 0xE0) == "a"  # message waiting, UCS-2
    with pytest.raises(DecodeError):
        decode_text(b"Hi", 0xF4)  # message class, 8-bit data


# Twilio's published examples (twilio-compat.md §10) and its calculator's rules.
@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("Ж" * 70, 1),
        ("Ж" * 71, 2),
        ("Ж" * 134, 2),
        ("Ж" * 135, 3),
        ("€" * 80, 1),  # extension characters count two septets
        ("€" * 81, 2),
        ("a" * 159 + "€", 2),
        ("😀" * 35, 1),  # an emoji is two UCS-2 units
        ("😀" * 36, 2),
        ("a" * 69 + "😀", 2),
        # an escape pair straddling septet 153 moves whole to the next segment
        ("a" * 152 + "€" + "a" * 152, 3),
        # a surrogate pair straddling unit 67 moves whole to the next segment
        ("Ж" * 66 + "😀" + "Ж" * 66, 3),
    ],
)
def test_twilio_counts(text: str, segments: int) -> None:
    assert count_segments(text) == segments
    assert plan_segments(text).num_segments == segments


def test_plan_gsm_parts() -> None:
    plan = plan_segments("a" * 152 + "€" + "b" * 200)
    assert (plan.data_coding, plan.encoding) == (0, "GSM-7")
    assert [len(p) for p in plan.parts] == [152, 153, 49]
    assert plan.parts[1].startswith(b"\x1be")
    assert plan.characters == 353 and plan.units == 354
    assert "GSM-7" in repr(plan)


def test_plan_ucs2_parts() -> None:
    plan = plan_segments("Ж" * 66 + "😀" + "Ж" * 70)
    assert (plan.data_coding, plan.encoding) == (8, "UCS-2")
    assert [len(p) // 2 for p in plan.parts] == [66, 67, 5]
    assert plan.parts[1].startswith(b"\xd8\x3d\xde\x00")
    assert plan.characters == 137 and plan.units == 138


def test_plan_single_part_and_forced_codings() -> None:
    assert plan_segments("hi").parts == [b"hi"]
    assert plan_segments("").parts == [b""]
    assert plan_segments("hi", 8).parts == [b"\x00h\x00i"]
    latin = plan_segments("é" * 300, 3)
    assert (latin.encoding, [len(p) for p in latin.parts]) == ("Latin-1", [134, 134, 32])
    assert plan_segments("é" * 140, 3).num_segments == 1
    with pytest.raises(EncodeError):
        plan_segments("Ж", 0)


def test_plan_sixteen_bit_reference_parts() -> None:
    # a 7-octet UDH leaves 152 septets (jsmpp #168) and 66 UCS-2 units
    assert [len(p) for p in plan_segments("a" * 400, udh_length=7).parts] == [152, 152, 96]
    assert [len(p) // 2 for p in plan_segments("Ж" * 140, udh_length=7).parts] == [66, 66, 8]


def test_udh_concat() -> None:
    assert udh_concat(0x42, 3, 1) == bytes.fromhex("050003420301")
    assert udh_concat(0x1234, 3, 2, sixteen_bit=True) == bytes.fromhex("06080412340302")
    for args in [(256, 2, 1), (-1, 2, 1), (1, 2, 3), (1, 2, 0), (1, 256, 1)]:
        with pytest.raises(EncodeError) as info:
            udh_concat(*args)
        assert info.value.field == "short_message"
    with pytest.raises(EncodeError):
        udh_concat(0x10000, 2, 1, sixteen_bit=True)


def test_parse_udh() -> None:
    elements, payload = parse_udh(udh_concat(7, 2, 1) + b"hello")
    assert elements == {0x00: b"\x07\x02\x01"} and payload == b"hello"
    assert concat_info(elements) == ConcatInfo(7, 2, 1, False)
    elements, payload = parse_udh(udh_concat(0xBEEF, 9, 9, sixteen_bit=True))
    assert payload == b"" and concat_info(elements) == ConcatInfo(0xBEEF, 9, 9, True)
    # port addressing (IEI 0x05) next to a concatenation element; a repeated IEI -> list
    udh = bytes([16, 0x05, 4, 0x0B, 0x84, 0x23, 0xF0, 0x00, 3, 1, 2, 1, 0x00, 3, 9, 2, 2])
    elements, payload = parse_udh(udh + b"x")
    assert elements[0x05] == b"\x0b\x84\x23\xf0"
    assert elements[0x00] == [b"\x01\x02\x01", b"\x09\x02\x02"]
    assert concat_info(elements) == ConcatInfo(9, 2, 2, False)
    assert payload == b"x"
    assert concat_info({0x05: b"\x00\x00\x00\x00"}) is None
    assert parse_udh(b"\x00abc") == ({}, b"abc")


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (b"\x05\x00\x03\x01", 0),  # UDH longer than the message
        (b"\x03\x00\x03\x01\x02\x01", 1),  # element longer than the UDH
        (b"\x01\x00", 1),  # element header cut
    ],
)
def test_parse_udh_malformed(data: bytes, offset: int) -> None:
    with pytest.raises(DecodeError) as info:
        parse_udh(data)
    assert info.value.field == "short_message" and info.value.offset == offset


def test_parse_udh_empty_and_bad_concat_length() -> None:
    with pytest.raises(DecodeError):
        parse_udh(b"")
    with pytest.raises(DecodeError) as info:
        concat_info(parse_udh(b"\x04\x00\x02\x01\x02")[0])
    assert info.value.field == "short_message"


# --- building the PDUs -------------------------------------------------------------------


def _round_trip(pdus: list[Any]) -> list[Any]:
    out = [engine.decode(engine.encode(p)) for p in pdus]
    assert out == pdus
    return out


def test_build_single_part_is_plain() -> None:
    for method in ("udh", "udh16", "sar", "payload"):
        [pdu] = _round_trip(build_submit_sms("1", "2", "hi €", method=method))
        assert isinstance(pdu, engine.SubmitSm)
        assert pdu.short_message == b"hi \x1be" and pdu.esm_class == 0
        assert pdu.data_coding == 0 and pdu.sar_msg_ref_num is None
        assert pdu.message_payload is None


def test_build_udh() -> None:
    text = "a" * 152 + "€" + "b" * 200
    pdus = _round_trip(
        build_submit_sms(
            "15551234567",
            "15557654321",
            text,
            reference=0x42,
            registered_delivery=1,
            source_addr_ton=1,
            dest_addr_ton=1,
            service_type="CMT",
            esm_class=0x03,
        )
    )
    assert len(pdus) == 3
    for i, p in enumerate(pdus, 1):
        assert p.short_message.startswith(udh_concat(0x42, 3, i))
        assert p.esm_class == 0x43  # UDHI added to the caller's bits
        assert (p.registered_delivery, p.source_addr_ton, p.service_type) == (1, 1, "CMT")
    payloads = [parse_udh(p.short_message)[1] for p in pdus]
    assert payloads == plan_segments(text).parts
    assert len(pdus[1].short_message) == 6 + 153


def test_build_udh16_and_ucs2() -> None:
    text = "Ж" * 140
    pdus = _round_trip(build_submit_sms("1", "2", text, method="udh16", reference=0xBEEF))
    assert [len(p.short_message) for p in pdus] == [7 + 132, 7 + 132, 7 + 16]
    assert all(p.data_coding == 8 for p in pdus)
    assert concat_info(parse_udh(pdus[2].short_message)[0]) == ConcatInfo(0xBEEF, 3, 3, True)


def test_build_sar() -> None:
    pdus = _round_trip(build_submit_sms("1", "2", "x" * 400, method="sar", reference=1000))
    assert [(p.sar_msg_ref_num, p.sar_total_segments, p.sar_segment_seqnum) for p in pdus] == [
        (1000, 3, 1),
        (1000, 3, 2),
        (1000, 3, 3),
    ]
    assert all(p.esm_class == 0 for p in pdus)
    assert b"".join(p.short_message for p in pdus) == b"x" * 400


def test_build_payload() -> None:
    [pdu] = _round_trip(build_submit_sms("1", "2", "Ж" * 100, method="payload"))
    assert pdu.short_message == b"" and pdu.message_payload == ("Ж" * 100).encode("utf-16-be")
    assert pdu.data_coding == 8


def test_build_forced_latin1_and_deliver_sm() -> None:
    pdus = _round_trip(build_deliver_sms("1", "2", "é" * 200, data_coding=3, reference=5))
    assert all(isinstance(p, engine.DeliverSm) and p.data_coding == 3 for p in pdus)
    assert len(pdus) == 2


def test_build_default_reference_rolls() -> None:
    a = build_submit_sms("1", "2", "x" * 200)
    b = build_submit_sms("1", "2", "x" * 200)
    ref_a = concat_info(parse_udh(a[0].short_message)[0])
    ref_b = concat_info(parse_udh(b[0].short_message)[0])
    assert ref_a is not None and ref_b is not None and ref_a.reference != ref_b.reference


def test_build_errors() -> None:
    with pytest.raises(EncodeError) as e1:
        build_submit_sms("1", "2", "x" * (153 * 255 + 1))
    assert e1.value.field == "short_message"
    assert len(build_submit_sms("1", "2", "x" * (153 * 255))) == 255
    with pytest.raises(EncodeError) as e2:
        build_submit_sms("1", "2", "x" * 200, reference=256)
    assert e2.value.field == "reference"
    with pytest.raises(EncodeError) as e3:
        build_submit_sms("1", "2", "x", method="bogus")  # type: ignore[arg-type]
    assert e3.value.field == "method"
    with pytest.raises(EncodeError) as e4:
        build_submit_sms("1", "2", "Ж", data_coding=0)
    assert e4.value.field == "short_message"


def test_smart_encode() -> None:
    from engine.text import smart_encode

    src = "\u201cHello\u201d \u2014 it\u2019s\u00a0fine\u2026 \uff21\uff42\uff43 \u00bd\u200b"
    out = smart_encode(src)
    assert out == '"Hello" - it\'s fine... Abc 1/2'
    assert is_gsm7(out) and not is_gsm7(src)
    assert count_segments(out) == 1
    # no look-alike: stays UCS-2, and emoji joiners survive
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert smart_encode("Привет " + family) == "Привет " + family
    assert smart_encode("plain GSM text {€}") == "plain GSM text {€}"
