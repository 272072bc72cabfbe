"""The JSON resources' dates (engine.twilio.resources.rfc2822 remembers the last second)."""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime

from hypothesis import given
from hypothesis import strategies as st

from engine.twilio.resources import rfc2822


@given(st.lists(st.floats(min_value=0, max_value=4e9), min_size=1, max_size=20))
def test_rfc2822_is_the_email_format_of_each_second(epochs: list[float]) -> None:
    for epoch in [*epochs, *epochs]:  # repeats hit the remembered second
        expected = format_datetime(dt.datetime.fromtimestamp(int(epoch), dt.UTC))
        assert rfc2822(epoch) == expected
        assert expected.endswith("+0000")


def test_rfc2822_none_and_neighbouring_seconds() -> None:
    assert rfc2822(None) is None
    assert rfc2822(1_700_000_000.9) == "Tue, 14 Nov 2023 22:13:20 +0000"
    assert rfc2822(1_700_000_001.0) == "Tue, 14 Nov 2023 22:13:21 +0000"
    assert rfc2822(1_700_000_000.1) == "Tue, 14 Nov 2023 22:13:20 +0000"
