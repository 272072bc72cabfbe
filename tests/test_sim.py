"""The simulated carrier: its outcome rule, its command line and running as a process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine import MessageState, SessionError, SubmitSm
from engine.aio.client import EsmeClient
from engine.sim import OUTCOMES, SimCarrier, outcome_for
from engine.sim.__main__ import parse_args

ROOT = Path(__file__).resolve().parent.parent
HANG_GUARD = 20.0


@pytest.mark.parametrize(
    ("dest", "stat", "state"),
    [
        ("15005550100", "DELIVRD", MessageState.DELIVERED),
        ("15005550191", "UNDELIV", MessageState.UNDELIVERABLE),
        ("15005550192", "REJECTD", MessageState.REJECTED),
        ("15005550193", "EXPIRED", MessageState.EXPIRED),
        ("9", "DELIVRD", MessageState.DELIVERED),
    ],
)
def test_outcome_rule(dest: str, stat: str, state: MessageState) -> None:
    outcome = outcome_for(dest)
    assert outcome is not None
    assert (outcome.stat, outcome.state) == (stat, state)


def test_outcome_rule_no_receipt_suffix() -> None:
    assert outcome_for("15005550194") is None
    assert set(OUTCOMES) == {"91", "92", "93", "94"}


def test_help_documents_the_rule() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "engine.sim", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for word in ("91 UNDELIV", "92 REJECTD", "93 EXPIRED", "94 no receipt", "--throttle-rate",
                 "--drop-after", "--delay", "--error-status", "--credentials"):  # fmt: skip
        assert word in out, word


def test_bad_options_are_refused_naming_them() -> None:
    with pytest.raises(SystemExit):
        parse_args(["--throttle-fraction", "2"])
    with pytest.raises(SystemExit):
        parse_args(["--credentials", "nocolon"])
    args = parse_args(["--credentials", "a:b", "--error-status", "0x58"])
    assert args.credentials == [("a", "b")] and args.error_status == 0x58


async def test_sim_as_a_subprocess_serves_a_client() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine.sim", "--port", "0", "--credentials", "esme:secret",
        "--receipt-delay", "0", cwd=ROOT, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), HANG_GUARD)).decode()
        assert line.startswith("listening on 127.0.0.1:")
        port = int(line.rsplit(":", 1)[1])
        receipts: list[Any] = []
        async with EsmeClient(
            "127.0.0.1", port, system_id="esme", password="secret", on_deliver=receipts.append,
            connect_timeout=HANG_GUARD,
        ) as c:  # fmt: skip
            r = await asyncio.wait_for(
                c.submit(SubmitSm(source_addr="1", destination_addr="15005550100",
                                  registered_delivery=1, short_message=b"hi")),
                HANG_GUARD,
            )  # fmt: skip
            assert r.command_status == 0 and r.message_id

            async def got_receipt() -> None:
                while not receipts:
                    await asyncio.sleep(0.01)

            await asyncio.wait_for(got_receipt(), HANG_GUARD)
            assert receipts[0].receipted_message_id == r.message_id
    finally:
        proc.terminate()
        out, _ = await asyncio.wait_for(proc.communicate(), HANG_GUARD)
    assert proc.returncode == 0
    assert b"accepted 1 submits, sent 1 receipts" in out


async def test_records_and_fault_switches_at_run_time() -> None:
    async with SimCarrier(receipt_delay=None, seed=3) as sim:
        async with EsmeClient("127.0.0.1", sim.port, system_id="x", password="y") as c:
            sim.faults.error_status = 0x45
            r1 = await asyncio.wait_for(c.submit(SubmitSm(destination_addr="1")), HANG_GUARD)
            sim.clear_faults()
            r2 = await asyncio.wait_for(c.submit(SubmitSm(destination_addr="2")), HANG_GUARD)
        assert (r1.command_status, r2.command_status) == (0x45, 0)
        assert [(rec.pdu.destination_addr, rec.command_status) for rec in sim.received] == [
            ("1", 0x45),
            ("2", 0),
        ]
        assert sim.received[1].message_id == r2.message_id and sim.received[1].system_id == "x"


async def test_inject_without_a_bind_names_the_number() -> None:
    async with SimCarrier() as sim:
        with pytest.raises(SessionError, match="15005550001"):
            await sim.inject("1", "15005550001", "nobody home")
