"""The form parameters of Twilio's messaging webhooks (twilio-compat.md §5, §6).

:func:`status_callback_params` builds a status callback (a message's ``StatusCallback``, or a
TwiML ``<Message action>``); :func:`inbound_webhook_params` builds the request made to a
number's ``SmsUrl`` for an inbound message; :func:`fallback_params` adds what Twilio adds
when it falls back to ``SmsFallbackUrl``.  Every value is a string, as on the wire.

This module is pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

__all__ = [
    "API_VERSION",
    "ERROR_STATUSES",
    "Geo",
    "fallback_params",
    "inbound_webhook_params",
    "status_callback_params",
]

API_VERSION = "2010-04-01"
"""The ``ApiVersion`` every messaging webhook carries."""

ERROR_STATUSES = frozenset({"failed", "undelivered"})
"""The statuses whose status callback carries ``ErrorCode``."""


class Geo(msgspec.Struct, frozen=True, kw_only=True):
    """What is known of where a number is (``FromCity``, ``ToCountry``, ...).

    Unknown fields are sent as empty strings, as Twilio's own payloads do.
    """

    city: str = ""
    state: str = ""
    zip: str = ""
    country: str = ""


_NO_GEO = Geo()


def status_callback_params(
    *,
    message_sid: str,
    account_sid: str,
    from_: str,
    to: str,
    status: str,
    error_code: int | None,
    raw_dlr_done_date: str | None = None,
    messaging_service_sid: str | None = None,
) -> dict[str, str]:
    """The parameters of a status callback for ``message_sid`` entering ``status``.

    ``ErrorCode`` is sent only for ``failed`` and ``undelivered`` (and only when known);
    ``RawDlrDoneDate`` (the receipt's ``done date:``, ``YYMMDDhhmm``) only when given;
    ``MessagingServiceSid`` only for a message sent through a service.
    """
    params = {
        "MessageSid": message_sid,
        "SmsSid": message_sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "AccountSid": account_sid,
        "From": from_,
        "To": to,
        "ApiVersion": API_VERSION,
    }
    if messaging_service_sid:
        params["MessagingServiceSid"] = messaging_service_sid
    if error_code is not None and status in ERROR_STATUSES:
        params["ErrorCode"] = str(error_code)
    if raw_dlr_done_date:
        params["RawDlrDoneDate"] = raw_dlr_done_date
    return params


def inbound_webhook_params(
    *,
    message_sid: str,
    account_sid: str,
    from_: str,
    to: str,
    body: str,
    num_segments: int,
    media: Sequence[tuple[str, str]] = (),
    from_geo: Geo | None = None,
    to_geo: Geo | None = None,
    messaging_service_sid: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The parameters of the inbound-message webhook to a number's ``SmsUrl``.

    ``media`` is a sequence of ``(url, content_type)`` and gives ``NumMedia`` and the
    zero-based ``MediaUrlN``/``MediaContentTypeN``.  The geo fields are always present
    (empty when unknown).  ``extra`` (for example ``OptOutType``) is added last and may
    not replace a standard parameter.
    """
    from_geo = from_geo or _NO_GEO
    to_geo = to_geo or _NO_GEO
    params = {
        "MessageSid": message_sid,
        "SmsSid": message_sid,
        "SmsMessageSid": message_sid,
        "AccountSid": account_sid,
        "From": from_,
        "To": to,
        "Body": body,
        "NumMedia": str(len(media)),
        "NumSegments": str(num_segments),
        "SmsStatus": "received",
        "ApiVersion": API_VERSION,
        "FromCity": from_geo.city,
        "FromState": from_geo.state,
        "FromZip": from_geo.zip,
        "FromCountry": from_geo.country,
        "ToCity": to_geo.city,
        "ToState": to_geo.state,
        "ToZip": to_geo.zip,
        "ToCountry": to_geo.country,
    }
    if messaging_service_sid:
        params["MessagingServiceSid"] = messaging_service_sid
    for i, (url, content_type) in enumerate(media):
        params[f"MediaUrl{i}"] = url
        params[f"MediaContentType{i}"] = content_type
    if extra:
        clash = sorted(set(extra) & set(params))
        if clash:
            raise ValueError(f"extra: may not replace standard parameter(s) {', '.join(clash)}")
        params.update(extra)
    return params


def fallback_params(params: Mapping[str, str], error_code: int, error_url: str) -> dict[str, str]:
    """``params`` plus the ``ErrorCode`` and ``ErrorUrl`` sent to ``SmsFallbackUrl``.

    ``error_url`` should be the failed URL without its ``user:pass@`` (see
    :func:`engine.twilio.signature.signing_url`).
    """
    return {**params, "ErrorCode": str(error_code), "ErrorUrl": error_url}
