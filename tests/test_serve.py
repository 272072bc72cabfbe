"""``smpp-engine serve`` as a subprocess on the embedded default, used as a user would: the
banner's credentials, the real twilio helper library, SIGTERM, a restart, and SIGKILL under
load with nothing accepted lost."""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.gateway_helpers import free_port

WAIT = 60.0  # safety net only
TO = "+15557654321"


class Daemon:
    """One ``smpp-engine serve`` process and what its banner said."""

    def __init__(self, data_dir: Path, port: int, *extra: str) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "engine",
                "serve",
                "--data-dir",
                str(data_dir),
                "--listen",
                f"127.0.0.1:{port}",
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(WAIT):
            self.proc.kill()
            raise AssertionError("serve did not print its banner:\n" + "\n".join(self.lines))
        text = "\n".join(self.lines)
        self.account_sid = re.search(r"Demo account SID: (AC[0-9a-f]{32})", text).group(1)
        self.auth_token = re.search(r"Demo auth token:\s+([0-9a-f]{32})", text).group(1)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("Stop with"):
                self._ready.set()
        self._ready.set()

    def client(self) -> Client:
        client = Client(self.account_sid, self.auth_token)
        client.api.base_url = self.url
        return client

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(WAIT)
        self._reader.join(WAIT)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"


def _wait_for(check, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_serve_embedded_default_send_stop_restart(data_dir: Path) -> None:
    port = free_port()
    daemon = Daemon(data_dir, port)
    try:
        with urllib.request.urlopen(daemon.url + "/health", timeout=10) as resp:
            assert resp.status == 200
        banner = "\n".join(daemon.lines)
        assert "curl -u" in banner and "client.api.base_url" in banner
        client = daemon.client()
        msg = client.messages.create(to=TO, from_="+18005550100", body="hello")
        _wait_for(lambda: client.messages(msg.sid).fetch().status == "delivered", "delivery")
    finally:
        code = daemon.stop(signal.SIGTERM)
    assert code == 0, "\n".join(daemon.lines)
    assert any("stopped" in line for line in daemon.lines)

    again = Daemon(data_dir, port)
    try:
        assert (again.account_sid, again.auth_token) == (daemon.account_sid, daemon.auth_token)
        fetched = again.client().messages(msg.sid).fetch()
        assert fetched.status == "delivered" and fetched.body == "hello"
    finally:
        assert again.stop(signal.SIGINT) == 0


def test_sigkill_under_load_loses_nothing_accepted(data_dir: Path) -> None:
    port = free_port()
    daemon = Daemon(data_dir, port)
    client = daemon.client()
    accepted: list[str] = []
    lock = threading.Lock()
    killed = threading.Event()

    def send(i: int) -> None:
        if killed.is_set():
            return
        try:
            m = client.messages.create(to=f"+1555765{i:04d}", from_="12345", body=f"load {i}")
        except Exception:
            return  # refused or cut off by the kill: not accepted, nothing promised
        with lock:
            accepted.append(m.sid)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(send, i) for i in range(400)]
        _wait_for(lambda: len(accepted) >= 100, "100 accepted messages")
        killed.set()
        daemon.stop(signal.SIGKILL)
        concurrent.futures.wait(futures)
    assert daemon.proc.returncode == -signal.SIGKILL
    with lock:
        promised = list(accepted)

    again = Daemon(data_dir, port)
    try:
        client = again.client()
        # "sent": the old process's simulated carrier took it and died with it, so its
        # receipt never comes; what matters is that nothing accepted stays behind.
        final = {"sent", "delivered", "undelivered"}

        def all_final() -> bool:
            return all(client.messages(s).fetch().status in final for s in promised)

        _wait_for(all_final, "every accepted message to reach a final status")
        for sid in promised[:20]:
            assert client.messages(sid).fetch().body.startswith("load ")
    finally:
        assert again.stop() == 0


def test_serve_reports_a_port_in_use(data_dir: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "engine",
                "serve",
                "--data-dir",
                str(data_dir),
                "--listen",
                f"127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
    assert proc.returncode == 2
    assert "in use" in proc.stderr.lower() or "address" in proc.stderr.lower()


def test_accounts_create_json(data_dir: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "accounts",
            "create",
            "--data-dir",
            str(data_dir),
            "--json",
            "--friendly-name",
            "Shop",
        ],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=True,
    )
    created = json.loads(out.stdout)
    assert re.fullmatch(r"AC[0-9a-f]{32}", created["account_sid"])
    assert re.fullmatch(r"[0-9a-f]{32}", created["auth_token"])
    # The account works against a daemon started afterwards on the same data directory.
    port = free_port()
    daemon = Daemon(data_dir, port)
    try:
        client = Client(created["account_sid"], created["auth_token"])
        client.api.base_url = daemon.url
        assert client.messages.list(limit=5) == []
        wrong = Client(created["account_sid"], "0" * 32)
        wrong.api.base_url = daemon.url
        with pytest.raises(TwilioRestException) as info:
            wrong.api.v2010.accounts(created["account_sid"]).fetch()
        assert info.value.status == 401 and info.value.code == 20003
    finally:
        assert daemon.stop() == 0


def test_workers_share_the_store_and_the_dispatcher_finds_their_messages(
    data_dir: Path,
) -> None:
    # Two HTTP worker processes accept; the main process's dispatcher learns of their
    # messages only through the store (a poll), and sends every one.
    port = free_port()
    daemon = Daemon(data_dir, port, "--workers", "2")
    try:
        assert any("HTTP workers: 2" in line for line in daemon.lines)
        client = daemon.client()
        sids = [
            client.messages.create(to=f"+1555765{i:04d}", from_="12345", body=f"w{i}").sid
            for i in range(30)
        ]
        _wait_for(
            lambda: all(client.messages(s).fetch().status == "delivered" for s in sids),
            "every message delivered",
        )
        listed = {m.sid for m in client.messages.list(page_size=7)}
        assert listed == set(sids)
        # Validation and isolation hold in the workers as in one process.
        with pytest.raises(TwilioRestException) as info:
            client.messages.create(to="+1555", from_="12345", body="x")
        assert info.value.code == 21211
    finally:
        assert daemon.stop() == 0
