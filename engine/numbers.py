"""Phone numbers between the two sides (pure: no I/O, no clock).

The REST side speaks E.164 (``+14155550100``), short codes (``12345``) and alphanumeric
sender ids (``ACME``); SMPP carries digits with a type of number (TON) and a numbering plan
indicator (NPI) beside them (SMPP 3.4 §5.2.5 and §5.2.6).  :func:`to_smpp` and
:func:`from_smpp` convert between the two, so that the dispatcher and the inbound path agree.

The rest is what the number inventory needs from the numbering plan: :func:`normalize_e164`,
:func:`describe` (country, type, place from the ``phonenumbers`` package's metadata and
geocoder) and :func:`friendly_name`.  Vanity letters and ``Contains`` patterns live in
:mod:`engine.vanity`.
"""

from __future__ import annotations

from typing import Final, Literal, NamedTuple

import phonenumbers
from phonenumbers import carrier, geocoder

__all__ = [
    "NUMBER_TYPES",
    "NumberError",
    "NumberFacts",
    "NumberType",
    "SmppAddress",
    "describe",
    "friendly_name",
    "from_smpp",
    "is_short_code",
    "normalize_e164",
    "place_of",
    "split_e164",
    "to_smpp",
]

TON_UNKNOWN: Final = 0
TON_INTERNATIONAL: Final = 1
TON_NETWORK_SPECIFIC: Final = 3
TON_ALPHANUMERIC: Final = 5
NPI_UNKNOWN: Final = 0
NPI_E164: Final = 1


class SmppAddress(NamedTuple):
    """An address as SMPP carries it: (ton, npi, addr)."""

    ton: int
    npi: int
    addr: str


def to_smpp(number: str) -> SmppAddress:
    """The SMPP form of an E.164 number (international, E.164 plan, digits without the
    plus), a short code (network specific) or an alphanumeric sender id (TON 5)."""
    if number.startswith("+") and number[1:].isdigit():
        return SmppAddress(TON_INTERNATIONAL, NPI_E164, number[1:])
    if number.isdigit():
        if len(number) <= 8:  # short codes and other network-specific numbers
            return SmppAddress(TON_NETWORK_SPECIFIC, NPI_UNKNOWN, number)
        return SmppAddress(TON_UNKNOWN, NPI_E164, number)
    return SmppAddress(TON_ALPHANUMERIC, NPI_UNKNOWN, number)


def from_smpp(ton: int, npi: int, addr: str) -> str:
    """The REST form of an SMPP address: ``+digits`` for an international number (or an
    E.164-plan number of 10 or more digits), else the address as it came."""
    if addr.isdigit() and (ton == TON_INTERNATIONAL or (npi == NPI_E164 and len(addr) >= 10)):
        return "+" + addr
    return addr


# ---------------------------------------------------------------------------------------------
# E.164 numbers, their type and place (phonenumbers does the numbering-plan work)
# ---------------------------------------------------------------------------------------------

NumberType = Literal["local", "mobile", "toll-free", "short-code"]
NUMBER_TYPES: Final[tuple[NumberType, ...]] = ("local", "mobile", "toll-free", "short-code")
MAX_NUMBER_INPUT: Final = 32  # longest text accepted as a phone number (E.164 is <= 16)
SHORT_CODE_DIGITS: Final = (3, 8)  # short codes and other network-specific numbers

# US states (with DC and territories that use +1) and Canadian provinces and territories, by
# the names phonenumbers' geocoder uses when it only knows the state ("California").
US_REGIONS: Final[dict[str, str]] = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "Florida": "FL", "Georgia": "GA",
    "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA",
    "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD",
    "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS",
    "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV", "New Hampshire": "NH",
    "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY", "North Carolina": "NC",
    "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR", "Pennsylvania": "PA",
    "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD", "Tennessee": "TN",
    "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA", "Washington": "WA",
    "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY", "Washington D.C.": "DC",
    "Washington State": "WA", "Washington, D.C.": "DC", "District of Columbia": "DC",
    "Puerto Rico": "PR",
}  # fmt: skip
CA_REGIONS: Final[dict[str, str]] = {
    "Alberta": "AB", "British Columbia": "BC", "Manitoba": "MB", "New Brunswick": "NB",
    "Newfoundland and Labrador": "NL", "Newfoundland": "NL", "Nova Scotia": "NS",
    "Ontario": "ON", "Prince Edward Island": "PE", "Quebec": "QC", "Québec": "QC",
    "Saskatchewan": "SK", "Northwest Territories": "NT", "Nunavut": "NU", "Yukon": "YT",
    "Nova Scotia/Prince Edward Island": "NS",
}  # fmt: skip


class NumberError(ValueError):
    """A phone number (or a pattern or range of them) is not acceptable; ``field`` names the
    parameter or column it came from (e.g. ``PhoneNumber``, ``Contains``, ``phone_number``)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class NumberFacts(NamedTuple):
    """What the numbering plan says about one number (see :func:`describe`).

    ``region`` is the 2-letter state or province for US and Canadian numbers (else None);
    ``locality`` the geocoded place when it is finer than the region; ``carrier`` the name
    phonenumbers knows for mobile ranges ('' when it knows none).
    """

    phone_number: str
    iso_country: str | None
    number_type: NumberType | None
    region: str | None
    locality: str | None
    carrier: str


def is_short_code(number: str) -> bool:
    """Whether ``number`` is a short code (3 to 8 digits, no ``+``)."""
    lo, hi = SHORT_CODE_DIGITS
    return number.isascii() and number.isdigit() and lo <= len(number) <= hi


def normalize_e164(text: str, *, field: str = "PhoneNumber", default_region: str = "US") -> str:
    """``text`` as E.164 (``+14155550100``); a national form (``(415) 555-0100``) is read in
    ``default_region``.  Raises :class:`NumberError` naming ``field`` for anything that is not
    a valid number of a known country."""
    if not isinstance(text, str) or not text.strip():
        raise NumberError("is required", field=field)
    if len(text) > MAX_NUMBER_INPUT:
        raise NumberError(f"is longer than {MAX_NUMBER_INPUT} characters", field=field)
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise NumberError(f"{text!r} is not a phone number ({exc._msg})", field=field) from None
    if not phonenumbers.is_valid_number(parsed):
        raise NumberError(f"{text!r} is not a valid phone number", field=field)
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def split_e164(number: str) -> tuple[str, str]:
    """(country calling code, national significant number) of an E.164 number, e.g.
    ``("1", "4155550100")``; a short code is ``("", digits)``.  Raises :class:`NumberError`.

    Country calling codes are prefix-free (ITU-T E.164 §6), so the first 1 to 3 digits
    that are one name it; this does not validate the rest (see :func:`normalize_e164`)."""
    if is_short_code(number):
        return "", number
    digits = number[1:]
    if not (number.startswith("+") and digits.isascii() and digits.isdigit()):
        raise NumberError(f"{number!r} is not in E.164 form (+ and digits)", field="phone_number")
    if len(digits) > 15:
        raise NumberError(f"{number!r} has more than 15 digits", field="phone_number")
    for n in (1, 2, 3):
        if int(digits[:n]) in _COUNTRY_CODES and len(digits) > n:
            return digits[:n], digits[n:]
    raise NumberError(f"{number!r} has no known country code", field="phone_number")


_COUNTRY_CODES: Final = frozenset(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def _type_of(parsed: phonenumbers.PhoneNumber) -> NumberType | None:
    kind = phonenumbers.number_type(parsed)
    if kind == phonenumbers.PhoneNumberType.TOLL_FREE:
        return "toll-free"
    if kind == phonenumbers.PhoneNumberType.MOBILE:
        return "mobile"
    if kind in (
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,  # all of NANP: no mobile ranges
        phonenumbers.PhoneNumberType.VOIP,
        phonenumbers.PhoneNumberType.UAN,
    ):
        return "local"
    return None


def place_of(
    description: str, iso_country: str | None, country_name: str = ""
) -> tuple[str | None, str | None]:
    """(region, locality) from a geocoder description: ``"San Francisco, CA"`` gives
    ``("CA", "San Francisco")``, ``"California"`` gives ``("CA", None)``, ``"London"`` (GB)
    gives ``(None, "London")``; a description that is only ``country_name`` gives no place."""
    if not description or description == country_name:
        return None, None
    if iso_country in ("US", "CA"):
        names = US_REGIONS if iso_country == "US" else CA_REGIONS
        if description in names:
            return names[description], None
        city, sep, state = description.rpartition(", ")
        if sep and len(state) == 2 and state.isupper():
            return state, city
        return None, description
    return None, description


def describe(number: str) -> NumberFacts:
    """The country, type, region, locality and carrier that the numbering plan gives
    ``number`` (E.164, or a short code: US, ``short-code``).  Raises :class:`NumberError`."""
    if is_short_code(number):
        return NumberFacts(number, "US", "short-code", None, None, "")
    e164 = normalize_e164(number, field="phone_number", default_region="ZZ")
    parsed = phonenumbers.parse(e164, None)
    iso = phonenumbers.region_code_for_number(parsed)
    description = geocoder.description_for_number(parsed, "en")
    region, locality = place_of(description, iso, geocoder.country_name_for_number(parsed, "en"))
    return NumberFacts(
        e164, iso, _type_of(parsed), region, locality, carrier.name_for_number(parsed, "en")
    )


def friendly_name(number: str) -> str:
    """Twilio's friendly name: ``(415) 555-0100`` for US and Canadian numbers, the number
    itself otherwise (other countries' numbers and short codes)."""
    if number.startswith("+1") and len(number) == 12 and number[1:].isdigit():
        return f"({number[2:5]}) {number[5:8]}-{number[8:]}"
    return number
