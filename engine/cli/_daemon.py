"""What the client commands share: finding the daemon and the credentials, the helper
library pointed at it, and reading a data directory's files when no daemon runs.

The daemon: ``--api URL``, else the ``api_url`` a running ``serve`` wrote to
``DATA_DIR/run.json``.  The credentials: ``--account-sid``/``--auth-token``, else
``TWILIO_ACCOUNT_SID``/``TWILIO_AUTH_TOKEN``, else (for a daemon on this machine) the
demo account of the data directory, its token read from the directory file.  Tokens are
never printed, logged or shown in ``--help``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.config import DEFAULT_DATA_DIR

__all__ = ["CliError", "Target", "add_options", "emit", "message_dict", "readonly", "target"]


class CliError(Exception):
    """A command failed: ``message`` goes to stderr and ``code`` is the exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Target:
    """A daemon to talk to: its API URL and the credentials (``repr`` hides the token)."""

    api_url: str
    account_sid: str
    auth_token: str

    def __repr__(self) -> str:
        return f"Target(api_url={self.api_url!r}, account_sid={self.account_sid!r})"

    def client(self) -> Any:
        """The ``twilio`` helper library's Client, pointed at the daemon."""
        from twilio.rest import Client

        client = Client(self.account_sid, self.auth_token)
        client.api.base_url = self.api_url.rstrip("/")
        return client


def add_options(p: argparse.ArgumentParser, *, daemon: bool = True) -> None:
    """``--data-dir`` and ``--json``; with ``daemon`` also ``--api`` and the credentials."""
    p.add_argument(
        "--data-dir",
        default=DEFAULT_DATA_DIR,
        help=f"the daemon's data directory (default: {DEFAULT_DATA_DIR})",
    )
    if daemon:
        p.add_argument("--api", metavar="URL", help="the daemon's API (default: from DATA_DIR)")
        p.add_argument(
            "--account-sid", help="(default: $TWILIO_ACCOUNT_SID, else the demo account)"
        )
        p.add_argument(
            "--auth-token",
            help="(default: $TWILIO_AUTH_TOKEN; prefer the variable: options show in ps)",
        )
    p.add_argument("--json", action="store_true", help="print JSON for scripts")


def _demo_sid(data_dir: Path) -> str | None:
    from engine.aio.app import DEMO_FILE

    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        return str(json.loads((data_dir / DEMO_FILE).read_text())["account_sid"])
    return None


def _local_token(data_dir: Path, sid: str) -> str | None:
    from engine.aio.app import DIRECTORY_DB

    path = data_dir / DIRECTORY_DB
    if not path.exists():
        return None
    with readonly(path) as conn:
        row = conn.execute("SELECT auth_token FROM accounts WHERE sid = ?", (sid,)).fetchone()
    return None if row is None else str(row[0])


def target(ns: argparse.Namespace) -> Target:
    """The daemon and the credentials (CliError, exit 1, when one is missing)."""
    from engine.aio.app import read_run_info

    data_dir = Path(ns.data_dir)
    api = ns.api
    if api is None:
        info = read_run_info(data_dir)
        if info is None:
            raise CliError(
                f"no daemon running with data directory {data_dir} (no run.json there): "
                "start 'smpp-engine serve' or give --api URL"
            )
        api = info.api_url
    sid = ns.account_sid or os.environ.get("TWILIO_ACCOUNT_SID") or _demo_sid(data_dir)
    if not sid:
        raise CliError("no account: give --account-sid or set TWILIO_ACCOUNT_SID")
    token = ns.auth_token or os.environ.get("TWILIO_AUTH_TOKEN") or _local_token(data_dir, sid)
    if not token:
        raise CliError(f"no auth token for {sid}: give --auth-token or set TWILIO_AUTH_TOKEN")
    return Target(api, sid, token)


@contextlib.contextmanager
def readonly(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to one of the daemon's SQLite files (safe while it runs:
    WAL readers never block its writer)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise CliError(f"cannot open {path}: {exc}") from None
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        yield conn
    finally:
        conn.close()


def _iso(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    return value


def message_dict(m: Any) -> dict[str, Any]:
    """A helper-library MessageInstance as plain JSON-able fields."""
    return {
        "sid": m.sid,
        "account_sid": m.account_sid,
        "direction": m.direction,
        "from": m.from_,
        "to": m.to,
        "body": m.body,
        "status": m.status,
        "num_segments": m.num_segments,
        "error_code": m.error_code,
        "error_message": m.error_message,
        "date_created": _iso(m.date_created),
        "date_sent": _iso(m.date_sent),
        "date_updated": _iso(m.date_updated),
    }


def emit(ns: argparse.Namespace, data: Any, human: str) -> None:
    """Print ``data`` as JSON with ``--json``, else the ``human`` text."""
    if getattr(ns, "json", False):
        print(json.dumps(data, default=str))
    else:
        print(human)
    sys.stdout.flush()


def api_error(exc: Exception) -> CliError:
    """A helper-library error as a CliError (exit 1) with Twilio's code and message."""
    code = getattr(exc, "code", None)
    msg = getattr(exc, "msg", None) or str(exc)
    status = getattr(exc, "status", None)
    return CliError(f"the API answered {status}: {msg}" + (f" (error {code})" if code else ""))
