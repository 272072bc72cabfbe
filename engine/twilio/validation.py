"""Create-message validation with Twilio's codes (pure; twilio-compat.md §1.1, §2.1).

``To`` is checked with the ``phonenumbers`` library (a possible number in its country, in
E.164 after normalising; a national number takes the ``From`` number's country), not a
regular expression.  Lookups that need the directory are arguments, so that this module
stays free of I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit

import phonenumbers

from engine.twilio.codes import ApiError
from engine.twilio.params import Form

__all__ = ["MAX_BODY", "MAX_VALIDITY", "CreateMessage", "normalize_to", "validate_create"]

MAX_BODY: Final = 1600
MAX_VALIDITY: Final = 36_000
MAX_CALLBACK: Final = 4000
_UNSUPPORTED: Final = ("MediaUrl", "ContentSid", "MessagingServiceSid", "SendAt")


class CreateMessage(NamedTuple):
    """A create-message request that passed validation."""

    to: str
    from_: str
    body: str
    status_callback: str | None
    validity_period: int | None


def _region_of(number: str) -> str:
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return "US"
    return region or "US"


def normalize_to(to: str, from_: str) -> str:
    """``To`` in E.164; ApiError 21211 when it is not a possible phone number."""
    result = _normalize_cached(to, from_ if not to.startswith("+") else "")
    if result is None:
        raise ApiError(21211, f"The 'To' number {to} is not a valid phone number.")
    return result


@functools.lru_cache(maxsize=65536)
def _normalize_cached(to: str, from_: str) -> str | None:
    # phonenumbers.parse costs tens of microseconds: recipients repeat, so remember them.
    try:
        return _normalize(to, from_)
    except ApiError:
        return None


def _normalize(to: str, from_: str) -> str:
    text = to.strip()
    if not text or len(text) > 32:
        raise ApiError(21211, f"The 'To' number {to} is not a valid phone number.")
    region = None if text.startswith("+") else _region_of(from_)
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise ApiError(21211, f"The 'To' number {to} is not a valid phone number.") from None
    if not phonenumbers.is_possible_number(parsed):
        raise ApiError(21211, f"The 'To' number {to} is not a valid phone number.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def body_length(body: str) -> int:
    """Characters as Twilio counts them for the 1600 limit: UTF-16 code units (an emoji
    outside the BMP counts two)."""
    if body.isascii():
        return len(body)
    return len(body.encode("utf-16-le", "surrogatepass")) // 2


def _callback(url: str | None) -> str | None:
    if url is None or url == "":
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number in 0..65535 raises
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. "http://[x": an unclosed IPv6 literal
        ok = False
    if len(url) > MAX_CALLBACK or not ok:
        raise ApiError(21609, f"The StatusCallback URL {url[:200]} is not a valid URL.")
    return url


def _validity(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        seconds = int(value)
    except ValueError:
        seconds = 0
    if not 1 <= seconds <= MAX_VALIDITY:
        # 21624 is Twilio's "Invalid validity period value".
        raise ApiError(
            21624,
            f"Invalid ValidityPeriod {value[:40]!r}: expected whole seconds 1..{MAX_VALIDITY}",
        )
    return seconds


def validate_create(
    form: Form,
    *,
    owned_number: Callable[[str], Any],
    opted_out: Callable[[str, str], bool],
) -> CreateMessage:
    """Check a create-message form in Twilio's order; ApiError with Twilio's code.

    ``owned_number(from_)`` is the account's number record for ``From`` (None when the
    account does not own it); ``opted_out(from_, to)`` tells whether the recipient sent
    STOP to that sender.
    """
    to = form.first("To")
    if to is None or to == "":
        raise ApiError(21604, "A 'To' phone number is required.")
    for name in _UNSUPPORTED:
        if form.first(name):
            raise ApiError(20001, f"{name} is not supported by this gateway (SMS only).")
    from_ = form.first("From")
    if from_ is None or from_ == "":
        raise ApiError(21603, "A 'From' phone number is required.")
    from_ = from_.strip()
    if from_.startswith("+"):
        # "+1 (415) 555-0100" is the number +14155550100, as Twilio reads it.
        from_ = _normalize_cached(from_, "") or from_
    body = form.first("Body")
    if body is None or body == "":
        raise ApiError(21602, "Message body is required.")
    if body_length(body) > MAX_BODY:
        raise ApiError(
            21617, f"The concatenated message body exceeds the {MAX_BODY} character limit."
        )
    if "\x00" in body:
        raise ApiError(20001, "Invalid Body: it contains a NUL character.")
    status_callback = _callback(form.first("StatusCallback"))
    validity = _validity(form.first("ValidityPeriod"))
    to = normalize_to(to, from_)
    if to == from_:
        raise ApiError(21211, f"The 'To' number {to} is the same as the 'From' number.")
    number = owned_number(from_)
    if number is None or not getattr(number, "sms", False):
        raise ApiError(
            21606,
            f"The From phone number {from_} is not a valid, SMS-capable inbound phone number "
            "or short code for your account.",
        )
    if opted_out(from_, to):
        raise ApiError(21610, "Attempt to send to unsubscribed recipient")
    return CreateMessage(to, from_, body, status_callback, validity)
