"""``smpp-engine sim mo`` against a real ``smpp-engine serve`` subprocess: the message goes
through the daemon's simulated carrier as deliver_sm, the gateway calls the number's
webhook (a real aiohttp app here), and the TwiML reply leaves as an outbound-reply."""

from __future__ import annotations

import asyncio
import json
import signal
import stat
import sys
from pathlib import Path

from engine.aio.app import DEMO_FILE, DIRECTORY_DB, RUN_FILE
from engine.store.directory import Directory, NumberRecord
from tests.gateway_helpers import free_port
from tests.inbound_helpers import twiml, webhook_app
from tests.test_serve import Daemon

LONG_CODE = "+14155550100"
PHONE = "+15557654321"
WAIT = 60.0  # safety net only


def prepare(data_dir: Path, sms_url: str) -> tuple[str, str]:
    """The demo account and its long code, with an SmsUrl, made before serve starts (serve
    reuses the account named by demo.json and numbers already assigned)."""
    data_dir.mkdir(parents=True)
    directory = Directory(data_dir / DIRECTORY_DB)
    try:
        account = directory.create_account("Demo account")
        directory.add_numbers([NumberRecord.new(LONG_CODE, iso_country="US")])
        assert directory.assign_number(LONG_CODE, account.sid, sms_url=sms_url) is not None
    finally:
        directory.close()
    (data_dir / DEMO_FILE).write_text(json.dumps({"account_sid": account.sid}) + "\n")
    return account.sid, account.auth_token


async def sim_mo(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine", "sim", "mo", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_sim_mo_through_a_running_serve(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with webhook_app({}) as app:
        sid, token = prepare(data_dir, app.url("/sms"))
        app.tokens[sid] = token
        app.answers["/sms"] = lambda hit: twiml("Thanks for " + hit.params["Body"])
        daemon = await asyncio.to_thread(Daemon, data_dir, free_port())
        try:
            assert daemon.account_sid == sid
            banner = "\n".join(daemon.lines)
            assert "smpp-engine sim mo" in banner and f"--to {LONG_CODE}" in banner
            # run.json holds the control token: owner-only.
            mode = stat.S_IMODE((data_dir / RUN_FILE).stat().st_mode)
            assert mode == 0o600
            assert "control_token" in json.loads((data_dir / RUN_FILE).read_text())

            d = str(data_dir)
            code, out, err = await sim_mo("--data-dir", d, "--from", PHONE, "--to", LONG_CODE, "hi")
            assert code == 0, err
            assert "delivered to the gateway" in out
            [hit] = await app.wait_for("/sms")
            assert hit.valid and hit.params["Body"] == "hi" and hit.params["From"] == PHONE

            text = "Ünïcödé in three parts, " * 4
            code, out, err = await sim_mo(
                "--data-dir", d, "--from", PHONE, "--to", LONG_CODE, "--parts", "3", "--ucs2", text
            )
            assert code == 0, err
            assert "3 parts" in out
            hits = await app.wait_for("/sms", 2)
            assert hits[1].params["Body"] == text and hits[1].params["NumSegments"] == "3"

            client = daemon.client()

            def replies() -> list[str]:
                return sorted(
                    m.body for m in client.messages.list(limit=50)
                    if m.direction == "outbound-reply" and m.to == PHONE
                )  # fmt: skip

            deadline = asyncio.get_running_loop().time() + WAIT
            while await asyncio.to_thread(replies) != sorted(
                ["Thanks for hi", "Thanks for " + text.strip()]
            ):
                if asyncio.get_running_loop().time() > deadline:
                    listed = await asyncio.to_thread(lambda: client.messages.list(limit=50))
                    shown = [(m.direction, m.from_, m.to, m.status, m.body) for m in listed]
                    raise AssertionError(f"the replies: {shown}\n" + "\n".join(daemon.lines))
                await asyncio.sleep(0.1)

            code, _, err = await sim_mo("--data-dir", d, "--from", PHONE, "--to", LONG_CODE,
                                        "--parts", "0", "x")  # fmt: skip
            assert code == 2 and "parts" in err
        finally:
            assert await asyncio.to_thread(daemon.stop, signal.SIGTERM) == 0

    code, _, err = await sim_mo(
        "--data-dir", str(data_dir), "--from", PHONE, "--to", LONG_CODE, "x"
    )
    assert code == 1 and "no running smpp-engine serve" in err


async def test_sim_mo_wrong_token_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with webhook_app({}) as app:
        prepare(data_dir, app.url("/sms"))
        daemon = await asyncio.to_thread(Daemon, data_dir, free_port())
        try:
            run = json.loads((data_dir / RUN_FILE).read_text())
            forged = tmp_path / "forged"
            forged.mkdir()
            (forged / RUN_FILE).write_text(json.dumps({**run, "control_token": "guess"}))
            code, _, err = await sim_mo(
                "--data-dir", str(forged), "--from", PHONE, "--to", LONG_CODE, "x"
            )
            assert code == 1 and "token" in err
            assert app.hits == []
        finally:
            assert await asyncio.to_thread(daemon.stop, signal.SIGTERM) == 0
