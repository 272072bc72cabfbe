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
import signal
import sys
from collections.abc import Callable
from typing import Any

from engine.config import GatewayConfig

__all__ = ["banner", "run", "serve"]

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
    say(banner(gw))
    sys.stdout.flush()
    try:
        await stop.wait()
        say("stopping: no new messages taken; finishing what is in flight")
    finally:
        await gw.stop()
    say("stopped")
    return 0


def run(config: GatewayConfig) -> int:
    """Run :func:`serve` on a fresh event loop (uvloop when installed)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    try:
        return asyncio.run(serve(config))
    except OSError as exc:
        print(f"smpp-engine serve: {exc}", file=sys.stderr)
        return 2
