"""Twilio's webhook and TwiML alert codes, and the alert record (twilio-compat.md §2.1).

Twilio never returns these to the REST caller: it logs them in its debugger and lists them
through the Monitor API (``/v1/Alerts``).  :data:`ALERTS` is the table of the codes the
gateway raises; :class:`Alert` is one logged alert, shaped so that the Monitor API resource
can be built from it.

This module is pure: the creation time is an argument.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

import msgspec

__all__ = [
    "ALERTS",
    "Alert",
    "AlertCode",
    "LogLevel",
    "alert_level",
    "new_alert",
    "new_alert_sid",
]


class LogLevel(StrEnum):
    """The ``log_level`` values of Twilio's Monitor alerts."""

    ERROR = "error"
    WARNING = "warning"
    NOTICE = "notice"
    DEBUG = "debug"


class AlertCode(msgspec.Struct, frozen=True):
    """One alert code: its number, its level and what it means."""

    code: int
    level: LogLevel
    meaning: str


def _table(*rows: tuple[int, LogLevel, str]) -> Mapping[int, AlertCode]:
    return MappingProxyType({code: AlertCode(code, level, text) for code, level, text in rows})


_E, _W = LogLevel.ERROR, LogLevel.WARNING

ALERTS: Mapping[int, AlertCode] = _table(
    (11200, _E, "HTTP retrieval failure: error status, timeout or wrong Content-Type"),
    (11205, _E, "HTTP connection failure: could not connect to the URL"),
    (11206, _E, "HTTP protocol violation in the response"),
    (11210, _E, "HTTP bad host name: the URL's host could not be resolved or is invalid"),
    (11215, _E, "HTTP too many redirects"),
    (11220, _E, "TLS handshake failure"),
    (11237, _E, "TLS certificate verification failure"),
    (11750, _E, "Response body larger than 64 kB"),
    (12100, _E, "Document parse failure: the TwiML is not well-formed XML"),
    (12102, _E, "The root element of the TwiML is not <Response>"),
    (12200, _W, "Schema validation warning: unknown verb, attribute or nesting"),
    (12300, _E, "Invalid Content-Type in the response"),
    (12400, _E, "Internal failure while processing the response"),
    (14101, _W, "<Message to> is not a number that can be messaged"),
    (14102, _W, "<Message from> is not a number that can send"),
    (14103, _W, "<Message> has no valid body text or media"),
    (14104, _W, "method attribute is not GET or POST"),
    (14105, _W, "statusCallback or action attribute is not a valid URL"),
    (14106, _W, "More than 50 documents fetched for one reply (redirect loop)"),
    (14107, _E, "Reply rate limit reached between the same two numbers (loop protection)"),
    (14108, _W, "<Message from> number is not SMS capable"),
    (14109, _W, "More than 10 <Message> replies to one inbound message"),
    (14110, _W, "Verb not allowed in a messaging reply (only <Message> and <Redirect>)"),
)
"""Alert code -> :class:`AlertCode`, for the codes the webhook and TwiML paths raise."""


def alert_level(code: int) -> LogLevel:
    """The log level of ``code``; codes outside :data:`ALERTS` count as errors."""
    known = ALERTS.get(code)
    return known.level if known is not None else LogLevel.ERROR


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """One logged alert (a Monitor API ``Alert``, ``NO`` + 32 hex).

    ``url`` is the URL that failed with any ``user:pass@`` removed; ``text`` is a human
    description (never a secret); ``date_created`` is Unix seconds.  ``response_status`` is
    the HTTP status when a response came back; ``message_sid`` is the message the request
    was about, when any.
    """

    sid: str
    account_sid: str
    error_code: int
    log_level: LogLevel
    text: str
    date_created: float
    url: str | None = None
    request_method: str | None = None
    response_status: int | None = None
    message_sid: str | None = None


def new_alert_sid() -> str:
    """A fresh random alert SID: ``NO`` + 32 lowercase hex digits."""
    return "NO" + secrets.token_hex(16)


def new_alert(
    *,
    account_sid: str,
    error_code: int,
    text: str,
    now: float,
    url: str | None = None,
    request_method: str | None = None,
    response_status: int | None = None,
    message_sid: str | None = None,
    sid: str | None = None,
) -> Alert:
    """An :class:`Alert` with its level looked up in :data:`ALERTS` and a fresh SID."""
    return Alert(
        sid=sid if sid is not None else new_alert_sid(),
        account_sid=account_sid,
        error_code=error_code,
        log_level=alert_level(error_code),
        text=text,
        date_created=now,
        url=url,
        request_method=request_method,
        response_status=response_status,
        message_sid=message_sid,
    )
