"""The command line against a live daemon (``serve`` as a subprocess), ``--json`` output
parsed, errors on stderr with meaningful exit codes, and no secret in ``--help`` or logs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway_helpers import free_port, running_gateway, twilio_client
from tests.ops_helpers import Served, env, write_config

TO = "+15557654321"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("cli")
    data = root / "data"
    config = write_config(root / "c.toml", data, f"127.0.0.1:{free_port()}", [])
    served = Served(config, data, "--log-format", "json", "--log-level", "INFO")
    yield served
    assert served.stop() == 0, served.text


def cli(*args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        capture_output=True,
        text=True,
        env=env(**environ),
        timeout=60,
    )


def ok_json(*args: str, **environ: str) -> object:
    result = cli(*args, "--json", **environ)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_send_list_show_with_history(daemon: Served) -> None:
    d = ("--data-dir", str(daemon.data_dir))
    sent = ok_json("send", *d, "--from", "12345", "--to", TO, "hello cli", "--wait", "30")
    assert isinstance(sent, dict) and sent["status"] == "delivered"
    assert sent["body"] == "hello cli" and sent["from"] == "12345"
    listed = ok_json("messages", "list", *d, "--to", TO)
    assert isinstance(listed, list) and sent["sid"] in [m["sid"] for m in listed]
    shown = ok_json("messages", "show", *d, sent["sid"])
    assert isinstance(shown, dict) and shown["status"] == "delivered"
    assert [h["status"] for h in shown["history"]] == ["queued", "sending", "sent", "delivered"]
    human = cli("messages", "show", *d, sent["sid"])
    assert human.returncode == 0 and "delivered" in human.stdout and "link sim" in human.stdout


def test_send_errors_go_to_stderr_with_exit_codes(daemon: Served) -> None:
    d = ("--data-dir", str(daemon.data_dir))
    refused = cli("send", *d, "--from", "+14155559999", "--to", TO, "not my number")
    assert refused.returncode == 1 and refused.stdout == ""
    assert "21606" in refused.stderr or "From" in refused.stderr
    undelivered = cli("send", *d, "--from", "12345", "--to", "+15557654391", "x", "--wait", "30")
    assert undelivered.returncode == 1 and "undelivered" in undelivered.stderr
    missing = cli("messages", "show", *d, "SM" + "0" * 32)
    assert missing.returncode == 1 and "20404" in missing.stderr
    bad = cli("messages", "show", *d, "not-a-sid")
    assert bad.returncode == 2 and "SID" in bad.stderr
    usage = cli("send", *d, "--to", TO, "no from")
    assert usage.returncode == 2 and "--from" in usage.stderr


def test_accounts_create_and_list(daemon: Served) -> None:
    d = ("--data-dir", str(daemon.data_dir))
    made = ok_json("accounts", "create", *d, "--friendly-name", "Weather Co")
    assert isinstance(made, dict) and made["account_sid"].startswith("AC")
    local = ok_json("accounts", "list", *d)
    assert isinstance(local, list)
    assert {"Weather Co", "Demo account"} <= {a["friendly_name"] for a in local}
    assert "auth_token" not in json.dumps(local)
    # Through the API with the new account's credentials from the environment.
    remote = ok_json(
        "accounts",
        "list",
        "--api",
        daemon.url,
        TWILIO_ACCOUNT_SID=made["account_sid"],
        TWILIO_AUTH_TOKEN=made["auth_token"],
    )
    assert isinstance(remote, list) and [a["sid"] for a in remote] == [made["account_sid"]]
    wrong = cli(
        "accounts",
        "list",
        "--api",
        daemon.url,
        "--account-sid",
        made["account_sid"],
        "--auth-token",
        "0" * 32,
    )
    assert wrong.returncode == 1 and "401" in wrong.stderr


def test_help_everywhere_and_no_secret_in_it_or_the_logs(daemon: Served) -> None:
    _, token = daemon.demo()
    commands = [
        [],
        ["serve"],
        ["config"],
        ["config", "check"],
        ["config", "example"],
        ["send"],
        ["accounts"],
        ["accounts", "create"],
        ["accounts", "list"],
        ["messages"],
        ["messages", "list"],
        ["messages", "show"],
    ]
    for command in commands:
        result = cli(*command, "--help", TWILIO_AUTH_TOKEN=token)
        assert result.returncode == 0, (command, result.stderr)
        assert "usage:" in result.stdout and token not in result.stdout
    logs = [line for line in daemon.lines if line.startswith("{")]
    assert logs, daemon.text
    for line in logs:
        record = json.loads(line)
        assert {"ts", "level", "logger", "msg"} <= set(record)
        assert token not in line


def test_no_daemon(tmp_path: Path) -> None:
    result = cli("send", "--data-dir", str(tmp_path), "--from", "12345", "--to", TO, "x")
    assert result.returncode == 1 and "no daemon running" in result.stderr


async def test_messages_read_from_the_files_when_no_daemon_runs(tmp_path: Path) -> None:
    import asyncio

    async with running_gateway(tmp_path) as gw:
        client = twilio_client(gw)
        msg = await asyncio.to_thread(
            client.messages.create, to=TO, from_="12345", body="kept on disk"
        )
        data_dir = str(gw.data_dir)
    shown = await asyncio.to_thread(ok_json, "messages", "show", "--data-dir", data_dir, msg.sid)
    assert isinstance(shown, dict) and shown["body"] == "kept on disk"
    assert shown["history"][0]["status"] == "queued"
    listed = await asyncio.to_thread(ok_json, "messages", "list", "--data-dir", data_dir)
    assert isinstance(listed, list) and [m["sid"] for m in listed] == [msg.sid]


def test_json_logs_mask_registered_secrets() -> None:
    import io
    import logging

    from engine.logs import redact, setup_logging

    stream = io.StringIO()
    handler = setup_logging("json", "INFO", stream=stream)
    try:
        redact("hunter2-password")
        log = logging.getLogger("engine.test")
        log.info("bind with %s failed", "hunter2-password", extra={"sid": "SM1", "link": "a"})
        try:
            raise RuntimeError("token hunter2-password rejected")
        except RuntimeError:
            log.exception("link %s down", "a")
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["msg"] == "bind with *** failed"
    assert (lines[0]["sid"], lines[0]["link"]) == ("SM1", "a")
    assert "hunter2-password" not in stream.getvalue()
    assert "RuntimeError" in lines[1]["exc"]
