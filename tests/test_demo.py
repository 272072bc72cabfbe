"""The end-to-end demo and the command line, run for real (loopback, a SQLite file)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from engine.demo import ACCOUNT, run_demo
from engine.store import SqliteStore


async def test_demo_delivers_every_message_and_paces_each_sender(tmp_path: Path) -> None:
    lines: list[str] = []
    db = tmp_path / "demo.sqlite3"
    result = await run_demo(database=db, say=lines.append)

    assert result.accepted == 44
    assert result.submitted == 44
    # The sim's rule: a destination ending in 91 gets UNDELIV, every other one DELIVRD; the
    # two-part message is delivered only once both parts' receipts are in.
    assert result.statuses == {"delivered": 43, "undelivered": 1}
    # Pacing is a lower bound the scheduler guarantees (burst 1): n messages at r/s span at
    # least (n - 1) / r seconds of the dispatcher's clock, however fast the machine is.
    toll_free = result.send_times["+18005550100"]
    assert len(toll_free) == 4
    assert toll_free[-1] - toll_free[0] >= 3 / 3 - 1e-6
    short_code = result.send_times["12345"]
    assert short_code[-1] - short_code[0] >= 39 / 100 - 1e-6
    assert any(line.startswith("final statuses") for line in lines)

    # The file holds the rows with their history, readable after the demo closed it.
    async with await SqliteStore.open(db) as store:
        page, _ = await store.list_messages(ACCOUNT, page_size=100)
        assert len(page) == 44
        (long,) = [m for m in page if m.num_segments == 2]
        steps = [(h.status, h.detail or "") for h in await store.history(long.sid)]
        assert steps[-1][0] == "delivered"
        assert any("part 1 of 2" in d or "part 2 of 2" in d for _, d in steps)
        history = await store.history(page[0].sid)
        assert [h.status for h in history][:3] == ["queued", "sending", "sent"]
        assert history[-1].status in {"delivered", "undelivered"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args], capture_output=True, text=True, timeout=60
    )


def test_cli_version_and_demo() -> None:
    version = _cli("version")
    assert version.returncode == 0
    assert version.stdout.startswith("smpp-engine ")
    demo = _cli("demo")
    assert demo.returncode == 0, demo.stderr
    assert "OK: 44/44 final" in demo.stdout


def test_cli_sim_help_and_unknown_command() -> None:
    sim = _cli("sim", "--help")
    assert sim.returncode == 0
    assert "--throttle-rate" in sim.stdout
    bad = _cli("nonsense")
    assert bad.returncode == 2
    assert "invalid choice" in bad.stderr


async def test_a_message_the_carrier_never_got_is_requeued_not_failed(tmp_path: Path) -> None:
    # LinkDownError is retry-safe (never written): the dispatcher that the demo and the
    # daemon share puts the message back in the queue instead of failing it with 30008.
    from engine import NewMessage
    from engine.aio.carriers import CarrierLinks
    from engine.aio.dispatcher import Dispatcher
    from engine.config import CarrierLinkConfig
    from engine.sim import SimCarrier

    async def no_deliver(link: str, pdu: object) -> int:
        return 0

    async with await SqliteStore.open(tmp_path / "q.sqlite3") as store:
        (record,) = await store.accept_many(
            [NewMessage(account_sid=ACCOUNT, from_="12345", to="+15550100001", body="hi")]
        )
        sim = SimCarrier(credentials={"demo": "demopass"})
        await sim.start()
        links = CarrierLinks.from_config(
            [CarrierLinkConfig(name="demo", port=sim.port, system_id="demo")],
            no_deliver,
            passwords={"demo": "demopass"},
            connect_timeout=0.3,
            backoff_initial=30.0,
            backoff_max=30.0,
        )
        await links.start(wait=True)
        await sim.close()  # the carrier goes away: nothing can be written
        dispatcher = Dispatcher(store, links)
        (link,) = list(links)
        await asyncio.wait_for(dispatcher._send(record, link), 20)
        await links.close()
        stored = await store.get(record.sid)
        assert stored is not None and stored.status == "queued" and stored.error_code is None
        assert [h.status for h in await store.history(record.sid)] == [
            "queued",
            "sending",
            "queued",
        ]
        assert dispatcher.stats.requeued == 1 and dispatcher.stats.failed == 0
