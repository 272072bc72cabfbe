"""Twilio's Monitor API, alerts only: ``GET /v1/Alerts`` and ``GET /v1/Alerts/{NO...}``.

Shaped as ``monitor.twilio.com/v1`` answers, so that the helper library works once its
monitor domain points here::

    client.monitor.base_url = "http://127.0.0.1:8080"
    for alert in client.monitor.v1.alerts.list(log_level="error"):
        print(alert.error_code, alert.alert_text)

The credentials are the REST API's (an account SID and its token, or an API key); an
account sees its own alerts.  Filters: ``LogLevel``, ``StartDate``, ``EndDate``
(``YYYY-MM-DD`` or ``YYYY-MM-DDThh:mm:ssZ``, UTC); paging: ``PageSize`` (1..1000, default
50) and ``Page``.  Newer Twilio APIs page with a ``meta`` object whose URLs are absolute.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final
from urllib.parse import urlencode

from aiohttp import web

from engine.twilio.codes import ApiError, not_found
from engine.twilio.params import Form, parse_form, parse_page

__all__ = ["add_monitor_routes", "alert_resource"]

_ALERT_SID: Final = r"{sid:NO[0-9a-fA-F]{32}}"
_LEVELS: Final = frozenset({"error", "warning", "notice", "debug"})


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def alert_resource(alert: Any, base: str) -> dict[str, Any]:
    """One Monitor ``Alert`` resource (``base``: the scheme and host the client used)."""
    created = _iso(alert.date_created)
    return {
        "account_sid": alert.account_sid,
        "alert_text": alert.text,
        "api_version": "2010-04-01",
        "date_created": created,
        "date_generated": created,
        "date_updated": created,
        "error_code": str(alert.error_code),
        "log_level": alert.log_level,
        "more_info": f"https://www.twilio.com/docs/errors/{alert.error_code}",
        "request_method": alert.request_method,
        "request_url": alert.url,
        "request_variables": None,
        "resource_sid": alert.message_sid,
        "response_body": None,
        "response_headers": None,
        "request_headers": None,
        "service_sid": None,
        "sid": alert.sid,
        "url": f"{base}/v1/Alerts/{alert.sid}",
        # Not in Twilio's resource; the status the webhook answered with, when any.
        "response_status": alert.response_status,
    }


def _date(name: str, value: str, *, end: bool) -> float:
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            moment = dt.datetime.combine(day, dt.time.max if end else dt.time.min, dt.UTC)
        else:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
    except ValueError:
        raise ApiError(
            20001, f"Invalid {name} {value[:40]!r}: expected YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ"
        ) from None
    return moment.timestamp()


def add_monitor_routes(app: web.Application, api: Any) -> None:
    """Add the Monitor routes to the REST app; ``api`` authenticates
    (:class:`engine.aio.rest.routes.Api`)."""

    def base(request: web.Request) -> str:
        return f"{request.scheme}://{request.host}"

    async def list_alerts(request: web.Request) -> web.Response:
        account = api.principal(request)
        query: Form = parse_form(request.query_string)
        size, number, _ = parse_page(query)
        level = query.first("LogLevel")
        if level is not None and level not in _LEVELS:
            raise ApiError(20001, f"Invalid LogLevel {level[:20]!r}: {', '.join(sorted(_LEVELS))}")
        start = query.first("StartDate")
        end = query.first("EndDate")
        rows = api.directory.list_alerts(
            account,
            limit=size + 1,
            offset=number * size,
            log_level=level or None,
            since=_date("StartDate", start, end=False) if start else None,
            until=_date("EndDate", end, end=True) if end else None,
        )
        more = len(rows) > size
        rows = rows[:size]
        filters = [(k, v) for k, v in (("LogLevel", level), ("StartDate", start), ("EndDate", end))]
        origin = base(request)

        def url(page: int) -> str:
            params = [(k, v) for k, v in filters if v] + [
                ("PageSize", str(size)),
                ("Page", str(page)),
            ]
            return f"{origin}/v1/Alerts?{urlencode(params)}"

        body = {
            "alerts": [alert_resource(a, origin) for a in rows],
            "meta": {
                "page": number,
                "page_size": size,
                "first_page_url": url(0),
                "previous_page_url": url(number - 1) if number > 0 else None,
                "url": url(number),
                "next_page_url": url(number + 1) if more else None,
                "key": "alerts",
            },
        }
        return web.json_response(body)

    async def fetch_alert(request: web.Request) -> web.Response:
        account = api.principal(request)
        alert = api.directory.get_alert(request.match_info["sid"], account)
        if alert is None:
            raise not_found(request.path)
        return web.json_response(alert_resource(alert, base(request)))

    app.router.add_get("/v1/Alerts", list_alerts)
    app.router.add_get(f"/v1/Alerts/{_ALERT_SID}", fetch_alert)
