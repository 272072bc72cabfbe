"""End-to-end load test of a running daemon: REST API -> store -> rate scheduler -> SMPP ->
delivery receipt -> signed status callback, over senders of each tier.

    smpp-engine serve --data-dir /tmp/load --listen 127.0.0.1:8080 &
    python bench/load.py --data-dir /tmp/load --messages 6000 --senders 10
    python bench/load.py --start --messages 6000 --senders 10   # starts its own daemon

It creates an account and ``--senders`` numbers of each tier in the daemon's directory
(long codes: 1 segment/s, toll-free: 3/s, short codes: 100/s, the defaults of
engine.scheduler), shares ``--messages`` among them in proportion to their rates (so every
sender is busy for about the same time), and creates them through the REST API with
``--concurrency`` keep-alive clients, each with a ``StatusCallback`` to an aiohttp receiver
in this process (signatures checked with the helper library's RequestValidator on a
sample).  Progress bars (tqdm) follow creation and the final callbacks.

Then, from the store's status history and the callbacks' arrival times (one clock: same
machine), it prints the achieved messages per second, p50/p99 of each stage
(create -> sent, sent -> delivered, delivered -> callback), checks that every message
reached a final status and that no sender went faster than its rate (its ``sending``
times, in any window of max(1 s, 5 intervals), at most rate x window + 1 (the burst) + 5%),
and writes ``load.json`` and ``load.png`` (throughput over time per tier, latency per
stage) to ``--out``.  Exit 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import math
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp
from aiohttp import web
from tqdm import tqdm

TIERS = {"long_code": 1.0, "toll_free": 3.0, "short_code": 100.0}
FINAL = {"delivered", "undelivered", "failed"}
STAGES = ("create->sent", "sent->delivered", "delivered->callback")


def pct(values: list[float], q: float) -> float | None:
    """The q-th percentile (nearest rank) of ``values``, or None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def ms(seconds: float | None) -> float | None:
    """Seconds as milliseconds (one decimal), None stays None."""
    return None if seconds is None else round(seconds * 1000, 1)


def make_senders(data_dir: Path, per_tier: int) -> tuple[str, str, dict[str, list[str]]]:
    """A new account and ``per_tier`` numbers of each tier in the daemon's directory."""
    from engine.store.directory import Directory, NumberRecord

    directory = Directory(data_dir / "directory.sqlite3")
    try:
        account = directory.create_account("load test")
        senders: dict[str, list[str]] = {}
        rng = random.Random()
        for tier, kind, make in (
            ("long_code", "local", lambda b, i: f"+1415{b:03d}{i:04d}"),
            ("toll_free", "toll-free", lambda b, i: f"+1800{b:03d}{i:04d}"),
            ("short_code", "short-code", lambda b, i: f"{b:03d}{i:03d}"),
        ):
            while True:  # a block of numbers nobody has yet
                block = rng.randrange(200, 1000)
                numbers = [make(block, i) for i in range(per_tier)]
                if all(directory.get_number(n) is None for n in numbers):
                    break
            directory.add_numbers(
                [NumberRecord.new(n, number_type=kind, iso_country="US") for n in numbers]
            )
            for n in numbers:
                directory.assign_number(n, account.sid)
            senders[tier] = numbers
        return account.sid, account.auth_token, senders
    finally:
        directory.close()


def plan(total: int, senders: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(tier, sender) for each message: shares in proportion to the senders' rates, the
    messages interleaved so that every sender's queue fills from the start."""
    weights = {s: TIERS[t] for t, ss in senders.items() for s in ss}
    tier_of = {s: t for t, ss in senders.items() for s in ss}
    whole = sum(weights.values())
    counts = {s: max(1, round(total * w / whole)) for s, w in weights.items()}
    out: list[tuple[str, str]] = []
    while any(counts.values()):
        for s in list(counts):
            if counts[s]:
                counts[s] -= 1
                out.append((tier_of[s], s))
    return out


class Receiver:
    """A real aiohttp app receiving the status callbacks."""

    def __init__(self, token: str) -> None:
        from twilio.request_validator import RequestValidator

        self.validator = RequestValidator(token)
        self.final: dict[str, tuple[str, float]] = {}
        self.checked = 0
        self.bad_signatures = 0
        self.done = asyncio.Event()
        self.expected = 0
        self.bar: Any = None
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/cb", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/cb"

    async def handle(self, request: web.Request) -> web.Response:
        at = time.time()
        form = {k: str(v) for k, v in (await request.post()).items()}
        status = form.get("MessageStatus", "")
        if self.checked < 200 or random.random() < 0.01:  # a sample: checking costs CPU
            self.checked += 1
            if not self.validator.validate(
                self.url, form, request.headers.get("X-Twilio-Signature", "")
            ):
                self.bad_signatures += 1
        if status in FINAL:
            sid = form.get("MessageSid", "")
            if sid not in self.final:
                self.final[sid] = (status, at)
                if self.bar is not None:
                    self.bar.update(1)
                if len(self.final) >= self.expected:
                    self.done.set()
        return web.Response(text="")

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def create_all(
    api: str, sid: str, token: str, work: list[tuple[str, str]], callback: str, concurrency: int
) -> tuple[dict[str, tuple[str, str, float]], list[str]]:
    """Create every message: {message sid: (tier, sender, created at)} and the errors."""
    url = f"{api}/2010-04-01/Accounts/{sid}/Messages.json"
    auth = {"Authorization": aiohttp.BasicAuth(sid, token).encode()}
    created: dict[str, tuple[str, str, float]] = {}
    errors: list[str] = []
    queue: asyncio.Queue[tuple[int, str, str]] = asyncio.Queue()
    for i, (tier, sender) in enumerate(work):
        queue.put_nowait((i, tier, sender))
    bar = tqdm(total=len(work), desc="create", unit="msg", leave=True)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(headers=auth, connector=connector) as http:

        async def client() -> None:
            while not queue.empty():
                i, tier, sender = queue.get_nowait()
                data = {
                    "From": sender,
                    # Ending in 00: the simulated carrier's receipt says DELIVRD (91-94 not).
                    "To": f"+1555{i % 100_000:05d}00",
                    "Body": f"load {i}",
                    "StatusCallback": callback,
                }
                async with http.post(url, data=data) as resp:
                    body = await resp.json()
                    if resp.status == 201:
                        created[body["sid"]] = (tier, sender, time.time())
                    else:
                        errors.append(f"{resp.status} {body.get('code')} {body.get('message')}")
                bar.update(1)

        await asyncio.gather(*(client() for _ in range(concurrency)))
    bar.close()
    return created, errors


def read_history(store: Path, sids: list[str]) -> dict[str, dict[str, float]]:
    """{sid: {status: first time}} from the store's history (read-only)."""
    out: dict[str, dict[str, float]] = {}
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        for start in range(0, len(sids), 500):
            chunk = sids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT m.sid, m.date_created, m.status, h.status, h.at FROM messages m"
                f" LEFT JOIN history h ON h.msg_id = m.id WHERE m.sid IN ({marks})"
                " ORDER BY h.rowid",
                chunk,
            ).fetchall()
            for sid, created, status, hstatus, at in rows:
                entry = out.setdefault(sid, {"queued": created, "_final": status})
                if hstatus is not None and hstatus not in entry:
                    entry[hstatus] = at
    finally:
        conn.close()
    return out


def rate_violations(times: list[float], rate: float) -> tuple[int, float]:
    """(windows over the limit, the highest rate seen) for one sender's send times."""
    times = sorted(times)
    window = max(1.0, 5.0 / rate)
    limit = (rate * window + 1) * 1.05
    worst = 0
    over = 0
    for i, t in enumerate(times):
        n = bisect.bisect_left(times, t + window, lo=i) - i
        worst = max(worst, n)
        if n > limit:
            over += 1
    return over, worst / window


def plot(path: Path, result: dict[str, Any], series: dict[str, list[float]]) -> None:
    """throughput over time per tier, and each stage's latency distribution."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 8))
    start = result["_start"]
    for tier in TIERS:
        times = [t - start for t in series.get(tier, [])]
        if not times:
            continue
        bins = max(1, math.ceil(max(times)))
        counts = [0] * (bins + 1)
        for t in times:
            counts[int(t)] += 1
        top.plot(range(len(counts)), counts, label=f"{tier} ({TIERS[tier]:g}/s per sender)")
    top.set_xlabel("seconds since the first create")
    top.set_ylabel("messages sent per second")
    top.set_yscale("symlog")
    top.set_title("Throughput over time per tier (sent to the carrier)")
    top.legend()
    data = [[x * 1000 for x in result["_latency"][s]] or [0.0] for s in STAGES]
    bottom.boxplot(data, whis=(1, 99), showfliers=False)
    bottom.set_xticks(range(1, len(STAGES) + 1), STAGES)
    bottom.set_yscale("log")
    bottom.set_ylabel("milliseconds (box: quartiles, whiskers: p1-p99)")
    bottom.set_title("Latency per stage")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def start_daemon(data_dir: Path) -> subprocess.Popen[bytes]:
    """``smpp-engine serve`` on the embedded default, waited for on ``/ready``."""
    import urllib.request

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine",
            "serve",
            "--data-dir",
            str(data_dir),
            "--listen",
            "127.0.0.1:0",
            "--log-level",
            "WARNING",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            api = json.loads((data_dir / "run.json").read_text())["api_url"]
            with urllib.request.urlopen(api + "/ready", timeout=5) as resp:
                if resp.status == 200:
                    return proc
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("the daemon did not become ready")


async def run(ns: argparse.Namespace) -> int:
    from engine.aio.app import read_run_info

    data_dir = Path(ns.data_dir)
    info = read_run_info(data_dir)
    api = ns.api or (info.api_url if info else None)
    if not api:
        print(f"no daemon running with data directory {data_dir}", file=sys.stderr)
        return 2
    sid, token, senders = make_senders(data_dir, ns.senders)
    work = plan(ns.messages, senders)
    receiver = Receiver(token)
    await receiver.start()
    receiver.expected = len(work)
    start = time.time()
    created, errors = await create_all(api, sid, token, work, receiver.url, ns.concurrency)
    created_done = time.time()
    receiver.expected = len(created)
    receiver.bar = tqdm(total=len(created), desc="final callbacks", unit="msg", leave=True)
    receiver.bar.update(len(receiver.final))
    if len(receiver.final) >= len(created):
        receiver.done.set()
    slowest = max(ns.messages / (ns.senders * sum(TIERS.values())), 1.0)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(receiver.done.wait(), timeout=ns.timeout + 3 * slowest)
    receiver.bar.close()
    end = max((at for _, at in receiver.final.values()), default=time.time())
    await receiver.close()

    history = read_history(data_dir / "messages.sqlite3", list(created))
    latency: dict[str, list[float]] = {s: [] for s in STAGES}
    sends: dict[str, list[float]] = defaultdict(list)
    sent_by_tier: dict[str, list[float]] = defaultdict(list)
    statuses: Counter[str] = Counter()
    for msid, (tier, sender, _) in created.items():
        h = history.get(msid, {})
        statuses[str(h.get("_final", "missing"))] += 1
        if "sending" in h:
            sends[sender].append(float(h["sending"]))
        if "sent" in h:
            sent_by_tier[tier].append(float(h["sent"]))
            latency["create->sent"].append(float(h["sent"]) - float(h["queued"]))
            if "delivered" in h:
                latency["sent->delivered"].append(float(h["delivered"]) - float(h["sent"]))
        cb = receiver.final.get(msid)
        if cb is not None and "delivered" in h:
            latency["delivered->callback"].append(cb[1] - float(h["delivered"]))
    tier_of = {s: t for t, ss in senders.items() for s in ss}
    rates: dict[str, float] = {}
    violations = 0
    for sender, times in sends.items():
        over, seen = rate_violations(times, TIERS[tier_of[sender]])
        violations += over
        tier = tier_of[sender]
        rates[tier] = max(rates.get(tier, 0.0), seen)
    not_final = sum(n for s, n in statuses.items() if s not in FINAL)
    elapsed = end - start
    result: dict[str, Any] = {
        "command": " ".join(sys.argv),
        "messages": len(work),
        "created": len(created),
        "create_errors": errors[:20],
        "senders_per_tier": ns.senders,
        "tier_rates": TIERS,
        "messages_per_tier": {t: sum(1 for w in work if w[0] == t) for t in TIERS},
        "create_per_second": round(len(created) / max(1e-9, created_done - start), 1),
        "end_to_end_per_second": round(len(receiver.final) / max(1e-9, elapsed), 1),
        "elapsed_seconds": round(elapsed, 2),
        "statuses": dict(statuses),
        "callbacks_final": len(receiver.final),
        "signatures_checked": receiver.checked,
        "bad_signatures": receiver.bad_signatures,
        "latency_ms": {
            s: {
                "p50": ms(pct(v, 50)),
                "p99": ms(pct(v, 99)),
                "n": len(v),
            }
            for s, v in latency.items()
        },
        "highest_rate_seen_per_tier": {t: round(r, 2) for t, r in rates.items()},
        "rate_violations": violations,
        "not_final": not_final,
        "ok": not_final == 0
        and violations == 0
        and not errors
        and receiver.bad_signatures == 0
        and len(receiver.final) == len(created),
    }
    out = Path(ns.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "load.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(out / "load.png", {**result, "_start": start, "_latency": latency}, sent_by_tier)
    print(f"\n{len(work)} messages, {ns.senders} senders per tier, {elapsed:.1f} s")
    print(f"  created: {result['create_per_second']} msg/s through the REST API")
    print(f"  end to end (create -> final callback): {result['end_to_end_per_second']} msg/s")
    for s in STAGES:
        lat = result["latency_ms"][s]
        print(f"  {s:<21} p50 {lat['p50']} ms  p99 {lat['p99']} ms  (n={lat['n']})")
    print(f"  statuses: {dict(statuses)}; final callbacks: {len(receiver.final)}")
    print(f"  highest rate seen per sender, by tier: {result['highest_rate_seen_per_tier']}")
    print(f"  rate violations: {violations}; bad signatures: {receiver.bad_signatures}")
    print(f"  wrote {out / 'load.json'} and {out / 'load.png'}; {'OK' if result['ok'] else 'FAIL'}")
    return 0 if result["ok"] else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help="the running daemon's data directory")
    parser.add_argument("--api", help="the daemon's API URL (default: from DATA_DIR/run.json)")
    parser.add_argument("--start", action="store_true", help="start a daemon in a temp dir")
    parser.add_argument("--messages", type=int, default=6000)
    parser.add_argument("--senders", type=int, default=10, help="senders of each tier")
    parser.add_argument("--concurrency", type=int, default=32, help="HTTP clients")
    parser.add_argument("--timeout", type=float, default=120.0, help="extra seconds to wait")
    parser.add_argument("--out", default="bench/results", help="where load.json/png go")
    ns = parser.parse_args()
    if not 1 <= ns.senders <= 999:
        parser.error("--senders: 1..999")
    proc = None
    if ns.start:
        ns.data_dir = tempfile.mkdtemp(prefix="smpp-load-")
        proc = start_daemon(Path(ns.data_dir))
    elif not ns.data_dir:
        parser.error("give --data-dir of a running daemon, or --start")
    try:
        with_uvloop = os.environ.get("LOAD_UVLOOP", "1") == "1"
        if with_uvloop:
            try:
                import uvloop

                uvloop.install()
            except ImportError:
                pass
        return asyncio.run(run(ns))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(60)


if __name__ == "__main__":
    sys.exit(main())
