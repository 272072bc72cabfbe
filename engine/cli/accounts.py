"""``smpp-engine accounts create``: a new account, its SID and auth token printed once."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from engine.config import DEFAULT_DATA_DIR


def register(sub: Any) -> None:
    """Add the ``accounts`` parser."""
    p = sub.add_parser("accounts", help="manage accounts")
    acc = p.add_subparsers(dest="accounts_command", metavar="ACTION", required=True)
    create = acc.add_parser("create", help="create an account and print its SID and auth token")
    create.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    create.add_argument("--friendly-name", default="")
    create.add_argument("--json", action="store_true", help="print JSON for scripts")
    create.set_defaults(run=run_create)


def run_create(ns: argparse.Namespace) -> int:
    """Create the account in the data directory's directory file."""
    from engine.aio.app import DIRECTORY_DB
    from engine.store.directory import Directory

    data_dir = Path(ns.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    directory = Directory(data_dir / DIRECTORY_DB)
    try:
        account = directory.create_account(ns.friendly_name or "Account")
    finally:
        directory.close()
    if ns.json:
        print(
            json.dumps(
                {
                    "account_sid": account.sid,
                    "auth_token": account.auth_token,
                    "friendly_name": account.friendly_name,
                }
            )
        )
    else:
        print(f"Account SID: {account.sid}")
        print(f"Auth token:  {account.auth_token}")
    return 0
