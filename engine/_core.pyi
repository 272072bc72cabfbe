"""Typing stub for the compiled core, ``engine._core``.

The core is sans-IO: no sockets, no event loop, no clock (time is always an argument).
It holds the SMPP 3.4 PDU codec and stream framer, the text codecs and segmentation, and
the rate scheduler.
"""

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, ClassVar, final

from typing_extensions import disjoint_base

# ---------------------------------------------------------------------------------------
# PDUs (SMPP 3.4 §4).  Built by keyword with the spec's field names; C-octet strings are
# str, short_message is bytes.  Every TLV that SMPP 3.4 defines (§5.3.2) is an attribute
# by its spec name on every PDU; absent ones are None.  Integer TLVs are int, C-octet
# string TLVs (receipted_message_id, additional_status_info_text) are str, octet-string
# TLVs are bytes, alert_on_message_delivery (no value) is True when present.
# ---------------------------------------------------------------------------------------

@disjoint_base
class Pdu:
    command_id: ClassVar[int]
    command_name: ClassVar[str]
    sequence_number: int
    command_status: int
    # TLVs in wire order, (tag, value); values typed as above, unknown tags as raw bytes.
    @property
    def tlvs(self) -> list[tuple[int, Any]]: ...
    @tlvs.setter
    def tlvs(self, value: Iterable[tuple[int, Any]]) -> None: ...
    # Unknown TLVs (tags SMPP 3.4 does not define), in wire order, values as raw bytes.
    @property
    def unknown_tlvs(self) -> list[tuple[int, bytes]]: ...
    def get_tlv(self, tag: int) -> Any: ...
    def set_tlv(self, tag: int, value: Any) -> None: ...
    def to_dict(self) -> dict[str, Any]: ...
    def __eq__(self, other: object, /) -> bool: ...
    # BEGIN GENERATED: tlv_attributes (tools/gen_tables.py; edit tools/smpp_tables.py)
    # TLVs of SMPP 3.4 §5.3.2
    dest_addr_subunit: int | None
    dest_network_type: int | None
    dest_bearer_type: int | None
    dest_telematics_id: int | None
    source_addr_subunit: int | None
    source_network_type: int | None
    source_bearer_type: int | None
    source_telematics_id: int | None
    qos_time_to_live: int | None
    payload_type: int | None
    additional_status_info_text: str | None
    receipted_message_id: str | None
    ms_msg_wait_facilities: int | None
    privacy_indicator: int | None
    source_subaddress: bytes | None
    dest_subaddress: bytes | None
    user_message_reference: int | None
    user_response_code: int | None
    source_port: int | None
    destination_port: int | None
    sar_msg_ref_num: int | None
    language_indicator: int | None
    sar_total_segments: int | None
    sar_segment_seqnum: int | None
    sc_interface_version: int | None
    callback_num_pres_ind: int | None
    callback_num_atag: bytes | None
    number_of_messages: int | None
    callback_num: bytes | None
    dpf_result: int | None
    set_dpf: int | None
    ms_availability_status: int | None
    network_error_code: bytes | None
    message_payload: bytes | None
    delivery_failure_reason: int | None
    more_messages_to_send: int | None
    message_state: int | None
    ussd_service_op: int | None
    display_time: int | None
    sms_signal: int | None
    ms_validity: int | None
    alert_on_message_delivery: bool | None
    its_reply_type: int | None
    its_session_info: bytes | None
    # END GENERATED: tlv_attributes

class RequestPdu(Pdu):
    response_class: ClassVar[type[Pdu] | None]  # None for outbind and alert_notification
    def make_response(self, *, command_status: int = 0, **fields: Any) -> Pdu:
        """The matching response with this request's sequence_number."""

class ResponsePdu(Pdu): ...

@disjoint_base
class _Bind(RequestPdu):
    system_id: str
    password: str
    system_type: str
    interface_version: int
    addr_ton: int
    addr_npi: int
    address_range: str
    def __init__(
        self,
        *,
        sequence_number: int = 0,
        command_status: int = 0,
        system_id: str = "",
        password: str = "",
        system_type: str = "",
        interface_version: int = 0x34,
        addr_ton: int = 0,
        addr_npi: int = 0,
        address_range: str = "",
        **tlvs: Any,
    ) -> None: ...

@final
class BindTransmitter(_Bind): ...

@final
class BindReceiver(_Bind): ...

@final
class BindTransceiver(_Bind): ...

@disjoint_base
class _BindResp(ResponsePdu):
    system_id: str
    def __init__(
        self, *, sequence_number: int = 0, command_status: int = 0, system_id: str = "", **tlvs: Any
    ) -> None: ...

@final
class BindTransmitterResp(_BindResp): ...

@final
class BindReceiverResp(_BindResp): ...

@final
class BindTransceiverResp(_BindResp): ...

@final
class Outbind(RequestPdu):
    system_id: str
    password: str
    def __init__(
        self,
        *,
        sequence_number: int = 0,
        command_status: int = 0,
        system_id: str = "",
        password: str = "",
        **tlvs: Any,
    ) -> None: ...

class _HeaderOnlyRequest(RequestPdu):
    def __init__(
        self, *, sequence_number: int = 0, command_status: int = 0, **tlvs: Any
    ) -> None: ...

class _HeaderOnlyResponse(ResponsePdu):
    def __init__(
        self, *, sequence_number: int = 0, command_status: int = 0, **tlvs: Any
    ) -> None: ...

@final
class Unbind(_HeaderOnlyRequest): ...

@final
class UnbindResp(_HeaderOnlyResponse): ...

@final
class GenericNack(_HeaderOnlyResponse): ...

@final
class EnquireLink(_HeaderOnlyRequest): ...

@final
class EnquireLinkResp(_HeaderOnlyResponse): ...

@final
class CancelSmResp(_HeaderOnlyResponse): ...

@final
class ReplaceSmResp(_HeaderOnlyResponse): ...

@disjoint_base
class _ShortMessage(RequestPdu):
    """submit_sm and deliver_sm share one body layout (§4.4.1, §4.6.1)."""

    service_type: str
    source_addr_ton: int
    source_addr_npi: int
    source_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    destination_addr: str
    esm_class: int
    protocol_id: int
    priority_flag: int
    schedule_delivery_time: str
    validity_period: str
    registered_delivery: int
    replace_if_present_flag: int
    data_coding: int
    sm_default_msg_id: int
    short_message: bytes
    @property
    def sm_length(self) -> int: ...
    def __init__(
        self,
        *,
        sequence_number: int = 0,
        command_status: int = 0,
        service_type: str = "",
        source_addr_ton: int = 0,
        source_addr_npi: int = 0,
        source_addr: str = "",
        dest_addr_ton: int = 0,
        dest_addr_npi: int = 0,
        destination_addr: str = "",
        esm_class: int = 0,
        protocol_id: int = 0,
        priority_flag: int = 0,
        schedule_delivery_time: str = "",
        validity_period: str = "",
        registered_delivery: int = 0,
        replace_if_present_flag: int = 0,
        data_coding: int = 0,
        sm_default_msg_id: int = 0,
        short_message: bytes = b"",
        **tlvs: Any,
    ) -> None: ...

@final
class SubmitSm(_ShortMessage): ...

@final
class DeliverSm(_ShortMessage): ...

@disjoint_base
class _MessageIdResp(ResponsePdu):
    message_id: str
    def __init__(
        self,
        *,
        sequence_number: int = 0,
        command_status: int = 0,
        message_id: str = "",
        **tlvs: Any,
    ) -> None: ...

@final
class SubmitSmResp(_MessageIdResp): ...

@final
class DeliverSmResp(_MessageIdResp): ...

@final
class DataSmResp(_MessageIdResp): ...

@final
class SubmitMulti(RequestPdu):
    """dest_addresses: a (dest_addr_ton, dest_addr_npi, destination_addr) tuple is an SME
    address (dest_flag 1); a str is a distribution list name (dest_flag 2).  §4.5.1."""

    service_type: str
    source_addr_ton: int
    source_addr_npi: int
    source_addr: str
    dest_addresses: list[tuple[int, int, str] | str]
    esm_class: int
    protocol_id: int
    priority_flag: int
    schedule_delivery_time: str
    validity_period: str
    registered_delivery: int
    replace_if_present_flag: int
    data_coding: int
    sm_default_msg_id: int
    short_message: bytes
    @property
    def number_of_dests(self) -> int: ...
    @property
    def sm_length(self) -> int: ...
    def __init__(
        self,
        *,
        sequence_number: int = 0,
        command_status: int = 0,
        service_type: str = "",
        source_addr_ton: int = 0,
        source_addr_npi: int = 0,
        source_addr: str = "",
        dest_addresses: Sequence[tuple[int, int, str] | str] = (),
        esm_class: int = 0,
        protocol_id: int = 0,
        priority_flag: int = 0,
        schedule_delivery_time: str = "",
        validity_period: str = "",
        registered_delivery: int = 0,
        replace_if_present_flag: int = 0,
        data_coding: int = 0,
        sm_default_msg_id: int = 0,
        short_message: bytes = b"",
        **tlvs: Any,
    ) -> None: ...

@final
class SubmitMultiResp(ResponsePdu):
    """unsuccess_smes: (dest_addr_ton, dest_addr_npi, destination_addr, error_status_code)."""

    message_id: str
    unsuccess_smes: list[tuple[int, int, str, int]]
    @property
    def no_unsuccess(self) -> int: ...
    def __init__(
        self,
        *,
        sequence_number: int = 0,
        command_status: int = 0,
        message_id: str = "",
        unsuccess_smes: Sequence[tuple[int, int, str, int]] = (),
        **tlvs: Any,
    ) -> None: ...

@final
class DataSm(RequestPdu):
    service_type: str
    source_addr_ton: int
    source_addr_npi: int
    source_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    destination_addr: str
    esm_class: int
    registered_delivery: int
    data_coding: int
    def __init__(
        self,
        *,
        sequence_number: int = 0,
        command_status: int = 0,
        service_type: str = "",
        source_addr_ton: int = 0,
        source_addr_npi: int = 0,
        source_addr: str = "",
        dest_addr_ton: int = 0,
        dest_addr_npi: int = 0,
        destination_addr: str = "",
        esm_class: int = 0,
        registered_delivery: int = 0,
        data_coding: int = 0,
        **tlvs: Any,
    ) -> None: ...

@final
class QuerySm(RequestPdu):
    message_id: str
    source_addr_ton: int
    source_addr_npi: int
    source_addr: str
    def __init__(
        self,
        *,
        sequence_number: int = 0,
        command_status: int = 0,
        message_id: str = "",
        source_addr_ton: int = 0,
        source_addr_npi: int = 0,
        source_addr: str = "",
        **tlvs: Any,
    ) -> None: ...

@final
class QuerySmResp(ResponsePdu):
    message_id: str
    final_date: str
    message_state: int  # a mandatory field here, not the TLV
    error_code: int
    def __init__(
        self,
        *,
        sequence_number: int = 0,
        command_status: int = 0,
        message_id: str = "",
        final_date: str = "",
        message_state: int = 0,
        error_code: int = 0,
        **tlvs: Any,
    ) -> None: ...

@final
class CancelSm(RequestPdu):
    service_type: str
    message_id: str
    source_addr_ton: int
    source_addr_npi: int
    source_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    destination_addr: str
    def __init__(
        self,
        *,
        sequence_number: int = 0,
        command_status: int = 0,
        service_type: str = "",
        message_id: str = "",
        source_addr_ton: int = 0,
        source_addr_npi: int = 0,
        source_addr: str = "",
        dest_addr_ton: int = 0,
        dest_addr_npi: int = 0,
        destination_addr: str = "",
        **tlvs: Any,
    ) -> None: ...

@final
class ReplaceSm(RequestPdu):
    message_id: str
    source_addr_ton: int
    source_addr_npi: int
    source_addr: str
    schedule_delivery_time: str
    validity_period: str
    registered_delivery: int
    sm_default_msg_id: int
    short_message: bytes
    @property
    def sm_length(self) -> int: ...
    def __init__(
        self,
        *,
        sequence_number: int = 0,
        command_status: int = 0,
        message_id: str = "",
        source_addr_ton: int = 0,
        source_addr_npi: int = 0,
        source_addr: str = "",
        schedule_delivery_time: str = "",
        validity_period: str = "",
        registered_delivery: int = 0,
        sm_default_msg_id: int = 0,
        short_message: bytes = b"",
        **tlvs: Any,
    ) -> None: ...

@final
class AlertNotification(RequestPdu):
    source_addr_ton: int
    source_addr_npi: int
    source_addr: str
    esme_addr_ton: int
    esme_addr_npi: int
    esme_addr: str
    def __init__(
        self,
        *,
        sequence_number: int = 0,
        command_status: int = 0,
        source_addr_ton: int = 0,
        source_addr_npi: int = 0,
        source_addr: str = "",
        esme_addr_ton: int = 0,
        esme_addr_npi: int = 0,
        esme_addr: str = "",
        **tlvs: Any,
    ) -> None: ...

PDU_CLASSES: dict[int, type[Pdu]]
"""command_id -> PDU class, for every SMPP 3.4 PDU."""

TLV_NAMES: dict[int, str]
"""TLV tag -> spec name, for every TLV SMPP 3.4 defines."""

DEFAULT_MAX_PDU_LENGTH: int

def encode(pdu: Pdu) -> bytes:
    """Encode one PDU.  Raises EncodeError naming the field for out-of-range values."""

def encode_many(pdus: Iterable[Pdu]) -> bytes:
    """Encode several PDUs into one buffer (one transport.write for a loop iteration)."""

def decode(data: bytes | bytearray | memoryview) -> Pdu:
    """Decode exactly one whole PDU.  Anything else raises DecodeError."""

@disjoint_base
class PduReader:
    """Stream framer: feed it any chunk of a TCP stream, get back every whole PDU in it.

    ``feed`` returns a list in stream order.  A PDU whose header frames correctly but whose
    body is invalid (unknown command_id, bad field) appears in the list as a
    :class:`engine.DecodeError` instance (recoverable: answer it with generic_nack or an
    error response and go on).  A command_length below 16 or above ``max_pdu_length`` raises
    DecodeError (recoverable=False) as soon as its 4 bytes arrive: the stream is lost.
    """

    max_pdu_length: int
    def __init__(self, max_pdu_length: int = 65536) -> None: ...
    # When feed raises for a bad command_length, the PDUs decoded earlier in that call are
    # on the exception's ``pdus`` attribute (list), so nothing is lost.
    def feed(self, data: bytes | bytearray | memoryview) -> list[Pdu | Exception]: ...
    @property
    def buffered(self) -> int:
        """Bytes held that do not yet make a whole PDU."""

# ---------------------------------------------------------------------------------------
# Text codecs and segmentation (engine/_text.pxi; re-exported by engine.text).
# GSM 03.38 (3GPP TS 23.038) default alphabet + extension table, unpacked one septet per
# octet as SMPP carries data_coding 0; IA5 (1), Latin-1 (3), UCS-2/UTF-16BE (8).
# Segments are counted as Twilio does: GSM-7 160 / 153 septets, UCS-2 70 / 67 units; an
# escape pair or a surrogate pair never straddles two segments.
# ---------------------------------------------------------------------------------------

GSM7_BASIC_CHARS: str
GSM7_EXTENSION_CHARS: str
DEFAULT_UDH_LENGTH: int

def is_gsm7(text: str) -> bool: ...
def gsm7_length(text: str) -> int:
    """Septets (extension characters count two); -1 if a character is not GSM 03.38."""

def gsm7_encode(text: str) -> bytes:
    """Unpacked septets; raises EncodeError(field="short_message") with .index/.char."""

def gsm7_decode(data: bytes | bytearray | memoryview, errors: str = "strict") -> str: ...
def gsm7_pack(septets: bytes | bytearray | memoryview, fill_bits: int = 0) -> bytes: ...
def gsm7_unpack(
    data: bytes | bytearray | memoryview, count: int = -1, fill_bits: int = 0
) -> bytes: ...
def encode_text(text: str, data_coding: int) -> bytes: ...
def decode_text(
    data: bytes | bytearray | memoryview, data_coding: int, errors: str = "strict"
) -> str: ...

@disjoint_base
class TextPlan:
    """Encoding and per-segment payloads (no UDH) of a text."""

    data_coding: int  # 0, 3 or 8
    encoding: str  # "GSM-7", "Latin-1" or "UCS-2"
    parts: list[bytes]
    characters: int  # code points
    units: int  # septets, octets or UTF-16 code units
    @property
    def num_segments(self) -> int: ...
    def __init__(
        self, data_coding: int, encoding: str, parts: list[bytes], characters: int, units: int
    ) -> None: ...

def plan_segments(text: str, data_coding: int | None = None, udh_length: int = 6) -> TextPlan: ...
def count_segments(text: str) -> int: ...

# ---------------------------------------------------------------------------------------
# Rate scheduler (engine/_sched.pxi; policy in engine.scheduler).  Sans-IO: every time is
# an argument, in seconds on any monotonic origin.  Per-sender FIFOs paced in segments per
# second by token buckets, inside optional account and carrier-link buckets.  A message of
# s segments leaves when every bucket on its path holds min(s, burst) tokens (and its link
# is not paused), then takes s tokens from each (a bucket may go negative).  In any window
# of length T a bucket passes at most max(burst, s_max) + per_second * T segments.
# ---------------------------------------------------------------------------------------

TIER_RATES: dict[str, float]
"""Default segments per second by tier name (engine.scheduler.TIER_RATES keys them by Tier)."""
TOLL_FREE_AREA_CODES: frozenset[str]

def sender_tier(key: str) -> str:
    """The tier name of a sender key (engine.scheduler.classify_sender gives the Tier)."""

def tier_rate(key: Hashable) -> float:
    """The default segments per second of ``key``: RateScheduler's default ``rate_for``."""

@disjoint_base
class RateScheduler:
    """Per-sender FIFO queues paced in segments per second, inside account and link rates."""

    def __init__(
        self,
        rate_for: Callable[[Any], float] | None = None,
        *,
        default_burst: float = 1,
        validity: float = 36000.0,
    ) -> None: ...
    def set_rate(self, key: Hashable, per_second: float, burst: float = 1) -> None: ...
    def rate_of(self, key: Hashable) -> tuple[float, float, bool] | None:
        """(per_second, burst, own) of a known key; None for an unknown one."""

    def set_account_rate(self, account: Hashable, per_second: float, burst: float = 1) -> None: ...
    def set_link_rate(self, link: Hashable, per_second: float, burst: float = 1) -> None: ...
    def pause_link(self, link: Hashable, until: float) -> None: ...
    def resume_link(self, link: Hashable) -> None: ...
    # An argument left out keeps the current assignment; None removes it.
    def assign(
        self, key: Hashable, account: Hashable | None = ..., link: Hashable | None = ...
    ) -> None: ...
    # Raises QueueFullError (Twilio 21611) beyond floor(rate * validity) queued segments;
    # segments 1..255; expires_at None: never.  account/link None: keep the assignment.
    def push(
        self,
        key: Hashable,
        item: object,
        segments: int = 1,
        expires_at: float | None = None,
        *,
        account: Hashable | None = None,
        link: Hashable | None = None,
    ) -> None: ...
    def requeue(
        self, key: Hashable, item: object, segments: int = 1, expires_at: float | None = None
    ) -> None: ...
    def pop_ready(self, now: float, limit: int | None = None) -> list[Any]: ...
    # Items whose expires_at <= now, out of their queues (Twilio 30036).
    def pop_expired(self, now: float) -> list[Any]: ...
    # Exact when nothing expires first; -inf before the first pop means "ready now".
    def next_ready_at(self) -> float | None: ...
    def next_expiry_at(self) -> float | None: ...
    def queued(self, key: Hashable) -> int: ...
    def queued_segments(self, key: Hashable) -> int: ...
    @property
    def segments(self) -> int: ...
    @property
    def senders(self) -> int: ...
    @property
    def validity(self) -> float: ...
    def __len__(self) -> int: ...
