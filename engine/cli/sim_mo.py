"""``smpp-engine sim mo``: send an inbound message (MO) through the simulated carrier of a
running ``smpp-engine serve``, as if a person had texted one of its numbers.

The daemon's simulated carrier is reached through its loopback control endpoint (URL and
token in ``DATA_DIR/run.json``, see :mod:`engine.aio.sim_control`).  The command exits 0
once the gateway has answered every deliver_sm with ESME_ROK, 1 otherwise (with the
reason), 2 for bad usage.  ``sim`` with any other first word runs the carrier itself
(``engine.sim``), so only ``mo`` is registered here.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from typing import Any

from engine.config import DEFAULT_DATA_DIR

_TIMEOUT = 60.0


def register(sub: Any) -> None:
    """Add the ``sim`` parser with its ``mo`` action."""
    p = sub.add_parser(
        "sim",
        help="the simulated carrier: 'sim mo' injects an inbound message; "
        "'sim --help' for running a carrier of its own",
    )
    act = p.add_subparsers(dest="sim_command", metavar="ACTION", required=True)
    mo = act.add_parser(
        "mo", help="inject an inbound message through the simulated carrier of a running serve"
    )
    mo.add_argument(
        "--from",
        dest="from_",
        metavar="NUMBER",
        required=True,
        help="the sender, e.g. +15557654321",
    )
    mo.add_argument(
        "--to", metavar="NUMBER", required=True, help="the gateway's number, e.g. +14155550100"
    )
    mo.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="the serve's data directory")
    mo.add_argument("--parts", type=int, default=None, help="send it as N concatenated parts")
    mo.add_argument("--ucs2", action="store_true", help="encode as UCS-2 (data_coding 8)")
    mo.add_argument("text", help="the message text")
    mo.set_defaults(run=run_mo)


def _fail(text: str, code: int = 1) -> int:
    print(f"smpp-engine sim mo: {text}", file=sys.stderr)
    return code


def run_mo(ns: argparse.Namespace) -> int:
    """Inject the message and wait for the gateway's deliver_sm_resp."""
    from engine.aio.app import read_run_info

    info = read_run_info(ns.data_dir)
    if info is None:
        return _fail(f"no running smpp-engine serve found in {ns.data_dir} (no run.json)")
    if not info.control_url or not info.control_token:
        return _fail("the running serve has no simulated carrier (it uses configured links)")
    payload = {
        "from": ns.from_,
        "to": ns.to,
        "text": ns.text,
        "parts": ns.parts,
        "ucs2": ns.ucs2,
    }
    request = urllib.request.Request(
        info.control_url + "/sim/mo",
        data=json.dumps(payload).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {info.control_token}",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            reason = json.loads(exc.read()).get("error", "")
        except ValueError:
            reason = ""
        return _fail(reason or f"HTTP {exc.code}", 2 if exc.code == 400 else 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return _fail(f"cannot reach the running serve (pid {info.pid}): {exc}")
    statuses = [int(s) for s in answer.get("statuses", [])]
    bad = [s for s in statuses if s != 0]
    if bad or not statuses:
        shown = ", ".join(f"0x{s & 0xFFFFFFFF:08X}" for s in bad) or "no answer"
        return _fail(f"the gateway refused the deliver_sm ({shown})")
    parts = len(statuses)
    print(f"delivered to the gateway: {ns.from_} -> {ns.to} ({parts} part{'s' * (parts > 1)})")
    return 0
