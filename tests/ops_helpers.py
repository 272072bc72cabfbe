"""Helpers for the operating tests: the simulated carrier alone in its own process, and
``smpp-engine serve`` as a subprocess with a configuration file, waited for on ``/ready``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twilio.rest import Client

WAIT = 60.0  # a safety net only, never a timing assertion
ROOT = Path(__file__).resolve().parent.parent


def env(**extra: str) -> dict[str, str]:
    """The environment for a child: this worktree first on the path, unbuffered output."""
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", **extra}


def wait_for(check: Callable[[], bool], what: str) -> None:
    """Poll ``check`` until true; fail naming ``what`` after WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Proc:
    """A child process whose output lines are collected by a thread."""

    def __init__(self, cmd: list[str], environ: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=environ,
            cwd=ROOT,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(WAIT)
        self._reader.join(WAIT)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code


class Smsc(Proc):
    """``python -m engine.sim`` on a free port with one system_id and password."""

    def __init__(self, system_id: str, password: str, receipt_delay: float = 0.05) -> None:
        super().__init__(
            [
                sys.executable,
                "-m",
                "engine.sim",
                "--port",
                "0",
                "--credentials",
                f"{system_id}:{password}",
                "--receipt-delay",
                str(receipt_delay),
                "--no-record",
            ],
            env(),
        )
        wait_for(lambda: "listening on" in self.text or self.proc.poll() is not None, "sim")
        line = next(x for x in self.lines if "listening on" in x)
        self.port = int(line.rsplit(":", 1)[1].split()[0])


def get(url: str) -> tuple[int, bytes]:
    """GET ``url``: (status, body), for any status."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


class Served(Proc):
    """``smpp-engine serve --config FILE`` until ``/ready`` answers 200."""

    def __init__(self, config: Path, data_dir: Path, *extra: str, **environ: str) -> None:
        super().__init__(
            [sys.executable, "-m", "engine", "serve", "--config", str(config), *extra],
            env(**environ),
        )
        self.data_dir = data_dir
        wait_for(
            lambda: (data_dir / "run.json").exists() or self.proc.poll() is not None, "run.json"
        )
        if self.proc.poll() is not None:
            raise AssertionError(f"serve exited {self.proc.returncode}:\n{self.text}")
        self.url = json.loads((data_dir / "run.json").read_text())["api_url"]
        wait_for(lambda: get(self.url + "/ready")[0] == 200, "/ready")

    def demo(self) -> tuple[str, str]:
        """The demo account's SID and token from the banner."""
        sid = next(x for x in self.lines if x.startswith("Demo account SID:")).split()[-1]
        token = next(x for x in self.lines if x.startswith("Demo auth token:")).split()[-1]
        return sid, token

    def client(self) -> Client:
        sid, token = self.demo()
        client = Client(sid, token)
        client.api.base_url = self.url
        return client


def write_config(path: Path, data_dir: Path, listen: str, links: list[dict[str, Any]]) -> Path:
    """A TOML configuration with ``links`` as ``[[carriers]]`` tables and a demo account."""
    lines = [
        f'data_dir = "{data_dir}"',
        "demo = true",
        'synchronous = "NORMAL"',
        "[api]",
        f'listen = "{listen}"',
    ]
    for link in links:
        lines.append("[[carriers]]")
        for key, value in link.items():
            lines.append(f"{key} = {json.dumps(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path
