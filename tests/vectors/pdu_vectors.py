"""Golden PDU vectors, written by hand from the SMPP 3.4 field layouts (§4, §3.2.4, §5.3).

Nothing here calls the engine: every hex string is laid out field by field from the
specification's tables, so the codec is checked against the spec, not against itself.
``c("abc")`` is only a typing aid: the ASCII octets of a C-octet string followed by its
NUL (§3.1).  Every header's command_length is written literally; a test checks it against
the vector's real length so that a typo here cannot hide.

Each :class:`Vector` gives the PDU class name, the expected field values (mandatory fields
by spec name, TLVs both by name and in wire order as ``tlvs``) and, when our encoder's
canonical form differs from the input (an error response sent with an empty body, which
SMPP 3.4 §4.1.2/§4.4.2 say is not returned on error), the ``canonical`` hex it encodes to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def hx(*parts: str) -> str:
    """Join hex pieces, dropping the spaces used to show field boundaries."""
    return "".join(parts).replace(" ", "").lower()


def c(text: str) -> str:
    """A C-octet string (§3.1): its ASCII octets then one NUL octet, as hex."""
    return text.encode("ascii").hex() + "00"


def o(text: str) -> str:
    """An octet string without a terminator (short_message, octet TLVs), as hex."""
    return text.encode("ascii").hex()


@dataclass(frozen=True)
class Vector:
    """One golden PDU."""

    name: str
    cls: str
    hex: str
    fields: dict[str, Any]
    tlvs: list[tuple[int, Any]] = field(default_factory=list)
    unknown_tlvs: list[tuple[int, bytes]] = field(default_factory=list)
    # The encoder's output for decode(hex) when it is not hex itself (None: same bytes).
    canonical: str | None = None


# The benchmark's submit_sm (codec-anchors.md): 160 ASCII characters.
WORKLOAD_TEXT = "HelloWorld" * 16
RECEIPT_TEXT = (
    "id:0123456789 sub:001 dlvrd:001 submit date:2611261200 "
    "done date:2611261201 stat:DELIVRD err:000 text:hello"
)
RANGE_40 = "^(1555|1666)[0-9]{7}$" + "X" * 19  # address_range at its 40-octet maximum

VECTORS: list[Vector] = [
    # ---- binds, §4.1 ------------------------------------------------------------------
    Vector(
        "bind_transmitter",
        "BindTransmitter",
        hx(
            "0000002f 00000002 00000000 00000001",  # 47 octets, bind_transmitter, seq 1
            c("SMPP3TEST"),  # system_id
            c("secret08"),  # password (8, the maximum)
            c("SUBMIT1"),  # system_type
            "34",  # interface_version
            "01 01",  # addr_ton, addr_npi
            c(""),  # address_range
        ),
        {
            "sequence_number": 1,
            "command_status": 0,
            "system_id": "SMPP3TEST",
            "password": "secret08",
            "system_type": "SUBMIT1",
            "interface_version": 0x34,
            "addr_ton": 1,
            "addr_npi": 1,
            "address_range": "",
        },
    ),
    Vector(
        "bind_receiver",
        "BindReceiver",
        hx(
            "0000001e 00000001 00000000 00000002",
            c("rx"),
            c(""),
            c(""),
            "33",  # interface_version 3.3: any octet decodes
            "00 00",
            c("^1555"),
        ),
        {
            "sequence_number": 2,
            "system_id": "rx",
            "password": "",
            "system_type": "",
            "interface_version": 0x33,
            "addr_ton": 0,
            "addr_npi": 0,
            "address_range": "^1555",
        },
    ),
    Vector(
        "bind_transceiver_max_lengths",
        "BindTransceiver",
        hx(
            "00000062 00000009 00000000 7fffffff",  # 98 octets, seq 2^31 - 1 (§3.2: max)
            c("ABCDEFGHIJKLMNO"),  # system_id: 15 + NUL = 16, the maximum
            c("pass1234"),  # password: 8 + NUL = 9
            c("VMA_VMN_SYS1"),  # system_type: 12 + NUL = 13
            "34",
            "02 08",
            c(RANGE_40),  # address_range: 40 + NUL = 41
        ),
        {
            "sequence_number": 0x7FFFFFFF,
            "system_id": "ABCDEFGHIJKLMNO",
            "password": "pass1234",
            "system_type": "VMA_VMN_SYS1",
            "interface_version": 0x34,
            "addr_ton": 2,
            "addr_npi": 8,
            "address_range": RANGE_40,
        },
    ),
    Vector(
        "bind_transmitter_resp_sc_interface_version",
        "BindTransmitterResp",
        hx(
            "0000001c 80000002 00000000 00000001",
            c("SMSC01"),
            "0210 0001 34",  # TLV sc_interface_version = 0x34 (§5.3.2.25)
        ),
        {"sequence_number": 1, "system_id": "SMSC01", "sc_interface_version": 0x34},
        tlvs=[(0x0210, 0x34)],
    ),
    Vector(
        "bind_receiver_resp",
        "BindReceiverResp",
        hx("00000015 80000001 00000000 00000002", c("SMSC")),
        {"sequence_number": 2, "system_id": "SMSC", "sc_interface_version": None},
    ),
    Vector(
        "bind_transceiver_resp_error_no_body",
        "BindTransceiverResp",
        # ESME_RBINDFAIL; §4.1.2: the body is not returned when command_status != 0
        hx("00000010 80000009 0000000d 00000003"),
        {"sequence_number": 3, "command_status": 0x0D, "system_id": ""},
    ),
    Vector(
        "bind_transceiver_resp_error_with_empty_body",
        "BindTransceiverResp",
        # Peers often send the NUL system_id anyway: it decodes, and re-encodes without body.
        hx("00000011 80000009 0000000e 00000004", c("")),
        {"sequence_number": 4, "command_status": 0x0E, "system_id": ""},
        canonical=hx("00000010 80000009 0000000e 00000004"),
    ),
    Vector(
        "bind_transmitter_resp_error_with_system_id",
        "BindTransmitterResp",
        # A non-empty body on error is kept (only empty bodies are dropped).
        hx("00000015 80000002 0000000f 00000005", c("SMSC")),
        {"sequence_number": 5, "command_status": 0x0F, "system_id": "SMSC"},
    ),
    Vector(
        "outbind",
        "Outbind",
        hx("00000018 0000000b 00000000 00000006", c("SMSC"), c("pw")),
        {"sequence_number": 6, "system_id": "SMSC", "password": "pw"},
    ),
    # ---- header-only PDUs, §4.2, §4.3, §4.11 --------------------------------------------
    Vector("unbind", "Unbind", hx("00000010 00000006 00000000 00000007"), {"sequence_number": 7}),
    Vector(
        "unbind_resp",
        "UnbindResp",
        hx("00000010 80000006 00000000 00000007"),
        {"sequence_number": 7},
    ),
    Vector(
        "generic_nack_invalid_command_id",
        "GenericNack",
        hx("00000010 80000000 00000003 00000008"),  # ESME_RINVCMDID
        {"sequence_number": 8, "command_status": 3},
    ),
    Vector(
        "enquire_link",
        "EnquireLink",
        hx("00000010 00000015 00000000 12345678"),
        {"sequence_number": 0x12345678, "command_status": 0},
    ),
    Vector(
        "enquire_link_resp",
        "EnquireLinkResp",
        hx("00000010 80000015 00000000 12345678"),
        {"sequence_number": 0x12345678},
    ),
    # ---- submit_sm, §4.4 ------------------------------------------------------------------
    Vector(
        "submit_sm_workload",
        "SubmitSm",
        hx(
            "000000d7 00000004 00000000 00000001",  # 215 octets (codec-anchors.md)
            c(""),  # service_type
            "01 01",
            c("15551234567"),  # source_addr_ton, _npi, source_addr
            "01 01",
            c("15557654321"),  # dest_addr_ton, _npi, destination_addr
            "00 00 00",  # esm_class, protocol_id, priority_flag
            c(""),  # schedule_delivery_time
            c(""),  # validity_period
            "01 00 00 00",  # registered_delivery, replace_if_present, data_coding, default_msg
            "a0",  # sm_length 160
            o(WORKLOAD_TEXT),
        ),
        {
            "sequence_number": 1,
            "service_type": "",
            "source_addr_ton": 1,
            "source_addr_npi": 1,
            "source_addr": "15551234567",
            "dest_addr_ton": 1,
            "dest_addr_npi": 1,
            "destination_addr": "15557654321",
            "esm_class": 0,
            "protocol_id": 0,
            "priority_flag": 0,
            "schedule_delivery_time": "",
            "validity_period": "",
            "registered_delivery": 1,
            "replace_if_present_flag": 0,
            "data_coding": 0,
            "sm_default_msg_id": 0,
            "sm_length": 160,
            "short_message": WORKLOAD_TEXT.encode(),
            "message_payload": None,
        },
    ),
    Vector(
        "submit_sm_udh_sar_unknown_tlv",
        "SubmitSm",
        hx(
            "0000007d 00000004 00000000 00000009",  # 125 octets
            c("CMT"),
            "05 00",
            c("ACME"),  # alphanumeric sender
            "01 01",
            c("447700900123"),
            "40 00 03",  # esm_class UDHI, protocol_id 0, priority_flag 3
            c("261126120000000+"),  # absolute time (§7.1.1), 16 chars
            c("000001000000000R"),  # relative validity: 1 day
            "11 01 08 00",  # registered_delivery 0x11, replace 1, UCS2, default_msg 0
            "0a",
            "050003120301 00480069",  # UDH (concat ref 0x12, 3 parts, part 1) + UCS2 "Hi"
            "020c 0002 1234",  # sar_msg_ref_num = 0x1234
            "1400 0003 616263",  # vendor TLV 0x1400 (unknown): raw b"abc", kept in place
            "020e 0001 03",  # sar_total_segments = 3
            "020f 0001 01",  # sar_segment_seqnum = 1
            "130c 0000",  # alert_on_message_delivery (no value, §5.3.2.41)
            "1401 0000",  # unknown TLV with an empty value
        ),
        {
            "sequence_number": 9,
            "service_type": "CMT",
            "source_addr_ton": 5,
            "source_addr_npi": 0,
            "source_addr": "ACME",
            "dest_addr_ton": 1,
            "dest_addr_npi": 1,
            "destination_addr": "447700900123",
            "esm_class": 0x40,
            "protocol_id": 0,
            "priority_flag": 3,
            "schedule_delivery_time": "261126120000000+",
            "validity_period": "000001000000000R",
            "registered_delivery": 0x11,
            "replace_if_present_flag": 1,
            "data_coding": 8,
            "sm_default_msg_id": 0,
            "sm_length": 10,
            "short_message": bytes.fromhex("050003120301 00480069".replace(" ", "")),
            "sar_msg_ref_num": 0x1234,
            "sar_total_segments": 3,
            "sar_segment_seqnum": 1,
            "alert_on_message_delivery": True,
            "receipted_message_id": None,
        },
        tlvs=[
            (0x020C, 0x1234),
            (0x1400, b"abc"),
            (0x020E, 3),
            (0x020F, 1),
            (0x130C, True),
            (0x1401, b""),
        ],
        unknown_tlvs=[(0x1400, b"abc"), (0x1401, b"")],
    ),
    Vector(
        "submit_sm_message_payload_octet_tlvs",
        "SubmitSm",
        hx(
            "00000071 00000004 00000000 0000000a",  # 113 octets
            c(""),
            "00 00",
            c("12345"),
            "00 00",
            c("67890"),
            "00 00 00",
            c(""),
            c(""),
            "00 00 04 00",  # data_coding 4 (octet unspecified)
            "00",  # sm_length 0: the text is in message_payload (§5.3.2.32)
            "0424 0005 0001ff0203",  # message_payload: raw octets, with a NUL inside
            "0381 0007 01010135353132",  # callback_num: digit mode 1, TON 1, NPI 1, "5512"
            "0303 0004 4a6f6500",  # callback_num_atag: octet string (ends in NUL)
            "0202 0003 a01234",  # source_subaddress
            "0204 0002 ffff",  # user_message_reference 65535
            "020a 0002 0b84",  # source_port 2948
            "020b 0002 23f0",  # destination_port 9200
            "0501 0001 02",  # ussd_service_op
            "1383 0002 0a01",  # its_session_info: octet string
            "1203 0002 0100",  # sms_signal
        ),
        {
            "sequence_number": 10,
            "source_addr": "12345",
            "destination_addr": "67890",
            "data_coding": 4,
            "sm_length": 0,
            "short_message": b"",
            "message_payload": b"\x00\x01\xff\x02\x03",
            "callback_num": bytes.fromhex("01010135353132"),
            "callback_num_atag": b"Joe\x00",
            "source_subaddress": bytes.fromhex("a01234"),
            "user_message_reference": 0xFFFF,
            "source_port": 2948,
            "destination_port": 9200,
            "ussd_service_op": 2,
            "its_session_info": bytes.fromhex("0a01"),
            "sms_signal": 0x0100,
        },
        tlvs=[
            (0x0424, b"\x00\x01\xff\x02\x03"),
            (0x0381, bytes.fromhex("01010135353132")),
            (0x0303, b"Joe\x00"),
            (0x0202, bytes.fromhex("a01234")),
            (0x0204, 0xFFFF),
            (0x020A, 2948),
            (0x020B, 9200),
            (0x0501, 2),
            (0x1383, bytes.fromhex("0a01")),
            (0x1203, 0x0100),
        ],
    ),
    Vector(
        "submit_sm_resp",
        "SubmitSmResp",
        hx("0000001b 80000004 00000000 00000001", c("0123456789")),
        {"sequence_number": 1, "command_status": 0, "message_id": "0123456789"},
    ),
    Vector(
        "submit_sm_resp_error_no_body",
        "SubmitSmResp",
        hx("00000010 80000004 00000045 0000000b"),  # ESME_RSUBMITFAIL, §4.4.2: no body
        {"sequence_number": 11, "command_status": 0x45, "message_id": ""},
    ),
    Vector(
        "submit_sm_resp_throttled_with_empty_body",
        "SubmitSmResp",
        hx("00000011 80000004 00000058 0000000c", c("")),  # ESME_RTHROTTLED, NUL message_id
        {"sequence_number": 12, "command_status": 0x58, "message_id": ""},
        canonical=hx("00000010 80000004 00000058 0000000c"),
    ),
    Vector(
        "submit_sm_resp_max_message_id",
        "SubmitSmResp",
        hx("00000051 80000004 00000000 0000000d", c("m" * 64)),  # 64 + NUL = 65, the maximum
        {"sequence_number": 13, "message_id": "m" * 64},
    ),
    # ---- submit_multi, §4.5 -----------------------------------------------------------------
    Vector(
        "submit_multi_sme_and_distribution_list",
        "SubmitMulti",
        hx(
            "00000055 00000021 00000000 0000000e",  # 85 octets
            c(""),
            "01 01",
            c("15551234567"),
            "03",  # number_of_dests
            "01 01 01",
            c("15557654321"),  # dest_flag 1 (SME address), ton, npi, address
            "01 02 08",
            c("0612345678"),
            "02",
            c("friends"),  # dest_flag 2 (distribution list), dl_name
            "00 00 01",
            c(""),
            c(""),
            "01 00 00 00",
            "05",
            o("hello"),
        ),
        {
            "sequence_number": 14,
            "source_addr_ton": 1,
            "source_addr_npi": 1,
            "source_addr": "15551234567",
            "number_of_dests": 3,
            "dest_addresses": [(1, 1, "15557654321"), (2, 8, "0612345678"), "friends"],
            "esm_class": 0,
            "priority_flag": 1,
            "registered_delivery": 1,
            "sm_length": 5,
            "short_message": b"hello",
        },
    ),
    Vector(
        "submit_multi_resp_unsuccess",
        "SubmitMultiResp",
        hx(
            "00000039 80000021 00000000 0000000e",  # 57 octets
            c("mid1"),
            "02",  # no_unsuccess
            "01 01",
            c("15557654321"),
            "0000000b",  # ton, npi, address, error_status_code ESME_RINVDSTADR
            "02 08",
            c("0612345678"),
            "00000045",
        ),
        {
            "sequence_number": 14,
            "message_id": "mid1",
            "no_unsuccess": 2,
            "unsuccess_smes": [(1, 1, "15557654321", 0x0B), (2, 8, "0612345678", 0x45)],
        },
    ),
    Vector(
        "submit_multi_resp_all_ok",
        "SubmitMultiResp",
        hx("00000018 80000021 00000000 0000000f", c("mid-22"), "00"),
        {"sequence_number": 15, "message_id": "mid-22", "no_unsuccess": 0, "unsuccess_smes": []},
    ),
    # ---- deliver_sm, §4.6 -------------------------------------------------------------------
    Vector(
        "deliver_sm_receipt",
        "DeliverSm",
        hx(
            "000000b6 00000005 00000000 00000001",  # 182 octets (codec-anchors.md)
            c(""),
            "01 01",
            c("15557654321"),
            "01 01",
            c("15551234567"),
            "04 00 00",  # esm_class: SMSC delivery receipt
            c(""),
            c(""),
            "00 00 00 00",
            "6b",  # sm_length 107
            o(RECEIPT_TEXT),
            "001e 000b",
            c("0123456789"),  # receipted_message_id, C-octet string (§5.3.2.12)
            "0427 0001 02",  # message_state DELIVERED (§5.3.2.35)
        ),
        {
            "sequence_number": 1,
            "source_addr_ton": 1,
            "source_addr_npi": 1,
            "source_addr": "15557654321",
            "dest_addr_ton": 1,
            "dest_addr_npi": 1,
            "destination_addr": "15551234567",
            "esm_class": 4,
            "short_message": RECEIPT_TEXT.encode(),
            "sm_length": 107,
            "receipted_message_id": "0123456789",
            "message_state": 2,
            "network_error_code": None,
        },
        tlvs=[(0x001E, "0123456789"), (0x0427, 2)],
    ),
    Vector(
        "deliver_sm_receipt_undeliverable_network_error",
        "DeliverSm",
        hx(
            "0000006f 00000005 00000000 00000010",  # 111 octets
            c(""),
            "01 01",
            c("15557654321"),
            "01 01",
            c("15551234567"),
            "04 00 00",
            c(""),
            c(""),
            "00 00 00 00",
            "1d",
            o("id:AB12 stat:UNDELIV err:0301"),  # 29 octets
            "0427 0001 05",  # message_state UNDELIVERABLE
            "0423 0003 030001",  # network_error_code: GSM, error 0x0001 (§5.3.2.31)
            "2150 0002 beef",  # unknown vendor TLV between two known ones
            "001e 0005",
            c("AB12"),
        ),
        {
            "sequence_number": 16,
            "source_addr_ton": 1,
            "source_addr_npi": 1,
            "source_addr": "15557654321",
            "dest_addr_ton": 1,
            "dest_addr_npi": 1,
            "destination_addr": "15551234567",
            "esm_class": 4,
            "sm_length": 29,
            "message_state": 5,
            "network_error_code": bytes.fromhex("030001"),
            "receipted_message_id": "AB12",
            "short_message": b"id:AB12 stat:UNDELIV err:0301",
        },
        tlvs=[
            (0x0427, 5),
            (0x0423, bytes.fromhex("030001")),
            (0x2150, bytes.fromhex("beef")),
            (0x001E, "AB12"),
        ],
        unknown_tlvs=[(0x2150, bytes.fromhex("beef"))],
    ),
    Vector(
        "deliver_sm_resp",
        "DeliverSmResp",
        hx("00000011 80000005 00000000 00000001", c("")),  # message_id unused: NUL (§4.6.2)
        {"sequence_number": 1, "command_status": 0, "message_id": ""},
    ),
    # ---- data_sm, §4.7 ----------------------------------------------------------------------
    Vector(
        "data_sm_long_addresses",
        "DataSm",
        hx(
            "0000006e 00000103 00000000 00000011",  # 110 octets
            c("WAP"),
            "05 00",
            c("sender.example"),
            "03 0e",
            c("a" * 40),  # destination_addr: 40 chars, over submit_sm's 20, within 64
            "00 01 04",  # esm_class, registered_delivery, data_coding
            "0424 0004 01020304",  # message_payload
            "020a 0002 0b84",  # source_port
            "0017 0004 00015180",  # qos_time_to_live 86400
            "0019 0001 01",  # payload_type
        ),
        {
            "sequence_number": 17,
            "service_type": "WAP",
            "source_addr_ton": 5,
            "source_addr_npi": 0,
            "source_addr": "sender.example",
            "dest_addr_ton": 3,
            "dest_addr_npi": 14,
            "destination_addr": "a" * 40,
            "esm_class": 0,
            "registered_delivery": 1,
            "data_coding": 4,
            "message_payload": b"\x01\x02\x03\x04",
            "source_port": 2948,
            "qos_time_to_live": 86400,
            "payload_type": 1,
        },
        tlvs=[(0x0424, b"\x01\x02\x03\x04"), (0x020A, 2948), (0x0017, 86400), (0x0019, 1)],
    ),
    Vector(
        "data_sm_resp",
        "DataSmResp",
        hx(
            "0000002a 80000103 00000000 00000011",  # 42 octets
            c("ds-1"),
            "001d 0007",
            c("queued"),  # additional_status_info_text: C-octet string
            "0425 0001 00",  # delivery_failure_reason
            "0420 0001 01",  # dpf_result
        ),
        {
            "sequence_number": 17,
            "message_id": "ds-1",
            "additional_status_info_text": "queued",
            "delivery_failure_reason": 0,
            "dpf_result": 1,
        },
        tlvs=[(0x001D, "queued"), (0x0425, 0), (0x0420, 1)],
    ),
    # ---- query_sm, §4.8 ---------------------------------------------------------------------
    Vector(
        "query_sm",
        "QuerySm",
        hx("00000029 00000003 00000000 00000012", c("0123456789"), "01 01", c("15551234567")),
        {
            "sequence_number": 18,
            "message_id": "0123456789",
            "source_addr_ton": 1,
            "source_addr_npi": 1,
            "source_addr": "15551234567",
        },
    ),
    Vector(
        "query_sm_resp",
        "QuerySmResp",
        hx(
            "0000002e 80000003 00000000 00000012",  # 46 octets
            c("0123456789"),
            c("261126120100000+"),  # final_date
            "02",  # message_state DELIVERED (a mandatory field here, §4.8.2)
            "00",  # error_code
        ),
        {
            "sequence_number": 18,
            "message_id": "0123456789",
            "final_date": "261126120100000+",
            "message_state": 2,
            "error_code": 0,
        },
    ),
    # ---- cancel_sm, §4.9 --------------------------------------------------------------------
    Vector(
        "cancel_sm",
        "CancelSm",
        hx(
            "00000031 00000008 00000000 00000013",  # 49 octets
            c(""),
            c("abc"),
            "01 01",
            c("15551234567"),
            "01 01",
            c("15557654321"),
        ),
        {
            "sequence_number": 19,
            "service_type": "",
            "message_id": "abc",
            "source_addr_ton": 1,
            "source_addr_npi": 1,
            "source_addr": "15551234567",
            "dest_addr_ton": 1,
            "dest_addr_npi": 1,
            "destination_addr": "15557654321",
        },
    ),
    Vector(
        "cancel_sm_resp",
        "CancelSmResp",
        hx("00000010 80000008 00000000 00000013"),
        {"sequence_number": 19},
    ),
    # ---- replace_sm, §4.10 ------------------------------------------------------------------
    Vector(
        "replace_sm",
        "ReplaceSm",
        hx(
            "0000003f 00000007 00000000 00000014",  # 63 octets
            c("abc"),
            "01 01",
            c("15551234567"),
            c(""),  # schedule_delivery_time
            c("000002000000000R"),  # validity_period
            "01 00",  # registered_delivery, sm_default_msg_id
            "08",
            o("new text"),
        ),
        {
            "sequence_number": 20,
            "message_id": "abc",
            "source_addr_ton": 1,
            "source_addr_npi": 1,
            "source_addr": "15551234567",
            "schedule_delivery_time": "",
            "validity_period": "000002000000000R",
            "registered_delivery": 1,
            "sm_default_msg_id": 0,
            "sm_length": 8,
            "short_message": b"new text",
        },
    ),
    Vector(
        "replace_sm_resp",
        "ReplaceSmResp",
        hx("00000010 80000007 00000000 00000014"),
        {"sequence_number": 20},
    ),
    # ---- alert_notification, §4.12 ----------------------------------------------------------
    Vector(
        "alert_notification",
        "AlertNotification",
        hx(
            "00000049 00000102 00000000 00000015",  # 73 octets
            "01 01",
            c("15551234567"),
            "00 00",
            c("esme-" + "x" * 30),  # esme_addr: 35 chars (max 64)
            "0422 0001 01",  # ms_availability_status: denied
        ),
        {
            "sequence_number": 21,
            "source_addr_ton": 1,
            "source_addr_npi": 1,
            "source_addr": "15551234567",
            "esme_addr_ton": 0,
            "esme_addr_npi": 0,
            "esme_addr": "esme-" + "x" * 30,
            "ms_availability_status": 1,
        },
        tlvs=[(0x0422, 1)],
    ),
]

# The 28 command_ids of SMPP 3.4 (§5.1.2.1); every one must have a vector above.
ALL_COMMAND_IDS: dict[str, int] = {
    "GenericNack": 0x80000000,
    "BindReceiver": 0x00000001,
    "BindReceiverResp": 0x80000001,
    "BindTransmitter": 0x00000002,
    "BindTransmitterResp": 0x80000002,
    "QuerySm": 0x00000003,
    "QuerySmResp": 0x80000003,
    "SubmitSm": 0x00000004,
    "SubmitSmResp": 0x80000004,
    "DeliverSm": 0x00000005,
    "DeliverSmResp": 0x80000005,
    "Unbind": 0x00000006,
    "UnbindResp": 0x80000006,
    "ReplaceSm": 0x00000007,
    "ReplaceSmResp": 0x80000007,
    "CancelSm": 0x00000008,
    "CancelSmResp": 0x80000008,
    "BindTransceiver": 0x00000009,
    "BindTransceiverResp": 0x80000009,
    "Outbind": 0x0000000B,
    "EnquireLink": 0x00000015,
    "EnquireLinkResp": 0x80000015,
    "SubmitMulti": 0x00000021,
    "SubmitMultiResp": 0x80000021,
    "AlertNotification": 0x00000102,
    "DataSm": 0x00000103,
    "DataSmResp": 0x80000103,
}


@dataclass(frozen=True)
class BadVector:
    """Bytes the decoder must refuse, and what the DecodeError must say."""

    name: str
    hex: str
    command_status: int | None = None  # None: any
    sequence_number: int | None = None  # None: not checked
    field: tuple[str, ...] | None = None  # acceptable field names; None: not checked
    offset: int | None = None  # None: not checked
    # True when the header frames correctly, so PduReader returns the error inline.
    framed: bool = True


BAD_VECTORS: list[BadVector] = [
    BadVector(
        "unknown_command_id",
        hx("00000013 00000099 00000000 0000002a", "616263"),
        command_status=0x03,  # ESME_RINVCMDID
        sequence_number=42,
    ),
    BadVector(
        "unknown_response_command_id",
        hx("00000010 80000099 00000000 0000002b"),
        command_status=0x03,
        sequence_number=43,
    ),
    BadVector(
        "system_id_longer_than_16",
        hx(
            "00000029 00000002 00000000 0000002c",
            c("ABCDEFGHIJKLMNOP"),  # 16 chars + NUL = 17 > 16
            c("pw"),
            c(""),
            "34 00 00",
            c(""),
        ),
        sequence_number=44,
        field=("system_id",),
        offset=16,
    ),
    BadVector(
        "source_addr_without_nul",
        hx("00000017 00000004 00000000 0000002d", c(""), "01 01", o("1555")),  # ends mid-field
        sequence_number=45,
        field=("source_addr",),
        offset=19,
    ),
    BadVector(
        "source_addr_longer_than_21",
        hx(
            "00000046 00000004 00000000 0000002e",
            c(""),
            "01 01",
            c("1" * 21),  # 21 digits + NUL = 22 > 21
            "01 01",
            c("15557654321"),
            "00 00 00",
            c(""),
            c(""),
            "00 00 00 00",
            "05",
            o("hello"),
        ),
        sequence_number=46,
        field=("source_addr",),
        offset=19,
    ),
    BadVector(
        "sm_length_beyond_body",
        hx(
            "0000003a 00000004 00000000 0000002f",
            c(""),
            "01 01",
            c("15551234567"),
            "01 01",
            c("15557654321"),
            "00 00 00",
            c(""),
            c(""),
            "00 00 00 00",
            "0a",  # sm_length 10, only 3 octets follow
            o("abc"),
        ),
        sequence_number=47,
        field=("short_message", "sm_length"),
    ),
    BadVector(
        "tlv_value_runs_past_end",
        hx(
            "00000028 00000004 00000000 00000030",
            c(""),
            "00 00",
            c("1"),
            "00 00",
            c("2"),
            "00 00 00",
            c(""),
            c(""),
            "00 00 00 00",
            "00",
            "020c 0002 12",  # sar_msg_ref_num says 2 octets, 1 left
        ),
        sequence_number=48,
        field=("sar_msg_ref_num",),
    ),
    BadVector(
        "receipted_message_id_runs_past_end",
        hx(
            "0000002d 00000005 00000000 00000031",
            c(""),
            "00 00",
            c("1"),
            "00 00",
            c("2"),
            "04 00 00",
            c(""),
            c(""),
            "00 00 00 00",
            "00",
            "001e 000b",
            c("01234"),  # 6 of 11 announced octets
        ),
        sequence_number=49,
        field=("receipted_message_id",),
    ),
    BadVector(
        "truncated_tlv_header",
        hx("00000013 00000015 00000000 00000032", "0427 00"),  # 3 octets: no whole TLV header
        sequence_number=50,
    ),
    BadVector(
        "bind_transmitter_without_body",
        hx("00000010 00000002 00000000 00000033"),
        sequence_number=51,
    ),
    BadVector(
        "submit_multi_bad_dest_flag",
        hx(
            "0000002c 00000021 00000000 00000034",
            c(""),
            "01 01",
            c("1555"),
            "01",
            "03 01 01",  # dest_flag 3: neither SME (1) nor distribution list (2)
            c("1666"),
            "00 00 00",
            c(""),
            c(""),
            "00 00 00 00",
            "01",
            o("x"),
        ),
        sequence_number=52,
    ),
    BadVector(
        "submit_multi_fewer_dests_than_announced",
        hx(
            "00000021 00000021 00000000 00000035",
            c(""),
            "01 01",
            c("1555"),
            "05",  # number_of_dests 5, one given, then the PDU ends
            "01 01 01",
            c("1666"),
        ),
        sequence_number=53,
    ),
]

# command_length values that lose the stream: refused as soon as their 4 octets arrive.
BAD_LENGTH_HEADERS: list[tuple[str, str, int]] = [
    # (name, the first header octets, max_pdu_length for the reader)
    ("command_length_15", hx("0000000f 00000015 00000000 00000001"), 65536),
    ("command_length_0", hx("00000000 00000015 00000000 00000001"), 65536),
    ("command_length_over_default_max", hx("00010001 00000004 00000000 00000001"), 65536),
    ("command_length_ffffffff", hx("ffffffff 00000004 00000000 00000001"), 65536),
    ("command_length_over_small_max", hx("00000401 00000004 00000000 00000001"), 1024),
]
