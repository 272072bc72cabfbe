"""``smpp-engine numbers`` as a subprocess on a real data directory: import a CSV file and
a range (bad rows reported by line, nothing imported), search showing the word, list."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from engine.aio.app import DIRECTORY_DB
from engine.store.directory import Directory

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", "numbers", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def count(data: Path) -> int:
    directory = Directory(data / DIRECTORY_DB)
    try:
        return directory.count_numbers()[0]
    finally:
        directory.close()


def test_import_errors_by_line_and_nothing_imported(tmp_path: Path) -> None:
    data = tmp_path / "data"
    csv = tmp_path / "numbers.csv"
    csv.write_text(
        "phone_number,type,region,rate\n"
        "+14155550142,local,CA,\n"
        "not a number,local,CA,\n"
        "+14155550143,weird,CA,\n"
        "+14155550144,local,CA,-3\n"
        "+14155550142,,,\n"
    )
    done = cli("import", str(csv), "--data-dir", str(data))
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert any("line 3: phone_number:" in line for line in lines), done.stderr
    assert any("line 4: type:" in line for line in lines), done.stderr
    assert any("line 5: rate:" in line for line in lines), done.stderr
    assert any("line 6: phone_number:" in line and "line 2" in line for line in lines)
    assert "4 problem(s), nothing imported" in done.stderr
    assert count(data) == 0
    # bad header
    csv.write_text("number,kind\n+14155550142,local\n")
    done = cli("import", str(csv), "--data-dir", str(data))
    assert done.returncode == 1 and "line 1: header:" in done.stderr


def test_import_search_list(tmp_path: Path) -> None:
    data = tmp_path / "data"
    csv = tmp_path / "numbers.csv"
    csv.write_text(
        "phone_number,type,region,locality,postal_code,rate,link\n"
        "+14155552253,local,CA,San Francisco,94103,2.5,sim\n"
        "+14152253100,local,CA,San Francisco,94103,,\n"
        "+16175550100,,,,,,\n"
    )
    done = cli("import", str(csv), "--data-dir", str(data), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"imported": 3}
    done = cli("import", "--range", "+13125550100-+13125550149", "--data-dir", str(data))
    assert done.returncode == 0 and "imported 50" in done.stdout
    assert count(data) == 53
    # the range again: every number named, nothing imported
    done = cli("import", "--range", "+13125550140-+13125550159", "--data-dir", str(data))
    assert done.returncode == 1 and "+13125550149 is already in the inventory" in done.stderr
    assert count(data) == 53
    # search: the word shown in the number, the end of the number first
    done = cli("search", "--contains", "CAKE", "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    rows = done.stdout.splitlines()
    assert [r.split()[0:3] for r in rows] == [["+1", "415", "555"], ["+1", "415", "[CAKE]100"]]
    assert rows[0].split()[3] == "[CAKE]"
    done = cli("search", "--area-code", "312", "--json", "--limit", "5", "--data-dir", str(data))
    found = json.loads(done.stdout)
    assert [f["phone_number"] for f in found] == [f"+1312555010{i}" for i in range(5)]
    assert found[0]["capabilities"].keys() == {"voice", "SMS", "MMS"}
    done = cli("search", "--area-code", "31", "--data-dir", str(data))
    assert done.returncode == 2 and "--area-code" in done.stderr
    # list: provisioned numbers only
    directory = Directory(data / DIRECTORY_DB)
    try:
        account = directory.create_account("shop")
        directory.assign_number("+14155552253", account.sid)
    finally:
        directory.close()
    done = cli("list", "--json", "--data-dir", str(data))
    listed = json.loads(done.stdout)
    assert [(n["phone_number"], n["account_sid"], n["rate"], n["link"]) for n in listed] == [
        ("+14155552253", account.sid, 2.5, "sim")
    ]
    done = cli("list", "--account", "AC" + "0" * 32, "--json", "--data-dir", str(data))
    assert json.loads(done.stdout) == []
    done = cli("search", "--contains", "CAKE", "--data-dir", str(data))
    assert [r.split()[2] for r in done.stdout.splitlines()] == ["[CAKE]100"]
