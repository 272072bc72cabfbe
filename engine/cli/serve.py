"""``smpp-engine serve``: the gateway daemon (see :mod:`engine.daemon`).

The configuration is the embedded default (the simulated carrier, a demo account), or a
TOML file given with ``--config`` or the ``SMPP_ENGINE_CONFIG`` environment variable
(``smpp-engine config example`` prints one).  ``--data-dir``, ``--listen``, ``--workers``,
``--log-format`` and ``--log-level`` override the file's values.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import msgspec

from engine.config import DEFAULT_DATA_DIR, DEFAULT_LISTEN, GatewayConfig


def register(sub: Any) -> None:
    """Add the ``serve`` parser."""
    p = sub.add_parser(
        "serve",
        help="run the gateway daemon",
        description="Run the gateway until SIGINT or SIGTERM (exit 0 after a clean stop; "
        "2 for a configuration error, which names the key).",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="a TOML configuration (default: $SMPP_ENGINE_CONFIG; without either, the "
        "embedded simulated carrier and a demo account)",
    )
    p.add_argument("--data-dir", help=f"where data lives (default: {DEFAULT_DATA_DIR})")
    p.add_argument("--listen", help=f"HOST:PORT of the REST API (default: {DEFAULT_LISTEN})")
    p.add_argument(
        "--workers", type=int, help="HTTP worker processes sharing the store (default: 1)"
    )
    p.add_argument("--log-format", choices=("text", "json"), help="log lines (default: text)")
    p.add_argument(
        "--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"), help="(default: INFO)"
    )
    p.set_defaults(run=run)


def configure(ns: argparse.Namespace, env: dict[str, str] | None = None) -> GatewayConfig:
    """The configuration ``serve`` runs with: the file (or the default) and the options."""
    from engine.config import ApiConfig, LogConfig, check, default, revalidate
    from engine.daemon import CONFIG_ENV, load_file

    environ = dict(os.environ if env is None else env)
    path = ns.config or environ.get(CONFIG_ENV)
    config = load_file(path, environ) if path else default()
    api: ApiConfig = config.api
    if ns.listen is not None:
        api = msgspec.structs.replace(api, listen=ns.listen)
    if ns.workers is not None:
        api = msgspec.structs.replace(api, workers=ns.workers)
    log: LogConfig = config.log
    if ns.log_format is not None:
        log = msgspec.structs.replace(log, format=ns.log_format)
    if ns.log_level is not None:
        log = msgspec.structs.replace(log, level=ns.log_level)
    config = msgspec.structs.replace(
        config,
        api=api,
        log=log,
        data_dir=ns.data_dir if ns.data_dir is not None else config.data_dir,
    )
    # The options went around msgspec's validation: check them the same way.
    config = revalidate(config)
    check(config)
    return config


def run(ns: argparse.Namespace) -> int:
    """Run the daemon until a signal."""
    from engine.daemon import run as run_daemon

    return run_daemon(configure(ns))
