"""One HTTP worker process of ``smpp-engine serve --workers N``.

Started by :class:`engine.aio.app.Gateway` with the listening socket inherited as a file
descriptor: every worker accepts on it (the kernel spreads connections), opens the same
SQLite store and directory, and answers the REST API.  Accepted messages reach the
dispatcher (in the parent process) through the store: nothing else is shared.  SIGTERM:
answer 503 from then on, finish the requests in progress, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from engine.scheduler import Pacer

__all__ = ["WorkerHooks", "main"]


class WorkerHooks:
    """The REST hooks of a process without a dispatcher: the sender limit comes from the
    number's own rate or its tier; the dispatcher learns of messages by polling."""

    def __init__(self, directory: Any, validity: float) -> None:
        self._directory = directory
        self._pacer = Pacer(validity=validity)

    def accepted(self, record: Any) -> None:
        """Nothing to wake here: the dispatcher polls the store."""

    def canceled(self, record: Any) -> None:
        """Nothing to do: the dispatcher finds the message canceled when it comes up."""

    def sender_limit(self, from_: str) -> int | None:
        """Rate times validity: the most segments a sender may have queued (21611)."""
        number = self._directory.get_number(from_)
        rate = getattr(number, "rate", None) if number is not None else None
        if rate is None:
            try:
                rate = self._pacer.rate_for(from_)
            except (TypeError, ValueError):
                return None
        return int(rate * self._pacer.validity)


async def _serve(ns: argparse.Namespace) -> int:
    from engine.aio.app import DIRECTORY_DB, MESSAGES_DB
    from engine.aio.rest import make_rest_app, set_draining
    from engine.store import SqliteStore
    from engine.store.directory import Directory

    data_dir = Path(ns.data_dir)
    sock = socket.socket(fileno=ns.fd)
    sock.setblocking(False)
    store = await SqliteStore.open(data_dir / MESSAGES_DB, synchronous=ns.synchronous)
    directory = Directory(data_dir / DIRECTORY_DB)
    from engine.aio.metrics import FileSource

    app = make_rest_app(
        store=store,
        directory=directory,
        hooks=WorkerHooks(directory, ns.validity),
        client_max_size=ns.max_body,
        metrics=FileSource(data_dir, data_dir / MESSAGES_DB),
    )
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    set_draining(app, True)
    await runner.cleanup()  # waits for the requests in progress
    await store.close()
    directory.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``python -m engine.aio.worker --data-dir D --fd N``."""
    parser = argparse.ArgumentParser(prog="smpp-engine-worker")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--max-body", type=int, default=64 * 1024)
    parser.add_argument("--synchronous", default="FULL")
    parser.add_argument("--validity", type=float, default=36_000.0)
    ns = parser.parse_args(argv)
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    return asyncio.run(_serve(ns))


if __name__ == "__main__":
    sys.exit(main())
