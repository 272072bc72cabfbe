"""``smpp-engine alerts list``: the newest alerts (failed webhooks, TwiML problems,
incomplete inbound messages), as Twilio's debugger shows them."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from engine.config import DEFAULT_DATA_DIR


def register(sub: Any) -> None:
    """Add the ``alerts`` parser."""
    p = sub.add_parser("alerts", help="list alerts (webhook and TwiML failures)")
    act = p.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)
    lst = act.add_parser("list", help="list the newest alerts, newest first")
    lst.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    lst.add_argument("--account", default=None, help="only this account's alerts (AC...)")
    lst.add_argument(
        "--level", choices=("error", "warning", "notice", "debug"), default=None, help="log level"
    )
    lst.add_argument("--limit", type=int, default=50, help="most alerts shown (1..1000)")
    lst.add_argument("--json", action="store_true", help="print JSON lines for scripts")
    lst.set_defaults(run=run_list)


def run_list(ns: argparse.Namespace) -> int:
    """Print the alerts of the data directory's directory file."""
    from engine.aio.app import DIRECTORY_DB
    from engine.store.directory import Directory

    path = Path(ns.data_dir) / DIRECTORY_DB
    if not path.exists():
        print(f"smpp-engine alerts: no directory at {path} (wrong --data-dir?)", file=sys.stderr)
        return 1
    if not 1 <= ns.limit <= 1000:
        print("smpp-engine alerts: --limit: expected 1..1000", file=sys.stderr)
        return 2
    directory = Directory(path)
    try:
        alerts = directory.list_alerts(ns.account, limit=ns.limit, log_level=ns.level)
    finally:
        directory.close()
    for alert in alerts:
        when = dt.datetime.fromtimestamp(alert.date_created, dt.UTC)
        if ns.json:
            record = {
                "sid": alert.sid,
                "account_sid": alert.account_sid,
                "error_code": alert.error_code,
                "log_level": alert.log_level,
                "text": alert.text,
                "date_created": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "url": alert.url,
                "request_method": alert.request_method,
                "response_status": alert.response_status,
                "message_sid": alert.message_sid,
            }
            print(json.dumps(record))
            continue
        status = f" HTTP {alert.response_status}" if alert.response_status else ""
        where = f" {alert.request_method or ''} {alert.url}{status}" if alert.url else ""
        print(
            f"{when:%Y-%m-%d %H:%M:%S} {alert.error_code} {alert.log_level:<7} "
            f"{alert.message_sid or '-'}{where}\n    {alert.text}"
        )
    if not alerts and not ns.json:
        print("no alerts")
    return 0
