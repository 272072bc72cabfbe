"""The ``smpp-engine`` command (also ``python -m engine``).

Commands today:

- ``smpp-engine demo``: an end-to-end run on loopback (store, scheduler, ESME client,
  simulated carrier, receipts); see :mod:`engine.demo`.
- ``smpp-engine sim [options]``: the simulated carrier as a server; the same options as
  ``python -m engine.sim`` (see ``smpp-engine sim --help``).
- ``smpp-engine version``.

``smpp-engine serve`` (the daemon with the REST API) is not built yet.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: the process arguments) and run the command; the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="smpp-engine",
        description="smpp-engine: an SMS gateway engine (SMPP 3.4 in both roles).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo = commands.add_parser("demo", help="end-to-end run on loopback, then exit")
    demo.add_argument("--database", help="keep the SQLite file here (default: temporary)")
    commands.add_parser(
        "sim", help="run the simulated carrier (SMSC); 'sim --help' for its options", add_help=False
    )
    commands.add_parser("version", help="print the version")

    if args[:1] == ["sim"]:
        # The carrier owns its options; hand the rest of the line to it untouched.
        from engine.sim.__main__ import main as sim_main

        return sim_main(args[1:])
    ns = parser.parse_args(args)
    if ns.command == "version":
        import engine

        print(f"smpp-engine {engine.__version__}")
        return 0
    from engine.demo import main as demo_main

    return demo_main(ns.database)


if __name__ == "__main__":
    sys.exit(main())
