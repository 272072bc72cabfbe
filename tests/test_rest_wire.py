"""The REST API's pure wire pieces against the references they replace for speed: dates
against ``email.utils.format_datetime``, form parsing against ``urllib.parse.parse_qsl``;
error bodies and list pages in the shape the twilio helper library parses."""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twilio.base.page import Page

from engine.twilio.codes import ApiError, not_found
from engine.twilio.params import MAX_FIELDS, parse_form
from engine.twilio.resources import page, rfc2822


@given(st.floats(min_value=0, max_value=253402300799, allow_nan=False))
def test_rfc2822_is_format_datetime_in_utc(epoch: float) -> None:
    expected = format_datetime(dt.datetime.fromtimestamp(int(epoch), dt.UTC))
    assert rfc2822(epoch) == expected
    assert rfc2822(epoch) == expected  # the cached second gives the same text
    assert parsedate_to_datetime(expected).timestamp() == int(epoch)


def test_rfc2822_none_and_a_known_date() -> None:
    assert rfc2822(None) is None
    assert rfc2822(1692853305.9) == "Thu, 24 Aug 2023 05:01:45 +0000"


def _reference(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        out.setdefault(name, []).append(value)
    return out


@given(st.text(alphabet="ab=&%+2BcF9eé€😀 ;", max_size=40))
def test_parse_form_matches_parse_qsl(text: str) -> None:
    assert dict(parse_form(text)) == _reference(text)
    assert dict(parse_form(text.encode())) == _reference(text)


@given(st.lists(st.tuples(st.text(max_size=8), st.text(max_size=20)), max_size=8))
def test_parse_form_reads_what_urlencode_writes(pairs: list[tuple[str, str]]) -> None:
    encoded = urlencode(pairs)
    assert dict(parse_form(encoded)) == _reference(encoded)
    form = parse_form(encoded)
    for name, value in pairs:
        if name:
            assert value in form[name]


def test_parse_form_refusals_name_the_problem() -> None:
    with pytest.raises(ApiError) as info:
        parse_form(b"Body=\xff")
    assert info.value.status == 400 and "UTF-8" in info.value.message
    with pytest.raises(ApiError) as info:
        parse_form("&".join(["a=1"] * (MAX_FIELDS + 1)))
    assert str(MAX_FIELDS) in info.value.message
    assert parse_form("&".join(["a=1"] * MAX_FIELDS))["a"] == ["1"] * MAX_FIELDS
    repeated = parse_form("MediaUrl=a&MediaUrl=b&Body=x")
    assert repeated["MediaUrl"] == ["a", "b"] and repeated.first("Body") == "x"


def test_error_body_is_exactly_twilios_four_keys() -> None:
    err = ApiError(21211, "The 'To' number 123 is not a valid phone number.")
    assert err.body() == {
        "code": 21211,
        "message": "The 'To' number 123 is not a valid phone number.",
        "more_info": "https://www.twilio.com/docs/errors/21211",
        "status": 400,
    }
    for code, status in ((20003, 401), (20404, 404), (21624, 400), (30409, 400), (20503, 503)):
        assert ApiError(code, "x").status == status
    assert not_found("/2010-04-01/x.json").body()["status"] == 404
    assert "type" not in err.body() and "title" not in err.body()


def test_page_has_one_record_key_and_a_relative_next_uri() -> None:
    path = "/2010-04-01/Accounts/AC" + "0" * 32 + "/Messages.json"
    body = page(
        "messages",
        [{"sid": "SM1"}, {"sid": "SM2"}],
        path=path,
        filters=[("To", "+14155550123"), ("DateSent<", "2024-01-02")],
        page_size=2,
        page_number=3,
        next_token="PASM2",
    )
    records = {k: v for k, v in body.items() if k not in Page.META_KEYS}
    assert list(records) == ["messages"]
    nxt = body["next_page_uri"]
    assert nxt.startswith(path + "?")
    query = dict(parse_qsl(nxt.split("?", 1)[1]))
    assert query == {
        "To": "+14155550123",
        "DateSent<": "2024-01-02",
        "PageSize": "2",
        "Page": "4",
        "PageToken": "PASM2",
    }
    assert (body["page"], body["start"], body["end"]) == (3, 6, 7)
    last = page("messages", [], path=path, filters=[], page_size=2, page_number=0, next_token=None)
    assert last["next_page_uri"] is None and last["messages"] == []
