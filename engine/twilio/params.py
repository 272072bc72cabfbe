"""Request parameters as the helper library sends them (pure, twilio-compat.md §1.1, §1.4).

Forms are ``application/x-www-form-urlencoded`` UTF-8 with repeated keys for lists and
lowercase ``true``/``false``; unknown parameters are ignored (Twilio warns with 20001);
``DateSent`` comes as a date or as ``YYYY-MM-DDTHH:MM:SSZ`` (the library sends the latter
even for a date); ``PageSize`` above 1000 is clamped rather than refused.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Final, NamedTuple
from urllib.parse import unquote

from engine.twilio.codes import ApiError

__all__ = [
    "MAX_PAGE_SIZE",
    "DateFilter",
    "Form",
    "parse_bool",
    "parse_date_filter",
    "parse_form",
    "parse_page",
]

MAX_PAGE_SIZE: Final = 1000
DEFAULT_PAGE_SIZE: Final = 50
MAX_FIELDS: Final = 100


class Form(dict[str, list[str]]):
    """Parsed form or query: name -> every value, in order."""

    def first(self, name: str) -> str | None:
        """The first value of ``name`` (None when absent)."""
        values = self.get(name)
        return values[0] if values else None


def _hex_pairs(i: int) -> list[str]:
    h = f"{i:02x}"
    return sorted({a + b for a in {h[0], h[0].upper()} for b in {h[1], h[1].upper()}})


# Every spelling of an ASCII escape ("2b", "2B") -> its character.
_ASCII_ESCAPES: Final[dict[str, str]] = {pair: chr(i) for i in range(128) for pair in _hex_pairs(i)}


def _unquote_plus(text: str) -> str:
    """``urllib.parse.unquote_plus``, with a fast path for ASCII escapes (``%2B``)."""
    if "+" in text:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    first, *rest = text.split("%")
    out = [first]
    for part in rest:
        char = _ASCII_ESCAPES.get(part[:2])
        if char is None:  # UTF-8 or a bad escape: the library's way (U+FFFD for bad bytes)
            return unquote(text)
        out.append(char)
        out.append(part[2:])
    return "".join(out)


def parse_form(body: bytes | str) -> Form:
    """Parse a urlencoded body or query string; ApiError 20001 for a body that is not one
    (not UTF-8, or too many fields).

    The same pairs as ``urllib.parse.parse_qsl(..., keep_blank_values=True)`` (bad
    percent-escapes become U+FFFD), about four times faster: a piece without ``%`` or
    ``+`` is taken as it is (this runs once per created message).
    """
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(20001, "The request body is not UTF-8 form data") from None
    form = Form()
    if not body:
        return form
    if body.count("&") >= MAX_FIELDS:
        raise ApiError(20001, f"Too many parameters (at most {MAX_FIELDS})")
    for piece in body.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        if "%" in name or "+" in name:
            name = _unquote_plus(name)
        if "%" in value or "+" in value:
            value = _unquote_plus(value)
        values = form.get(name)
        if values is None:
            form[name] = [value]
        else:
            values.append(value)
    return form


def parse_bool(name: str, value: str | None, default: bool = False) -> bool:
    """``true``/``false`` (any case); ApiError naming ``name`` otherwise."""
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ApiError(20001, f"Invalid value for {name}: expected true or false, got {value!r}")


class DateFilter(NamedTuple):
    """``DateSent`` filters: one UTC day, or inclusive bounds (epoch seconds)."""

    on: _dt.date | None = None
    after: float | None = None
    before: float | None = None


def _date(name: str, value: str) -> _dt.date:
    text = value.strip()
    try:
        if len(text) >= 10:
            return _dt.date.fromisoformat(text[:10])
    except ValueError:
        pass
    raise ApiError(20001, f"Invalid {name}: expected YYYY-MM-DD, got {value!r}")


def parse_date_filter(query: Mapping[str, list[str]]) -> DateFilter:
    """``DateSent``, ``DateSent<`` (on or before) and ``DateSent>`` (on or after); the
    date part of a datetime is used, as Twilio does."""
    on = after = before = None
    if values := query.get("DateSent"):
        on = _date("DateSent", values[0])
    if values := query.get("DateSent>"):
        day = _date("DateSent>", values[0])
        after = _dt.datetime(day.year, day.month, day.day, tzinfo=_dt.UTC).timestamp()
    if values := query.get("DateSent<"):
        day = _date("DateSent<", values[0])
        end = _dt.datetime(day.year, day.month, day.day, tzinfo=_dt.UTC) + _dt.timedelta(days=1)
        before = end.timestamp() - 1e-6
    return DateFilter(on, after, before)


def parse_page(query: Mapping[str, list[str]]) -> tuple[int, int, str | None]:
    """(page size clamped to 1..1000, page number, page token)."""
    size = DEFAULT_PAGE_SIZE
    if values := query.get("PageSize"):
        try:
            size = int(values[0])
        except ValueError:
            raise ApiError(20001, f"Invalid PageSize {values[0]!r}") from None
        size = max(1, min(size, MAX_PAGE_SIZE))
    number = 0
    if values := query.get("Page"):
        try:
            number = max(0, int(values[0]))
        except ValueError:
            raise ApiError(20001, f"Invalid Page {values[0]!r}") from None
    token = None
    if values := query.get("PageToken"):
        token = values[0][:100]
    return size, number, token
