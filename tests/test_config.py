"""The configuration: TOML into typed structs, every error naming its key, the route rule,
``config check`` and ``config example``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import EXAMPLE, ConfigError, default, load_config, revalidate
from engine.daemon import preflight
from engine.store.directory import Directory, NumberRecord
from tests.ops_helpers import env

PW = {"P": "secret"}
LINK = '[[carriers]]\nname = "a"\nsystem_id = "gw"\npassword_env = "P"\n'


def _key(text: str, environ: dict[str, str] | None = None) -> str | None:
    with pytest.raises(ConfigError) as info:
        load_config(text, env=PW if environ is None else environ)
    return info.value.key


def test_example_is_accepted_and_has_every_section() -> None:
    config = load_config(EXAMPLE, env={"SMPP_PRIMARY_PASSWORD": "x", "SMPP_BACKUP_PASSWORD": "y"})
    assert [link.name for link in config.carriers] == ["primary", "backup"]
    assert config.carriers[1].priority > config.carriers[0].priority  # the failover
    assert config.pacing.tier_rates["short_code"] == 100.0
    assert config.log.format == "text" and config.optout.enabled
    assert "STOP" in config.optout.stop_keywords


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("colour = 1\n", "colour"),
        ("[api]\nlisten = 8080\n", "api.listen"),
        ("[api]\nlisten = 'nowhere'\n", "api.listen"),
        ("[api]\nworkers = 0\n", "api.workers"),
        ("[log]\nformat = 'xml'\n", "log.format"),
        ("[pacing]\ntier_rates = { pager = 1.0 }\n", "pacing.tier_rates.pager"),
        ("[webhooks]\ntotal_timeout = -1\n", "webhooks.total_timeout"),
        ("[optout]\nstop_keywords = ['']\n", "optout.stop_keywords[0]"),
        (LINK + "bind_type = 'sideways'\n", "carriers[0].bind_type"),
        (LINK + "binds = 0\n", "carriers[0].binds"),
        (LINK + "window = 'ten'\n", "carriers[0].window"),
        (LINK + "port = 70000\n", "carriers[0].port"),
        (LINK + "extra = true\n", "carriers[0].extra"),
        (LINK + "prefixes = ['+1', 'UK']\n", "carriers[0].prefixes[1]"),
        ('[[carriers]]\nname = "a"\nsystem_id = "gw"\n', "carriers[0].password_env"),
        (LINK + LINK, "carriers[1].name"),
    ],
)
def test_each_error_names_its_key(text: str, key: str) -> None:
    assert _key(text) == key


def test_a_password_variable_that_is_not_set() -> None:
    with pytest.raises(ConfigError, match="environment variable P is not set") as info:
        load_config(LINK, env={})
    assert info.value.key == "carriers[0].password_env"


def test_no_route_same_priority_shadowed_but_failover_is_a_route() -> None:
    uk = LINK.replace('"a"', '"uk"') + "prefixes = ['+44']\n"
    uk_london = LINK.replace('"a"', '"london"') + "prefixes = ['+4420']\n"
    # +4420 is inside +44 at the same priority: only file order would decide.
    assert _key(uk + uk_london) == "carriers[1].prefixes"
    # A catch-all link before it shadows any link of its priority.
    assert _key(LINK + uk) == "carriers[1].prefixes"
    # The same prefixes at a higher priority value: a failover, accepted.
    config = load_config(uk + uk_london + "priority = 1\n", env=PW)
    assert [link.priority for link in config.carriers] == [0, 1]
    # Disjoint prefixes at the same priority: both have routes.
    fr = LINK.replace('"a"', '"fr"') + "prefixes = ['+33']\n"
    assert len(load_config(uk + fr, env=PW).carriers) == 2


def test_options_are_revalidated_with_the_key() -> None:
    import msgspec

    config = default()
    bad = msgspec.structs.replace(config, api=msgspec.structs.replace(config.api, workers=-3))
    with pytest.raises(ConfigError) as info:
        revalidate(bad)
    assert info.value.key == "api.workers"


def test_a_number_whose_link_is_not_configured_has_no_route(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    directory = Directory(data / "directory.sqlite3")
    directory.add_numbers([NumberRecord.new("+14155550123", link="gone")])
    directory.close()
    config = load_config(f'data_dir = "{data}"\n[api]\nlisten = "127.0.0.1:0"\n' + LINK, env=PW)
    with pytest.raises(ConfigError, match="'gone'") as info:
        preflight(config, env=PW)
    assert info.value.key == "carriers"


def _cli(*args: str, stdin: str | None = None, **environ: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env=env(**environ),
        timeout=60,
    )


def test_config_example_passes_config_check(tmp_path: Path) -> None:
    example = _cli("config", "example")
    assert example.returncode == 0
    assert example.stdout == EXAMPLE
    path = tmp_path / "example.toml"
    # The example listens on 8080, which may be taken here: check it on a free port.
    path.write_text(
        example.stdout.replace('"127.0.0.1:8080"', '"127.0.0.1:0"').replace(
            '"smpp-engine-data"', f'"{tmp_path / "data"}"'
        )
    )
    ok = _cli(
        "config", "check", str(path), "--json", SMPP_PRIMARY_PASSWORD="a", SMPP_BACKUP_PASSWORD="b"
    )
    assert ok.returncode == 0, ok.stderr
    assert '"carriers": ["primary", "backup"]' in ok.stdout
    missing = _cli("config", "check", str(path), SMPP_PRIMARY_PASSWORD="a")
    assert missing.returncode == 2
    assert "carriers[1].password_env" in missing.stderr
    assert "SMPP_BACKUP_PASSWORD is not set" in missing.stderr
    assert missing.stdout == ""


def test_config_check_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[api\n")
    result = _cli("config", "check", str(bad))
    assert result.returncode == 2 and "not valid TOML" in result.stderr
    result = _cli("config", "check", str(tmp_path / "absent.toml"))
    assert result.returncode == 2 and "cannot read" in result.stderr
