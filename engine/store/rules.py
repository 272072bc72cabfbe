"""The store's rules as pure functions: input bounds and legal status transitions.

Every backend calls these, so the rules are the same whichever database keeps the rows.
This module does no I/O and reads no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from engine.errors import StoreError
from engine.receipts import normalize_message_id
from engine.store.base import DIRECTIONS, NewMessage

__all__ = [
    "MAX_ACCOUNT_SID",
    "MAX_BODY",
    "MAX_CARRIER_ID",
    "MAX_ERROR_MESSAGE",
    "MAX_LINK",
    "MAX_NUMBER",
    "MAX_PARTS",
    "MAX_SEGMENTS",
    "MAX_STATUS_CALLBACK",
    "MAX_TO",
    "MAX_VALIDITY",
    "check_carrier_id",
    "check_carrier_ids",
    "check_error",
    "check_link",
    "check_new_message",
    "check_text",
    "check_transition",
    "part_receipt_target",
    "receipt_target",
]

MAX_BODY: Final = 1600  # characters; Twilio 21617
MAX_ACCOUNT_SID: Final = 64
MAX_NUMBER: Final = 64  # E.164 is 16 with '+'; room for short codes, alphanumerics, prefixes
MAX_STATUS_CALLBACK: Final = 4000  # Twilio 21609
# destination_addr is a C-Octet String of at most 21 octets with its NUL (SMPP 3.4 §4.4.1):
# a To that cannot be submitted is refused at accept, not at encode time
MAX_TO: Final = 20  # octets
MAX_SEGMENTS: Final = 255  # the concat UDH counts parts in one octet (GSM 03.40 9.2.3.24.1)
MAX_MEDIA: Final = 10  # Twilio 21623
MAX_VALIDITY: Final = 14 * 86400  # seconds; the API narrows it to Twilio's own range
MAX_CARRIER_ID: Final = 65  # submit_sm_resp message_id is a C-Octet String of up to 65 (4.4.2)
MAX_LINK: Final = 128
MAX_ERROR_MESSAGE: Final = 1024
MAX_ERROR_CODE: Final = 99999
MAX_PARTS: Final = MAX_SEGMENTS  # submit_sm parts of one attempt (one per concat segment)

_PART_FAILURES: Final = frozenset({"undelivered", "failed"})

# Allowed status changes made by the dispatcher (mark_*/requeue).  A repeat of the current
# status is an idempotent no-op, except sending -> sending, which counts a new attempt.
_TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "accepted": frozenset({"queued", "failed", "canceled"}),
    "queued": frozenset({"sending", "failed", "canceled"}),
    "sending": frozenset({"sending", "sent", "failed", "queued"}),
    "sent": frozenset({"failed"}),
}

# Receipts are the carrier's word on what happened, so they may land on a message the
# dispatcher still sees as queued or sending (a copy sent before a crash, a receipt that
# overtook the submit_sm_resp).  A copy that was delivered wins over one that was not.
_RECEIPT_FROM: Final[dict[str, frozenset[str]]] = {
    "delivered": frozenset({"queued", "sending", "sent", "undelivered"}),
    "undelivered": frozenset({"queued", "sending", "sent"}),
    "failed": frozenset({"queued", "sending", "sent"}),
}


def check_text(field: str, value: object, limit: int, *, optional: bool = False) -> None:
    """Raise StoreError naming ``field`` unless ``value`` is a str of at most ``limit``
    characters that UTF-8 can encode (no lone surrogates).  Empty is allowed; ``None``
    only when ``optional``."""
    if value is None and optional:
        return
    if type(value) is not str:
        raise StoreError(f"{field}: expected a string, got {type(value).__name__}", field=field)
    if len(value) > limit:
        raise StoreError(f"{field}: longer than {limit} characters ({len(value)})", field=field)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise StoreError(f"{field}: not valid Unicode text", field=field) from None


def _check_int(field: str, value: object, low: int, high: int) -> None:
    if type(value) is not int or not low <= value <= high:
        raise StoreError(
            f"{field}: expected an integer in {low}..{high}, got {value!r}", field=field
        )


def _check_address(field: str, value: str, limit: int) -> None:
    # an SMPP address field (C-Octet String, SMPP 3.4 §4.4.1): not empty, no NUL inside,
    # at most ``limit`` octets before the terminating NUL
    if not value:
        raise StoreError(f"{field}: empty", field=field)
    if "\x00" in value:
        raise StoreError(f"{field}: contains a NUL character", field=field)
    size = len(value.encode("utf-8"))
    if size > limit:
        raise StoreError(
            f"{field}: longer than an SMPP address carries ({size} octets, at most {limit})",
            field=field,
        )


def check_new_message(m: NewMessage) -> None:
    """Raise StoreError naming the first field of ``m`` that is out of bounds."""
    # The common case in one expression (this runs once per accepted message); anything
    # else takes the field-by-field path below, which names what is wrong.
    a, f, t, b, n = m.account_sid, m.from_, m.to, m.body, m.num_segments
    cb, vp = m.status_callback, m.validity_period
    if (
        type(a) is str
        and 0 < len(a) <= MAX_ACCOUNT_SID
        and a.isascii()
        and type(f) is str
        and len(f) <= MAX_NUMBER
        and f.isascii()
        and type(t) is str
        and 0 < len(t) <= MAX_TO
        and t.isascii()
        and "\x00" not in t
        and type(b) is str
        and len(b) <= MAX_BODY
        and b.isascii()
        and "\x00" not in b
        and type(n) is int
        and 0 <= n <= MAX_SEGMENTS
        and m.num_media == 0
        and m.direction in DIRECTIONS
        and (cb is None or (type(cb) is str and len(cb) <= MAX_STATUS_CALLBACK and cb.isascii()))
        and (vp is None or (type(vp) is int and 0 < vp <= MAX_VALIDITY))
    ):
        return
    check_text("account_sid", m.account_sid, MAX_ACCOUNT_SID)
    if not m.account_sid:
        raise StoreError("account_sid: empty", field="account_sid")
    check_text("from_", m.from_, MAX_NUMBER)
    check_text("to", m.to, MAX_NUMBER)
    _check_address("to", m.to, MAX_TO)
    check_text("body", m.body, MAX_BODY)
    if "\x00" in m.body:
        # a C string ends at NUL: the SMSC would cut the text there, or the codec refuses it
        raise StoreError("body: contains a NUL character", field="body")
    if m.direction not in DIRECTIONS:
        raise StoreError(f"direction: unknown {m.direction!r}", field="direction")
    _check_int("num_segments", m.num_segments, 0, MAX_SEGMENTS)
    _check_int("num_media", m.num_media, 0, MAX_MEDIA)
    if m.status_callback is not None:
        check_text("status_callback", m.status_callback, MAX_STATUS_CALLBACK)
    if m.validity_period is not None:
        _check_int("validity_period", m.validity_period, 1, MAX_VALIDITY)


def check_carrier_id(value: object) -> None:
    """Raise StoreError unless ``value`` is a non-empty carrier message id of bounded size."""
    check_text("carrier_message_id", value, MAX_CARRIER_ID)
    if not value:
        raise StoreError("carrier_message_id: empty", field="carrier_message_id")


def check_carrier_ids(value: object) -> tuple[str, ...]:
    """The carrier ids of one attempt's parts, in part order: a str is one part, a sequence
    of 1..MAX_PARTS distinct ids is several.  StoreError naming ``carrier_message_id``
    otherwise (two parts with the same id could not tell their receipts apart)."""
    if type(value) is str:
        check_carrier_id(value)
        return (value,)
    if not isinstance(value, Sequence) or isinstance(value, (bytes, bytearray)):
        raise StoreError(
            "carrier_message_id: expected a string or a sequence of strings, "
            f"got {type(value).__name__}",
            field="carrier_message_id",
        )
    ids = tuple(value)
    if not 0 < len(ids) <= MAX_PARTS:
        raise StoreError(
            f"carrier_message_id: expected 1..{MAX_PARTS} part ids, got {len(ids)}",
            field="carrier_message_id",
        )
    for carrier_id in ids:
        check_carrier_id(carrier_id)
    if len({normalize_message_id(c) for c in ids}) != len(ids):
        raise StoreError(
            "carrier_message_id: two parts have the same carrier id", field="carrier_message_id"
        )
    return ids


def check_link(value: object) -> None:
    """Raise StoreError unless ``value`` is a carrier bind id of bounded size."""
    check_text("link", value, MAX_LINK)


def check_error(error_code: object, error_message: object, *, optional: bool = False) -> None:
    """Raise StoreError unless the Twilio error code and message are in bounds."""
    if not (optional and error_code is None):
        _check_int("error_code", error_code, 0, MAX_ERROR_CODE)
    check_text("error_message", error_message, MAX_ERROR_MESSAGE, optional=True)


def check_transition(sid: str, current: str, new: str) -> bool:
    """True when ``current`` -> ``new`` changes the message, False for an idempotent repeat;
    StoreError when the change is illegal (e.g. ``delivered`` -> ``queued``)."""
    if new in _TRANSITIONS.get(current, ()):
        return True
    if new == current:
        return False
    raise StoreError(f"{sid}: illegal status change {current} -> {new}")


def receipt_target(current: str, status: str) -> str | None:
    """The status a receipt saying ``status`` gives a message now ``current``; None when the
    receipt changes nothing (a repeat, an intermediate receipt, or a final status that
    stands, e.g. ``delivered`` stays when a duplicate copy's receipt says undelivered)."""
    if current in _RECEIPT_FROM.get(status, ()):
        return status
    return None


def part_receipt_target(
    current: str, outcomes: Sequence[str | None], part: int, status: str
) -> str | None:
    """The status a receipt for one part of a multipart attempt gives a message now
    ``current``; None when the message keeps its status.

    ``outcomes`` holds what every part of that attempt reported before this receipt (None:
    nothing yet), in part order; ``part`` is the receipt's index in it.  The message fails
    with the first part that fails (a later ``delivered`` for another part does not undo
    it: the reader got a hole in the text), and is delivered only when every part is.  A
    part that already reported, and an intermediate ``sent``, change nothing.  What the
    message may move from is :func:`receipt_target`'s rule (a copy from another attempt
    that was delivered stands).
    """
    if status not in ("delivered", "undelivered", "failed") or outcomes[part] is not None:
        return None
    if any(o in _PART_FAILURES for o in outcomes):
        return None  # the first failure stands
    if status == "delivered" and not all(
        o == "delivered" for i, o in enumerate(outcomes) if i != part
    ):
        return None
    return receipt_target(current, status)
