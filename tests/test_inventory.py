"""The inventory: the generated default, CSV import and export, E.164 ranges
(engine/inventory.py)."""

from __future__ import annotations

import collections
from functools import lru_cache

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.inventory import (
    CSV_COLUMNS,
    TOLL_FREE_NPAS,
    InventoryImportError,
    InventoryNumber,
    available_json,
    expand_range,
    generate,
    read_csv,
    record_for,
    records_for_range,
    write_csv,
)
from engine.numbers import NumberError, describe, split_e164


@lru_cache(maxsize=1)
def default() -> list[InventoryNumber]:
    return generate()


# -- the embedded default ---------------------------------------------------------------------


def test_default_is_deterministic_and_distinct() -> None:
    inv = default()
    assert len(inv) == 50_000
    assert len({r.phone_number for r in inv}) == len(inv)
    assert generate(count=2000) == generate(count=2000)
    assert generate(seed=1, count=2000) != generate(seed=2, count=2000)


def test_default_has_every_kind_in_many_places() -> None:
    inv = default()
    kinds: collections.Counter[tuple[str, str]] = collections.Counter(
        (r.iso_country, r.number_type) for r in inv
    )
    for key in [
        ("US", "local"),
        ("CA", "local"),
        ("US", "toll-free"),
        ("US", "short-code"),
        ("GB", "local"),
        ("GB", "mobile"),
        ("DE", "local"),
        ("DE", "mobile"),
        ("AU", "local"),
        ("AU", "mobile"),
    ]:
        assert kinds[key] > 100, key
    us_area_codes = {
        r.phone_number[2:5] for r in inv if r.iso_country == "US" and r.number_type == "local"
    }
    ca_area_codes = {r.phone_number[2:5] for r in inv if r.iso_country == "CA"}
    assert len(us_area_codes) >= 80 and len(ca_area_codes) >= 15
    toll_free = {r.phone_number[2:5] for r in inv if r.number_type == "toll-free"}
    assert toll_free == set(TOLL_FREE_NPAS)
    short = [r.phone_number for r in inv if r.number_type == "short-code"]
    assert all(p.isdigit() and len(p) in (5, 6) for p in short)


def test_default_numbers_are_valid_and_placed_consistently() -> None:
    inv = default()
    for r in inv[::97]:  # a sample: phonenumbers is slow-ish
        if r.number_type == "short-code":
            assert r.iso_country == "US" and not r.voice
            continue
        parsed = phonenumbers.parse(r.phone_number)
        assert phonenumbers.is_valid_number(parsed), r
        assert phonenumbers.region_code_for_number(parsed) == r.iso_country
        facts = describe(r.phone_number)
        if r.number_type != "local":
            assert facts.number_type == r.number_type, r
        if r.iso_country in ("US", "CA") and r.number_type == "local":
            assert r.region is not None and len(r.region) == 2
            assert facts.region in (None, r.region), r  # the geocoder agrees on the state
            if facts.locality:
                assert facts.locality == r.locality, r
            assert r.latitude is not None and r.longitude is not None
            assert 17 < r.latitude < 72 and -170 < r.longitude < -50
            assert r.postal_code and r.rate_center and r.rate_center == r.rate_center.upper()
            assert r.locality and r.rate_center == r.locality.upper()[:10].rstrip()
        elif r.iso_country not in ("US", "CA"):
            assert r.latitude is None and r.region is None and not r.mms


# -- record_for and CSV ----------------------------------------------------------------------


def test_record_for_fills_from_the_numbering_plan() -> None:
    r = record_for("(415) 555-0100")
    assert r == InventoryNumber(
        phone_number="+14155550100",
        number_type="local",
        iso_country="US",
        region="CA",
        locality="San Francisco",
        rate_center="SAN FRANCI",
        sms=True,
        mms=True,
        voice=True,
    )
    assert record_for("020 7946 0000", iso_country="gb").iso_country == "GB"
    tf = record_for("+18005551234")
    assert tf.number_type == "toll-free" and tf.rate_center is None
    sc = record_for("72345", mms=True, rate=100, link="carrier-a")
    assert (sc.number_type, sc.voice, sc.mms, sc.rate, sc.link) == (
        "short-code",
        False,
        True,
        100,
        "carrier-a",
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"phone_number": "not a number"}, "phone_number"),
        ({"phone_number": "+14155550100", "iso_country": "GB"}, "iso_country"),
        ({"phone_number": "+14155550100", "iso_country": "USA"}, "iso_country"),
        ({"phone_number": "+14155550100", "number_type": "landline"}, "type"),
        ({"phone_number": "+14155550100", "number_type": "short-code"}, "type"),
        ({"phone_number": "72345", "number_type": "local"}, "type"),
        ({"phone_number": "+14155550100", "region": "California"}, "region"),
        ({"phone_number": "+14155550100", "latitude": 91.0}, "latitude"),
        ({"phone_number": "+14155550100", "rate": 0.0}, "rate"),
        ({"phone_number": "+14155550100", "link": "a b"}, "link"),
        ({"phone_number": "+14155550100", "locality": "x" * 65}, "locality"),
    ],
)
def test_record_for_names_the_bad_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(NumberError) as exc:
        record_for(**kwargs)  # type: ignore[arg-type]
    assert exc.value.field == field


def test_csv_round_trip() -> None:
    sample = default()[::2500]
    text = write_csv(sample)
    assert text.splitlines()[0] == ",".join(CSV_COLUMNS)
    assert read_csv(text) == sample


def test_csv_fills_what_a_row_leaves_out() -> None:
    text = "phone_number,type,sms,rate\n+14155550100,,,\n+18005551234,toll-free,false,3\n"
    a, b = read_csv(text)
    assert (a.locality, a.region, a.number_type, a.sms) == ("San Francisco", "CA", "local", True)
    assert (b.number_type, b.sms, b.rate) == ("toll-free", False, 3.0)


def test_csv_reports_every_bad_row_by_line_and_imports_nothing() -> None:
    text = (
        "phone_number,type,latitude,sms\n"  # line 1
        "+14155550100,local,37.7,true\n"  # line 2: fine
        "+1415555,local,,\n"  # line 3: too short
        "+14155550101,landline,,\n"  # line 4: bad type
        "\n"  # line 5: blank, skipped
        "+14155550102,local,99,\n"  # line 6: latitude
        "+14155550103,local,,maybe\n"  # line 7: sms
        "+14155550100,local,,\n"  # line 8: duplicate of line 2
        "+14155550104,local\n"  # line 9: too few cells
        "+16505550100,,,\n"  # line 10: already in the inventory
    )
    with pytest.raises(InventoryImportError) as exc:
        read_csv(text, existing={"+16505550100"})
    got = [(p.line, p.field) for p in exc.value.problems]
    assert got == [
        (3, "phone_number"),
        (4, "type"),
        (6, "latitude"),
        (7, "sms"),
        (8, "phone_number"),
        (9, "row"),
        (10, "phone_number"),
    ]
    assert "line 2" in exc.value.problems[4].reason
    assert "already in the inventory" in exc.value.problems[6].reason
    assert str(exc.value).startswith("7 problem(s), nothing imported")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("number,type\n+14155550100,local\n", "unknown column"),
        ("type\nlocal\n", "phone_number column is required"),
        ("phone_number,phone_number\n+1,+1\n", "twice"),
    ],
)
def test_csv_bad_header(text: str, reason: str) -> None:
    with pytest.raises(InventoryImportError) as exc:
        read_csv(text)
    assert exc.value.problems[0].line == 1 and reason in exc.value.problems[0].reason


def test_csv_bounds() -> None:
    text = "phone_number\n" + "".join(f"+1415555{n:04d}\n" for n in range(10))
    with pytest.raises(InventoryImportError) as exc:
        read_csv(text, max_rows=5)
    assert exc.value.problems[-1].line == 7 and "more than 5 rows" in exc.value.problems[-1].reason
    with pytest.raises(InventoryImportError) as exc:
        read_csv("phone_number,locality\n+14155550100," + "x" * 100 + "\n")
    assert (exc.value.problems[0].line, exc.value.problems[0].field) == (2, "locality")


def test_many_problems_are_counted_not_all_listed() -> None:
    text = "phone_number\n" + "bad\n" * 500
    with pytest.raises(InventoryImportError) as exc:
        read_csv(text)
    assert exc.value.total == 500 and len(exc.value.problems) == 200
    assert "and 300 more" in str(exc.value)


# -- ranges ----------------------------------------------------------------------------------


def test_expand_range() -> None:
    numbers = expand_range("+14155550100-+14155550199")
    assert len(numbers) == 100 and numbers[0] == "+14155550100" and numbers[-1] == "+14155550199"
    assert expand_range(" +14155550100 - +14155550100 ") == ["+14155550100"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("+14155550100", "is not a range"),
        ("14155550100-14155550199", "is not a range"),
        ("+14155550199-+14155550100", "comes after"),
        ("+14155550100-+141555501000", "different lengths"),
        ("+14150000000-+14159999999", "more than"),
    ],
)
def test_expand_range_errors(text: str, reason: str) -> None:
    with pytest.raises(NumberError) as exc:
        expand_range(text)
    assert exc.value.field == "range" and reason in str(exc.value)


def test_records_for_range_all_or_nothing() -> None:
    records = records_for_range("+14155550100-+14155550109", rate=1.0, link="carrier-a")
    assert [r.phone_number for r in records] == expand_range("+14155550100-+14155550109")
    assert all(r.locality == "San Francisco" and r.link == "carrier-a" for r in records)
    with pytest.raises(InventoryImportError) as exc:
        records_for_range("+14155550100-+14155550109", existing={"+14155550105"})
    assert [p.reason for p in exc.value.problems] == ["+14155550105 is already in the inventory"]
    with pytest.raises(InventoryImportError) as exc:
        records_for_range("+10005550100-+10005550101")  # area code 000 does not exist
    assert len(exc.value.problems) == 2


def test_split_of_generated_numbers() -> None:
    for r in default()[::1000]:
        cc, nsn = split_e164(r.phone_number)
        assert r.phone_number == (f"+{cc}{nsn}" if cc else nsn)


def test_available_json_is_shaped_like_twilio() -> None:
    r = record_for("+18089251571", latitude=19.72, longitude=-155.09, postal_code="96720")
    doc = available_json(r)
    assert doc["friendly_name"] == "(808) 925-1571"
    assert (doc["latitude"], doc["longitude"]) == ("19.720000", "-155.090000")
    assert doc["capabilities"] == {"voice": True, "SMS": True, "MMS": True}
    assert doc["region"] == "HI" and doc["iso_country"] == "US" and doc["beta"] is False
    assert set(doc) == {
        "friendly_name", "phone_number", "lata", "locality", "rate_center", "latitude",
        "longitude", "region", "postal_code", "iso_country", "address_requirements", "beta",
        "capabilities",
    }  # fmt: skip


def test_short_codes_belong_to_the_country_given() -> None:
    assert record_for("72345", iso_country="GB").iso_country == "GB"
    assert record_for("72345").iso_country == "US"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_read_csv_never_crashes(text: str) -> None:
    try:
        records = read_csv("phone_number,type,latitude,sms,rate,link\n" + text)
    except InventoryImportError as exc:
        assert exc.problems and all(p.line >= 1 for p in exc.problems)
    else:
        assert all(isinstance(r, InventoryNumber) for r in records)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=70))
def test_expand_range_never_crashes(text: str) -> None:
    try:
        numbers = expand_range(text, max_count=1000)
    except NumberError as exc:
        assert exc.field == "range"
    else:
        assert 1 <= len(numbers) <= 1000
