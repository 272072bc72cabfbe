"""Twilio's JSON resources built from our records (pure, twilio-compat.md §1.2, §1.4, §4).

Dates are RFC 2822 in ``+0000`` (the helper library discards any other offset); counters
are strings; ``error_code`` is an int or null; ``uri`` and the paging URIs are paths under
``/2010-04-01`` (the library glues them to its base URL).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from email.utils import format_datetime
from typing import Any, Final
from urllib.parse import urlencode

from engine.text import plan_segments

__all__ = [
    "API_VERSION",
    "account_resource",
    "key_resource",
    "message_resource",
    "page",
    "rfc2822",
]

API_VERSION: Final = "2010-04-01"
_BASE: Final = f"/{API_VERSION}/Accounts"
_UTC = _dt.UTC


def rfc2822(epoch: float | None) -> str | None:
    """``Thu, 24 Aug 2023 05:01:45 +0000`` for an epoch time; None stays None."""
    if epoch is None:
        return None
    return format_datetime(_dt.datetime.fromtimestamp(int(epoch), _UTC))


def message_resource(rec: Any) -> dict[str, Any]:
    """The Message resource of a :class:`engine.store.MessageRecord`."""
    account, sid = rec.account_sid, rec.sid
    base = f"{_BASE}/{account}/Messages/{sid}"
    encoding = plan_segments(rec.body).encoding if rec.body else "GSM-7"
    return {
        "account_sid": account,
        "api_version": API_VERSION,
        "body": rec.body,
        "date_created": rfc2822(rec.date_created),
        "date_sent": rfc2822(rec.date_sent),
        "date_updated": rfc2822(rec.date_updated),
        "direction": rec.direction,
        "encoding": encoding,
        "error_code": rec.error_code,
        "error_message": rec.error_message,
        "from": rec.from_,
        "messaging_service_sid": None,
        "num_media": str(rec.num_media),
        "num_segments": str(rec.num_segments),
        "price": rec.price,
        "price_unit": rec.price_unit or "USD",
        "sid": sid,
        "status": rec.status,
        "subresource_uris": {
            "media": f"{base}/Media.json",
            "feedback": f"{base}/Feedback.json",
        },
        "to": rec.to,
        "uri": f"{base}.json",
    }


def account_resource(rec: Any, *, with_token: bool = True) -> dict[str, Any]:
    """The Account resource (``auth_token`` only to the account itself or its parent)."""
    base = f"{_BASE}/{rec.sid}"
    return {
        "auth_token": rec.auth_token if with_token else None,
        "date_created": rfc2822(rec.date_created),
        "date_updated": rfc2822(rec.date_updated),
        "friendly_name": rec.friendly_name,
        "owner_account_sid": rec.owner_account_sid,
        "sid": rec.sid,
        "status": rec.status,
        "subresource_uris": {
            "messages": f"{base}/Messages.json",
            "incoming_phone_numbers": f"{base}/IncomingPhoneNumbers.json",
            "available_phone_numbers": f"{base}/AvailablePhoneNumbers.json",
            "keys": f"{base}/Keys.json",
        },
        "type": "Full",
        "uri": f"{base}.json",
    }


def key_resource(rec: Any, secret: str | None = None) -> dict[str, Any]:
    """An API key resource; ``secret`` is included once, in the create answer."""
    out: dict[str, Any] = {
        "sid": rec.sid,
        "friendly_name": rec.friendly_name,
        "date_created": rfc2822(rec.date_created),
        "date_updated": rfc2822(rec.date_updated),
    }
    if secret is not None:
        out["secret"] = secret
    return out


def page(
    key: str,
    records: Sequence[Mapping[str, Any]],
    *,
    path: str,
    filters: Sequence[tuple[str, str]],
    page_size: int,
    page_number: int,
    next_token: str | None,
) -> dict[str, Any]:
    """One list page: exactly one record key plus Twilio's meta keys (the helper library
    refuses anything else); ``next_page_uri`` keeps the filters and is null on the last."""

    def uri(number: int, token: str | None = None) -> str:
        query = [*filters, ("PageSize", str(page_size)), ("Page", str(number))]
        if token is not None:
            query.append(("PageToken", token))
        return f"{path}?{urlencode(query)}"

    start = page_number * page_size
    return {
        "first_page_uri": uri(0),
        "end": start + len(records) - 1 if records else start,
        "next_page_uri": uri(page_number + 1, next_token) if next_token else None,
        "page": page_number,
        "page_size": page_size,
        "previous_page_uri": uri(page_number - 1) if page_number > 0 else None,
        "start": start,
        "uri": uri(page_number),
        key: list(records),
    }
