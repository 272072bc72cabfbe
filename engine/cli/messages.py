"""``smpp-engine messages list`` and ``messages show SID`` (with its status history).

Both read through the daemon's REST API with the ``twilio`` helper library; ``show`` adds
the status history from the data directory's store file (read-only), which the Twilio API
does not expose.  With no daemon running, both read the store file directly.
"""

from __future__ import annotations

import argparse
import datetime as _dt
from pathlib import Path
from typing import Any

from engine.cli._daemon import CliError, add_options, api_error, emit, message_dict, readonly


def register(sub: Any) -> None:
    """Add the ``messages`` parser."""
    p = sub.add_parser("messages", help="list messages or show one with its status history")
    act = p.add_subparsers(dest="messages_command", metavar="ACTION", required=True)
    ls = act.add_parser("list", help="the account's messages, newest first")
    ls.add_argument("--to", help="only messages to this number")
    ls.add_argument("--from", dest="from_", help="only messages from this number")
    ls.add_argument("--limit", type=int, default=20, help="at most this many (default: 20)")
    add_options(ls)
    ls.set_defaults(run=run_list)
    show = act.add_parser("show", help="one message and every status it went through")
    show.add_argument("sid", metavar="SID")
    add_options(show)
    show.set_defaults(run=run_show)


def _store_path(ns: argparse.Namespace) -> Path:
    from engine.aio.app import MESSAGES_DB

    return Path(ns.data_dir) / MESSAGES_DB


def _use_api(ns: argparse.Namespace) -> bool:
    from engine.aio.app import read_run_info

    return ns.api is not None or read_run_info(ns.data_dir) is not None


def _local_rows(ns: argparse.Namespace, where: str, args: list[Any], limit: int) -> list[Any]:
    from engine.store._sqlite_sql import COLUMNS
    from engine.store._sqlite_writer import record_from_row

    path = _store_path(ns)
    if not path.exists():
        raise CliError(f"no daemon running and no store at {path}")
    with readonly(path) as conn:
        rows = conn.execute(
            f"SELECT {COLUMNS} FROM messages WHERE {where} ORDER BY id DESC LIMIT ?",
            [*args, limit],
        ).fetchall()
    return [record_from_row(r) for r in rows]


def _record_dict(rec: Any) -> dict[str, Any]:
    def iso(t: float | None) -> str | None:
        return None if t is None else _dt.datetime.fromtimestamp(t, _dt.UTC).isoformat()

    return {
        "sid": rec.sid,
        "account_sid": rec.account_sid,
        "direction": rec.direction,
        "from": rec.from_,
        "to": rec.to,
        "body": rec.body,
        "status": rec.status,
        "num_segments": str(rec.num_segments),
        "error_code": rec.error_code,
        "error_message": rec.error_message,
        "date_created": iso(rec.date_created),
        "date_sent": iso(rec.date_sent),
        "date_updated": iso(rec.date_updated),
    }


def _line(m: dict[str, Any]) -> str:
    error = f" error {m['error_code']}" if m.get("error_code") else ""
    return f"{m['sid']}  {m['status']:<11} {m['from']} -> {m['to']}{error}  {m['body'][:40]!r}"


def run_list(ns: argparse.Namespace) -> int:
    """Print the newest messages."""
    from twilio.base.exceptions import TwilioException

    from engine.cli._daemon import target

    if not 1 <= ns.limit <= 1000:
        raise CliError("--limit: expected 1..1000", code=2)
    if _use_api(ns):
        client = target(ns).client()
        filters: dict[str, Any] = {"limit": ns.limit}
        if ns.to:
            filters["to"] = ns.to
        if ns.from_:
            filters["from_"] = ns.from_
        try:
            items = [message_dict(m) for m in client.messages.list(**filters)]
        except TwilioException as exc:
            raise api_error(exc) from None
    else:
        where, args = ["1"], []
        if ns.account_sid:
            where.append("account_sid = ?")
            args.append(ns.account_sid)
        if ns.to:
            where.append("to_ = ?")
            args.append(ns.to)
        if ns.from_:
            where.append("from_ = ?")
            args.append(ns.from_)
        items = [_record_dict(r) for r in _local_rows(ns, " AND ".join(where), args, ns.limit)]
    emit(ns, items, "\n".join(_line(m) for m in items) if items else "no messages")
    return 0


def _history(ns: argparse.Namespace, sid: str) -> list[dict[str, Any]] | None:
    from engine.store._sqlite_sql import SELECT_HEAD, SELECT_HISTORY

    path = _store_path(ns)
    if not path.exists():
        return None
    with readonly(path) as conn:
        head = conn.execute(SELECT_HEAD, (sid,)).fetchone()
        if head is None:
            return None
        msg_id, direction, created = head
        rows = conn.execute(SELECT_HISTORY, (msg_id,)).fetchall()
    first = ("received" if direction == "inbound" else "queued", created, None)
    return [
        {
            "status": s,
            "at": _dt.datetime.fromtimestamp(a, _dt.UTC).isoformat(timespec="milliseconds"),
            "detail": d,
        }
        for s, a, d in [first, *rows]
    ]


def run_show(ns: argparse.Namespace) -> int:
    """Print one message and its status history (exit 1 when there is no such message)."""
    from twilio.base.exceptions import TwilioException

    from engine.cli._daemon import target

    sid = ns.sid
    if not (len(sid) == 34 and sid[:2] in ("SM", "MM") and sid[2:].isalnum()):
        raise CliError(f"SID: expected SM followed by 32 hex digits, got {sid!r}", code=2)
    if _use_api(ns):
        try:
            item = message_dict(target(ns).client().messages(sid).fetch())
        except TwilioException as exc:
            raise api_error(exc) from None
    else:
        rows = _local_rows(ns, "sid = ?", [sid], 1)
        if not rows:
            raise CliError(f"no message {sid}")
        item = _record_dict(rows[0])
    history = _history(ns, sid)
    item["history"] = history
    lines = [_line(item)]
    if history is None:
        lines.append("  (status history: only on the daemon's machine, from its data directory)")
    else:
        lines += [f"  {h['at']}  {h['status']:<11} {h['detail'] or ''}".rstrip() for h in history]
    emit(ns, item, "\n".join(lines))
    return 0
