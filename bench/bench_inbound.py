"""The inbound loop under load: deliver_sm -> durable store -> signed webhook -> TwiML reply
-> outbound-reply accepted -> submit_sm -> submit_sm_resp.

Three processes, so that each one's CPU is its own:

- this script: the carrier (an :class:`engine.SmscServer` that sends the deliver_sm and
  answers the replies' submit_sm) and the load (``--concurrency`` deliver_sm in flight
  over the daemon's ``--binds`` binds);
- the daemon (``engine.daemon.run``, configured links to this carrier, no demo);
- the application: an aiohttp app (uvloop) that answers every webhook with TwiML
  ``<Response><Message>re: BODY</Message></Response>`` and checks one signature in 100
  with the helper library's RequestValidator.

Measured: messages per second (inbound messages whose reply reached the carrier, over the
time from the first deliver_sm to the last reply's submit_sm), p50/p99 latency from a
deliver_sm leaving the carrier to its reply's submit_sm arriving, p50/p99 of the
deliver_sm_resp (how long the carrier waits for its answer), and CPU seconds per 1,000
messages by process and by daemon thread.

    python bench/bench_inbound.py                        # 10,000 messages, 8 binds
    python bench/bench_inbound.py --messages 2000 --binds 1

Anchors (issue 9): Kannel 1.4.5 ~5,000-6,000 msg/s for this loop on this machine; Jasmin
0.11.1 ~520 inbound msg/s to an HTTP app (no markup replies); goal 10,000 msg/s, p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_gateway import children_of, cpu_by_thread, cpu_total

NUMBERS = 50
SYSTEM_ID = "bench"
PASSWORD = "benchpw"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


APP = r"""
import asyncio, sys
from xml.sax.saxutils import escape
from aiohttp import web
from twilio.request_validator import RequestValidator
port, token = int(sys.argv[1]), sys.argv[2]
validator = RequestValidator(token)
state = {"n": 0, "checked": 0, "bad": 0}
HEAD = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>re: '
TAIL = "</Message></Response>"

async def sms(request):
    form = await request.post()
    state["n"] += 1
    if state["n"] % 100 == 1:
        state["checked"] += 1
        params = {k: str(v) for k, v in form.items()}
        url = f"http://127.0.0.1:{port}{request.path_qs}"
        if not validator.validate(url, params, request.headers.get("X-Twilio-Signature", "")):
            state["bad"] += 1
    return web.Response(text=HEAD + escape(str(form.get("Body", ""))) + TAIL,
                        content_type="text/xml")

async def stats(request):
    return web.json_response(state)

try:
    import uvloop
    uvloop.install()
except ImportError:
    pass
app = web.Application()
app.router.add_post("/sms", sms)
app.router.add_get("/stats", stats)
print("listening", flush=True)
web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)
"""

DAEMON = r"""
import sys
from engine.config import (ApiConfig, CarrierLinkConfig, GatewayConfig, WebhookConfig)
from engine.daemon import run
data_dir, listen, port, binds, per_host = sys.argv[1:6]
cfg = GatewayConfig(
    data_dir=data_dir,
    api=ApiConfig(listen=listen),
    carriers=[CarrierLinkConfig(name=f"c{i}", host="127.0.0.1", port=int(port),
                                system_id="bench", password_env="BENCH_CARRIER_PASSWORD",
                                window=128) for i in range(int(binds))],
    demo=False,
    webhooks=WebhookConfig(max_pending=1_000_000, max_pending_per_host=1_000_000,
                           per_host_concurrency=int(per_host)),
)
import os
if os.environ.get("BENCH_PROFILE"):  # cProfile of the daemon, written at its exit
    import cProfile, pstats
    prof = cProfile.Profile()
    code = prof.runcall(run, cfg)
    pstats.Stats(prof).dump_stats(os.environ["BENCH_PROFILE"])
    sys.exit(code)
sys.exit(run(cfg))
"""


@dataclass
class Run:
    n: int
    sent_at: dict[int, float] = field(default_factory=dict)
    answered_at: dict[int, float] = field(default_factory=dict)
    reply_at: dict[int, float] = field(default_factory=dict)
    refused: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)


def prepare(data_dir: Path, sms_url: str) -> tuple[str, str, list[str]]:
    from engine.aio.app import DIRECTORY_DB
    from engine.store.directory import Directory, NumberRecord

    data_dir.mkdir(parents=True, exist_ok=True)
    directory = Directory(data_dir / DIRECTORY_DB)
    account = directory.create_account("bench")
    numbers = [f"+1415555{3000 + i:04d}" for i in range(NUMBERS)]
    directory.add_numbers(
        [NumberRecord.new(s, number_type="local", iso_country="US", rate=1e6) for s in numbers]
    )
    for s in numbers:
        directory.assign_number(s, account.sid, sms_url=sms_url)
    directory.close()
    return account.sid, account.auth_token, numbers


def _drain(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # type: ignore[union-attr]


def _wait_line(proc: subprocess.Popen[str], marker: str, what: str) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(marker):
            _drain(proc)
            return
    raise SystemExit(f"{what} exited before it was up")


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    data = sorted(values)
    return data[min(len(data) - 1, int(q * len(data)))] * 1000


async def main(args: argparse.Namespace) -> None:
    from engine import SmscServer
    from engine.aio.server import SmscHandler
    from engine.session import SessionConfig
    from engine.text import DeliverSm

    run: Run | None = None
    bound = asyncio.Event()

    class Carrier(SmscHandler):
        """Counts binds; stamps each reply's submit_sm by the inbound number it names."""

        ids = 0

        def on_bound(self, conn: Any) -> None:
            if len(server.connections(SYSTEM_ID)) >= args.binds:
                bound.set()

        def on_submit_sm(self, conn: Any, pdu: Any) -> Any:
            now = time.perf_counter()
            Carrier.ids += 1
            text = bytes(pdu.short_message)
            if run is not None and text.startswith(b"re: mo "):
                i = int(text[7:])
                run.reply_at[i] = now
                if len(run.reply_at) >= run.n - run.refused:
                    run.done.set()
            return f"{Carrier.ids:010X}"

    server = SmscServer(
        Carrier(),
        credentials={SYSTEM_ID: PASSWORD},
        session_config=SessionConfig(window=args.window),
        max_deliver_queue=1_000_000,
        deliver_queue_timeout=None,
    )
    await server.start()
    procs: list[subprocess.Popen[str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-inbound-") as tmp:
        try:
            app_port = _free_port()
            webhook = subprocess.Popen(
                [sys.executable, "-c", APP, str(app_port), "pending"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
            )  # fmt: skip
            procs.append(webhook)
            _wait_line(webhook, "listening", "the webhook app")
            data_dir = Path(tmp) / "data"
            _sid, token, numbers = prepare(data_dir, f"http://127.0.0.1:{app_port}/sms")
            # The app checks signatures with the account's token: restart it with it.
            webhook.send_signal(signal.SIGTERM)
            webhook.wait(10)
            webhook = subprocess.Popen(
                [sys.executable, "-c", APP, str(app_port), token],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
            )  # fmt: skip
            procs[0] = webhook
            _wait_line(webhook, "listening", "the webhook app")
            env = {**os.environ, "BENCH_CARRIER_PASSWORD": PASSWORD, "PYTHONUNBUFFERED": "1"}
            daemon = subprocess.Popen(
                [sys.executable, "-c", DAEMON, str(data_dir), f"127.0.0.1:{_free_port()}",
                 str(server.port), str(args.binds), str(args.per_host)],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env,
            )  # fmt: skip
            procs.append(daemon)
            _wait_line(daemon, "Stop with", "the daemon")
            await asyncio.wait_for(bound.wait(), 60)

            async def load(count: int, offset: int) -> Run:
                nonlocal run
                current = Run(count)
                run = current
                todo = iter(range(count))

                async def sender() -> None:
                    for k in todo:
                        i = offset + k
                        number = numbers[i % len(numbers)]
                        pdu = DeliverSm(
                            source_addr=f"1555{7000000 + i % 1000000:07d}",
                            source_addr_ton=1, source_addr_npi=1,
                            destination_addr=number[1:], dest_addr_ton=1, dest_addr_npi=1,
                            short_message=f"mo {i}".encode(),
                        )  # fmt: skip
                        current.sent_at[i] = time.perf_counter()
                        resp = await server.deliver(SYSTEM_ID, pdu)
                        current.answered_at[i] = time.perf_counter()
                        if int(resp.command_status) != 0:
                            current.refused += 1

                await asyncio.gather(*(sender() for _ in range(args.concurrency)))
                await asyncio.wait_for(current.done.wait(), 300)
                return current

            await load(min(500, args.messages), 10_000_000)  # warm-up, not counted

            def snapshot() -> dict[str, float]:
                threads = cpu_by_thread(daemon.pid)
                store = sum(v for k, v in threads.items() if k.startswith("store-"))
                other = sum(v for k, v in threads.items() if not k.startswith("store-"))
                return {
                    "daemon: event loop (dispatcher, webhooks, TwiML, SMPP)": other,
                    "daemon: store writer+syncer threads": store,
                    "webhook app": cpu_total(webhook.pid),
                    "carrier + load (this process)": cpu_total(os.getpid()),
                    "daemon children": sum(cpu_total(p) for p in children_of(daemon.pid)),
                }

            before = snapshot()
            result = await load(args.messages, 0)
            after = snapshot()
            first = min(result.sent_at.values())
            last = max(result.reply_at.values())
            replied = len(result.reply_at)
            latency = [result.reply_at[i] - result.sent_at[i] for i in result.reply_at]
            answer = [result.answered_at[i] - result.sent_at[i] for i in result.answered_at]
            print(f"inbound loop, {args.messages} messages, {args.binds} bind(s), "
                  f"{args.concurrency} deliver_sm in flight, per-host webhook concurrency "
                  f"{args.per_host}")  # fmt: skip
            print(f"  replies reaching the carrier: {replied} (refused deliver_sm: "
                  f"{result.refused})")  # fmt: skip
            print(f"  rate: {replied / (last - first):,.0f} msg/s")
            print(f"  deliver_sm -> reply submit_sm: p50 {pct(latency, 0.5):.1f} ms, "
                  f"p99 {pct(latency, 0.99):.1f} ms")  # fmt: skip
            print(f"  deliver_sm -> deliver_sm_resp: p50 {pct(answer, 0.5):.1f} ms, "
                  f"p99 {pct(answer, 0.99):.1f} ms")  # fmt: skip
            print("  CPU seconds per 1,000 messages:")
            for name in before:
                used = after[name] - before[name]
                if used or name != "daemon children":
                    print(f"    {name:<55} {used * 1000 / max(1, replied):6.2f}")
            import json
            import urllib.request

            with urllib.request.urlopen(f"http://127.0.0.1:{app_port}/stats") as resp:
                stats = json.loads(resp.read())
            print(f"  signatures checked by the app: {stats['checked']}, invalid: {stats['bad']}")
        finally:
            for proc in reversed(procs):
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(60)
                    except subprocess.TimeoutExpired:
                        print(f"pid {proc.pid} did not stop in 60 s: killed", file=sys.stderr)
                        proc.kill()
            await server.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=10_000)
    p.add_argument("--binds", type=int, default=8, help="the daemon's binds to the carrier")
    p.add_argument("--concurrency", type=int, default=256, help="deliver_sm in flight")
    p.add_argument("--window", type=int, default=64, help="carrier's window per bind")
    p.add_argument("--per-host", type=int, default=64, help="webhook connections to the app")
    ns = p.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(ns))
