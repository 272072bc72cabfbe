"""``smpp-engine numbers``: the operator's side of the number inventory.

- ``numbers import FILE.csv`` or ``numbers import --range +14155550100-+14155550199``: add
  numbers to the inventory (what the file leaves out is filled from the numbering plan);
  every bad row is reported by line on stderr and nothing is imported (exit 1).
- ``numbers search [--country US] [--type local] [--area-code N] [--contains WORD] ...``:
  the free numbers a customer would be offered, the word shown in the number
  (``+1 415 555 [CAKE]``).
- ``numbers list [--account SID]``: provisioned numbers.

All work on the directory in ``--data-dir`` (the one ``serve`` uses), also while the daemon
runs: it sees imports at its next search.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from engine.config import DEFAULT_DATA_DIR

__all__ = ["register"]

MAX_FILE = 256 * 1024 * 1024  # bytes of CSV read at most
_TYPES = {"local": "Local", "toll-free": "TollFree", "mobile": "Mobile"}


def register(sub: Any) -> None:
    """Add the ``numbers`` parser."""
    p = sub.add_parser("numbers", help="import, search and list phone numbers")
    acts = p.add_subparsers(dest="numbers_command", metavar="ACTION", required=True)

    imp = acts.add_parser("import", help="add numbers to the inventory from a CSV file or range")
    imp.add_argument("file", nargs="?", help="CSV file (first line: column names)")
    imp.add_argument("--range", dest="range_", metavar="FIRST-LAST", help="an E.164 range")
    imp.add_argument("--type", choices=("local", "toll-free", "mobile", "short-code"))
    imp.add_argument("--rate", type=float, help="segments per second of each number")
    imp.add_argument("--link", help="the carrier link that serves the numbers")
    imp.add_argument("--no-mms", action="store_true", help="the numbers cannot send MMS")
    imp.add_argument("--no-voice", action="store_true", help="the numbers have no voice")
    _common(imp)
    imp.set_defaults(run=run_import)

    search = acts.add_parser("search", help="search the free numbers as a customer would")
    search.add_argument("--country", default="US", help="ISO country code (default: US)")
    search.add_argument("--type", default="local", choices=tuple(_TYPES))
    search.add_argument("--area-code")
    search.add_argument("--contains", help="digits, letters (keypad) and * for any digit")
    search.add_argument("--region", help="2-letter state or province")
    search.add_argument("--locality")
    search.add_argument("--postal-code")
    search.add_argument("--limit", type=int, default=20, help="at most this many (1-1000)")
    _common(search)
    search.set_defaults(run=run_search)

    lst = acts.add_parser("list", help="list provisioned numbers")
    lst.add_argument("--account", help="only this account's numbers")
    _common(lst)
    lst.set_defaults(run=run_list)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        default=DEFAULT_DATA_DIR,
        help=f"where data lives (default: {DEFAULT_DATA_DIR})",
    )
    p.add_argument("--json", action="store_true", help="print JSON for scripts")


def _directory(data_dir: str, *, create: bool = False) -> Any:
    from engine.aio.app import DIRECTORY_DB
    from engine.store.directory import Directory

    path = Path(data_dir)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    elif not (path / DIRECTORY_DB).exists():
        print(
            f"error: no directory in {path} (run 'serve' or 'numbers import' first)",
            file=sys.stderr,
        )
        return None
    return Directory(path / DIRECTORY_DB)


def run_import(ns: argparse.Namespace) -> int:
    """Import a CSV file or a range: all numbers or, with any bad row, none."""
    from engine.inventory import InventoryImportError, read_csv, records_for_range

    if (ns.file is None) == (ns.range_ is None):
        print("error: give a CSV file or --range FIRST-LAST (one of them)", file=sys.stderr)
        return 2
    text = ""
    if ns.file is not None:
        try:
            with open(ns.file, encoding="utf-8-sig") as f:
                text = f.read(MAX_FILE + 1)
        except (OSError, UnicodeDecodeError) as exc:
            print(f"error: {ns.file}: {exc}", file=sys.stderr)
            return 1
        if len(text) > MAX_FILE:
            print(f"error: {ns.file}: larger than {MAX_FILE} bytes", file=sys.stderr)
            return 1
    directory = _directory(ns.data_dir, create=True)
    try:
        existing = directory.phone_numbers()
        try:
            if ns.file is not None:
                records = read_csv(text, existing=existing)
            else:
                records = records_for_range(
                    ns.range_,
                    existing=existing,
                    number_type=ns.type,
                    mms=False if ns.no_mms else None,
                    voice=False if ns.no_voice else None,
                    rate=ns.rate,
                    link=ns.link,
                )
        except InventoryImportError as exc:
            where = ns.file if ns.file is not None else ns.range_
            for problem in exc.problems:
                print(f"{where}: {problem}", file=sys.stderr)
            more = exc.total - len(exc.problems)
            if more > 0:
                print(f"{where}: ... and {more} more", file=sys.stderr)
            print(f"error: {exc.total} problem(s), nothing imported", file=sys.stderr)
            return 1
        added = directory.add_inventory(records)
    finally:
        directory.close()
    if ns.json:
        print(json.dumps({"imported": added}))
    else:
        print(f"imported {added} number(s)")
    return 0


def run_search(ns: argparse.Namespace) -> int:
    """Search the free numbers; show the word in each number."""
    from engine.inventory import available_json
    from engine.number_index import NumberIndex, query_from_params
    from engine.numbers import NumberError
    from engine.vanity import render_match

    params = {
        "AreaCode": ns.area_code,
        "Contains": ns.contains,
        "InRegion": ns.region,
        "InLocality": ns.locality,
        "InPostalCode": ns.postal_code,
        "PageSize": str(ns.limit),
    }
    try:
        query = query_from_params(
            ns.country, _TYPES[ns.type], {k: v for k, v in params.items() if v is not None}
        )
    except NumberError as exc:
        flag = {"AreaCode": "--area-code", "Contains": "--contains", "PageSize": "--limit"}
        print(f"error: {flag.get(exc.field, exc.field)}: {exc.reason}", file=sys.stderr)
        return 2
    directory = _directory(ns.data_dir)
    if directory is None:
        return 1
    try:
        nanp = query.iso_country in ("US", "CA") and query.area_code
        _, free = directory.free_inventory(
            iso_country=query.iso_country,
            number_type=query.number_type,
            prefix=f"+1{query.area_code}" if nanp else None,
        )
    finally:
        directory.close()
    found = NumberIndex(free).search(query)
    shown = [
        render_match(r.phone_number, query.contains)
        if query.contains is not None
        else r.phone_number
        for r in found
    ]
    if ns.json:
        print(
            json.dumps(
                [{**available_json(r), "shown": s} for r, s in zip(found, shown, strict=True)]
            )
        )
        return 0
    for r, s in zip(found, shown, strict=True):
        place = ", ".join(p for p in (r.locality, r.region, r.postal_code) if p)
        caps = "/".join(c for c, on in (("SMS", r.sms), ("MMS", r.mms), ("voice", r.voice)) if on)
        print(f"{s:<24} {place:<36} {caps}")
    if not found:
        print("no free numbers match", file=sys.stderr)
    return 0


def run_list(ns: argparse.Namespace) -> int:
    """Print provisioned numbers (of one account, or all)."""
    directory = _directory(ns.data_dir)
    if directory is None:
        return 1
    try:
        records = directory.list_numbers(ns.account) if ns.account else directory.list_provisioned()
    finally:
        directory.close()
    if ns.json:
        print(
            json.dumps(
                [
                    {
                        "phone_number": r.phone_number,
                        "sid": r.sid,
                        "account_sid": r.account_sid,
                        "type": r.number_type,
                        "friendly_name": r.friendly_name,
                        "sms_url": r.sms_url,
                        "rate": r.rate,
                        "link": r.link,
                    }
                    for r in records
                ]
            )
        )
        return 0
    for r in records:
        print(f"{r.phone_number:<16} {r.account_sid}  {r.number_type:<10} {r.friendly_name}")
    if not records:
        print("no provisioned numbers", file=sys.stderr)
    return 0
