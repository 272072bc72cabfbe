"""``smpp-engine serve --config FILE`` binding to a separate SMSC process (the simulated
carrier started alone), and every configuration error stopping it before it starts."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.gateway_helpers import free_port
from tests.ops_helpers import Served, Smsc, env, get, wait_for, write_config

TO = "+15557654321"


def test_serve_binds_to_configured_links_and_sees_receipts(tmp_path: Path) -> None:
    smsc = Smsc("gw", "s3cret")
    data = tmp_path / "data"
    config = write_config(
        tmp_path / "gw.toml",
        data,
        f"127.0.0.1:{free_port()}",
        [
            {
                "name": "carrier-a",
                "port": smsc.port,
                "system_id": "gw",
                "password_env": "LINK_A_PASSWORD",
                "binds": 2,
                "window": 4,
            }
        ],
    )
    served = Served(config, data, "--log-format", "json", LINK_A_PASSWORD="s3cret")
    try:
        assert "carrier links: carrier-a" in served.text
        assert "simulated carrier on" not in served.text  # no embedded carrier started
        client = served.client()
        sids = [
            client.messages.create(to=TO, from_="12345", body=f"via config {i}").sid
            for i in range(6)
        ]
        wait_for(
            lambda: all(client.messages(s).fetch().status == "delivered" for s in sids),
            "delivery receipts through the configured link",
        )
        status, body = get(served.url + "/metrics")
        assert status == 200
        bound = {
            s.labels["bind"]: s.value
            for f in text_string_to_metric_families(body.decode())
            for s in f.samples
            if s.name == "smpp_engine_link_bound" and s.labels["link"] == "carrier-a"
        }
        assert bound == {"0": 1.0, "1": 1.0}  # binds = 2: two sessions under one name
    finally:
        code = served.stop()
        smsc.stop()
    assert code == 0, served.text
    assert "s3cret" not in served.text  # the password never reaches the logs


def _serve_fails(config: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env(**environ),
        timeout=60,
    )


def _link(**changes: object) -> dict[str, object]:
    link: dict[str, object] = {
        "name": "a",
        "port": 2775,
        "system_id": "gw",
        "password_env": "LINK_PW",
    }
    link.update(changes)
    return link


def test_serve_refuses_bad_configurations_before_starting(tmp_path: Path) -> None:
    data = tmp_path / "data"
    listen = f"127.0.0.1:{free_port()}"
    cases: list[tuple[str, str, dict[str, str]]] = []
    unknown = write_config(tmp_path / "unknown.toml", data, listen, [_link(colour="red")])
    cases.append((str(unknown), "carriers[0].colour", {"LINK_PW": "x"}))
    wrong = write_config(tmp_path / "wrong.toml", data, listen, [_link(window="ten")])
    cases.append((str(wrong), "carriers[0].window", {"LINK_PW": "x"}))
    unset = write_config(tmp_path / "unset.toml", data, listen, [_link()])
    cases.append((str(unset), "carriers[0].password_env", {}))
    shadow = write_config(
        tmp_path / "shadow.toml", data, listen, [_link(), _link(name="b", prefixes=["+44"])]
    )
    cases.append((str(shadow), "carriers[1].prefixes", {"LINK_PW": "x"}))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy = write_config(
            tmp_path / "busy.toml", data, f"127.0.0.1:{taken.getsockname()[1]}", [_link()]
        )
        result = _serve_fails(busy, LINK_PW="x")
        assert result.returncode == 2, result.stderr
        assert "api.listen" in result.stderr and "cannot listen" in result.stderr
    for path, key, environ in cases:
        result = _serve_fails(Path(path), **environ)
        assert result.returncode == 2, (path, result.stdout, result.stderr)
        assert key in result.stderr, (key, result.stderr)
        assert "smpp-engine serving" not in result.stdout
    assert not (data / "run.json").exists()  # nothing started


def test_environment_variable_names_the_configuration(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = write_config(tmp_path / "env.toml", data, "127.0.0.1:0", [_link(prefixes=["x"])])
    result = subprocess.run(
        [sys.executable, "-m", "engine", "serve"],
        capture_output=True,
        text=True,
        env=env(SMPP_ENGINE_CONFIG=str(config), LINK_PW="x"),
        timeout=60,
    )
    assert result.returncode == 2
    assert "carriers[0].prefixes[0]" in result.stderr
