"""The gateway as one object: store, directory, carrier links, dispatcher, webhook client
and REST API, started and stopped in order.

:class:`Gateway` is what ``smpp-engine serve`` runs (engine.daemon adds the signals and the
banner) and what tests and embedders start in-process::

    async with Gateway(engine.config.default(data_dir=str(tmp))) as gw:
        print(gw.api_url, gw.demo.account_sid)

With ``api.workers`` above 1 the HTTP side runs in that many worker processes sharing the
listening socket and the store (engine.aio.worker); this process then runs only the
dispatcher, which learns of their messages through the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from engine.aio.carriers import CarrierLinks
from engine.aio.dispatcher import Dispatcher
from engine.config import CarrierLinkConfig, GatewayConfig, parse_listen
from engine.pdu.constants import CommandStatus
from engine.scheduler import Pacer, Tier

__all__ = ["DemoAccount", "Gateway", "RunInfo", "read_run_info"]

log = logging.getLogger("engine.aio.app")

MESSAGES_DB = "messages.sqlite3"
DIRECTORY_DB = "directory.sqlite3"
RUN_FILE = "run.json"
DEMO_FILE = "demo.json"
SIM_SYSTEM_ID = "gateway"
SIM_LINK = "sim"

# The demo account's numbers: a long code, a toll-free number and a short code.
DEMO_NUMBERS: tuple[tuple[str, str], ...] = (
    ("+14155550100", "local"),
    ("+18005550100", "toll-free"),
    ("12345", "short-code"),
)


@dataclass(frozen=True)
class DemoAccount:
    """The embedded default's account: its credentials and numbers."""

    account_sid: str
    auth_token: str
    numbers: tuple[str, ...]


@dataclass(frozen=True)
class RunInfo:
    """What a running daemon writes to ``DATA_DIR/run.json`` for the CLI to find it."""

    pid: int
    api_url: str
    sim_port: int | None
    sim_system_id: str | None
    control_url: str | None = None
    control_token: str | None = None

    def __repr__(self) -> str:  # never the token
        return f"RunInfo(pid={self.pid}, api_url={self.api_url!r}, sim_port={self.sim_port})"


def read_run_info(data_dir: str | os.PathLike[str]) -> RunInfo | None:
    """The running daemon's :class:`RunInfo` in ``data_dir``, or None."""
    path = Path(data_dir) / RUN_FILE
    try:
        raw = json.loads(path.read_text())
        return RunInfo(
            pid=int(raw["pid"]),
            api_url=str(raw["api_url"]),
            sim_port=raw.get("sim_port"),
            sim_system_id=raw.get("sim_system_id"),
            control_url=raw.get("control_url"),
            control_token=raw.get("control_token"),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


class Gateway:
    """Every part of the daemon; ``start()`` then ``stop()`` (or ``async with``)."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.data_dir = Path(config.data_dir)
        self.store: Any = None
        self.directory: Any = None
        self.sim: Any = None
        self.links: CarrierLinks | None = None
        self.dispatcher: Dispatcher | None = None
        self.webhooks: Any = None
        self.inbound: Any = None
        self._control: Any = None
        self.demo: DemoAccount | None = None
        self.app: web.Application | None = None
        self._runner: web.AppRunner | None = None
        self._sock: socket.socket | None = None
        self._workers: list[subprocess.Popen[bytes]] = []
        self.api_url = ""
        self.port = 0
        self._stats_writer: Any = None
        self._stopped = False

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # start --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store and directory, start the carrier side, then the API."""
        from engine.aio.webhook import WebhookClient
        from engine.store import SqliteStore
        from engine.store.directory import Directory

        cfg = self.config
        host, port = parse_listen(cfg.api.listen)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = await SqliteStore.open(
            self.data_dir / MESSAGES_DB,
            synchronous=cfg.synchronous,
            in_flight_policy=cfg.pacing.in_flight_policy,
        )
        self.directory = Directory(self.data_dir / DIRECTORY_DB)
        if cfg.demo:
            self.demo = self._ensure_demo()
            from engine.aio.rest.numbers import default_inventory

            # the embedded inventory, the first start only (the demo's numbers stay theirs)
            self.directory.ensure_default_inventory(default_inventory)
        hooks = cfg.webhooks
        self.webhooks = WebhookClient(
            connect_timeout=hooks.connect_timeout,
            total_timeout=hooks.total_timeout,
            max_pending=hooks.max_pending,
            max_pending_per_destination=hooks.max_pending_per_host,
            per_destination_concurrency=hooks.per_host_concurrency,
            max_attempts=hooks.callback_retries + 1,
            on_alert=self._on_alert,
        )
        await self.webhooks.start()
        link_configs, passwords = await self._carrier_configs()
        pacing = cfg.pacing
        pacer = Pacer(
            tier_rates={Tier(k): v for k, v in pacing.tier_rates.items()},
            validity=pacing.validity,
            backoff=pacing.throttle_backoff,
            max_backoff=pacing.throttle_backoff_max,
        )
        # The dispatcher's on_deliver is bound before the links exist: resolve it late.
        self.dispatcher = None

        async def on_deliver(link: str, pdu: Any) -> int | None:
            if self.dispatcher is None:
                return int(
                    CommandStatus.ESME_RX_T_APPN
                )  # ESME_RX_T_APPN: not ready, the carrier retries
            return await self.dispatcher.on_deliver(link, pdu)

        self.links = CarrierLinks.from_config(link_configs, on_deliver, passwords=passwords)
        self.dispatcher = Dispatcher(
            self.store,
            self.links,
            directory=self.directory,
            callbacks=self.webhooks,
            pacer=pacer,
            account_rates=pacing.account_rates,
            default_account_rate=pacing.default_account_rate,
            at_most_once=pacing.in_flight_policy == "at-most-once",
        )
        from engine.aio.inbound import InboundHandler

        self.inbound = InboundHandler(
            store=self.store,
            directory=self.directory,
            webhooks=self.webhooks,
            hooks=self.dispatcher,
            max_pending=hooks.max_pending,
            expire=self.dispatcher.expire_inbound,
        )
        self.dispatcher.on_inbound = self.inbound.received
        self.dispatcher.on_incomplete = self.inbound.incomplete
        await self.inbound.start()
        await self.links.start(wait=False)
        await self.dispatcher.start()
        if self.sim is not None:
            from engine.aio.sim_control import start_sim_control

            self._control = await start_sim_control(self.sim)
        self._sock = _listen_socket(host, port)
        self.port = self._sock.getsockname()[1]
        shown_host = f"[{host}]" if ":" in host else host
        self.api_url = f"http://{shown_host}:{self.port}"
        if cfg.api.workers > 1:
            from engine.aio.metrics import StatsFileWriter

            # Workers serve /metrics and /ready from this process's figures (see metrics).
            self._stats_writer = StatsFileWriter(self, self.data_dir)
            self._stats_writer.start()
            self._start_workers()
        else:
            await self._start_api()
        self._write_run_info()

    def _ensure_demo(self) -> DemoAccount:
        """The demo account and its numbers, created once and reused by every start."""
        directory = self.directory
        marker = self.data_dir / DEMO_FILE
        account = None
        with contextlib.suppress(OSError, ValueError, KeyError):
            account = directory.get_account(json.loads(marker.read_text())["account_sid"])
        if account is None:
            account = directory.create_account("Demo account")
            marker.write_text(json.dumps({"account_sid": account.sid}) + "\n")
        from engine.store.directory import NumberRecord

        numbers = []
        for phone, kind in DEMO_NUMBERS:
            current = directory.get_number(phone)
            if current is None:
                directory.add_numbers([NumberRecord.new(phone, number_type=kind, iso_country="US")])
                current = directory.get_number(phone)
            if current is not None and current.account_sid is None:
                directory.assign_number(phone, account.sid)
            numbers.append(phone)
        return DemoAccount(account.sid, account.auth_token, tuple(numbers))

    async def _carrier_configs(self) -> tuple[list[CarrierLinkConfig], dict[str, str]]:
        """The configured links, or the embedded simulated carrier and one link to it."""
        cfg = self.config
        if cfg.carriers:
            return list(cfg.carriers), {}
        from engine.sim import SimCarrier

        password = secrets.token_hex(4)  # 8 characters: SMPP 3.4 §4.1.1's limit
        self.sim = SimCarrier(
            credentials={SIM_SYSTEM_ID: password},
            receipt_delay=cfg.sim_receipt_delay,
            record=cfg.sim_record,
        )
        await self.sim.start()
        link = CarrierLinkConfig(
            name=SIM_LINK,
            host="127.0.0.1",
            port=self.sim.port,
            system_id=SIM_SYSTEM_ID,
            window=64,
        )
        return [link], {SIM_LINK: password}

    async def _start_api(self) -> None:
        from engine.aio.metrics import LiveSource
        from engine.aio.rest import make_rest_app

        assert self._sock is not None
        self.app = make_rest_app(
            store=self.store,
            directory=self.directory,
            hooks=self.dispatcher,
            client_max_size=self.config.api.max_body,
            metrics=LiveSource(self, self.data_dir / MESSAGES_DB),
        )
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.SockSite(self._runner, self._sock)
        await site.start()

    def _start_workers(self) -> None:
        """N HTTP worker processes on the shared listening socket (engine.aio.worker)."""
        assert self._sock is not None
        fd = self._sock.fileno()
        os.set_inheritable(fd, True)
        cmd = [
            sys.executable,
            "-m",
            "engine.aio.worker",
            "--data-dir",
            str(self.data_dir),
            "--fd",
            str(fd),
            "--max-body",
            str(self.config.api.max_body),
            "--synchronous",
            self.config.synchronous,
            "--validity",
            str(self.config.pacing.validity),
        ]
        for _ in range(self.config.api.workers):
            self._workers.append(subprocess.Popen(cmd, pass_fds=(fd,)))

    def _write_run_info(self) -> None:
        info = {
            "pid": os.getpid(),
            "api_url": self.api_url,
            "sim_port": self.sim.port if self.sim is not None else None,
            "sim_system_id": SIM_SYSTEM_ID if self.sim is not None else None,
        }
        if self._control is not None:
            # `smpp-engine sim mo` injects through this loopback endpoint; its token makes
            # the file a secret: owner-only (0600) from the moment it exists.
            info["control_url"] = self._control.url
            info["control_token"] = self._control.token
        tmp = self.data_dir / (RUN_FILE + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(info) + "\n")
        tmp.replace(self.data_dir / RUN_FILE)

    def _on_alert(self, alert: Any) -> None:
        """A webhook or callback failure: recorded where an operator sees it, written on a
        thread (the directory fsyncs) so that the event loop never waits for the disk."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._add_alert(alert)
            return
        loop.run_in_executor(None, self._add_alert, alert)

    def _add_alert(self, alert: Any) -> None:
        try:
            self.directory.add_alert(alert)
        except Exception as exc:
            log.warning("alert not recorded: %s", exc)

    # stop ---------------------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop accepting (503), finish in-flight work within the grace period, unbind,
        flush the store.  Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        grace = self.config.shutdown_grace
        if self.app is not None:
            from engine.aio.rest import set_draining

            set_draining(self.app, True)
        if self._stats_writer is not None:
            await self._stats_writer.stop()
        for proc in self._workers:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        if self.dispatcher is not None:
            await self.dispatcher.stop(grace)
        if self._control is not None:
            await self._control.close()
        if self.links is not None:
            await self.links.close()
        if self.inbound is not None:
            await self.inbound.close(grace)
        for proc in self._workers:
            try:
                await asyncio.wait_for(asyncio.to_thread(proc.wait), grace)
            except TimeoutError:
                proc.kill()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._sock is not None:
            self._sock.close()
        if self.webhooks is not None:
            await self.webhooks.close()
        if self.sim is not None:
            await self.sim.close()
        if self.store is not None:
            await self.store.close()
        if self.directory is not None:
            self.directory.close()
        with contextlib.suppress(OSError):
            (self.data_dir / RUN_FILE).unlink()


def _listen_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket (SO_REUSEADDR so a restart does not wait for TIME_WAIT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(1024)
    sock.setblocking(False)
    return sock
