"""``smpp-engine accounts create``: a new account, its SID and auth token printed once;
``accounts list``: the accounts (never their tokens), from the daemon's REST API with
``--api`` or else from the data directory's directory file."""

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
    ls = acc.add_parser("list", help="list the accounts (SID, name, status; never tokens)")
    from engine.cli._daemon import add_options

    add_options(ls)
    ls.set_defaults(run=run_list)


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


def run_list(ns: argparse.Namespace) -> int:
    """The accounts: through the API (those the credentials may see) with ``--api``,
    else every account in the data directory's file."""
    from engine.aio.app import DIRECTORY_DB
    from engine.cli._daemon import CliError, api_error, emit, readonly, target

    items: list[dict[str, Any]]
    if ns.api is not None:
        from twilio.base.exceptions import TwilioException

        try:
            accounts = target(ns).client().api.v2010.accounts.list()
        except TwilioException as exc:
            raise api_error(exc) from None
        items = [
            {
                "sid": a.sid,
                "friendly_name": a.friendly_name,
                "status": a.status,
                "owner_account_sid": a.owner_account_sid,
            }
            for a in accounts
        ]
    else:
        path = Path(ns.data_dir) / DIRECTORY_DB
        if not path.exists():
            raise CliError(f"no directory at {path} (has 'smpp-engine serve' run there?)")
        with readonly(path) as conn:
            rows = conn.execute(
                "SELECT sid, friendly_name, status, owner_account_sid FROM accounts"
                " ORDER BY date_created"
            ).fetchall()
        items = [
            {"sid": r[0], "friendly_name": r[1], "status": r[2], "owner_account_sid": r[3]}
            for r in rows
        ]
    human = "\n".join(f"{a['sid']}  {a['status']:<9} {a['friendly_name']}" for a in items)
    emit(ns, items, human or "no accounts")
    return 0
