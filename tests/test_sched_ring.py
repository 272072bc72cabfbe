"""The compiled core does not import the policy module that wraps it (issue 11, rings).

``engine._core.RateScheduler`` defaults to the tier rates; the table and the classifier
live in the core and ``engine.scheduler`` presents them with its ``Tier`` enum.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import engine._core as core
from engine import RateScheduler
from engine.scheduler import TIER_RATES, Tier, classify_sender, tier_rate

ROOT = Path(__file__).resolve().parent.parent

# Loads engine._core without running engine/__init__.py (which imports every part), then
# uses the scheduler's default rate: engine.scheduler must not be imported by it.
_CHILD = f"""
import sys, types
pkg = types.ModuleType("engine")
pkg.__path__ = [{str(ROOT / "engine")!r}]
sys.modules["engine"] = pkg
import engine._core as core
s = core.RateScheduler()
s.push("+15551234567", "item", 1, 100.0)
assert s.rate_of("+15551234567")[0] == 1.0, s.rate_of("+15551234567")
print(sorted(m for m in sys.modules if m.startswith("engine")))
"""


def test_core_scheduler_default_needs_no_wrapper() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = eval(out.stdout.strip())  # a list of module names printed by the child
    assert "engine.scheduler" not in loaded
    assert loaded == ["engine", "engine._core", "engine.errors"]


def test_core_sources_import_no_wrapper() -> None:
    importing = re.compile(r"^\s*(from\s+engine(\.scheduler)?\s+import|import\s+engine)", re.M)
    for name in ("_core.pyx", "_pdu.pxi", "_text.pxi", "_sched.pxi"):
        for match in importing.finditer((ROOT / "engine" / name).read_text()):
            line = match.string[match.start() : match.string.index("\n", match.start())]
            assert "engine.errors" in line, (name, line)


def test_tier_table_has_one_source() -> None:
    assert {tier.value: rate for tier, rate in TIER_RATES.items()} == core.TIER_RATES
    assert set(core.TIER_RATES) == {tier.value for tier in Tier}


def test_default_rate_is_the_tier_rate() -> None:
    s = RateScheduler()
    for key in ("+15551234567", "+18005550100", "12345", "ACME", "+447700900123"):
        s.push(key, key, 1, 100.0)
        info = s.rate_of(key)
        assert info is not None
        assert info[0] == tier_rate(key) == TIER_RATES[classify_sender(key)]
        assert core.sender_tier(key) == classify_sender(key).value
