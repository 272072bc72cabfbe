"""``smpp-engine version``."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add the ``version`` parser."""
    sub.add_parser("version", help="print the version").set_defaults(run=run)


def run(ns: argparse.Namespace) -> int:
    """Print the version."""
    import engine

    print(f"smpp-engine {engine.__version__}")
    return 0
