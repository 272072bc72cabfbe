"""Text codec and segmentation benchmark: engine vs smpplib 2.2.4's ``smpplib.gsm``, one run.

Operations (each checked for the right output before timing):

- T1 gsm7_encode of 160 ASCII characters ('HelloWorld' * 16) vs ``smpplib.gsm.gsm_encode``;
- T2 gsm7_encode of 160 characters with GSM extension characters (10 of them) and
  Latin/Greek letters of the default alphabet, vs ``gsm_encode``;
- T3 a 459-septet GSM text with extension characters split into UDH parts: ours
  ``plan_segments`` + ``udh_concat`` per part; smpplib ``make_parts`` (which also picks the
  encoding and adds the UDH);
- T4 a 192-unit UCS-2 text (Cyrillic + emoji) the same way (smpplib first tries GSM-7,
  then falls back to UCS-2, as ours does);
- T5 counting segments of the T3 text: ours ``count_segments``; smpplib has no counter, so
  ``len(make_parts(text)[0])``;
- T6 ``parse_receipt_text`` of the codec-anchors receipt text (no peer: smpplib and
  smpp34 have no receipt-text parser; absolute figure only).

smpplib's output differs where it is wrong: it splits escape pairs and surrogate pairs
across parts (its gsm.py FIXME).  The script prints how many of its parts are broken.

Method as in bench_codec.py: perf_counter_ns around a plain loop calling a zero-argument
function, iterations calibrated to ~0.3 s per repeat, median of 7 repeats, GC on, repeats
of the two libraries interleaved.

Run: python bench/bench_text.py [--quick]   (--quick: 3 repeats of ~0.05 s)
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from time import perf_counter_ns
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from smpplib import consts as smpplib_consts
from smpplib import gsm as smpplib_gsm

from engine.receipts import parse_receipt_text
from engine.text import (
    count_segments,
    decode_text,
    gsm7_encode,
    plan_segments,
    udh_concat,
)

ASCII_160 = "HelloWorld" * 16
MIXED_160 = ("Price: 5€ [ok] {x} Ünicode-free ÄÖÜß ΔΣΩ ~|^ \\ " * 4)[:160]
LONG_GSM = "The quick brown fox jumps over the lazy dog [€] " * 9  # 459 septets
LONG_UCS2 = "Привет, мир! 😀 " * 12  # 192 UTF-16 units
RECEIPT = (
    "id:0123456789 sub:001 dlvrd:001 submit date:2611261200 done date:2611261201 "
    "stat:DELIVRD err:000 text:hello"
)


def ours_split(text: str) -> list[bytes]:
    plan = plan_segments(text)
    parts = plan.parts
    if len(parts) == 1:
        return parts
    total = len(parts)
    return [udh_concat(7, total, i) + p for i, p in enumerate(parts, 1)]


def smpplib_split(text: str) -> list[bytes]:
    return smpplib_gsm.make_parts(text)[0]


def _broken_parts(parts: list[bytes], ucs2: bool) -> int:
    """Parts (after a 6-octet UDH) that end inside an escape or surrogate pair."""
    broken = 0
    for p in parts:
        body = p[6:] if len(parts) > 1 else p
        if ucs2:
            broken += len(body) >= 2 and 0xD8 <= body[-2] <= 0xDB
        else:
            broken += body.endswith(b"\x1b")
    return broken


def check() -> dict[str, str]:
    """Verify both sides before timing; return notes on smpplib's broken output."""
    assert gsm7_encode(ASCII_160) == smpplib_gsm.gsm_encode(ASCII_160)
    assert gsm7_encode(MIXED_160) == smpplib_gsm.gsm_encode(MIXED_160)
    notes = {}
    for name, text, ucs2, dc in (
        ("T3", LONG_GSM, False, 0),
        ("T4", LONG_UCS2, True, 8),
    ):
        ours = ours_split(text)
        theirs, encoding, _ = smpplib_gsm.make_parts(text)
        assert encoding == (smpplib_consts.SMPP_ENCODING_ISO10646 if ucs2 else 0)
        assert "".join(decode_text(p[6:], dc) for p in ours) == text
        assert _broken_parts(ours, ucs2) == 0
        notes[name] = (
            f"ours {len(ours)} parts, 0 broken; smpplib {len(theirs)} parts, "
            f"{_broken_parts(theirs, ucs2)} ending inside a pair"
        )
    assert count_segments(LONG_GSM) == len(ours_split(LONG_GSM))
    assert parse_receipt_text(RECEIPT).message_id == "0123456789"
    return notes


def _loop_ns(f: Callable[[], Any], n: int) -> int:
    start = perf_counter_ns()
    for _ in range(n):
        f()
    return perf_counter_ns() - start


def calibrate(f: Callable[[], Any], target_ns: float) -> int:
    n = 1
    elapsed = _loop_ns(f, 1)
    while elapsed < target_ns / 5 and n < 1 << 24:
        n *= 4
        elapsed = _loop_ns(f, n)
    return max(1, round(n * target_ns / max(elapsed, 1)))


def measure(funcs: dict[str, Callable[[], Any]], target_ns: float, repeats: int) -> dict:
    counts = {k: calibrate(f, target_ns) for k, f in funcs.items()}
    samples: dict[str, list[float]] = {k: [] for k in funcs}
    for _ in range(repeats):
        for k, f in funcs.items():
            samples[k].append(_loop_ns(f, counts[k]) / counts[k])
    return {k: statistics.median(s) for k, s in samples.items()}


OPS: list[tuple[str, str, Callable[[], Any], Callable[[], Any] | None]] = [
    (
        "T1",
        "gsm7_encode 160 ASCII",
        lambda: gsm7_encode(ASCII_160),
        lambda: smpplib_gsm.gsm_encode(ASCII_160),
    ),
    (
        "T2",
        "gsm7_encode 160 mixed/ext",
        lambda: gsm7_encode(MIXED_160),
        lambda: smpplib_gsm.gsm_encode(MIXED_160),
    ),
    (
        "T3",
        "split 459-septet GSM + UDH",
        lambda: ours_split(LONG_GSM),
        lambda: smpplib_split(LONG_GSM),
    ),
    (
        "T4",
        "split 192-unit UCS-2 + UDH",
        lambda: ours_split(LONG_UCS2),
        lambda: smpplib_split(LONG_UCS2),
    ),
    (
        "T5",
        "count segments (T3 text)",
        lambda: count_segments(LONG_GSM),
        lambda: len(smpplib_split(LONG_GSM)),
    ),
    ("T6", "parse_receipt_text", lambda: parse_receipt_text(RECEIPT), None),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 repeats of ~0.05 s")
    args = ap.parse_args()
    target, repeats = (5e7, 3) if args.quick else (3e8, 7)
    notes = check()
    print(
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"median of {repeats} repeats, ns per call"
    )
    print(f"{'op':<4} {'what':<28} {'engine':>10} {'smpplib':>10} {'ratio':>8}")
    for key, what, ours, theirs in OPS:
        funcs = {"engine": ours}
        if theirs is not None:
            funcs["smpplib"] = theirs
        res = measure(funcs, target, repeats)
        e = res["engine"]
        s = res.get("smpplib")
        ratio = f"{s / e:.1f}x" if s else "-"
        print(f"{key:<4} {what:<28} {e:>10,.0f} {(f'{s:,.0f}' if s else 'n/a'):>10} {ratio:>8}")
    for key, note in notes.items():
        print(f"{key}: {note}")


if __name__ == "__main__":
    main()
