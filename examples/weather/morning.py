"""Send the morning forecast to every subscriber through the REST API with the ``twilio``
helper library, as any application would::

    export TWILIO_ACCOUNT_SID=AC... TWILIO_AUTH_TOKEN=...
    python -m examples.weather.morning --api http://127.0.0.1:8080 \\
        --from +14155550100 examples/weather/subscribers.txt

The subscribers file has one ``PHONE ZIP`` a line (``#`` starts a comment).  Prints one
``PHONE SID`` line per message sent; exit 1 when any was refused.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from examples.weather.forecasts import morning_text


def read_subscribers(lines: Iterable[str]) -> list[tuple[str, str]]:
    """(phone, ZIP) pairs from ``PHONE ZIP`` lines; ValueError naming the bad line."""
    out = []
    for n, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            raise ValueError(f"line {n}: expected 'PHONE ZIP', got {raw.strip()!r}")
        out.append((parts[0], parts[1]))
    return out


def send_morning(
    client: Client,
    from_: str,
    subscribers: Sequence[tuple[str, str]],
    status_callback: str | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """Send each subscriber its forecast: ({phone: message SID}, {phone: error})."""
    sent: dict[str, str] = {}
    errors: dict[str, str] = {}
    for phone, zip_code in subscribers:
        try:
            options = {"to": phone, "from_": from_, "body": morning_text(zip_code)}
            if status_callback:
                options["status_callback"] = status_callback
            sent[phone] = client.messages.create(**options).sid
        except (KeyError, TwilioRestException) as exc:
            errors[phone] = str(exc)
    return sent, errors


def main(argv: Sequence[str] | None = None) -> int:
    """Send the morning forecasts; the exit code."""
    parser = argparse.ArgumentParser(description="Send the morning weather forecast")
    parser.add_argument("subscribers", type=Path, help="a file of 'PHONE ZIP' lines")
    parser.add_argument("--from", dest="from_", required=True, help="the sending number")
    parser.add_argument("--api", default="http://127.0.0.1:8080", help="the gateway's API")
    parser.add_argument("--status-callback", help="where delivery statuses are POSTed")
    ns = parser.parse_args(argv)
    sid, token = os.environ.get("TWILIO_ACCOUNT_SID"), os.environ.get("TWILIO_AUTH_TOKEN")
    if not sid or not token:
        print("set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN", file=sys.stderr)
        return 2
    try:
        subscribers = read_subscribers(ns.subscribers.read_text().splitlines())
    except (OSError, ValueError) as exc:
        print(f"{ns.subscribers}: {exc}", file=sys.stderr)
        return 2
    client = Client(sid, token)
    client.api.base_url = ns.api.rstrip("/")
    sent, errors = send_morning(client, ns.from_, subscribers, ns.status_callback)
    for phone, message_sid in sent.items():
        print(phone, message_sid)
    for phone, error in errors.items():
        print(f"{phone}: not sent: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
