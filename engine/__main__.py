"""The ``smpp-engine`` command (also ``python -m engine``).

- ``smpp-engine serve [--data-dir DIR] [--listen HOST:PORT] [--workers N]``: the gateway
  daemon (Twilio-compatible REST API, dispatcher, carrier links); with no configuration it
  runs on the embedded default (SQLite in ``./smpp-engine-data``, the simulated carrier on
  loopback, a demo account).  See :mod:`engine.daemon`.
- ``smpp-engine accounts create [--friendly-name NAME] [--json]``: a new account (its SID
  and auth token are printed once).
- ``smpp-engine demo``: an end-to-end run on loopback, then exit (see :mod:`engine.demo`).
- ``smpp-engine sim [options]``: the simulated carrier as a server (``sim --help``).
- ``smpp-engine version``.

Errors go to stderr; exit codes: 0 success, 1 failure, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from engine.config import DEFAULT_DATA_DIR, DEFAULT_LISTEN, ConfigError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smpp-engine",
        description="smpp-engine: an SMS gateway engine (SMPP 3.4 in both roles, "
        "a Twilio-compatible REST API).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser("serve", help="run the gateway daemon")
    serve.add_argument(
        "--data-dir",
        default=DEFAULT_DATA_DIR,
        help=f"where data lives (default: {DEFAULT_DATA_DIR})",
    )
    serve.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        help=f"HOST:PORT of the REST API (default: {DEFAULT_LISTEN})",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="HTTP worker processes sharing the store (default: 1)",
    )

    accounts = commands.add_parser("accounts", help="manage accounts")
    acc = accounts.add_subparsers(dest="accounts_command", metavar="ACTION", required=True)
    create = acc.add_parser("create", help="create an account and print its SID and auth token")
    create.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    create.add_argument("--friendly-name", default="")
    create.add_argument("--json", action="store_true", help="print JSON for scripts")

    demo = commands.add_parser("demo", help="end-to-end run on loopback, then exit")
    demo.add_argument("--database", help="keep the SQLite file here (default: temporary)")
    commands.add_parser(
        "sim", help="run the simulated carrier (SMSC); 'sim --help' for its options", add_help=False
    )
    commands.add_parser("version", help="print the version")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: the process arguments) and run the command; the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["sim"]:
        # The carrier owns its options; hand the rest of the line to it untouched.
        from engine.sim.__main__ import main as sim_main

        return sim_main(args[1:])
    parser = _parser()
    ns = parser.parse_args(args)
    try:
        if ns.command == "serve":
            from engine.config import default
            from engine.daemon import run

            return run(default(ns.data_dir, ns.listen, workers=ns.workers))
        if ns.command == "accounts":
            return _accounts(ns)
    except ConfigError as exc:
        print(f"smpp-engine: configuration error: {exc}", file=sys.stderr)
        return 2
    if ns.command == "version":
        import engine

        print(f"smpp-engine {engine.__version__}")
        return 0
    from engine.demo import main as demo_main

    return demo_main(ns.database)


def _accounts(ns: argparse.Namespace) -> int:
    from pathlib import Path

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


if __name__ == "__main__":
    sys.exit(main())
