"""The number inventory as plain records, and the embedded default one (pure: no I/O).

:class:`InventoryNumber` is one number the gateway can offer: its type, country, place
(region, locality, postal code, rate center, LATA, latitude and longitude, as Twilio's
``AvailablePhoneNumbers`` shows them), capabilities, and optionally its own rate and the
carrier link that serves it.  The directory store loads these; :mod:`engine.number_index`
searches them.

:func:`generate` makes the embedded default inventory, deterministically from a seed: local
numbers over the US and Canadian area codes of a small built-in table of real places
(localities refined by ``phonenumbers``' geocoder where it knows the exchange), toll-free
numbers (800, 833, 844, 855, 866, 877, 888), US short codes, and local and mobile numbers in
GB, DE and AU.  Places are plausible, not authoritative: coordinates and postal codes of
places the table does not list are derived from the area code's main place.

:func:`read_csv` and :func:`records_for_range` turn an operator's file or E.164 range into
records (``smpp-engine numbers import``), filling what a row leaves out from the numbering
plan, and reporting every bad row by line (:class:`InventoryImportError`): all or nothing.
"""

from __future__ import annotations

import csv
import io
import random
import re
import zlib
from collections.abc import Callable, Container, Iterable, Sequence
from functools import lru_cache
from typing import Final, NamedTuple

import msgspec
import phonenumbers

from engine.numbers import (
    NUMBER_TYPES,
    NumberError,
    NumberType,
    describe,
    friendly_name,
    is_short_code,
    normalize_e164,
)

__all__ = [
    "CSV_COLUMNS",
    "DEFAULT_COUNT",
    "DEFAULT_SEED",
    "ImportProblem",
    "InventoryImportError",
    "InventoryNumber",
    "available_json",
    "expand_range",
    "generate",
    "read_csv",
    "record_for",
    "records_for_range",
    "write_csv",
]

DEFAULT_SEED: Final = 8
DEFAULT_COUNT: Final = 50_000
MAX_FIELD: Final = 64  # longest value of any CSV field
MAX_IMPORT_ROWS: Final = 1_000_000
MAX_RANGE: Final = 100_000
MAX_PROBLEMS: Final = 200  # problems listed in one error (the count says how many more)
MAX_RATE: Final = 10_000.0  # segments per second
TOLL_FREE_NPAS: Final = ("800", "833", "844", "855", "866", "877", "888")


class InventoryNumber(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One number of the inventory.

    ``phone_number`` is E.164 (``+14155550100``) or, for a short code, its digits
    (``"72345"``).  ``region`` is the 2-letter state or province (US and Canada);
    ``latitude``/``longitude`` are degrees (US and Canada only, like Twilio).  ``sms``,
    ``mms``, ``voice`` are its capabilities.  ``rate`` (segments per second) replaces its
    tier's rate when set; ``link`` names the carrier link that serves it.
    """

    phone_number: str
    number_type: NumberType
    iso_country: str
    region: str | None = None
    locality: str | None = None
    postal_code: str | None = None
    rate_center: str | None = None
    lata: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    sms: bool = True
    mms: bool = False
    voice: bool = True
    rate: float | None = None
    link: str | None = None


# ---------------------------------------------------------------------------------------------
# Places
# ---------------------------------------------------------------------------------------------

# (area code, region, main place, postal code, latitude, longitude, LATA).  Real places and
# coordinates; LATAs are plausible (Canada has none).
_NANP_PLACES: Final[tuple[tuple[str, str, str, str, float, float, str | None], ...]] = (
    ("201", "NJ", "Jersey City", "07302", 40.7178, -74.0431, "224"),
    ("202", "DC", "Washington", "20001", 38.9072, -77.0369, "236"),
    ("203", "CT", "New Haven", "06510", 41.3083, -72.9279, "920"),
    ("205", "AL", "Birmingham", "35203", 33.5186, -86.8104, "476"),
    ("206", "WA", "Seattle", "98101", 47.6062, -122.3321, "674"),
    ("207", "ME", "Portland", "04101", 43.6591, -70.2568, "120"),
    ("208", "ID", "Boise", "83702", 43.6150, -116.2023, "652"),
    ("210", "TX", "San Antonio", "78205", 29.4241, -98.4936, "566"),
    ("212", "NY", "New York", "10001", 40.7128, -74.0060, "132"),
    ("213", "CA", "Los Angeles", "90012", 34.0522, -118.2437, "730"),
    ("214", "TX", "Dallas", "75201", 32.7767, -96.7970, "552"),
    ("215", "PA", "Philadelphia", "19103", 39.9526, -75.1652, "228"),
    ("216", "OH", "Cleveland", "44113", 41.4993, -81.6944, "320"),
    ("217", "IL", "Springfield", "62701", 39.7817, -89.6501, "362"),
    ("239", "FL", "Fort Myers", "33901", 26.6406, -81.8723, "939"),
    ("240", "MD", "Germantown", "20874", 39.1732, -77.2717, "238"),
    ("248", "MI", "Troy", "48084", 42.6064, -83.1498, "340"),
    ("251", "AL", "Mobile", "36602", 30.6954, -88.0399, "480"),
    ("253", "WA", "Tacoma", "98402", 47.2529, -122.4443, "674"),
    ("262", "WI", "Waukesha", "53186", 43.0117, -88.2315, "356"),
    ("267", "PA", "Philadelphia", "19107", 39.9526, -75.1652, "228"),
    ("281", "TX", "Houston", "77002", 29.7604, -95.3698, "560"),
    ("301", "MD", "Silver Spring", "20910", 38.9907, -77.0261, "238"),
    ("302", "DE", "Wilmington", "19801", 39.7391, -75.5398, "228"),
    ("303", "CO", "Denver", "80202", 39.7392, -104.9903, "656"),
    ("305", "FL", "Miami", "33130", 25.7617, -80.1918, "460"),
    ("307", "WY", "Cheyenne", "82001", 41.1400, -104.8202, "654"),
    ("310", "CA", "Santa Monica", "90401", 34.0195, -118.4912, "730"),
    ("312", "IL", "Chicago", "60602", 41.8781, -87.6298, "358"),
    ("313", "MI", "Detroit", "48226", 42.3314, -83.0458, "340"),
    ("314", "MO", "St. Louis", "63101", 38.6270, -90.1994, "520"),
    ("316", "KS", "Wichita", "67202", 37.6872, -97.3301, "532"),
    ("317", "IN", "Indianapolis", "46204", 39.7684, -86.1581, "336"),
    ("319", "IA", "Cedar Rapids", "52401", 41.9779, -91.6656, "635"),
    ("323", "CA", "Los Angeles", "90028", 34.0983, -118.3267, "730"),
    ("330", "OH", "Akron", "44308", 41.0814, -81.5190, "320"),
    ("336", "NC", "Greensboro", "27401", 36.0726, -79.7920, "422"),
    ("347", "NY", "Brooklyn", "11201", 40.6782, -73.9442, "132"),
    ("352", "FL", "Gainesville", "32601", 29.6516, -82.3248, "954"),
    ("360", "WA", "Olympia", "98501", 47.0379, -122.9007, "672"),
    ("385", "UT", "Salt Lake City", "84111", 40.7608, -111.8910, "660"),
    ("401", "RI", "Providence", "02903", 41.8240, -71.4128, "120"),
    ("402", "NE", "Omaha", "68102", 41.2565, -95.9345, "644"),
    ("404", "GA", "Atlanta", "30303", 33.7490, -84.3880, "438"),
    ("405", "OK", "Oklahoma City", "73102", 35.4676, -97.5164, "536"),
    ("406", "MT", "Billings", "59101", 45.7833, -108.5007, "648"),
    ("407", "FL", "Orlando", "32801", 28.5383, -81.3792, "458"),
    ("408", "CA", "San Jose", "95113", 37.3382, -121.8863, "722"),
    ("410", "MD", "Baltimore", "21202", 39.2904, -76.6122, "238"),
    ("412", "PA", "Pittsburgh", "15222", 40.4406, -79.9959, "234"),
    ("414", "WI", "Milwaukee", "53202", 43.0389, -87.9065, "356"),
    ("415", "CA", "San Francisco", "94102", 37.7749, -122.4194, "722"),
    ("417", "MO", "Springfield", "65806", 37.2090, -93.2923, "524"),
    ("425", "WA", "Bellevue", "98004", 47.6101, -122.2015, "674"),
    ("501", "AR", "Little Rock", "72201", 34.7465, -92.2896, "528"),
    ("502", "KY", "Louisville", "40202", 38.2527, -85.7585, "462"),
    ("503", "OR", "Portland", "97204", 45.5152, -122.6784, "672"),
    ("504", "LA", "New Orleans", "70112", 29.9511, -90.0715, "490"),
    ("505", "NM", "Albuquerque", "87102", 35.0844, -106.6504, "664"),
    ("507", "MN", "Rochester", "55902", 44.0121, -92.4802, "620"),
    ("510", "CA", "Oakland", "94612", 37.8044, -122.2712, "722"),
    ("512", "TX", "Austin", "78701", 30.2672, -97.7431, "558"),
    ("513", "OH", "Cincinnati", "45202", 39.1031, -84.5120, "922"),
    ("515", "IA", "Des Moines", "50309", 41.5868, -93.6250, "632"),
    ("520", "AZ", "Tucson", "85701", 32.2226, -110.9747, "668"),
    ("601", "MS", "Jackson", "39201", 32.2988, -90.1848, "486"),
    ("602", "AZ", "Phoenix", "85004", 33.4484, -112.0740, "666"),
    ("603", "NH", "Manchester", "03101", 42.9956, -71.4548, "122"),
    ("605", "SD", "Sioux Falls", "57104", 43.5446, -96.7311, "640"),
    ("608", "WI", "Madison", "53703", 43.0731, -89.4012, "354"),
    ("612", "MN", "Minneapolis", "55401", 44.9778, -93.2650, "628"),
    ("614", "OH", "Columbus", "43215", 39.9612, -82.9988, "324"),
    ("615", "TN", "Nashville", "37203", 36.1627, -86.7816, "470"),
    ("617", "MA", "Boston", "02108", 42.3601, -71.0589, "128"),
    ("619", "CA", "San Diego", "92101", 32.7157, -117.1611, "732"),
    ("626", "CA", "Pasadena", "91101", 34.1478, -118.1445, "730"),
    ("646", "NY", "New York", "10011", 40.7411, -73.9897, "132"),
    ("650", "CA", "Palo Alto", "94301", 37.4419, -122.1430, "722"),
    ("651", "MN", "St. Paul", "55102", 44.9537, -93.0900, "628"),
    ("678", "GA", "Marietta", "30060", 33.9526, -84.5499, "438"),
    ("701", "ND", "Fargo", "58102", 46.8772, -96.7898, "636"),
    ("702", "NV", "Las Vegas", "89101", 36.1699, -115.1398, "721"),
    ("704", "NC", "Charlotte", "28202", 35.2271, -80.8431, "420"),
    ("713", "TX", "Houston", "77002", 29.7604, -95.3698, "560"),
    ("716", "NY", "Buffalo", "14202", 42.8864, -78.8784, "136"),
    ("717", "PA", "Harrisburg", "17101", 40.2732, -76.8867, "226"),
    ("718", "NY", "Brooklyn", "11201", 40.6782, -73.9442, "132"),
    ("720", "CO", "Denver", "80202", 39.7392, -104.9903, "656"),
    ("801", "UT", "Salt Lake City", "84111", 40.7608, -111.8910, "660"),
    ("802", "VT", "Burlington", "05401", 44.4759, -73.2121, "124"),
    ("803", "SC", "Columbia", "29201", 34.0007, -81.0348, "434"),
    ("804", "VA", "Richmond", "23219", 37.5407, -77.4360, "248"),
    ("808", "HI", "Honolulu", "96813", 21.3069, -157.8583, "834"),
    ("813", "FL", "Tampa", "33602", 27.9506, -82.4572, "952"),
    ("816", "MO", "Kansas City", "64105", 39.0997, -94.5786, "524"),
    ("817", "TX", "Fort Worth", "76102", 32.7555, -97.3308, "552"),
    ("843", "SC", "Charleston", "29401", 32.7765, -79.9311, "432"),
    ("857", "MA", "Boston", "02110", 42.3601, -71.0589, "128"),
    ("901", "TN", "Memphis", "38103", 35.1495, -90.0490, "468"),
    ("907", "AK", "Anchorage", "99501", 61.2181, -149.9003, "832"),
    ("916", "CA", "Sacramento", "95814", 38.5816, -121.4944, "726"),
    ("917", "NY", "New York", "10001", 40.7128, -74.0060, "132"),
    ("919", "NC", "Raleigh", "27601", 35.7796, -78.6382, "426"),
    ("949", "CA", "Irvine", "92614", 33.6846, -117.8265, "730"),
    ("971", "OR", "Portland", "97204", 45.5152, -122.6784, "672"),
    ("972", "TX", "Dallas", "75201", 32.7767, -96.7970, "552"),
    ("984", "NC", "Raleigh", "27601", 35.7796, -78.6382, "426"),
    ("204", "MB", "Winnipeg", "R3C 0A5", 49.8951, -97.1384, None),
    ("236", "BC", "Vancouver", "V6B 1A1", 49.2827, -123.1207, None),
    ("250", "BC", "Victoria", "V8W 1A1", 48.4284, -123.3656, None),
    ("289", "ON", "Hamilton", "L8P 4R5", 43.2557, -79.8711, None),
    ("306", "SK", "Regina", "S4P 3Y2", 50.4452, -104.6189, None),
    ("343", "ON", "Ottawa", "K1P 1J1", 45.4215, -75.6972, None),
    ("403", "AB", "Calgary", "T2P 2M5", 51.0447, -114.0719, None),
    ("416", "ON", "Toronto", "M5H 2N2", 43.6532, -79.3832, None),
    ("418", "QC", "Quebec City", "G1R 4P5", 46.8139, -71.2080, None),
    ("438", "QC", "Montreal", "H3B 1A7", 45.5017, -73.5673, None),
    ("450", "QC", "Laval", "H7N 5H9", 45.5369, -73.7510, None),
    ("506", "NB", "Moncton", "E1C 4M3", 46.0878, -64.7782, None),
    ("514", "QC", "Montreal", "H2Y 1C6", 45.5017, -73.5673, None),
    ("519", "ON", "London", "N6A 3N7", 42.9849, -81.2453, None),
    ("587", "AB", "Edmonton", "T5J 0N3", 53.5461, -113.4938, None),
    ("604", "BC", "Vancouver", "V6C 1A1", 49.2827, -123.1207, None),
    ("613", "ON", "Ottawa", "K1P 5J2", 45.4215, -75.6972, None),
    ("647", "ON", "Toronto", "M5V 2T6", 43.6532, -79.3832, None),
    ("705", "ON", "Sudbury", "P3E 1H1", 46.4917, -80.9930, None),
    ("709", "NL", "St. John's", "A1C 1G6", 47.5615, -52.7126, None),
    ("778", "BC", "Burnaby", "V5H 4M1", 49.2488, -122.9805, None),
    ("780", "AB", "Edmonton", "T5J 2R7", 53.5461, -113.4938, None),
    ("902", "NS", "Halifax", "B3J 1S9", 44.6488, -63.5752, None),
    ("905", "ON", "Mississauga", "L5B 3C2", 43.5890, -79.6441, None),
)  # fmt: skip

# Other countries: (NSN prefix, total NSN length, type).  phonenumbers names the place.
_OTHER_RANGES: Final[dict[str, tuple[tuple[str, int, NumberType], ...]]] = {
    "GB": (
        ("207", 10, "local"), ("203", 10, "local"), ("161", 10, "local"),
        ("121", 10, "local"), ("131", 10, "local"), ("141", 10, "local"),
        ("113", 10, "local"), ("117", 10, "local"),
        ("74", 10, "mobile"), ("75", 10, "mobile"), ("77", 10, "mobile"),
        ("78", 10, "mobile"), ("79", 10, "mobile"),
    ),
    "DE": (
        ("30", 10, "local"), ("89", 10, "local"), ("40", 10, "local"), ("69", 10, "local"),
        ("221", 10, "local"),
        ("151", 11, "mobile"), ("160", 10, "mobile"), ("170", 10, "mobile"),
        ("176", 11, "mobile"),
    ),
    "AU": (
        ("29", 9, "local"), ("39", 9, "local"), ("73", 9, "local"), ("89", 9, "local"),
        ("40", 9, "mobile"), ("41", 9, "mobile"), ("42", 9, "mobile"), ("43", 9, "mobile"),
    ),
}  # fmt: skip

# Share of the default inventory by kind (the rest is US local).
_SHARES: Final = {"CA": 0.14, "toll-free": 0.08, "GB": 0.03, "DE": 0.02, "AU": 0.02, "sc": 0.01}


class _Place(NamedTuple):
    region: str
    locality: str
    postal_code: str
    rate_center: str
    lata: str | None
    latitude: float
    longitude: float


def _rate_center(locality: str) -> str:
    """Twilio-style rate center: the locality in capitals, at most 10 characters."""
    return locality.upper()[:10].rstrip()


def _jitter(name: str, spread: float) -> tuple[float, float]:
    """A stable offset (degrees) for a place the table does not list, from its name."""
    h = zlib.crc32(name.encode())
    return ((h & 0xFFFF) / 0xFFFF - 0.5) * spread, ((h >> 16) / 0xFFFF - 0.5) * spread


@lru_cache(maxsize=512)
def _exchanges(npa: str) -> tuple[tuple[str, _Place], ...]:
    """Exchanges (NXX) of an area code with the place of each: a sample of exchanges is
    geocoded; an exchange whose locality the geocoder knows gets that locality (coordinates
    and postal code near the area code's main place), the others the main place."""
    row = next(r for r in _NANP_PLACES if r[0] == npa)
    _, region, main, postal, lat, lon, lata = row
    rng = random.Random(int(npa))
    candidates = [n for n in range(200, 1000) if n % 100 != 11]  # N11 codes are services
    out: list[tuple[str, _Place]] = []
    for nxx in sorted(rng.sample(candidates, 24)):  # 24 of ~790: enough places, quickly
        parsed = phonenumbers.parse(f"+1{npa}{nxx}4567")
        if not phonenumbers.is_valid_number(parsed):
            continue
        facts = describe(f"+1{npa}{nxx}4567")
        if facts.region not in (None, region):
            continue  # an area code over two provinces (902: NS and PE): keep the table's
        locality = facts.locality or main
        if locality == main:
            place = _Place(region, main, postal, _rate_center(main), lata, lat, lon)
        else:
            dlat, dlon = _jitter(locality, 0.6)
            h = zlib.crc32(locality.encode()) % 100
            code = f"{postal[:3]}{h:02d}" if postal[:5].isdigit() else postal
            place = _Place(
                region,
                locality,
                code,
                _rate_center(locality),
                lata,
                round(lat + dlat, 6),
                round(lon + dlon, 6),
            )
        out.append((f"{nxx:03d}", place))
    if not out:  # the geocoder knew none of them: the main place for a plausible exchange
        out.append(("555", _Place(region, main, postal, _rate_center(main), lata, lat, lon)))
    return tuple(out)


def _nanp_iso(npa: str) -> str:
    parsed = phonenumbers.parse(f"+1{npa}2345678")
    return str(phonenumbers.region_code_for_number(parsed) or "US")


@lru_cache(maxsize=1)
def _nanp_by_country() -> dict[str, tuple[str, ...]]:
    by: dict[str, list[str]] = {"US": [], "CA": []}
    for row in _NANP_PLACES:
        by["CA" if _nanp_iso(row[0]) == "CA" else "US"].append(row[0])
    return {k: tuple(v) for k, v in by.items()}


def _capabilities(rng: random.Random, number_type: NumberType) -> tuple[bool, bool, bool]:
    """(sms, mms, voice): most numbers do all three; some do less, so filters matter."""
    roll = rng.random()
    if number_type == "short-code":
        return True, roll < 0.5, False
    if number_type == "toll-free":
        return True, roll >= 0.1, True
    if number_type == "mobile":
        return True, roll >= 0.3, True
    if roll < 0.05:
        return False, False, True  # voice only
    if roll < 0.12:
        return True, False, True  # no MMS
    if roll < 0.15:
        return True, True, False  # messaging only
    return True, True, True


def generate(seed: int = DEFAULT_SEED, count: int = DEFAULT_COUNT) -> list[InventoryNumber]:
    """The embedded default inventory: ``count`` distinct numbers, the same for the same
    ``seed`` (about 70% US local, 14% Canadian local, 8% toll-free, 7% GB/DE/AU local and
    mobile, 1% US short codes)."""
    if not 0 <= count <= 10_000_000:
        raise ValueError(f"count: {count} is out of range (0 to 10,000,000)")
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[InventoryNumber] = []
    n_sc = min(int(count * _SHARES["sc"]), 900_000)
    n_tf = int(count * _SHARES["toll-free"])
    n_ca = int(count * _SHARES["CA"])
    n_other = {c: int(count * _SHARES[c]) for c in ("GB", "DE", "AU")}
    n_us = count - n_sc - n_tf - n_ca - sum(n_other.values())
    by_country = _nanp_by_country()
    for iso, n in (("US", n_us), ("CA", n_ca)):
        npas = by_country[iso]
        exchanges = {npa: _exchanges(npa) for npa in npas}
        made = 0
        while made < n:
            npa = npas[rng.randrange(len(npas))]
            nxx, place = exchanges[npa][rng.randrange(len(exchanges[npa]))]
            number = f"+1{npa}{nxx}{rng.randrange(10_000):04d}"
            if number in seen:
                continue
            seen.add(number)
            sms, mms, voice = _capabilities(rng, "local")
            out.append(
                InventoryNumber(
                    phone_number=number,
                    number_type="local",
                    iso_country=iso,
                    region=place.region,
                    locality=place.locality,
                    postal_code=place.postal_code,
                    rate_center=place.rate_center,
                    lata=place.lata,
                    latitude=place.latitude,
                    longitude=place.longitude,
                    sms=sms,
                    mms=mms,
                    voice=voice,
                )
            )
            made += 1
    out.extend(_draw_us(rng, n_tf, "toll-free", seen, _toll_free_number))
    for iso, n in n_other.items():
        out.extend(_other_country(rng, iso, n, seen))
    out.extend(_draw_us(rng, n_sc, "short-code", seen, _short_code))
    return out


def _toll_free_number(rng: random.Random) -> str:
    npa = TOLL_FREE_NPAS[rng.randrange(len(TOLL_FREE_NPAS))]
    return f"+1{npa}{rng.randrange(200, 1000)}{rng.randrange(10_000):04d}"


def _short_code(rng: random.Random) -> str:
    digits = rng.choice((5, 6))
    return str(rng.randrange(2 * 10 ** (digits - 1), 10**digits))


def _draw_us(
    rng: random.Random,
    count: int,
    number_type: NumberType,
    seen: set[str],
    make: Callable[[random.Random], str],
) -> list[InventoryNumber]:
    """``count`` new US numbers of one type with no place of their own (toll-free, short
    codes), each drawn by ``make`` until it is one not ``seen`` yet."""
    out: list[InventoryNumber] = []
    while len(out) < count:
        number = make(rng)
        if number in seen:
            continue
        seen.add(number)
        sms, mms, voice = _capabilities(rng, number_type)
        out.append(
            InventoryNumber(
                phone_number=number,
                number_type=number_type,
                iso_country="US",
                sms=sms,
                mms=mms,
                voice=voice,
            )
        )
    return out


def _other_country(rng: random.Random, iso: str, n: int, seen: set[str]) -> list[InventoryNumber]:
    """``n`` valid local and mobile numbers of ``iso`` (checked against phonenumbers)."""
    ranges = _OTHER_RANGES[iso]
    cc = str(phonenumbers.country_code_for_region(iso))
    out: list[InventoryNumber] = []
    places: dict[str, str | None] = {}
    tries = 0
    while len(out) < n and tries < 50 * n + 1000:
        tries += 1
        prefix, length, kind = ranges[rng.randrange(len(ranges))]
        nsn = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix)))
        number = f"+{cc}{nsn}"
        if number in seen:
            continue
        parsed = phonenumbers.parse(number)
        if not phonenumbers.is_valid_number(parsed):
            continue
        seen.add(number)
        locality = None
        if kind == "local":
            key = number[: len(cc) + len(prefix) + 2]  # the place depends on the prefix
            if key not in places:
                places[key] = describe(number).locality
            locality = places[key]
        sms, mms, voice = _capabilities(rng, kind)
        mms = False  # MMS is a North American service
        if kind == "local":
            sms = False  # like Twilio: landlines abroad are mostly voice only
        out.append(
            InventoryNumber(
                phone_number=number,
                number_type=kind,
                iso_country=iso,
                locality=locality,
                sms=sms,
                mms=mms,
                voice=voice,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Import: CSV files and E.164 ranges
# ---------------------------------------------------------------------------------------------

CSV_COLUMNS: Final = (
    "phone_number",
    "type",
    "iso_country",
    "region",
    "locality",
    "postal_code",
    "rate_center",
    "lata",
    "latitude",
    "longitude",
    "sms",
    "mms",
    "voice",
    "rate",
    "link",
)
_TRUE: Final = frozenset({"true", "1", "yes", "y", "t"})
_FALSE: Final = frozenset({"false", "0", "no", "n", "f"})
_LINK_NAME: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_RANGE: Final = re.compile(r"\s*(\+[0-9]{2,15})\s*-\s*(\+[0-9]{2,15})\s*")


class ImportProblem(NamedTuple):
    """One reason a row cannot be imported: ``line`` (1-based, the header is line 1; 0 for
    a range), ``field`` (the column) and ``reason``."""

    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.field}: {self.reason}"


class InventoryImportError(ValueError):
    """An import that cannot be done; ``problems`` lists every bad row (up to
    :data:`MAX_PROBLEMS`; ``total`` counts them all).  Nothing was imported."""

    def __init__(self, problems: Sequence[ImportProblem], total: int | None = None) -> None:
        self.problems = list(problems[:MAX_PROBLEMS])
        self.total = len(problems) if total is None else total
        more = self.total - len(self.problems)
        lines = [str(p) for p in self.problems] + ([f"... and {more} more"] if more > 0 else [])
        super().__init__(f"{self.total} problem(s), nothing imported:\n" + "\n".join(lines))


def _flag(value: str, column: str) -> bool | None:
    v = value.strip().lower()
    if not v:
        return None
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise NumberError(f"{value!r} is not true or false", field=column)


def _number(value: str, column: str, lo: float, hi: float) -> float | None:
    v = value.strip()
    if not v:
        return None
    try:
        x = float(v)
    except ValueError:
        raise NumberError(f"{value!r} is not a number", field=column) from None
    if not lo <= x <= hi:  # also rejects nan
        raise NumberError(f"{value!r} is out of range ({lo:g} to {hi:g})", field=column)
    return x


def record_for(
    phone_number: str,
    *,
    number_type: str | None = None,
    iso_country: str | None = None,
    region: str | None = None,
    locality: str | None = None,
    postal_code: str | None = None,
    rate_center: str | None = None,
    lata: str | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    sms: bool | None = None,
    mms: bool | None = None,
    voice: bool | None = None,
    rate: float | None = None,
    link: str | None = None,
) -> InventoryNumber:
    """A record for ``phone_number`` (E.164, a national form read in ``iso_country`` or the
    US, or a short code) with what is given, and what is not filled in from the numbering
    plan: type, country, region and locality (geocoder), rate center (from the locality),
    capabilities (SMS and voice; MMS for US and Canadian numbers; no voice on short codes).
    Raises :class:`NumberError` naming the field that is wrong."""
    given = {
        "region": region,
        "locality": locality,
        "postal_code": postal_code,
        "rate_center": rate_center,
        "lata": lata,
        "link": link,
    }
    for name, value in given.items():
        if value is not None and len(value) > MAX_FIELD:
            raise NumberError(f"is longer than {MAX_FIELD} characters", field=name)
    if iso_country is not None and not (
        len(iso_country) == 2 and iso_country.isascii() and iso_country.isalpha()
    ):
        raise NumberError(f"{iso_country!r} is not a 2-letter country code", field="iso_country")
    iso_given = iso_country.upper() if iso_country else None
    text = phone_number.strip()
    if is_short_code(text):
        number = text
    else:
        number = normalize_e164(text, field="phone_number", default_region=iso_given or "US")
    facts = describe(number)
    short = is_short_code(number)  # short codes are national: the operator names the country
    if iso_given and facts.iso_country and iso_given != facts.iso_country and not short:
        raise NumberError(
            f"{iso_given} does not match {number}, a number of {facts.iso_country}",
            field="iso_country",
        )
    kind = number_type.strip().lower() if number_type else facts.number_type
    if kind is None:
        raise NumberError(f"cannot tell the type of {number}: give it", field="type")
    if kind not in NUMBER_TYPES:
        raise NumberError(f"{kind!r} is not one of {', '.join(NUMBER_TYPES)}", field="type")
    if (kind == "short-code") != is_short_code(number):
        raise NumberError(
            "short-code is for 3 to 8 digits without '+'"
            if kind == "short-code"
            else f"{number} is a short code: its type is short-code",
            field="type",
        )
    iso = iso_given or facts.iso_country or "US"
    if region is not None and iso in ("US", "CA") and not re.fullmatch(r"[A-Za-z]{2}", region):
        raise NumberError(f"{region!r} is not a 2-letter state or province", field="region")
    if latitude is not None and not -90 <= latitude <= 90:
        raise NumberError(f"{latitude} is out of range (-90 to 90)", field="latitude")
    if longitude is not None and not -180 <= longitude <= 180:
        raise NumberError(f"{longitude} is out of range (-180 to 180)", field="longitude")
    if rate is not None and not 0 < rate <= MAX_RATE:
        raise NumberError(f"{rate} is out of range (0 to {MAX_RATE:g})", field="rate")
    if link is not None and not _LINK_NAME.fullmatch(link):
        raise NumberError(f"{link!r} is not a link name (letters, digits, _ . -)", field="link")
    locality = locality or facts.locality
    nanp = iso in ("US", "CA")
    if rate_center is None and nanp and locality and kind != "toll-free":
        rate_center = _rate_center(locality)
    return InventoryNumber(
        phone_number=number,
        number_type=kind,
        iso_country=iso,
        region=(region.upper() if region and nanp else region) or facts.region,
        locality=locality,
        postal_code=postal_code,
        rate_center=rate_center,
        lata=lata,
        latitude=latitude,
        longitude=longitude,
        sms=True if sms is None else sms,
        mms=(nanp and kind != "short-code") if mms is None else mms,
        voice=(kind != "short-code") if voice is None else voice,
        rate=rate,
        link=link,
    )


def _row_record(row: dict[str, str]) -> InventoryNumber:
    def text(column: str) -> str | None:
        return row.get(column, "").strip() or None

    return record_for(
        row.get("phone_number", ""),
        number_type=text("type"),
        iso_country=text("iso_country"),
        region=text("region"),
        locality=text("locality"),
        postal_code=text("postal_code"),
        rate_center=text("rate_center"),
        lata=text("lata"),
        latitude=_number(row.get("latitude", ""), "latitude", -90, 90),
        longitude=_number(row.get("longitude", ""), "longitude", -180, 180),
        sms=_flag(row.get("sms", ""), "sms"),
        mms=_flag(row.get("mms", ""), "mms"),
        voice=_flag(row.get("voice", ""), "voice"),
        rate=_number(row.get("rate", ""), "rate", 1e-9, MAX_RATE),
        link=text("link"),
    )


def read_csv(
    text: str, *, existing: Container[str] = (), max_rows: int = MAX_IMPORT_ROWS
) -> list[InventoryNumber]:
    """The records of a CSV file (``smpp-engine numbers import FILE.csv``).

    The first line names the columns (any of :data:`CSV_COLUMNS`, ``phone_number``
    required); empty cells are filled from the numbering plan (see :func:`record_for`).
    A number already in ``existing`` or twice in the file is an error.  Raises
    :class:`InventoryImportError` listing every bad row by line: all rows or none."""
    problems: list[ImportProblem] = []
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise InventoryImportError([ImportProblem(1, "header", "the file is empty")]) from None
    except csv.Error as exc:
        raise InventoryImportError([ImportProblem(1, "header", str(exc))]) from None
    columns = [h.strip().lower() for h in header]
    unknown = [c for c in columns if c not in CSV_COLUMNS]
    if unknown or "phone_number" not in columns or len(set(columns)) != len(columns):
        reason = (
            f"unknown column(s) {', '.join(repr(c) for c in unknown)}"
            if unknown
            else "a column appears twice"
            if len(set(columns)) != len(columns)
            else "the phone_number column is required"
        )
        raise InventoryImportError(
            [ImportProblem(1, "header", f"{reason}; columns are {', '.join(CSV_COLUMNS)}")]
        )
    records: list[InventoryNumber] = []
    first_line: dict[str, int] = {}
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(ImportProblem(reader.line_num, "row", str(exc)))
            break
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue  # blank lines are allowed
        if len(records) + len(problems) >= max_rows:
            problems.append(ImportProblem(line, "row", f"more than {max_rows} rows"))
            break
        if len(cells) != len(columns):
            problems.append(
                ImportProblem(line, "row", f"{len(cells)} cells for {len(columns)} columns")
            )
            continue
        if any(len(c) > MAX_FIELD for c in cells):
            col = columns[next(i for i, c in enumerate(cells) if len(c) > MAX_FIELD)]
            problems.append(ImportProblem(line, col, f"is longer than {MAX_FIELD} characters"))
            continue
        try:
            record = _row_record(dict(zip(columns, cells, strict=True)))
        except NumberError as exc:
            problems.append(ImportProblem(line, exc.field, exc.reason))
            continue
        number = record.phone_number
        if number in first_line:
            problems.append(
                ImportProblem(
                    line, "phone_number", f"{number} is already on line {first_line[number]}"
                )
            )
            continue
        if number in existing:
            problems.append(
                ImportProblem(line, "phone_number", f"{number} is already in the inventory")
            )
            continue
        first_line[number] = line
        records.append(record)
    if problems:
        raise InventoryImportError(problems)
    return records


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def write_csv(records: Iterable[InventoryNumber]) -> str:
    """The records as CSV with every column of :data:`CSV_COLUMNS` (what :func:`read_csv`
    reads back to the same records)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in records:
        writer.writerow(
            [
                r.phone_number,
                r.number_type,
                r.iso_country,
                *(
                    _csv_cell(v)
                    for v in (
                        r.region,
                        r.locality,
                        r.postal_code,
                        r.rate_center,
                        r.lata,
                        r.latitude,
                        r.longitude,
                        r.sms,
                        r.mms,
                        r.voice,
                        r.rate,
                        r.link,
                    )
                ),
            ]
        )
    return out.getvalue()


def expand_range(text: str, *, max_count: int = MAX_RANGE) -> list[str]:
    """The E.164 numbers of a range ``+14155550100-+14155550199`` (both ends included, same
    length).  Raises :class:`NumberError` (``field="range"``)."""
    if len(text) > 64:
        raise NumberError("is longer than 64 characters", field="range")
    m = _RANGE.fullmatch(text)
    if m is None:
        raise NumberError(f"{text!r} is not a range like +14155550100-+14155550199", field="range")
    first, last = m.group(1), m.group(2)
    if len(first) != len(last):
        raise NumberError(f"{first} and {last} have different lengths", field="range")
    lo, hi = int(first[1:]), int(last[1:])
    if lo > hi:
        raise NumberError(f"{first} comes after {last}", field="range")
    if hi - lo + 1 > max_count:
        raise NumberError(
            f"has {hi - lo + 1} numbers, more than the {max_count} allowed at once",
            field="range",
        )
    width = len(first) - 1
    return [f"+{n:0{width}d}" for n in range(lo, hi + 1)]


def records_for_range(
    text: str,
    *,
    existing: Container[str] = (),
    max_count: int = MAX_RANGE,
    number_type: str | None = None,
    sms: bool | None = None,
    mms: bool | None = None,
    voice: bool | None = None,
    rate: float | None = None,
    link: str | None = None,
) -> list[InventoryNumber]:
    """Records for every number of an E.164 range (see :func:`expand_range`), the rest
    filled from the numbering plan.  Raises :class:`InventoryImportError` listing every
    number that is invalid or already in ``existing``: all numbers or none."""
    try:
        numbers = expand_range(text, max_count=max_count)
    except NumberError as exc:
        raise InventoryImportError([ImportProblem(0, exc.field, exc.reason)]) from None
    problems: list[ImportProblem] = []
    records: list[InventoryNumber] = []
    for number in numbers:
        if number in existing:
            problems.append(ImportProblem(0, "range", f"{number} is already in the inventory"))
            continue
        try:
            records.append(
                record_for(
                    number,
                    number_type=number_type,
                    sms=sms,
                    mms=mms,
                    voice=voice,
                    rate=rate,
                    link=link,
                )
            )
        except NumberError as exc:
            problems.append(ImportProblem(0, exc.field, f"{number}: {exc.reason}"))
    if problems:
        raise InventoryImportError(problems)
    return records


# ---------------------------------------------------------------------------------------------
# Twilio's shape
# ---------------------------------------------------------------------------------------------


def _degrees(value: float | None) -> str | None:
    return None if value is None else f"{value:.6f}"


def available_json(r: InventoryNumber) -> dict[str, object]:
    """One entry of ``available_phone_numbers`` exactly as Twilio shapes it (twilio-compat
    §4.1): decimal strings for coordinates and upper-case ``SMS``/``MMS`` capability keys
    (IncomingPhoneNumbers uses lower case; this is the search side)."""
    return {
        "friendly_name": friendly_name(r.phone_number),
        "phone_number": r.phone_number,
        "lata": r.lata,
        "locality": r.locality,
        "rate_center": r.rate_center,
        "latitude": _degrees(r.latitude),
        "longitude": _degrees(r.longitude),
        "region": r.region,
        "postal_code": r.postal_code,
        "iso_country": r.iso_country,
        "address_requirements": "none",
        "beta": False,
        "capabilities": {"voice": r.voice, "SMS": r.sms, "MMS": r.mms},
    }
