"""Long messages over SMPP: UDH concatenation, SAR TLVs, message_payload.

The codecs and the segment planner are compiled (``engine._core``: :func:`gsm7_encode`,
:func:`plan_segments`, ...) and re-exported here so that ``engine.text`` is the one place
to look.  This module adds the User Data Header (3GPP TS 23.040 §9.2.3.24) and the
builders that turn a text into the submit_sm (or deliver_sm) PDUs that carry it, in one of
the three ways SMPP 3.4 allows:

- ``"udh"`` / ``"udh16"``: a concatenation UDH in short_message (IEI 0x00 with an 8-bit
  reference or IEI 0x08 with a 16-bit one) and esm_class UDHI (0x40, §5.2.12);
- ``"sar"``: the sar_msg_ref_num / sar_total_segments / sar_segment_seqnum TLVs
  (§5.3.2.22-24), the SMSC builds the UDH;
- ``"payload"``: the whole text in one message_payload TLV (§5.3.2.32), the SMSC splits.

Pure functions, no I/O, no clock.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any, Literal, NamedTuple

from engine._core import (
    DEFAULT_UDH_LENGTH,
    GSM7_BASIC_CHARS,
    GSM7_EXTENSION_CHARS,
    DeliverSm,
    SubmitSm,
    TextPlan,
    count_segments,
    decode_text,
    encode_text,
    gsm7_decode,
    gsm7_encode,
    gsm7_length,
    gsm7_pack,
    gsm7_unpack,
    is_gsm7,
    plan_segments,
)
from engine.errors import DecodeError, EncodeError

__all__ = [
    "DEFAULT_UDH_LENGTH",
    "GSM7_BASIC_CHARS",
    "GSM7_EXTENSION_CHARS",
    "IEI_CONCAT_8",
    "IEI_CONCAT_16",
    "ConcatInfo",
    "TextPlan",
    "build_deliver_sms",
    "build_submit_sms",
    "concat_info",
    "count_segments",
    "decode_text",
    "encode_text",
    "gsm7_decode",
    "gsm7_encode",
    "gsm7_length",
    "gsm7_pack",
    "gsm7_unpack",
    "is_gsm7",
    "parse_udh",
    "plan_segments",
    "smart_encode",
    "udh_concat",
]

IEI_CONCAT_8 = 0x00
"""Concatenated short messages, 8-bit reference (3GPP TS 23.040 §9.2.3.24.1)."""
IEI_CONCAT_16 = 0x08
"""Concatenated short messages, 16-bit reference (3GPP TS 23.040 §9.2.3.24.8)."""

_UDHI = 0x40
_MAX_PARTS = 255  # total and seqnum are one octet in the UDH and in the SAR TLVs

Method = Literal["udh", "udh16", "sar", "payload"]


class ConcatInfo(NamedTuple):
    """Where one part sits in a concatenated message."""

    reference: int
    total: int
    seqnum: int
    sixteen_bit: bool


def udh_concat(reference: int, total: int, seqnum: int, *, sixteen_bit: bool = False) -> bytes:
    """The concatenation UDH: ``05 00 03 ref total seq`` or ``06 08 04 ref16 total seq``.

    Raises :class:`engine.EncodeError` (``field="short_message"``) for values out of range
    (reference 0..255 or 0..65535, 1 <= seqnum <= total <= 255).
    """
    limit = 0xFFFF if sixteen_bit else 0xFF
    if not 0 <= reference <= limit:
        raise EncodeError(
            f"concatenation reference {reference} is not in 0..{limit}", field="short_message"
        )
    if not 1 <= seqnum <= total <= _MAX_PARTS:
        raise EncodeError(
            f"concatenation part {seqnum} of {total} is not within 1..255",
            field="short_message",
        )
    if sixteen_bit:
        return bytes((6, IEI_CONCAT_16, 4, reference >> 8, reference & 0xFF, total, seqnum))
    return bytes((5, IEI_CONCAT_8, 3, reference, total, seqnum))


def parse_udh(short_message: bytes) -> tuple[dict[int, bytes | list[bytes]], bytes]:
    """Split a short_message that starts with a UDH into its elements and the payload.

    Returns ``({IEI: data}, payload)``; an IEI that occurs more than once maps to the list
    of its elements' data, in order.  Every length is bounds-checked: a UDH that runs past
    the message or an element that runs past the UDH raises :class:`engine.DecodeError`
    (``field="short_message"``, ``offset`` at the fault).
    """
    data = bytes(short_message)
    if not data:
        raise DecodeError("UDHI is set but short_message is empty", field="short_message")
    end = 1 + data[0]
    if end > len(data):
        raise DecodeError(
            f"UDH length {data[0]} runs past the {len(data)}-octet short_message",
            field="short_message",
            offset=0,
        )
    elements: dict[int, bytes | list[bytes]] = {}
    pos = 1
    while pos < end:
        if pos + 2 > end:
            raise DecodeError(
                "UDH information element header runs past the UDH",
                field="short_message",
                offset=pos,
            )
        iei, length = data[pos], data[pos + 1]
        if pos + 2 + length > end:
            raise DecodeError(
                f"UDH element 0x{iei:02X} of length {length} runs past the UDH",
                field="short_message",
                offset=pos,
            )
        value = data[pos + 2 : pos + 2 + length]
        old = elements.get(iei)
        if old is None:
            elements[iei] = value
        elif isinstance(old, list):
            old.append(value)
        else:
            elements[iei] = [old, value]
        pos += 2 + length
    return elements, data[end:]


def concat_info(elements: dict[int, bytes | list[bytes]]) -> ConcatInfo | None:
    """The concatenation element of a parsed UDH, or None when it has none.

    A concatenation element of the wrong length raises :class:`engine.DecodeError`.  When
    several are present the last one counts (3GPP TS 23.040 §9.2.3.24: a repeated element
    overrides).
    """
    for iei, size, sixteen in ((IEI_CONCAT_16, 4, True), (IEI_CONCAT_8, 3, False)):
        value = elements.get(iei)
        if value is None:
            continue
        if isinstance(value, list):
            value = value[-1]
        if len(value) != size:
            raise DecodeError(
                f"concatenation element 0x{iei:02X} has {len(value)} octets, not {size}",
                field="short_message",
            )
        if sixteen:
            return ConcatInfo((value[0] << 8) | value[1], value[2], value[3], True)
        return ConcatInfo(value[0], value[1], value[2], False)
    return None


_references: Iterator[int] = itertools.count(1)


def _next_reference(limit: int) -> int:
    # A process-wide rolling counter: deterministic, no clock, no randomness.  Callers who
    # keep their own per-destination counters pass reference= instead.
    return next(_references) % (limit + 1)


def _build(
    pdu_class: type,
    source_addr: str,
    destination_addr: str,
    text: str,
    method: Method,
    reference: int | None,
    data_coding: int | None,
    esm_class: int,
    fields: dict[str, Any],
) -> list[Any]:
    if method not in ("udh", "udh16", "sar", "payload"):
        raise EncodeError(f"unknown long-message method {method!r}", field="method")
    sixteen = method == "udh16"
    plan = plan_segments(text, data_coding, 7 if sixteen else DEFAULT_UDH_LENGTH)
    common = dict(
        source_addr=source_addr,
        destination_addr=destination_addr,
        data_coding=plan.data_coding,
        **fields,
    )
    parts = plan.parts
    if len(parts) == 1:
        return [pdu_class(esm_class=esm_class, short_message=parts[0], **common)]
    if method == "payload":
        return [
            pdu_class(
                esm_class=esm_class, short_message=b"", message_payload=b"".join(parts), **common
            )
        ]
    total = len(parts)
    if total > _MAX_PARTS:
        raise EncodeError(
            f"the text needs {total} segments; concatenation allows at most {_MAX_PARTS}",
            field="short_message",
        )
    limit = 0xFF if method == "udh" else 0xFFFF
    if reference is None:
        reference = _next_reference(limit)
    elif not 0 <= reference <= limit:
        raise EncodeError(f"reference {reference} is not in 0..{limit}", field="reference")
    if method == "sar":
        return [
            pdu_class(
                esm_class=esm_class,
                short_message=part,
                sar_msg_ref_num=reference,
                sar_total_segments=total,
                sar_segment_seqnum=i,
                **common,
            )
            for i, part in enumerate(parts, 1)
        ]
    return [
        pdu_class(
            esm_class=esm_class | _UDHI,
            short_message=udh_concat(reference, total, i, sixteen_bit=sixteen) + part,
            **common,
        )
        for i, part in enumerate(parts, 1)
    ]


def build_submit_sms(
    source_addr: str,
    destination_addr: str,
    text: str,
    *,
    method: Method = "udh",
    reference: int | None = None,
    data_coding: int | None = None,
    source_addr_ton: int = 0,
    source_addr_npi: int = 0,
    dest_addr_ton: int = 0,
    dest_addr_npi: int = 0,
    registered_delivery: int = 0,
    esm_class: int = 0,
    pdu_class: type | None = None,
    **fields: Any,
) -> list[Any]:
    """The submit_sm PDUs that carry text, one per segment.

    Encoding and split come from :func:`plan_segments` (GSM-7 if it fits, else UCS-2, or
    ``data_coding`` 0/3/8 if given).  A text that fits one SMS is one PDU with a plain
    short_message, whatever the method.  Otherwise ``method`` says how the parts are
    joined (see the module docstring); ``reference`` is the concatenation reference
    (default: a rolling counter).  ``udh16`` leaves one octet less per part (152 septets /
    66 UCS-2 units).  ``sequence_number`` is left 0 for the session to assign.  Extra
    keyword ``fields`` (and TLVs) go to every PDU; ``pdu_class`` (default
    :class:`engine.SubmitSm`) lets the same code build deliver_sm.  Raises
    :class:`engine.EncodeError` for a text that cannot be encoded or needs more than 255
    segments.
    """
    return _build(
        SubmitSm if pdu_class is None else pdu_class,
        source_addr,
        destination_addr,
        text,
        method,
        reference,
        data_coding,
        esm_class,
        dict(
            source_addr_ton=source_addr_ton,
            source_addr_npi=source_addr_npi,
            dest_addr_ton=dest_addr_ton,
            dest_addr_npi=dest_addr_npi,
            registered_delivery=registered_delivery,
            **fields,
        ),
    )


def build_deliver_sms(
    source_addr: str, destination_addr: str, text: str, **kwargs: Any
) -> list[Any]:
    """Like :func:`build_submit_sms` but builds deliver_sm (a carrier's MO, for the
    simulated carrier and the tests)."""
    kwargs.setdefault("pdu_class", DeliverSm)
    return build_submit_sms(source_addr, destination_addr, text, **kwargs)


def _smart_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    for chars, repl in (
        ("\u2018\u2019\u201a\u201b\u2032\u2035\u02b9\u02bb\u02bc\u02bd\u02ca\u02cb`", "'"),
        ("\u201c\u201d\u201e\u201f\u2033\u2036\u00ab\u00bb", '"'),
        ("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63", "-"),
        (
            "\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
            "\u202f\u205f\u3000\t",
            " ",
        ),
        ("\u2026", "..."),
        ("\u2039", "<"),
        ("\u203a", ">"),
        ("\u02c6", "^"),
        ("\u02dc", "~"),
        ("\u00bd", "1/2"),
        ("\u00bc", "1/4"),
        ("\u00be", "3/4"),
        ("\u2044\u2215", "/"),
    ):
        for ch in chars:
            table[ord(ch)] = repl
    for ch in "\u200b\u2060\ufeff\u00ad":  # zero-width space, word joiner, BOM, soft hyphen
        table[ord(ch)] = None
    for cp in range(0xFF01, 0xFF5F):  # full-width ASCII forms
        table[cp] = chr(cp - 0xFEE0)
    return table


_SMART = _smart_table()


def smart_encode(text: str) -> str:
    """Replace Unicode look-alikes with GSM 03.38 characters, as Twilio's Smart Encoding
    does before it picks the encoding: curly quotes -> ``'`` / ``"``, dashes -> ``-``,
    ellipsis -> ``...``, odd spaces and tab -> space, full-width ASCII -> ASCII, fractions
    -> ``1/2`` etc., zero-width characters and soft hyphens removed.

    Characters with no GSM look-alike (emoji, CJK, Cyrillic) are left, so such a text
    stays UCS-2.  Joiners (U+200C, U+200D) are kept: emoji sequences need them.  The map
    is this engine's own, built from the categories Twilio documents.
    """
    return text.translate(_SMART)
