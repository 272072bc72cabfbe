"""The gateway under load: REST create -> durable store -> scheduler -> SMPP -> receipt ->
signed status callback, against a running daemon in another process.

Two measures, each with 64 concurrent HTTP/1.1 keep-alive clients (aiohttp, in this
process):

1. **create**: create-message requests per second and their p50/p99 latency (each answered
   only once the message is durable), with the messages counted when they have reached the
   simulated carrier (status ``sent`` or later, read from the store file);
2. **round trip**: the same, each message with a ``StatusCallback``: counted when its signed
   ``delivered`` callback arrives at a receiver in this process (signatures checked with the
   twilio helper library's RequestValidator on a sample).

The daemon runs as ``engine.daemon.run`` in a subprocess, with ``--workers`` HTTP worker
processes; the simulated carrier runs in a third process (``python -m engine.sim``), so
each process's CPU is its own: per message the script prints the CPU of the HTTP workers,
the dispatcher's thread (scheduler, SMPP client, receipts, callbacks), the store's writer
and syncer threads, and the carrier.

    python bench/bench_gateway.py                      # 1 and 2 workers, 20,000 messages
    python bench/bench_gateway.py --workers 1 --messages 5000

Anchors on this machine (see bench/README.md): Kannel's sendsms ~17,000 msg/s into an SMSC
and ~4,800 msg/s for the round trip; Jasmin 0.11.1 ~600 and ~22 msg/s.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp
from aiohttp import web

KANNEL_CREATE = 17_000.0
KANNEL_ROUND_TRIP = 4_800.0
JASMIN_CREATE = 600.0
JASMIN_ROUND_TRIP = 22.0
SENDERS = 50
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------------------
# CPU accounting from /proc: per process and per named thread.
# ---------------------------------------------------------------------------------------


def _cpu_of_task(path: Path) -> tuple[str, float]:
    """(thread name, CPU seconds) of one /proc/PID/task/TID."""
    try:
        name = (path / "comm").read_text().strip()
        fields = (path / "stat").read_text().rsplit(")", 1)[1].split()
        return name, (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return "?", 0.0


def cpu_by_thread(pid: int) -> dict[str, float]:
    """CPU seconds by thread name of process ``pid`` (threads of one name summed)."""
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        name, cpu = _cpu_of_task(task)
        out[name] = out.get(name, 0.0) + cpu
    return out


def children_of(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def cpu_total(pid: int) -> float:
    return sum(cpu_by_thread(pid).values())


# ---------------------------------------------------------------------------------------
# The setup: an account with many senders that carry their own high rate (so the sender
# tier's pace is not what is measured), a carrier process, the daemon.
# ---------------------------------------------------------------------------------------


@dataclass
class Setup:
    data_dir: Path
    account_sid: str
    auth_token: str
    senders: list[str]
    api_url: str = ""
    daemon: subprocess.Popen[str] | None = None
    carrier: subprocess.Popen[str] | None = None


def prepare(data_dir: Path) -> Setup:
    from engine.aio.app import DIRECTORY_DB
    from engine.store.directory import Directory, NumberRecord

    data_dir.mkdir(parents=True, exist_ok=True)
    directory = Directory(data_dir / DIRECTORY_DB)
    account = directory.create_account("bench")
    senders = [f"+1415555{2000 + i:04d}" for i in range(SENDERS)]
    directory.add_numbers(
        [NumberRecord.new(s, number_type="local", iso_country="US", rate=1e6) for s in senders]
    )
    for s in senders:
        directory.assign_number(s, account.sid)
    directory.close()
    return Setup(data_dir, account.sid, account.auth_token, senders)


def start_carrier(port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine.sim",
            "--port",
            str(port),
            "--credentials",
            "bench:benchpw",
            "--receipt-delay",
            "0.05",
            "--no-record",
            "--uvloop",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening" not in line:
        raise SystemExit(f"carrier did not start: {line}")
    return proc


DAEMON = """
import sys
from engine.config import CarrierLinkConfig, GatewayConfig, ApiConfig, WebhookConfig
from engine.daemon import run
data_dir, listen = sys.argv[1], sys.argv[2]
workers, carrier_port = int(sys.argv[3]), int(sys.argv[4])
cfg = GatewayConfig(
    data_dir=data_dir,
    api=ApiConfig(listen=listen, workers=workers),
    carriers=[CarrierLinkConfig(name="sim", host="127.0.0.1", port=carrier_port,
                                system_id="bench", password_env="BENCH_CARRIER_PASSWORD",
                                window=128)],
    demo=False,
    webhooks=WebhookConfig(max_pending=1_000_000, max_pending_per_host=1_000_000),
)
import os
if os.environ.get("BENCH_PROFILE"):
    import cProfile, pstats
    prof = cProfile.Profile()
    code = prof.runcall(run, cfg)
    pstats.Stats(prof).sort_stats("tottime").dump_stats(os.environ["BENCH_PROFILE"])
    sys.exit(code)
sys.exit(run(cfg))
"""


def start_daemon(setup: Setup, workers: int, carrier_port: int) -> None:
    port = _free_port()
    setup.api_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "BENCH_CARRIER_PASSWORD": "benchpw", "PYTHONUNBUFFERED": "1"}
    setup.daemon = subprocess.Popen(
        [
            sys.executable,
            "-c",
            DAEMON,
            str(setup.data_dir),
            f"127.0.0.1:{port}",
            str(workers),
            str(carrier_port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert setup.daemon.stdout is not None
    deadline = time.monotonic() + 60
    for line in setup.daemon.stdout:
        if line.startswith("Stop with"):
            break
        if time.monotonic() > deadline:
            raise SystemExit("daemon did not start")
    else:
        raise SystemExit("daemon exited before it was up")
    # Drain its output in the background so that it never blocks on a full pipe.
    import threading

    threading.Thread(target=lambda: [None for _ in setup.daemon.stdout], daemon=True).start()


def stop(setup: Setup) -> None:
    for proc in (setup.daemon, setup.carrier):
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


# ---------------------------------------------------------------------------------------
# The load.
# ---------------------------------------------------------------------------------------


@dataclass
class Result:
    label: str
    workers: int
    messages: int
    accepted: int = 0
    errors: int = 0
    http_seconds: float = 0.0
    done_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def http_rate(self) -> float:
        return self.accepted / self.http_seconds if self.http_seconds else 0.0

    @property
    def done_rate(self) -> float:
        return self.accepted / self.done_seconds if self.done_seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        data = sorted(self.latencies)
        return data[min(len(data) - 1, int(q * len(data)))] * 1000


class CallbackReceiver:
    """Counts signed ``delivered`` callbacks; checks one signature in 50 with the helper
    library's own validator (all would cost this process the CPU the daemon needs)."""

    def __init__(self, token: str) -> None:
        from twilio.request_validator import RequestValidator

        self.validator = RequestValidator(token)
        self.delivered = 0
        self.checked = 0
        self.bad = 0
        self.target = 0
        self.done = asyncio.Event()
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("MessageStatus") == "delivered":
            self.delivered += 1
            if self.delivered % 50 == 1:
                self.checked += 1
                url = f"http://127.0.0.1:{self.port}{request.path_qs}"
                params = {k: str(v) for k, v in form.items()}
                if not self.validator.validate(
                    url, params, request.headers.get("X-Twilio-Signature", "")
                ):
                    self.bad += 1
            if self.target and self.delivered >= self.target:
                self.done.set()
        return web.Response(status=204)


def count_reached_carrier(db: Path) -> int:
    """Messages past the carrier's submit_sm_resp, read from the store file."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        row = conn.execute(
            "SELECT count(*) FROM messages WHERE status IN ('sent','delivered','undelivered')"
        ).fetchone()
        return int(row[0])
    finally:
        conn.close()


async def load(
    setup: Setup, n: int, concurrency: int, callback_url: str | None, label: str, workers: int
) -> Result:
    result = Result(label, workers, n)
    auth = "Basic " + base64.b64encode(f"{setup.account_sid}:{setup.auth_token}".encode()).decode()
    url = f"{setup.api_url}/2010-04-01/Accounts/{setup.account_sid}/Messages.json"
    rng = random.Random(7)
    bodies = []
    for i in range(n):
        # Destinations end in 00..89: the simulated carrier answers 91..94 with failures
        # or no receipt at all (engine/sim/rules.py), which this measure does not count.
        form = {
            "From": rng.choice(setup.senders),
            "To": f"+1555{rng.randrange(10**5):05d}{rng.randrange(90):02d}",
            "Body": f"bench message {i}",
        }
        if callback_url:
            form["StatusCallback"] = callback_url
        bodies.append(form)
    counter = iter(range(n))
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector, headers={"Authorization": auth}) as s:

        async def client() -> None:
            for i in counter:
                t0 = time.perf_counter()
                async with s.post(url, data=bodies[i]) as resp:
                    await resp.read()
                    if resp.status == 201:
                        result.accepted += 1
                        result.latencies.append(time.perf_counter() - t0)
                    else:
                        result.errors += 1

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        result.http_seconds = time.perf_counter() - start
    result.done_seconds = start  # replaced by the caller with the completion time
    return result


def cpu_snapshot(setup: Setup) -> dict[str, float]:
    assert setup.daemon is not None and setup.carrier is not None
    # The daemon is `python -c`; its own children are the HTTP workers.
    main = cpu_by_thread(setup.daemon.pid)
    workers = sum(cpu_total(pid) for pid in children_of(setup.daemon.pid))
    store = sum(v for k, v in main.items() if k.startswith("store-"))
    loop = sum(v for k, v in main.items() if not k.startswith("store-"))
    return {
        "http workers": workers,
        "dispatcher loop (+HTTP when 1 process)": loop,
        "store writer+syncer": store,
        "carrier (sim)": cpu_total(setup.carrier.pid),
        # Not the gateway's: the 64 clients and the callback receiver, on the same cores.
        "bench client (not counted)": cpu_total(os.getpid()),
    }


async def run_case(workers: int, n: int, concurrency: int, round_trip: bool) -> Result:
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        setup = prepare(Path(tmp) / "data")
        carrier_port = _free_port()
        setup.carrier = start_carrier(carrier_port)
        start_daemon(setup, workers, carrier_port)
        db = setup.data_dir / "messages.sqlite3"
        receiver = CallbackReceiver(setup.auth_token)
        runner = None
        try:
            callback_url = None
            if round_trip:
                app = web.Application()
                app.router.add_post("/status", receiver.handle)
                runner = web.AppRunner(app, access_log=None)
                await runner.setup()
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                receiver.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
                callback_url = f"http://127.0.0.1:{receiver.port}/status"
            # warm-up (connections, caches), not counted
            await load(setup, 200, concurrency, None, "warm-up", workers)
            before = cpu_snapshot(setup)
            reached_before = count_reached_carrier(db)
            label = "round trip" if round_trip else "create"
            start = time.perf_counter()
            result = await load(setup, n, concurrency, callback_url, label, workers)
            receiver.target = result.accepted
            deadline = time.perf_counter() + 300
            while time.perf_counter() < deadline:
                if round_trip:
                    if receiver.delivered >= result.accepted:
                        break
                    if os.environ.get("BENCH_DEBUG"):
                        print(
                            "delivered callbacks",
                            receiver.delivered,
                            "of",
                            result.accepted,
                            "reached carrier",
                            count_reached_carrier(db) - reached_before,
                        )
                    await asyncio.sleep(0.05 if not os.environ.get("BENCH_DEBUG") else 2)
                else:
                    if count_reached_carrier(db) - reached_before >= result.accepted:
                        break
                    await asyncio.sleep(0.05)
            result.done_seconds = time.perf_counter() - start
            after = cpu_snapshot(setup)
            result.cpu = {k: after[k] - before.get(k, 0.0) for k in after}
            if round_trip and receiver.bad:
                print(f"!! {receiver.bad} of {receiver.checked} signatures did not validate")
            return result
        finally:
            if runner is not None:
                await runner.cleanup()
            stop(setup)


def report(results: list[Result]) -> None:
    print()
    print(
        f"{'measure':<11} {'workers':>7} {'msgs':>6} {'HTTP req/s':>10} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'done msg/s':>10} {'vs Kannel':>9} {'vs Jasmin':>9}"
    )
    for r in results:
        kannel = KANNEL_ROUND_TRIP if r.label == "round trip" else KANNEL_CREATE
        jasmin = JASMIN_ROUND_TRIP if r.label == "round trip" else JASMIN_CREATE
        print(
            f"{r.label:<11} {r.workers:>7} {r.accepted:>6} {r.http_rate:>10,.0f} "
            f"{r.pct(0.5):>7.1f} {r.pct(0.99):>7.1f} {r.done_rate:>10,.0f} "
            f"{r.done_rate / kannel:>8.2f}x {r.done_rate / jasmin:>8.1f}x"
        )
        if r.errors:
            print(f"   ({r.errors} requests not accepted)")
    print()
    print("CPU per message (microseconds) by stage:")
    for r in results:
        per = {k: v / max(1, r.accepted) * 1e6 for k, v in r.cpu.items()}
        parts = ", ".join(f"{k} {v:,.0f}" for k, v in per.items())
        total = sum(v for k, v in per.items() if "not counted" not in k)
        print(f"  {r.label}, {r.workers} worker(s): {parts}; total {total:,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--only", choices=["create", "round-trip"])
    parser.add_argument("--json", help="also write the results to this file")
    ns = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    results = []
    for workers in ns.workers:
        for round_trip in (False, True):
            if (ns.only == "create" and round_trip) or (ns.only == "round-trip" and not round_trip):
                continue
            r = asyncio.run(run_case(workers, ns.messages, ns.concurrency, round_trip))
            results.append(r)
            print(
                f"{r.label} with {workers} worker(s): {r.accepted} accepted, "
                f"{r.http_rate:,.0f} req/s, done at {r.done_rate:,.0f} msg/s"
            )
    report(results)
    if ns.json:
        Path(ns.json).write_text(
            json.dumps(
                [
                    {
                        "measure": r.label,
                        "workers": r.workers,
                        "accepted": r.accepted,
                        "http_rate": r.http_rate,
                        "p50_ms": r.pct(0.5),
                        "p99_ms": r.pct(0.99),
                        "done_rate": r.done_rate,
                        "cpu": r.cpu,
                    }
                    for r in results
                ],
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
