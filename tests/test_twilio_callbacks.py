"""Webhook parameters (status callback, inbound) and the alert table."""

from __future__ import annotations

import re

import msgspec
import pytest

from engine.twilio.alerts import ALERTS, Alert, LogLevel, alert_level, new_alert
from engine.twilio.callbacks import (
    Geo,
    fallback_params,
    inbound_webhook_params,
    status_callback_params,
)

SM = "SM" + "a" * 32
AC = "AC" + "b" * 32


def test_status_callback_delivered() -> None:
    params = status_callback_params(
        message_sid=SM,
        account_sid=AC,
        from_="+15550001111",
        to="+15550002222",
        status="delivered",
        error_code=None,
        raw_dlr_done_date="2612041142",
    )
    assert params == {
        "MessageSid": SM,
        "SmsSid": SM,
        "MessageStatus": "delivered",
        "SmsStatus": "delivered",
        "AccountSid": AC,
        "From": "+15550001111",
        "To": "+15550002222",
        "ApiVersion": "2010-04-01",
        "RawDlrDoneDate": "2612041142",
    }


@pytest.mark.parametrize(
    ("status", "sent"), [("failed", True), ("undelivered", True), ("sent", False)]
)
def test_status_callback_error_code_only_when_failed(status: str, sent: bool) -> None:
    params = status_callback_params(
        message_sid=SM,
        account_sid=AC,
        from_="a",
        to="b",
        status=status,
        error_code=30003,
        messaging_service_sid="MG" + "c" * 32,
    )
    assert ("ErrorCode" in params) is sent
    if sent:
        assert params["ErrorCode"] == "30003"
    assert params["MessagingServiceSid"] == "MG" + "c" * 32
    assert "RawDlrDoneDate" not in params


def test_inbound_params() -> None:
    params = inbound_webhook_params(
        message_sid=SM,
        account_sid=AC,
        from_="+15550001111",
        to="+15550002222",
        body="STOP",
        num_segments=1,
        to_geo=Geo(country="US", state="CA"),
        media=[("https://e.com/a.png", "image/png")],
        extra={"OptOutType": "STOP"},
    )
    assert params["MessageSid"] == params["SmsSid"] == params["SmsMessageSid"] == SM
    assert params["SmsStatus"] == "received"
    assert params["NumMedia"] == "1" and params["NumSegments"] == "1"
    assert params["MediaUrl0"] == "https://e.com/a.png"
    assert params["MediaContentType0"] == "image/png"
    assert params["FromCity"] == params["FromCountry"] == params["ToZip"] == ""
    assert params["ToCountry"] == "US" and params["ToState"] == "CA"
    assert params["OptOutType"] == "STOP"
    assert all(isinstance(v, str) for v in params.values())
    with pytest.raises(ValueError, match="Body"):
        inbound_webhook_params(
            message_sid=SM,
            account_sid=AC,
            from_="a",
            to="b",
            body="x",
            num_segments=1,
            extra={"Body": "y"},
        )


def test_fallback_params() -> None:
    out = fallback_params({"A": "1"}, 11200, "https://e.com/sms")
    assert out == {"A": "1", "ErrorCode": "11200", "ErrorUrl": "https://e.com/sms"}


def test_alert_table_and_record() -> None:
    for code in (11200, 11205, 11206, 11210, 11215, 11750, 12100, 12102, 12200, 12300, 12400):
        assert ALERTS[code].code == code
    for code in range(14101, 14111):
        assert code in ALERTS
    assert alert_level(12200) is LogLevel.WARNING
    assert alert_level(11200) is LogLevel.ERROR
    assert alert_level(99999) is LogLevel.ERROR
    alert = new_alert(
        account_sid=AC,
        error_code=14109,
        text="too many",
        now=1.5,
        url="https://e.com",
        message_sid=SM,
    )
    assert re.fullmatch(r"NO[0-9a-f]{32}", alert.sid)
    assert alert.log_level == "warning"
    decoded = msgspec.json.decode(msgspec.json.encode(alert), type=Alert)
    assert decoded == alert
