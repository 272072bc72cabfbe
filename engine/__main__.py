"""The ``smpp-engine`` command (also ``python -m engine``); the commands live in
:mod:`engine.cli`, one module each (``smpp-engine --help`` lists them)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from engine.config import ConfigError


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: the process arguments) and run the command; the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["sim"] and args[1:2] != ["mo"]:
        # The carrier owns its options; hand the rest of the line to it untouched.
        from engine.sim.__main__ import main as sim_main

        return sim_main(args[1:])
    from engine.cli import build_parser

    ns = build_parser().parse_args(args)
    try:
        return int(ns.run(ns))
    except ConfigError as exc:
        print(f"smpp-engine: configuration error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from engine.cli._daemon import CliError

        if not isinstance(exc, CliError):
            raise
        print(f"smpp-engine {ns.command}: {exc}", file=sys.stderr)
        return exc.code


if __name__ == "__main__":
    sys.exit(main())
