"""``smpp-engine serve``: run the gateway until SIGINT or SIGTERM.

On a signal the daemon stops accepting (the API answers 503 in Twilio's shape), lets the
submits in flight finish within ``shutdown_grace``, unbinds from the carriers, flushes the
store and exits 0.  Messages still queued stay in the store and leave, in order, after the
next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sqlite3
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from engine.config import ConfigError, GatewayConfig, load_config, parse_listen

__all__ = ["CONFIG_ENV", "banner", "load_file", "preflight", "run", "serve"]

CONFIG_ENV = "SMPP_ENGINE_CONFIG"
"""The environment variable naming the configuration file when ``--config`` is not given."""

log = logging.getLogger("engine.daemon")


def banner(gw: Any) -> str:
    """What ``serve`` prints once it is up: where, who, and how to send a first message."""
    lines = [f"smpp-engine serving the Twilio-compatible API on {gw.api_url}"]
    lines.append(f"  data directory: {gw.data_dir.resolve()}")
    if gw.sim is not None:
        lines.append(
            f"  carrier: the simulated carrier on 127.0.0.1:{gw.sim.port}, bound over SMPP"
        )
    else:
        names = ", ".join(link.name for link in gw.links) if gw.links else "none"
        lines.append(f"  carrier links: {names}")
    workers = gw.config.api.workers
    if workers > 1:
        lines.append(f"  HTTP workers: {workers}")
    demo = gw.demo
    if demo is not None:
        long_code = demo.numbers[0]
        lines += [
            "",
            f"Demo account SID: {demo.account_sid}",
            f"Demo auth token:  {demo.auth_token}",
            f"Demo numbers:     {', '.join(demo.numbers)}",
            "",
            "Send a message with curl:",
            f"  curl -u {demo.account_sid}:{demo.auth_token} \\",
            f"    {gw.api_url}/2010-04-01/Accounts/{demo.account_sid}/Messages.json \\",
            f"    --data-urlencode From={long_code} --data-urlencode To=+15557654321 \\",
            "    --data-urlencode 'Body=Hello from smpp-engine'",
            "",
            "or with Twilio's helper library (pip install twilio):",
            "  from twilio.rest import Client",
            f'  client = Client("{demo.account_sid}", "{demo.auth_token}")',
            f'  client.api.base_url = "{gw.api_url}"',
            f'  msg = client.messages.create(to="+15557654321", from_="{long_code}", body="hi")',
            "  print(client.messages(msg.sid).fetch().status)",
        ]
        if gw.sim is not None:
            lines += [
                "",
                "Text a demo number as a phone would (through the simulated carrier):",
                f"  smpp-engine sim mo --data-dir {gw.data_dir} --from +15557654321 \\",
                f"    --to {long_code} 'Hello gateway'",
            ]
    lines += ["", "Stop with Ctrl-C (SIGINT) or SIGTERM."]
    return "\n".join(lines)


async def serve(
    config: GatewayConfig,
    *,
    say: Callable[[str], Any] = print,
    stop: asyncio.Event | None = None,
) -> int:
    """Start the gateway, print the banner, run until a signal (or ``stop`` is set),
    then shut down in order.  The exit code: 0 after a clean stop."""
    from engine.aio.app import Gateway

    stop = stop if stop is not None else asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    gw = Gateway(config)
    try:
        await gw.start()
    except BaseException:
        await gw.stop()
        raise
    if gw.demo is not None:
        from engine.logs import redact

        redact(gw.demo.auth_token)  # shown once in the banner (stdout), never in a log
    say(banner(gw))
    sys.stdout.flush()
    try:
        await stop.wait()
        say("stopping: no new messages taken; finishing what is in flight")
    finally:
        await gw.stop()
    say("stopped")
    return 0


def load_file(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> GatewayConfig:
    """Read and check a TOML configuration file (ConfigError naming the key)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    return load_config(data, env=os.environ if env is None else env, source=str(path))


def preflight(config: GatewayConfig, env: Mapping[str, str] | None = None) -> None:
    """What can only be checked on this machine, before anything starts: every link's
    password variable is set, the API port is free, and no number in the data directory
    names a link the configuration does not have.  ConfigError naming the key."""
    from engine.config import check

    check(config, env=os.environ if env is None else env)
    host, port = parse_listen(config.api.listen)
    if port != 0:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise ConfigError(
                    f"cannot listen on {host}:{port}: {exc.strerror or exc}", key="api.listen"
                ) from None
    if config.carriers:
        _check_number_links(config)


def _check_number_links(config: GatewayConfig) -> None:
    """A number whose ``link`` names no configured link has no route."""
    from engine.aio.app import DIRECTORY_DB

    path = Path(config.data_dir) / DIRECTORY_DB
    if not path.exists():
        return
    names = {link.name for link in config.carriers}
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            rows = conn.execute(
                "SELECT phone_number, link FROM numbers WHERE link IS NOT NULL AND link != ''"
            ).fetchall()
    except sqlite3.Error:
        return  # an older directory without per-number links: nothing to check
    for phone, link in rows:
        if link not in names:
            raise ConfigError(
                f"no route: number {phone} in {path} uses link {link!r}, which is not "
                f"configured (links: {', '.join(sorted(names))})",
                key="carriers",
            )


def run(config: GatewayConfig) -> int:
    """Check the configuration on this machine (:func:`preflight`; exit 2 naming the key),
    then run :func:`serve` on a fresh event loop (uvloop when installed)."""
    from engine.logs import redact, setup_logging

    setup_logging(config.log.format, config.log.level)
    try:
        preflight(config)
    except ConfigError as exc:
        print(f"smpp-engine serve: configuration error: {exc}", file=sys.stderr)
        return 2
    redact(*(os.environ.get(link.password_env or "") for link in config.carriers))
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    try:
        return asyncio.run(serve(config))
    except OSError as exc:
        print(f"smpp-engine serve: {exc}", file=sys.stderr)
        return 2
