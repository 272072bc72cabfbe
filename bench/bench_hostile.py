"""The SMSC side against hostile peers, measured over loopback TCP (the figures of
docs/reliability.md).  Each scenario is one of issue 12's defects:

    python bench/bench_hostile.py idle      # idle connections held; does a bind get in?
    python bench/bench_hostile.py guess     # wrong-password binds per second, one address
    python bench/bench_hostile.py receipts  # memory after 100,000 receipts never answered

It uses only the server's and the carrier's long-standing API, so the same file measures
an older tree too (copy it into that tree's bench/).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import engine
from engine import PduReader
from engine.aio.server import SmscServer
from engine.sim import SimCarrier

CREDS = {"acme": "secret"}


async def _open(port: int, local: str | None = None) -> tuple[Any, Any]:
    local_addr = (local, 0) if local else None
    return await asyncio.open_connection("127.0.0.1", port, local_addr=local_addr)


async def _bind(port: int, local: str | None = None, password: str = "secret") -> int | None:
    """Bind and return the command_status, or None when closed with no answer."""
    r, w = await _open(port, local)
    w.write(engine.encode(engine.BindTransceiver(sequence_number=1, system_id="acme",
                                                 password=password)))  # fmt: skip
    framer = PduReader()
    try:
        while True:
            data = await asyncio.wait_for(r.read(4096), 30)
            if not data:
                return None
            for pdu in framer.feed(data):
                return int(pdu.command_status)
    finally:
        w.close()


async def idle(n: int, addresses: int) -> None:
    async with SmscServer(credentials=CREDS) as server:
        conns = [await _open(server.port, f"127.0.1.{1 + i % addresses}") for i in range(n)]
        await asyncio.sleep(0.5)
        held = len(server.connections())
        status = await _bind(server.port, local="127.0.0.2")
        print(f"{n} idle connections opened from {addresses} address(es): the server holds"
              f" {held}")  # fmt: skip
        print(f"a correct bind from another address then gets: {status!r} (None: closed)")
        for _, w in conns:
            w.close()


async def guess(seconds: float) -> None:
    async with SmscServer(credentials=CREDS) as server:
        answered = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            await _bind(server.port, password="wrong")
            answered += 1
        elapsed = time.perf_counter() - start
        guard = getattr(server, "bind_guard", None)
        checked = answered - (guard.refused_locked if guard is not None else 0)
        print(f"one client, one address, {elapsed:.1f} s: {answered / elapsed:.1f} wrong binds"
              f" answered per second; {checked} passwords checked in all")  # fmt: skip
        if guard is not None:
            print(f"lock-outs: {len(guard.lockouts)}; refused while locked: {guard.refused_locked}")


async def receipts(n: int, batch: int = 1000) -> None:
    gc.collect()
    tracemalloc.start()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    async with SimCarrier(credentials=CREDS, receipt_delay=0.0, record=False) as sim:
        r, w = await _open(sim.port)
        framer = PduReader()
        w.write(engine.encode(engine.BindTransceiver(sequence_number=1, system_id="acme",
                                                     password="secret")))  # fmt: skip
        pending: list[Any] = []

        async def next_pdu() -> Any:
            while not pending:
                pending.extend(framer.feed(await r.read(65536)))
            return pending.pop(0)

        assert (await next_pdu()).command_status == 0
        statuses: dict[int, int] = {}
        seq = 1
        t0 = time.perf_counter()
        for _ in range(n // batch):
            pdus = []
            for _ in range(batch):
                seq += 1
                pdus.append(
                    engine.SubmitSm(
                        sequence_number=seq,
                        destination_addr="15005550100",
                        short_message=b"hello",
                        registered_delivery=1,
                    )
                )
            w.write(engine.encode_many(pdus))
            got = 0
            while got < batch:
                pdu = await next_pdu()
                if pdu.command_name == "submit_sm_resp":  # deliver_sm: never answered
                    statuses[pdu.command_status] = statuses.get(pdu.command_status, 0) + 1
                    got += 1
        await asyncio.sleep(0.5)  # let the receipt tasks start and queue
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"{n} submits with registered_delivery to an ESME that never answers deliver_sm"
              f" ({time.perf_counter() - t0:.1f} s)")  # fmt: skip
        print(f"submit_sm_resp statuses: { {hex(k): v for k, v in statuses.items()} }")
        print(f"accepted {sim.accepted}; receipt tasks alive {len(sim._tasks)}")
        print(f"traced memory now {current / 2**20:.1f} MiB (peak {peak / 2**20:.1f} MiB);"
              f" max RSS grew {(rss1 - rss0) / 1024:.1f} MiB")  # fmt: skip
        w.transport.abort()
    tracemalloc.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("scenario", choices=["idle", "guess", "receipts"])
    p.add_argument("-n", type=int, default=0, help="connections / submits (scenario default)")
    p.add_argument("--addresses", type=int, default=1, help="idle: source addresses (1)")
    p.add_argument("--seconds", type=float, default=10.0, help="guess: how long (10)")
    a = p.parse_args()
    if a.scenario == "idle":
        asyncio.run(idle(a.n or 1000, a.addresses))
    elif a.scenario == "guess":
        asyncio.run(guess(a.seconds))
    else:
        asyncio.run(receipts(a.n or 100_000))


if __name__ == "__main__":
    main()
