"""``smpp-engine serve``: the gateway daemon (see :mod:`engine.daemon`)."""

from __future__ import annotations

import argparse
from typing import Any

from engine.config import DEFAULT_DATA_DIR, DEFAULT_LISTEN


def register(sub: Any) -> None:
    """Add the ``serve`` parser."""
    p = sub.add_parser("serve", help="run the gateway daemon")
    p.add_argument(
        "--data-dir",
        default=DEFAULT_DATA_DIR,
        help=f"where data lives (default: {DEFAULT_DATA_DIR})",
    )
    p.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        help=f"HOST:PORT of the REST API (default: {DEFAULT_LISTEN})",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="HTTP worker processes sharing the store (default: 1)",
    )
    p.set_defaults(run=run)


def run(ns: argparse.Namespace) -> int:
    """Run the daemon until a signal."""
    from engine.config import default
    from engine.daemon import run as run_daemon

    return run_daemon(default(ns.data_dir, ns.listen, workers=ns.workers))
