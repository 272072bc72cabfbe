"""Vanity numbers: keypad letters, Twilio's ``Contains`` pattern, ranking, display (pure).

Twilio's ``AvailablePhoneNumbers`` search takes ``Contains``: 2 to 16 characters of digits,
latin letters and metacharacters (``../shared/reference/twilio-compat.md`` §4.1):

- letters stand for their keypad digit (ITU-T E.161: ABC=2, DEF=3, GHI=4, JKL=5, MNO=6,
  PQRS=7, TUV=8, WXYZ=9), so ``CAKE`` finds numbers containing ``2253``;
- ``*`` is exactly one digit (the classic form, ``510555****``);
- ``%`` is any run of digits, only at either end (where a *contains* search already allows
  anything, so it changes nothing);
- a leading ``+`` anchors the pattern at the start of the number, country code included
  (``+1415``); a trailing ``$`` anchors it at the end (``CAKE$``);
- at least two characters are digits or letters, and ``%`` never touches another
  metacharacter.

An unanchored pattern is searched within the national significant number (NSN: the number
without its country code), so that ``CAKE`` never straddles the country code.

:func:`parse_contains` validates a pattern and :meth:`ContainsPattern.for_country` gives the
form that :mod:`engine.number_index` searches.  Beyond Twilio, results for a pattern with
letters are ranked (:func:`vanity_rank`): the word at the very end of the number
(``+1 415 555 CAKE``) first, then the word starting right after the area code, then the word
anywhere else; :func:`render_match` shows where the word sits (``+1 415 555 [CAKE]``).
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

import phonenumbers

from engine.numbers import NumberError, split_e164

__all__ = [
    "KEYPAD",
    "RANK_BURIED",
    "RANK_END",
    "RANK_SUBSCRIBER_START",
    "ContainsPattern",
    "NsnPattern",
    "keypad_digits",
    "match_span",
    "parse_contains",
    "render_match",
    "subscriber_offset",
    "vanity_rank",
    "vanity_tier",
]

KEYPAD: Final[dict[str, str]] = {
    letter: digit
    for digit, letters in (
        ("2", "ABC"),
        ("3", "DEF"),
        ("4", "GHI"),
        ("5", "JKL"),
        ("6", "MNO"),
        ("7", "PQRS"),
        ("8", "TUV"),
        ("9", "WXYZ"),
    )
    for letter in letters
}
_META: Final = frozenset("*%+$")
CONTAINS_MIN: Final = 2
CONTAINS_MAX: Final = 16

RANK_END: Final = 0  # the word ends the number: +1 415 555 CAKE
RANK_SUBSCRIBER_START: Final = 1  # the word starts right after the area code: +1 415 CAKE 100
RANK_BURIED: Final = 2  # anywhere else


def keypad_digits(text: str, *, field: str = "Contains") -> str:
    """``text`` on a phone keypad: letters (either case) to their E.161 digit, digits kept
    (``"1-800-FLOWERS"`` is not accepted: only digits and letters).  Raises
    :class:`NumberError` naming ``field`` for any other character."""
    out = []
    for ch in text:
        if "0" <= ch <= "9":
            out.append(ch)
        else:
            digit = KEYPAD.get(ch.upper()) if ch.isascii() else None
            if digit is None:
                raise NumberError(f"{ch!r} is neither a digit nor a letter A-Z", field=field)
            out.append(digit)
    return "".join(out)


class NsnPattern(NamedTuple):
    """A ``Contains`` pattern as it applies to the national significant numbers of one
    country: ``body`` is digits and ``*`` (one digit each), ``shown`` is the same length with
    the letters the customer typed (for display), ``start``/``end`` anchor it at the start or
    end of the NSN.  An empty ``body`` (the pattern was only the country code) matches every
    number."""

    body: str
    shown: str
    start: bool
    end: bool

    @property
    def matches_all(self) -> bool:
        """Whether every number of the country matches (the pattern named only the country
        code, e.g. ``+44%``)."""
        return not self.body and not self.end

    def regex(self) -> re.Pattern[str]:
        """The pattern as a regular expression over one NSN (``search`` finds it)."""
        return re.compile(
            ("^" if self.start else "")
            + self.body.replace("*", "[0-9]")
            + ("$" if self.end else "")
        )

    def literal_run(self) -> tuple[int, str]:
        """(offset, digits) of the longest run of literal digits in ``body``, the part an
        index can look up before checking the rest."""
        best = (0, "")
        for m in re.finditer(r"[0-9]+", self.body):
            if len(m.group()) > len(best[1]):
                best = (m.start(), m.group())
        return best


class ContainsPattern(NamedTuple):
    """A validated ``Contains`` pattern (see :func:`parse_contains`).

    ``body``: keypad digits and ``*``, without ``%`` and anchors; ``shown``: the same
    positions with the letters as typed (upper case); ``start``: a leading ``+`` (anchored at
    the start of the number, country code included); ``end``: a trailing ``$``;
    ``has_letters``: whether the customer spelled a word (results are then ranked).
    """

    source: str
    body: str
    shown: str
    start: bool
    end: bool
    has_letters: bool

    def for_country(self, country_code: str) -> NsnPattern | None:
        """The pattern over the NSNs of the country whose calling code is ``country_code``
        (``""`` for short codes): a ``+`` pattern first consumes the country code.  None
        when no number of that country can match."""
        if not self.start:
            return NsnPattern(self.body, self.shown, False, self.end)
        body, shown = self.body, self.shown
        for i, cc_digit in enumerate(country_code):
            if i == len(body):
                # the pattern ended inside the country code (e.g. +35 for +353): every number
                # matches unless it was anchored at the end too
                return None if self.end else NsnPattern("", "", True, False)
            if body[i] != "*" and body[i] != cc_digit:
                return None
        n = len(country_code)
        if n == len(body) and self.end:
            return None  # only the country code, then the end: no number is that short
        return NsnPattern(body[n:], shown[n:], True, self.end)


def parse_contains(text: str) -> ContainsPattern:
    """Validate Twilio's ``Contains`` and return its parsed form.  Raises
    :class:`NumberError` (``field="Contains"``) saying what is wrong."""
    if not isinstance(text, str) or not text:
        raise NumberError("is required and must be a non-empty pattern", field="Contains")
    if not CONTAINS_MIN <= len(text) <= CONTAINS_MAX:
        raise NumberError(
            f"must be {CONTAINS_MIN} to {CONTAINS_MAX} characters (got {len(text)})",
            field="Contains",
        )
    for ch in text:
        if not (ch.isascii() and (ch.isalnum() or ch in _META)):
            raise NumberError(
                f"{ch!r} is not allowed: use digits, letters A-Z and the metacharacters * % + $",
                field="Contains",
            )
    last = len(text) - 1
    for i, ch in enumerate(text):
        if ch == "+" and i != 0:
            raise NumberError("'+' is allowed only as the first character", field="Contains")
        if ch == "$" and i != last:
            raise NumberError("'$' is allowed only as the last character", field="Contains")
        if ch == "%":
            edge = i == 0 or i == last
            if not edge:
                raise NumberError(
                    "'%' is allowed only at the start or the end of the pattern",
                    field="Contains",
                )
            neighbours = text[max(i - 1, 0) : i] + text[i + 1 : i + 2]
            if any(n in _META for n in neighbours):
                raise NumberError("'%' cannot be next to another metacharacter", field="Contains")
    start = text.startswith("+")
    end = text.endswith("$") and len(text) > 1
    core = text.strip("%")
    core = core[1:] if core.startswith("+") else core
    core = core[:-1] if core.endswith("$") else core
    if "%" in core or "+" in core or "$" in core:  # e.g. "+%..." stripped oddly: reject
        raise NumberError("metacharacters are misplaced", field="Contains")
    literal = sum(1 for ch in core if ch != "*")
    if literal < 2:
        raise NumberError(
            "needs at least 2 digits or letters besides the metacharacters", field="Contains"
        )
    body = "".join("*" if ch == "*" else keypad_digits(ch) for ch in core)
    shown = core.upper()
    return ContainsPattern(text, body, shown, start, end, any(ch.isalpha() for ch in core))


def subscriber_offset(country_code: str) -> int | None:
    """Where the subscriber part starts in an NSN (after the area code): 3 in the North
    American plan (+1), None where area codes have no fixed length."""
    return 3 if country_code == "1" else None


def vanity_tier(nsn_length: int, start: int, length: int, sub_offset: int | None) -> int:
    """The rank of a match of ``length`` digits at ``start`` in an NSN of ``nsn_length``:
    :data:`RANK_END`, :data:`RANK_SUBSCRIBER_START` or :data:`RANK_BURIED` (lower first)."""
    if start + length == nsn_length:
        return RANK_END
    if sub_offset is not None and start == sub_offset:
        return RANK_SUBSCRIBER_START
    return RANK_BURIED


def _best_match(phone_number: str, pattern: ContainsPattern) -> tuple[int, int, NsnPattern] | None:
    """(tier, start in the NSN, NSN pattern) of the best-ranked occurrence, or None."""
    cc, nsn = split_e164(phone_number)
    form = pattern.for_country(cc)
    if form is None:
        return None
    if form.matches_all:
        return RANK_BURIED, 0, form
    rx = re.compile(form.body.replace("*", "[0-9]"))
    sub = subscriber_offset(cc)
    best: tuple[int, int, NsnPattern] | None = None
    for pos in range(len(nsn) - len(form.body) + 1):
        if form.start and pos != 0:
            break
        if form.end and pos + len(form.body) != len(nsn):
            continue
        if rx.match(nsn, pos):
            tier = vanity_tier(len(nsn), pos, len(form.body), sub)
            if best is None or tier < best[0]:
                best = (tier, pos, form)
    return best


def vanity_rank(phone_number: str, pattern: ContainsPattern) -> int | None:
    """The rank of ``phone_number`` for ``pattern`` (its best occurrence; lower ranks
    first), or None when it does not match.  This is the reference the index agrees with."""
    best = _best_match(phone_number, pattern)
    return None if best is None else best[0]


def match_span(phone_number: str, pattern: ContainsPattern) -> tuple[int, int] | None:
    """(start, end) in the NSN of the best-ranked occurrence of ``pattern``, or None."""
    best = _best_match(phone_number, pattern)
    if best is None:
        return None
    return best[1], best[1] + len(best[2].body)


def _grouped(phone_number: str) -> str:
    """The number with its usual groups, spaces only: ``+1 415 555 0100``."""
    if not phone_number.startswith("+"):
        return phone_number
    parsed = phonenumbers.parse(phone_number, None)
    text = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return str(text).replace("-", " ")


def render_match(phone_number: str, pattern: ContainsPattern) -> str:
    """``phone_number`` grouped, with the best occurrence of ``pattern`` spelled as typed and
    in brackets: ``+1 415 555 [CAKE]``, ``+1 415 [CAKE] 100``.  A wildcard shows the digit
    it matched.  The number as grouped when the pattern does not occur in it."""
    grouped = _grouped(phone_number)
    best = _best_match(phone_number, pattern)
    if best is None or not best[2].body:
        return grouped
    _, start, form = best
    end = start + len(form.body)
    cc, _nsn = split_e164(phone_number)
    out: list[str] = []
    digit_index = -len(cc)  # digits of the country code come first in the grouped form
    chars = iter(grouped)
    for ch in chars:
        if not ch.isdigit():
            if not (start < digit_index < end):  # no separators inside the word
                out.append(ch)
            continue
        if digit_index == start:
            out.append("[")
        if start <= digit_index < end:
            typed = form.shown[digit_index - start]
            out.append(ch if typed == "*" else typed)
        else:
            out.append(ch)
        digit_index += 1
        if digit_index == end:
            out.append("]")
    return "".join(out)
