"""Phone-number search and provisioning through the REST API, over an inventory of one
million numbers, against a running daemon in another process.

The data directory is prepared first: ``engine.inventory.generate(count=N)`` (US and
Canadian local numbers over ~150 area codes, toll-free, GB/DE/AU, short codes) written into
the directory in one transaction (``Directory.ensure_default_inventory``: the daemon then
adds no default inventory of its own).  The daemon (``python -m engine serve``) builds each
HTTP process's search index from it at start; the first search waits for that.

Then, with 64 concurrent HTTP/1.1 keep-alive clients (aiohttp, in this process), each for
``--seconds``:

0. **baseline**: ``GET /health`` (no authentication, no work): what aiohttp and this
   client reach on the machine, the ceiling of the searches below;
1. **area code**: ``GET .../AvailablePhoneNumbers/US/Local.json?AreaCode=NPA&PageSize=20``
   with a random area code of the inventory;
2. **contains**: ``GET .../AvailablePhoneNumbers/US/Local.json?Contains=WORD&PageSize=20``
   with a random 4-letter word (a vanity search over every US local number, ranked);
3. **provision**: ``POST .../IncomingPhoneNumbers.json`` with ``AreaCode`` (any free number
   there; a durable write at ``synchronous=FULL`` each).

It prints latency p50/p99 (client side, request sent to answer read) and requests per
second for each, and checks that every search answered 200 with results.

    python bench/bench_numbers_api.py                        # 1,000,000 numbers, 1 worker
    python bench/bench_numbers_api.py --numbers 200000 --workers 2 --seconds 5

Goal (issue 8): p99 under 20 ms for both searches at one million numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp

WORDS = (
    "CAKE", "LOVE", "HELP", "TAXI", "CODE", "BIKE", "FOOD", "PETS", "CARS", "SALE",
    "DEAL", "FISH", "GOLF", "HOME", "LAWN", "MOVE", "PARK", "ROOF", "SHOP", "WINE",
)  # fmt: skip
CLIENTS = 64


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(data_dir: Path, count: int) -> list[str]:
    """Write ``count`` generated numbers into the directory; the US local area codes."""
    from engine.aio.app import DIRECTORY_DB
    from engine.inventory import generate
    from engine.store.directory import Directory

    data_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    records = generate(count=count)
    t1 = time.perf_counter()
    directory = Directory(data_dir / DIRECTORY_DB)
    try:
        added = directory.ensure_default_inventory(lambda: records)
    finally:
        directory.close()
    t2 = time.perf_counter()
    print(
        f"inventory: generated {len(records):,} numbers in {t1 - t0:.1f} s, "
        f"wrote {added:,} to the directory in {t2 - t1:.1f} s "
        f"({added / max(t2 - t1, 1e-9):,.0f}/s, one transaction)"
    )
    return sorted(
        {r.phone_number[2:5] for r in records if r.iso_country == "US" and r.number_type == "local"}
    )


def start_daemon(data_dir: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine",
            "serve",
            "--data-dir",
            str(data_dir),
            "--listen",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, f"http://127.0.0.1:{port}"


def credentials(data_dir: Path) -> tuple[str, str]:
    from engine.aio.app import DEMO_FILE, DIRECTORY_DB
    from engine.store.directory import Directory

    sid = json.loads((data_dir / DEMO_FILE).read_text())["account_sid"]
    directory = Directory(data_dir / DIRECTORY_DB)
    try:
        account = directory.get_account(sid)
    finally:
        directory.close()
    assert account is not None
    return sid, account.auth_token


async def wait_ready(url: str, path: str, auth: str, workers: int) -> float:
    """Wait for /health, then for every process's index (a search answered)."""
    t0 = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url + "/health") as resp:
                    if resp.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            if time.perf_counter() - t0 > 120:
                raise SystemExit("daemon did not start")
            await asyncio.sleep(0.2)
        # one request per worker connection at least: new connections spread over workers
        for _ in range(max(4, workers * 4)):
            async with (
                aiohttp.ClientSession() as fresh,
                fresh.get(
                    url + path + "?AreaCode=212",
                    headers={"Authorization": auth},
                    timeout=aiohttp.ClientTimeout(total=300),
                ) as resp,
            ):
                assert resp.status == 200, await resp.text()
    return time.perf_counter() - t0


async def load(
    url: str,
    auth: str,
    seconds: float,
    make: object,
    method: str = "GET",
    expect: int = 200,
    rate: float = 0.0,
) -> tuple[list[float], int, int]:
    """64 clients for ``seconds``: (latencies, ok, other).  ``rate`` 0: each client sends
    back to back (closed loop: latency is 64 / throughput once the server is the limit);
    else the clients together send ``rate`` requests per second on a fixed schedule and
    latency counts from the scheduled time (so a stall is not hidden by sending later)."""
    latencies: list[float] = []
    counts = {"ok": 0, "other": 0}
    headers = {"Authorization": auth}
    connector = aiohttp.TCPConnector(limit=CLIENTS)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        start = time.perf_counter()
        stop_at = start + seconds

        async def client(i: int) -> None:
            k = 0
            while True:
                if rate:
                    due = start + (k * CLIENTS + i) / rate
                    k += 1
                    if due >= stop_at:
                        return
                    delay = due - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    t = due
                else:
                    t = time.perf_counter()
                    if t >= stop_at:
                        return
                path, data = make()  # type: ignore[operator]
                async with session.request(method, url + path, data=data) as resp:
                    body = await resp.read()
                latencies.append(time.perf_counter() - t)
                if resp.status == expect and (method != "GET" or b'"phone_number"' in body):
                    counts["ok"] += 1
                else:
                    counts["other"] += 1

        await asyncio.gather(*(client(i) for i in range(CLIENTS)))
    return latencies, counts["ok"], counts["other"]


def report(name: str, latencies: list[float], ok: int, other: int, seconds: float) -> None:
    latencies.sort()
    n = len(latencies)
    p50 = latencies[n // 2] * 1000
    p99 = latencies[min(n - 1, int(n * 0.99))] * 1000
    print(
        f"{name:<40} {n / seconds:>7,.0f}/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   "
        f"({ok:,} ok, {other:,} other)"
    )


async def run(ns: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-numbers-") as tmp:
        data_dir = Path(tmp) / "data"
        npas = prepare(data_dir, ns.numbers)
        proc, url = start_daemon(data_dir, ns.workers)
        try:
            await asyncio.sleep(1.0)
            if not (data_dir / "demo.json").exists():
                await asyncio.sleep(2.0)
            sid, token = credentials(data_dir)
            auth = "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode()
            search = f"/2010-04-01/Accounts/{sid}/AvailablePhoneNumbers/US/Local.json"
            took = await wait_ready(url, search, auth, ns.workers)
            print(f"daemon up with its index ({ns.workers} HTTP process(es)) in {took:.1f} s")
            rng = random.Random(8)

            def by_area() -> tuple[str, None]:
                return f"{search}?AreaCode={rng.choice(npas)}&PageSize=20", None

            def by_word() -> tuple[str, None]:
                return f"{search}?Contains={rng.choice(WORDS)}&PageSize=20", None

            def provision() -> tuple[str, dict[str, str]]:
                path = f"/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json"
                return path, {"AreaCode": rng.choice(npas)}

            print(f"{CLIENTS} keep-alive clients, {ns.seconds:g} s each, {ns.numbers:,} numbers")
            # the HTTP stack's own ceiling on this machine: the same clients on /health
            lat, ok, other = await load(url, auth, ns.seconds, lambda: ("/health", None), "GET")
            report("baseline GET /health, closed loop", lat, ok + other, 0, ns.seconds)
            for name, make in (("search AreaCode", by_area), ("search Contains WORD", by_word)):
                for rate in (0.0, *ns.rate):
                    lat, ok, other = await load(url, auth, ns.seconds, make, rate=rate)
                    label = f"{name}, " + (f"{rate:,.0f}/s offered" if rate else "closed loop")
                    report(label, lat, ok, other, ns.seconds)
            lat, ok, other = await load(url, auth, ns.seconds, provision, "POST", 201)
            report("provision AreaCode, closed loop", lat, ok, other, ns.seconds)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--numbers", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--rate",
        type=float,
        nargs="*",
        default=[500.0, 1000.0],
        help="offered searches per second of the open-loop runs (default: 500 1000)",
    )
    ns = parser.parse_args()
    with __import__("contextlib").suppress(ImportError):
        import uvloop

        uvloop.install()
    asyncio.run(run(ns))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
