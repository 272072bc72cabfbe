"""``smpp-engine config check FILE`` and ``smpp-engine config example``.

``check`` does everything ``serve`` checks before it starts, and nothing else: the TOML
parsed into the typed configuration (unknown keys, wrong types), the values (tier names,
link routes), each link's password variable set in this environment, the API port free,
and the data directory's numbers naming only configured links.  Exit 0 when it would
start, 2 with the key and the reason on stderr when not.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: Any) -> None:
    """Add the ``config`` parser."""
    p = sub.add_parser("config", help="check a configuration file or print an example")
    act = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = act.add_parser(
        "check",
        help="check FILE as 'serve --config FILE' would, without starting anything",
        description="Exit 0 when FILE is a configuration serve would start with; 2 with "
        "the key and the reason on stderr when not.",
    )
    check.add_argument("file", metavar="FILE")
    check.add_argument("--json", action="store_true", help="print JSON for scripts")
    check.set_defaults(run=run_check)
    example = act.add_parser("example", help="print a commented example configuration")
    example.set_defaults(run=run_example)


def run_check(ns: argparse.Namespace) -> int:
    """Load and check the file (a ConfigError reaches engine.__main__: exit 2)."""
    from engine.daemon import load_file, preflight

    config = load_file(ns.file)
    preflight(config)
    links = [link.name for link in config.carriers]
    if ns.json:
        print(
            json.dumps(
                {
                    "ok": True,
                    "file": ns.file,
                    "listen": config.api.listen,
                    "data_dir": config.data_dir,
                    "carriers": links,
                }
            )
        )
    else:
        where = ", ".join(links) if links else "the embedded simulated carrier"
        print(f"{ns.file}: OK (API on {config.api.listen}; carrier links: {where})")
    return 0


def run_example(ns: argparse.Namespace) -> int:
    """Print :data:`engine.config.EXAMPLE`."""
    from engine.config import EXAMPLE

    print(EXAMPLE, end="")
    return 0
