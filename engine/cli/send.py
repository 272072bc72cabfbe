"""``smpp-engine send --from N --to N TEXT``: send a message through the daemon's REST API
with the ``twilio`` helper library, exactly as an application would."""

from __future__ import annotations

import argparse
import time
from typing import Any

from engine.cli._daemon import CliError, add_options, api_error, emit, message_dict, target

FINAL = frozenset({"delivered", "undelivered", "failed", "canceled", "received", "read"})


def register(sub: Any) -> None:
    """Add the ``send`` parser."""
    p = sub.add_parser(
        "send",
        help="send a message through the running daemon's REST API",
        description="Create a message with Twilio's helper library (POST Messages.json). "
        "Exit 0 when the API accepted it (with --wait: when it was delivered), 1 otherwise.",
    )
    p.add_argument("--from", dest="from_", required=True, help="a number the account owns")
    p.add_argument("--to", required=True, help="the destination (E.164, e.g. +15557654321)")
    p.add_argument("text", metavar="TEXT", help="the message body")
    p.add_argument("--status-callback", metavar="URL", help="where status changes are POSTed")
    p.add_argument(
        "--wait",
        type=float,
        metavar="SECONDS",
        help="wait up to SECONDS for a final status (exit 1 unless delivered)",
    )
    add_options(p)
    p.set_defaults(run=run)


def run(ns: argparse.Namespace) -> int:
    """Create the message; print its SID and status (or its JSON)."""
    from twilio.base.exceptions import TwilioException

    client = target(ns).client()
    options: dict[str, Any] = {"to": ns.to, "from_": ns.from_, "body": ns.text}
    if ns.status_callback:
        options["status_callback"] = ns.status_callback
    try:
        msg = client.messages.create(**options)
        if ns.wait is not None:
            deadline = time.monotonic() + ns.wait
            while msg.status not in FINAL and time.monotonic() < deadline:
                time.sleep(0.1)
                msg = client.messages(msg.sid).fetch()
    except TwilioException as exc:
        raise api_error(exc) from None
    emit(ns, message_dict(msg), f"{msg.sid} {msg.status}")
    if ns.wait is not None and msg.status != "delivered":
        raise CliError(f"{msg.sid} is {msg.status}, not delivered")
    return 0
