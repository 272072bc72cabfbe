"""Delivery receipts: parse and build the receipt text, read receipt PDUs, match ids.

SMPP 3.4 Appendix B suggests the receipt text carried in a deliver_sm (esm_class 0x04)::

    id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm
    stat:DDDDDDD err:E text:...

Carriers vary it: key case (``Id:``, ``Text:``), missing fields, 12-digit dates with
seconds, extra spaces, NUL padding, ``submit_date`` with an underscore.  The parser here
takes all of those.  The ``receipted_message_id`` and ``message_state`` TLVs (§5.3.2.12,
§5.3.2.35) are authoritative when present: :func:`receipt_from_pdu` prefers them.

Message ids: a carrier may return a hex id in submit_sm_resp and the same id in decimal in
the receipt, or pad it with zeros (Jasmin #643/#483/#796/#962, Kannel ``msg-id-type``).
:func:`normalize_message_id` gives a canonical spelling and :func:`message_id_keys` the
set of spellings an id may take on the other side; see their docstrings for the rule.

This module does no I/O and reads no clock.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import Any

import msgspec

from engine.errors import DecodeError
from engine.pdu.constants import MessageState

__all__ = [
    "STATE_TO_STAT",
    "STAT_TO_STATE",
    "Receipt",
    "build_receipt_text",
    "is_receipt",
    "message_id_keys",
    "normalize_message_id",
    "parse_receipt_text",
    "receipt_from_pdu",
    "stat_to_state",
    "state_to_stat",
]

STATE_TO_STAT: dict[MessageState, str] = {
    MessageState.ENROUTE: "ENROUTE",
    MessageState.DELIVERED: "DELIVRD",
    MessageState.EXPIRED: "EXPIRED",
    MessageState.DELETED: "DELETED",
    MessageState.UNDELIVERABLE: "UNDELIV",
    MessageState.ACCEPTED: "ACCEPTD",
    MessageState.UNKNOWN: "UNKNOWN",
    MessageState.REJECTED: "REJECTD",
}
"""message_state (§5.2.28) -> the receipt's 7-letter ``stat`` word (Appendix B)."""

STAT_TO_STATE: dict[str, MessageState] = {v: k for k, v in STATE_TO_STAT.items()}
"""``stat`` word -> message_state.  Also reads the spelled-out forms some carriers send."""
STAT_TO_STATE.update(
    {
        "DELIVERED": MessageState.DELIVERED,
        "UNDELIVERABLE": MessageState.UNDELIVERABLE,
        "UNDELIVERED": MessageState.UNDELIVERABLE,
        "ACCEPTED": MessageState.ACCEPTED,
        "REJECTED": MessageState.REJECTED,
        "FAILED": MessageState.UNDELIVERABLE,
    }
)


def stat_to_state(stat: str | None) -> MessageState | None:
    """The MessageState of a receipt ``stat`` word (any case), or None when unknown."""
    if not stat:
        return None
    return STAT_TO_STATE.get(stat.strip().upper())


def state_to_stat(state: int) -> str:
    """The receipt ``stat`` word of a message_state value (``UNKNOWN`` for others)."""
    try:
        return STATE_TO_STAT[MessageState(state)]
    except ValueError:
        return "UNKNOWN"


class Receipt(msgspec.Struct, kw_only=True):
    """One delivery receipt.  Fields the carrier left out are None.

    ``stat`` is upper-cased as sent; ``message_state`` comes from the TLV when present,
    else from ``stat``.  Dates are naive datetimes in the carrier's clock (receipts carry
    no zone).
    """

    message_id: str
    sub: int | None = None
    dlvrd: int | None = None
    submit_date: datetime | None = None
    done_date: datetime | None = None
    stat: str | None = None
    err: str | None = None
    text: str | None = None
    message_state: int | None = None

    @property
    def state(self) -> MessageState | None:
        """message_state as a MessageState, or None."""
        if self.message_state is None:
            return None
        try:
            return MessageState(self.message_state)
        except ValueError:
            return None

    @property
    def is_final(self) -> bool:
        """True for a final state (anything but ENROUTE, ACCEPTED and unknown ones)."""
        return self.state not in (None, MessageState.ENROUTE, MessageState.ACCEPTED)


# A key is one of the Appendix B names, matched case-insensitively, not preceded by a
# letter, digit or underscore (so "receipted_id:" is not "id:"), followed by ':'.
_KEY_RE = re.compile(
    r"(?<![A-Za-z0-9_])(id|sub|dlvrd|submit[ _]?date|done[ _]?date|stat|err|text)\s*:",
    re.IGNORECASE,
)
_DIGITS_RE = re.compile(r"\d+")


def _canonical_key(raw: str) -> str:
    key = raw.lower()
    if key.startswith("submit"):
        return "submit_date"
    if key.startswith("done"):
        return "done_date"
    return key


@lru_cache(maxsize=4096)  # receipts arriving together share their dates; datetime is immutable
def _parse_date(value: str) -> datetime | None:
    """YYMMDDhhmm, YYMMDDhhmmss (years 2000-2099) or YYYYMMDDhhmmss; None when absent or
    impossible."""
    d = value.strip()
    if not (d.isdigit() and d.isascii()):
        d = "".join(_DIGITS_RE.findall(d))
    if len(d) == 14:
        year, d = int(d[:4]), d[4:]
    elif len(d) in (10, 12):
        year, d = 2000 + int(d[:2]), d[2:]
    else:
        return None
    try:
        return datetime(year, int(d[0:2]), int(d[2:4]), int(d[4:6]), int(d[6:8]), int(d[8:10] or 0))
    except ValueError:
        return None


def _parse_int(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.isdigit() and value.isascii() else None


# The Appendix B layout exactly (any key case, any spacing): one match instead of a scan.
_FAST_RE = re.compile(
    r"\s*id:\s*(\S+)\s+sub:\s*(\d*)\s+dlvrd:\s*(\d*)\s+submit date:\s*(\d*)"
    r"\s+done date:\s*(\d*)\s+stat:\s*(\w*)\s+err:\s*(\S*)(?:\s+text:(.*))?\s*\Z",
    re.IGNORECASE | re.DOTALL,
)


def parse_receipt_text(text: str | bytes) -> Receipt:
    """Parse receipt text (SMPP 3.4 Appendix B format and its common variants).

    Keys are matched in any case; missing fields are None; ``text:`` runs to the end.
    Raises :class:`engine.DecodeError` (``field="short_message"``) when no non-empty ``id``
    is found.
    """
    if isinstance(text, bytes | bytearray | memoryview):
        text = bytes(text).decode("latin-1")
    s = text.replace("\x00", " ")
    m = _FAST_RE.match(s)
    if m is None:
        return _parse_tolerant(s)
    mid, sub, dlvrd, submit, done, stat, err, body = m.groups()
    stat = stat.upper() or None
    state = STAT_TO_STATE.get(stat) if stat else None
    return Receipt(
        message_id=mid,
        sub=int(sub) if sub else None,
        dlvrd=int(dlvrd) if dlvrd else None,
        submit_date=_parse_date(submit),
        done_date=_parse_date(done),
        stat=stat,
        err=err or None,
        text=body.strip() if body is not None else None,
        message_state=int(state) if state is not None else None,
    )


def _parse_tolerant(s: str) -> Receipt:
    """Key by key: any order, missing keys, odd spellings."""
    matches = list(_KEY_RE.finditer(s))
    values: dict[str, str] = {}
    for i, m in enumerate(matches):
        key = _canonical_key(m.group(1))
        if key == "text":
            if key not in values:
                values[key] = s[m.end() :].strip()
            break
        end = matches[i + 1].start() if i + 1 < len(matches) else len(s)
        values.setdefault(key, s[m.end() : end].strip())
    mid = values.get("id", "").split()
    if not mid:
        raise DecodeError("the receipt text has no id", field="short_message")
    stat = values.get("stat")
    stat = stat.split()[0].upper() if stat and stat.split() else None
    err = values.get("err")
    state = stat_to_state(stat)
    return Receipt(
        message_id=mid[0],
        sub=_parse_int(values.get("sub", "")),
        dlvrd=_parse_int(values.get("dlvrd", "")),
        submit_date=_parse_date(values.get("submit_date", "")),
        done_date=_parse_date(values.get("done_date", "")),
        stat=stat,
        err=(err.split()[0] if err and err.split() else None),
        text=values.get("text"),
        message_state=int(state) if state is not None else None,
    )


def _format_date(value: datetime | None, seconds: bool) -> str:
    if value is None:
        return "0000000000" + ("00" if seconds else "")
    return value.strftime("%y%m%d%H%M%S" if seconds else "%y%m%d%H%M")


def build_receipt_text(
    message_id: str,
    stat: str | int,
    *,
    sub: int = 1,
    dlvrd: int | None = None,
    submit_date: datetime | None = None,
    done_date: datetime | None = None,
    err: int | str = 0,
    text: str = "",
    seconds: bool = False,
) -> str:
    """Build receipt text in the SMPP 3.4 Appendix B layout.

    ``stat`` is a stat word or a message_state value.  ``dlvrd`` defaults to ``sub`` when
    the state is DELIVRD, else 0.  Dates are YYMMDDhhmm (``seconds=True``: YYMMDDhhmmss).
    ``text`` is cut to its first 20 characters as the appendix says.
    """
    word = state_to_stat(stat) if isinstance(stat, int) else stat.upper()
    if dlvrd is None:
        dlvrd = sub if word == "DELIVRD" else 0
    err_s = f"{err:03d}" if isinstance(err, int) else err
    return (
        f"id:{message_id} sub:{sub:03d} dlvrd:{dlvrd:03d} "
        f"submit date:{_format_date(submit_date, seconds)} "
        f"done date:{_format_date(done_date, seconds)} "
        f"stat:{word} err:{err_s} text:{text[:20]}"
    )


def is_receipt(pdu: Any, *, sniff: bool = True) -> bool:
    """True when a deliver_sm/data_sm is a delivery receipt.

    esm_class message type SMSC delivery receipt (0x04) or intermediate notification
    (0x20) (§5.2.12), or a ``receipted_message_id`` TLV.  With ``sniff`` also a text that
    starts with ``id:`` and holds ``stat:``: some carriers send receipts with esm_class 0
    (Jasmin #1050: receipts arriving as MO).
    """
    if (getattr(pdu, "esm_class", 0) or 0) & 0x3C in (0x04, 0x20):
        return True
    if getattr(pdu, "receipted_message_id", None):
        return True
    if not sniff:
        return False
    body = getattr(pdu, "short_message", b"") or getattr(pdu, "message_payload", b"") or b""
    head = bytes(body[:256]).lower()
    return head.lstrip().startswith(b"id:") and b"stat:" in head


def receipt_from_pdu(pdu: Any) -> Receipt:
    """The receipt a deliver_sm (or data_sm) carries.

    The ``receipted_message_id`` and ``message_state`` TLVs win over the text (they are
    typed and carriers pad the text's id); the text fills in the rest.  The body is
    short_message, or message_payload when short_message is empty; UCS-2 (data_coding 8)
    is decoded as such, anything else as Latin-1 (receipt text is ASCII in practice, and
    GSM 03.38 would misread ``_`` and ``$``).  Raises :class:`engine.DecodeError` when
    neither the TLV nor the text gives an id.
    """
    body = getattr(pdu, "short_message", b"") or getattr(pdu, "message_payload", b"") or b""
    dc = getattr(pdu, "data_coding", 0) or 0
    if dc == 8 and len(body) % 2 == 0:
        text = bytes(body).decode("utf-16-be", "replace")
    else:
        text = bytes(body).decode("latin-1")
    tlv_id = getattr(pdu, "receipted_message_id", None)
    tlv_state = getattr(pdu, "message_state", None)
    try:
        receipt = parse_receipt_text(text)
    except DecodeError:
        if not tlv_id:
            raise DecodeError(
                "the receipt has no receipted_message_id and its text has no id",
                field="receipted_message_id",
            ) from None
        receipt = Receipt(message_id=tlv_id)
    if tlv_id:
        receipt.message_id = tlv_id.strip("\x00 ")
    if tlv_state is not None:
        receipt.message_state = int(tlv_state)
        if receipt.stat is None:
            receipt.stat = state_to_stat(tlv_state)
    return receipt


_HEX_DIGITS = frozenset("0123456789abcdef")
_HEX_ID_CHARS = _HEX_DIGITS | {"-"}
_MAX_NUMERIC_ID = 40  # longer hex/decimal ids are not re-based (no carrier sends them)


def normalize_message_id(mid: str) -> str:
    """The canonical spelling of a carrier message id.

    Rule: strip surrounding whitespace and NULs, and a ``0x``/``0X`` prefix in front of
    hex digits (``"0x1F"`` -> ``"1f"``: some carriers print the prefix on one side only).
    An id made only of hex digits is lower-cased and its leading zeros are stripped
    (``"000A1B"`` -> ``"a1b"``, ``"0"`` stays ``"0"``): carriers pad ids and change case
    between submit_sm_resp and the receipt.  A UUID-like id (hex digits and dashes) is
    lower-cased only.  Any other id is returned as it is, because its case may matter.

    It does not convert between hex and decimal: ``"255"`` cannot be told from hex 0x255.
    Use :func:`message_id_keys` for that.
    """
    s = mid.strip().strip("\x00").strip()
    low = s.lower()
    if len(low) > 2 and low[:2] == "0x" and all(c in _HEX_DIGITS for c in low[2:]):
        return low[2:].lstrip("0") or "0"
    if low and all(c in _HEX_ID_CHARS for c in low):
        if "-" not in low:
            low = low.lstrip("0") or "0"
        return low
    return s


def message_id_keys(mid: str) -> set[str]:
    """Every canonical spelling an id may take on the other side of a hex/decimal mix-up.

    Always the :func:`normalize_message_id` form (so ``"0x1F"``, ``"1f"`` and ``"31"``
    meet); for an id of hex digits also its
    decimal value read as hex (``"1a"`` -> ``"26"``); for an id of decimal digits also its
    hex spelling read as decimal (``"26"`` -> ``"1a"``).  Index a submit_sm_resp id under
    all its keys and look a receipt up by all of its keys: they meet when one side is the
    hex form and the other the decimal form of the same number, whichever side it is
    (Jasmin ``dlr_msgid`` 0/1/2 and Kannel ``msg-id-type`` in one rule).

    The price is ambiguity: an all-digit id also matches the id whose hex spelling equals
    it.  Scope the lookup to the bind and the recent past (ids are unique per carrier
    over a short window), and prefer an exact canonical match when several are found.
    """
    canon = normalize_message_id(mid)
    keys = {canon}
    if 0 < len(canon) <= _MAX_NUMERIC_ID and all(c in _HEX_DIGITS for c in canon):
        keys.add(str(int(canon, 16)))
        if canon.isdigit():
            keys.add(format(int(canon), "x"))
    return keys
