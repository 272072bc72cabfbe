"""Phone-number helpers: E.164, type and place, friendly names, keypad letters, Twilio's
``Contains`` pattern, vanity ranking and display (engine/numbers.py, engine/vanity.py)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.numbers import (
    NumberError,
    describe,
    friendly_name,
    from_smpp,
    is_short_code,
    normalize_e164,
    place_of,
    split_e164,
    to_smpp,
)
from engine.vanity import (
    KEYPAD,
    RANK_BURIED,
    RANK_END,
    RANK_SUBSCRIBER_START,
    keypad_digits,
    match_span,
    parse_contains,
    render_match,
    vanity_rank,
)

ENGINE = Path(__file__).resolve().parent.parent / "engine"


# -- rings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["numbers.py", "vanity.py", "inventory.py", "number_index.py"])
def test_number_modules_import_no_io_and_no_clock(name: str) -> None:
    tree = ast.parse((ENGINE / name).read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    forbidden = {"asyncio", "socket", "time", "aiohttp", "threading", "selectors", "os"}
    assert not imported & forbidden, imported & forbidden


# -- E.164, type, place ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        ("+14155550100", "US", "+14155550100"),
        ("(415) 555-0100", "US", "+14155550100"),
        ("415.555.0100", "US", "+14155550100"),
        ("020 7946 0000", "GB", "+442079460000"),
        ("+44 20 7946 0000", "US", "+442079460000"),
    ],
)
def test_normalize_e164(text: str, region: str, expected: str) -> None:
    assert normalize_e164(text, default_region=region) == expected


@pytest.mark.parametrize("text", ["", "   ", "hello", "+1415", "+999123456789", "1" * 40])
def test_normalize_e164_rejects_with_the_field_named(text: str) -> None:
    with pytest.raises(NumberError) as exc:
        normalize_e164(text, field="To")
    assert exc.value.field == "To"
    assert str(exc.value).startswith("To: ")


def test_split_e164() -> None:
    assert split_e164("+14155550100") == ("1", "4155550100")
    assert split_e164("+442079460000") == ("44", "2079460000")
    assert split_e164("+35312345678") == ("353", "12345678")
    assert split_e164("72345") == ("", "72345")
    for bad in ("4155550100", "+", "+1", "+abc", "+1234567890123456"):
        with pytest.raises(NumberError):
            split_e164(bad)


def test_describe_uses_the_numbering_plan() -> None:
    sf = describe("+14155550100")
    assert (sf.iso_country, sf.number_type, sf.region, sf.locality) == (
        "US",
        "local",
        "CA",
        "San Francisco",
    )
    toronto = describe("+16475551234")
    assert (toronto.iso_country, toronto.region) == ("CA", "ON")
    assert describe("+18005551234").number_type == "toll-free"
    london = describe("+442079460000")
    assert (london.iso_country, london.number_type, london.locality) == ("GB", "local", "London")
    mobile = describe("+447400123456")
    assert mobile.number_type == "mobile" and mobile.carrier
    assert describe("72345").number_type == "short-code"


def test_place_of() -> None:
    assert place_of("San Francisco, CA", "US") == ("CA", "San Francisco")
    assert place_of("California", "US") == ("CA", None)
    assert place_of("Quebec", "CA") == ("QC", None)
    assert place_of("Germany", "DE", "Germany") == (None, None)
    assert place_of("", "US") == (None, None)


def test_friendly_name_like_twilio() -> None:
    assert friendly_name("+18089251571") == "(808) 925-1571"
    assert friendly_name("+442079460000") == "+442079460000"
    assert friendly_name("72345") == "72345"


def test_short_codes() -> None:
    assert is_short_code("72345") and is_short_code("123456")
    assert not is_short_code("12") and not is_short_code("+12345")
    assert not is_short_code("\uff11\uff12\uff1345")  # full-width digits are not digits here


def test_smpp_forms_still_round_trip() -> None:
    assert from_smpp(*to_smpp("+14155550100")) == "+14155550100"
    assert from_smpp(*to_smpp("72345")) == "72345"


# -- keypad ----------------------------------------------------------------------------------


def test_keypad_is_e161() -> None:
    groups = {"2": "ABC", "3": "DEF", "4": "GHI", "5": "JKL", "6": "MNO", "7": "PQRS"}
    groups |= {"8": "TUV", "9": "WXYZ"}
    assert len(KEYPAD) == 26
    for digit, letters in groups.items():
        for letter in letters:
            assert KEYPAD[letter] == digit
            assert keypad_digits(letter.lower()) == digit
    assert keypad_digits("CAKE") == "2253"
    assert keypad_digits("STORM") == "78676"
    assert keypad_digits("1800flowers") == "18003569377"


@pytest.mark.parametrize("text", ["CA KE", "CAKE!", "café", "١٢"])
def test_keypad_rejects_other_characters(text: str) -> None:
    with pytest.raises(NumberError) as exc:
        keypad_digits(text)
    assert exc.value.field == "Contains"


# -- Contains ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "body", "start", "end", "letters"),
    [
        ("CAKE", "2253", False, False, True),
        ("cake", "2253", False, False, True),
        ("510555****", "510555****", False, False, False),
        ("*2253", "*2253", False, False, False),
        ("4*5", "4*5", False, False, False),
        ("%CAKE", "2253", False, False, True),
        ("CAKE%", "2253", False, False, True),
        ("%CAKE%", "2253", False, False, True),
        ("+1415", "1415", True, False, False),
        ("+8150*******", "8150*******", True, False, False),
        ("CAKE$", "2253", False, True, True),
        ("+1415555CAKE$", "1415555" + "2253", True, True, True),
        ("12", "12", False, False, False),
        ("1234567890123456", "1234567890123456", False, False, False),
    ],
)
def test_contains_forms(text: str, body: str, start: bool, end: bool, letters: bool) -> None:
    p = parse_contains(text)
    assert (p.body, p.start, p.end, p.has_letters) == (body, start, end, letters)
    assert len(p.shown) == len(p.body)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "required"),
        ("C", "2 to 16 characters"),
        ("12345678901234567", "2 to 16 characters"),
        ("CA KE", "' ' is not allowed"),
        ("CAKE!", "'!' is not allowed"),
        ("café", "'é' is not allowed"),
        ("12+34", "'+' is allowed only as the first"),
        ("12$34", "'$' is allowed only as the last"),
        ("12%34", "'%' is allowed only at the start or the end"),
        ("+%12", "'%' is allowed only at the start or the end"),
        ("%$", "'%' cannot be next to another metacharacter"),
        ("12%$", "'%' is allowed only at the start or the end"),
        ("**", "at least 2 digits or letters"),
        ("+1", "at least 2 digits or letters"),
        ("1*", "at least 2 digits or letters"),
        ("%1%", "at least 2 digits or letters"),
    ],
)
def test_contains_bad_patterns_name_the_parameter(text: str, reason: str) -> None:
    with pytest.raises(NumberError) as exc:
        parse_contains(text)
    assert exc.value.field == "Contains"
    assert str(exc.value).startswith("Contains: ")
    assert reason in str(exc.value)


@given(st.text(max_size=24))
def test_contains_never_crashes(text: str) -> None:
    try:
        p = parse_contains(text)
    except NumberError as exc:
        assert exc.field == "Contains"
    else:
        assert 2 <= len(text) <= 16
        assert re.fullmatch(r"[0-9*]+", p.body)


def test_contains_for_country_consumes_the_country_code() -> None:
    p = parse_contains("+1415")
    assert p.for_country("1") == ("415", "415", True, False)
    assert p.for_country("44") is None
    assert parse_contains("+8150*******").for_country("81") == (
        "50*******",
        "50*******",
        True,
        False,
    )
    everything = parse_contains("+35").for_country("353")
    assert everything is not None and everything.matches_all
    assert parse_contains("+44$").for_country("44") is None
    assert parse_contains("+4*1").for_country("44") == ("1", "1", True, False)
    # unanchored patterns are about the national number only
    assert parse_contains("14").for_country("1") == ("14", "14", False, False)


# -- ranking and display -------------------------------------------------------------------


def test_word_at_the_end_ranks_first() -> None:
    cake = parse_contains("CAKE")
    at_end = "+14155552253"
    after_area = "+14152253100"
    buried = "+14155225310"
    assert vanity_rank(at_end, cake) == RANK_END
    assert vanity_rank(after_area, cake) == RANK_SUBSCRIBER_START
    assert vanity_rank(buried, cake) == RANK_BURIED
    assert vanity_rank("+14155550100", cake) is None
    ordered = sorted([buried, after_area, at_end], key=lambda n: vanity_rank(n, cake) or 0)
    assert ordered == [at_end, after_area, buried]
    # the best occurrence counts when the word appears twice
    assert vanity_rank("+12253552253", cake) == RANK_END
    assert match_span("+12253552253", cake) == (6, 10)


def test_anchors_decide_matches() -> None:
    assert vanity_rank("+14155552253", parse_contains("CAKE$")) == RANK_END
    assert vanity_rank("+14152253100", parse_contains("CAKE$")) is None
    assert vanity_rank("+14155550100", parse_contains("+1415")) is not None
    assert vanity_rank("+16505550100", parse_contains("+1415")) is None
    # an unanchored pattern never straddles the country code
    assert vanity_rank("+14155550100", parse_contains("14155")) is None
    assert vanity_rank("+14155550100", parse_contains("4155")) is not None
    assert vanity_rank("+14155550100", parse_contains("510555****")) is None
    assert vanity_rank("+15105550100", parse_contains("510555****")) is not None


def test_render_match_shows_the_word_in_place() -> None:
    cake = parse_contains("CAKE")
    assert render_match("+14155552253", cake) == "+1 415 555 [CAKE]"
    assert render_match("+14152253100", cake) == "+1 415 [CAKE]100"
    assert render_match("+14155550100", cake) == "+1 415 555 0100"
    assert render_match("+14155550100", parse_contains("+1415")) == "+1 [415] 555 0100"
    assert render_match("+14155552253", parse_contains("55*CAKE")) == "+1 415 [555CAKE]"
    assert render_match("+442079460000", parse_contains("946")) == "+44 20 7[946] 0000"
    assert render_match("72253", cake) == "7[CAKE]"
