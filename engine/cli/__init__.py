"""The ``smpp-engine`` command line, one module per command.

Each module in :data:`COMMANDS` has ``register(subparsers)`` (adds its parser; the parser's
``run`` default is the function that runs it) and is imported only when the command line
is built, so that ``import engine`` stays light.  Commands print human output by default
and JSON with ``--json``; errors go to stderr; exit codes: 0 success, 1 failure, 2 bad
usage or configuration.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Final

__all__ = ["COMMANDS", "build_parser"]

COMMANDS: Final = (
    "serve",
    "config",
    "send",
    "accounts",
    "numbers",
    "messages",
    "alerts",
    "sim_mo",
    "demo",
    "version",
)


def build_parser() -> argparse.ArgumentParser:
    """The whole parser: every command of :data:`COMMANDS` (``sim_mo`` adds ``sim mo``;
    ``engine.__main__`` hands any other ``sim`` line to the carrier's own parser)."""
    parser = argparse.ArgumentParser(
        prog="smpp-engine",
        description="smpp-engine: an SMS gateway engine (SMPP 3.4 in both roles, "
        "a Twilio-compatible REST API).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"engine.cli.{name}").register(sub)
    return parser
