"""``smpp-engine demo``: an end-to-end run on loopback, then exit (see :mod:`engine.demo`)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add the ``demo`` parser."""
    p = sub.add_parser("demo", help="end-to-end run on loopback, then exit")
    p.add_argument("--database", help="keep the SQLite file here (default: temporary)")
    p.set_defaults(run=run)


def run(ns: argparse.Namespace) -> int:
    """Run the demo."""
    from engine.demo import main as demo_main

    return demo_main(ns.database)
