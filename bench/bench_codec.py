"""PDU codec benchmark: engine vs smpp34 (Rust, PyO3) and smpplib, in one run.

The workload is exactly the one of codec-anchors.md:

- submit_sm (215 octets): service_type '', source 1/1 '15551234567', dest 1/1
  '15557654321', registered_delivery 1, short_message 'HelloWorld' * 16, seq 1;
- deliver_sm receipt (182 octets): esm_class 0x04, the receipt text, TLVs
  receipted_message_id '0123456789' and message_state 2;
- submit_sm_resp (27 octets): message_id '0123456789';
- a stream of 10,000 submit_sm (seq 1..10000) in one buffer.

Operations: 1 build+encode submit_sm; 1b encode a prebuilt object; 2 decode submit_sm;
2b decode + read 6 fields; 3 decode the receipt; 3b decode + read source, esm_class,
short_message, receipted_message_id, message_state; 4a build+encode submit_sm_resp; 4b
decode it; 5 the 10,000-PDU buffer framed (ours: PduReader.feed; the others have no framer,
so the caller splits by command_length, as in 5b); 5b caller split + single-PDU decode; 5c
(ours only) the same buffer fed to one PduReader in 64 KB reads.
Goals (issues 2 and 11): >= 3x faster than smpp34 and >= 50x faster than smpplib on 1, 2b,
3b, 5; and PduReader.feed no slower per PDU than one decode (5 <= 2).

Method as in the anchors: perf_counter_ns around a plain loop calling a zero-argument
function, iterations calibrated so one repeat lasts ~0.3 s, median of 7 repeats; GC on.
Before timing, every library's output is checked against hand-built reference bytes
(tests/vectors/pdu_vectors.py) and every decoder's values against the expected ones.

Run: python bench/bench_codec.py [--quick]   (--quick: 3 repeats of ~0.05 s)
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from time import perf_counter_ns
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import smpp34
import smpplib
from smpplib import smpp as smpplib_smpp

import engine


def _load_vectors() -> Any:
    path = ROOT / "tests" / "vectors" / "pdu_vectors.py"
    spec = importlib.util.spec_from_file_location("pdu_vectors", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["pdu_vectors"] = module  # dataclasses look their module up while loading
    spec.loader.exec_module(module)
    return module


_V = _load_vectors()
_BY_NAME = {v.name: v for v in _V.VECTORS}

# ---- the workload (hand-built reference bytes) -----------------------------------------------

SUBMIT = bytes.fromhex(_BY_NAME["submit_sm_workload"].hex)
RECEIPT = bytes.fromhex(_BY_NAME["deliver_sm_receipt"].hex)
RESP = bytes.fromhex(_BY_NAME["submit_sm_resp"].hex)
assert (len(SUBMIT), len(RECEIPT), len(RESP)) == (215, 182, 27)
TEXT = _V.WORKLOAD_TEXT.encode()
RECEIPT_TEXT = _V.RECEIPT_TEXT.encode()
N_STREAM = 10_000
# seq 1..10000 patched into the reference header (octets 12..15): no encoder involved.
STREAM = b"".join(SUBMIT[:12] + i.to_bytes(4, "big") + SUBMIT[16:] for i in range(1, 10_001))

SUBMIT_FIELDS = ("15551234567", "15557654321", 0, 1, 0, TEXT)
RECEIPT_FIELDS = ("15557654321", 4, RECEIPT_TEXT, "0123456789", 2)


class StubClient:
    """smpplib needs a client for make_pdu/parse_pdu (codec-anchors.md, 'smpplib trap')."""

    sequence = 1

    def next_sequence(self) -> int:
        return 1


STUB = StubClient()

# ---- engine ------------------------------------------------------------------------------------

e_encode = engine.encode
e_decode = engine.decode
E_SubmitSm = engine.SubmitSm
E_SubmitSmResp = engine.SubmitSmResp
E_PduReader = engine.PduReader
E_PREBUILT = E_SubmitSm(
    sequence_number=1,
    source_addr_ton=1,
    source_addr_npi=1,
    source_addr="15551234567",
    dest_addr_ton=1,
    dest_addr_npi=1,
    destination_addr="15557654321",
    registered_delivery=1,
    short_message=TEXT,
)


def ours_1() -> bytes:
    return e_encode(
        E_SubmitSm(
            sequence_number=1,
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr="15551234567",
            dest_addr_ton=1,
            dest_addr_npi=1,
            destination_addr="15557654321",
            registered_delivery=1,
            short_message=TEXT,
        )
    )


def ours_1b() -> bytes:
    return e_encode(E_PREBUILT)


def ours_2() -> Any:
    return e_decode(SUBMIT)


def ours_2b() -> tuple[Any, ...]:
    p: Any = e_decode(SUBMIT)
    return (
        p.source_addr,
        p.destination_addr,
        p.esm_class,
        p.registered_delivery,
        p.data_coding,
        p.short_message,
    )


def ours_3() -> Any:
    return e_decode(RECEIPT)


def ours_3b() -> tuple[Any, ...]:
    p: Any = e_decode(RECEIPT)
    return (p.source_addr, p.esm_class, p.short_message, p.receipted_message_id, p.message_state)


def ours_4a() -> bytes:
    return e_encode(E_SubmitSmResp(sequence_number=1, message_id="0123456789"))


def ours_4b() -> Any:
    return e_decode(RESP)


def ours_5() -> list[Any]:
    return E_PduReader().feed(STREAM)


CHUNK = 65_536  # one large TCP read


def ours_5c() -> list[Any]:
    reader = E_PduReader()
    out: list[Any] = []
    data = STREAM
    for pos in range(0, len(data), CHUNK):
        out += reader.feed(data[pos : pos + CHUNK])
    return out


def ours_5b() -> list[Any]:
    data = STREAM
    out = []
    pos, end = 0, len(data)
    while pos < end:
        n = int.from_bytes(data[pos : pos + 4], "big")
        out.append(e_decode(data[pos : pos + n]))
        pos += n
    return out


# ---- smpp34 (Rust core, PyO3) ----------------------------------------------------------------

r_decode = smpp34.decode
R_SubmitSm = smpp34.SubmitSm
R_PREBUILT = R_SubmitSm(
    "15551234567",
    "15557654321",
    TEXT,
    source_addr_ton=1,
    source_addr_npi=1,
    dest_addr_ton=1,
    dest_addr_npi=1,
    registered_delivery=1,
    sequence_number=1,
)


def smpp34_1() -> bytes:
    return R_SubmitSm(
        "15551234567",
        "15557654321",
        TEXT,
        source_addr_ton=1,
        source_addr_npi=1,
        dest_addr_ton=1,
        dest_addr_npi=1,
        registered_delivery=1,
        sequence_number=1,
    ).encode()


def smpp34_1b() -> bytes:
    return R_PREBUILT.encode()


def smpp34_2() -> Any:
    return r_decode(SUBMIT)


def smpp34_2b() -> tuple[Any, ...]:
    p: Any = r_decode(SUBMIT)
    return (
        p.source_addr,
        p.destination_addr,
        p.esm_class,
        p.registered_delivery,
        p.data_coding,
        p.short_message,
    )


def smpp34_3() -> Any:
    return r_decode(RECEIPT)


def smpp34_3b() -> tuple[Any, ...]:
    p: Any = r_decode(RECEIPT)
    receipted_message_id = message_state = None
    for t in p.tlvs:  # TLVs are a list of Tlv(tag, raw value) objects
        tag = t.tag
        if tag == 0x001E:
            receipted_message_id = t.as_string()
        elif tag == 0x0427:
            message_state = t.as_int()
    return (p.source_addr, p.esm_class, p.short_message, receipted_message_id, message_state)


def smpp34_4b() -> Any:
    return r_decode(RESP)  # a RawPdu: message_id is not parsed (not like-for-like)


def smpp34_5b() -> list[Any]:
    data = STREAM
    out = []
    pos, end = 0, len(data)
    while pos < end:
        n = int.from_bytes(data[pos : pos + 4], "big")
        out.append(r_decode(data[pos : pos + n]))
        pos += n
    return out


# ---- smpplib (pure Python) --------------------------------------------------------------------

l_make = smpplib_smpp.make_pdu
l_parse = smpplib_smpp.parse_pdu
L_PREBUILT = l_make(
    "submit_sm",
    client=STUB,
    sequence=1,
    source_addr_ton=1,
    source_addr_npi=1,
    source_addr="15551234567",
    dest_addr_ton=1,
    dest_addr_npi=1,
    destination_addr="15557654321",
    registered_delivery=1,
    short_message=TEXT,
)


def smpplib_1() -> bytes:
    return l_make(
        "submit_sm",
        client=STUB,
        sequence=1,
        source_addr_ton=1,
        source_addr_npi=1,
        source_addr="15551234567",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="15557654321",
        registered_delivery=1,
        short_message=TEXT,
    ).generate()


def smpplib_1b() -> bytes:
    return L_PREBUILT.generate()


def smpplib_2() -> Any:
    return l_parse(SUBMIT, client=STUB)


def smpplib_2b() -> tuple[Any, ...]:
    p = l_parse(SUBMIT, client=STUB)
    return (
        p.source_addr,
        p.destination_addr,
        p.esm_class,
        p.registered_delivery,
        p.data_coding,
        p.short_message,
    )


def smpplib_3() -> Any:
    return l_parse(RECEIPT, client=STUB)


def smpplib_3b() -> tuple[Any, ...]:
    p = l_parse(RECEIPT, client=STUB)
    return (p.source_addr, p.esm_class, p.short_message, p.receipted_message_id, p.message_state)


def smpplib_4a() -> bytes:
    return l_make("submit_sm_resp", client=STUB, sequence=1, message_id="0123456789").generate()


def smpplib_4b() -> Any:
    return l_parse(RESP, client=STUB)


def smpplib_5b() -> list[Any]:
    data = STREAM
    out = []
    pos, end = 0, len(data)
    while pos < end:
        n = int.from_bytes(data[pos : pos + 4], "big")
        out.append(l_parse(data[pos : pos + n], client=STUB))
        pos += n
    return out


# ---- the table -----------------------------------------------------------------------------

OPS: list[tuple[str, str, int]] = [
    # (key, description, PDUs per call)
    ("1", "build+encode submit_sm", 1),
    ("1b", "encode prebuilt submit_sm", 1),
    ("2", "decode submit_sm", 1),
    ("2b", "decode submit_sm + 6 fields", 1),
    ("3", "decode receipt", 1),
    ("3b", "decode receipt + 5 fields (2 TLVs)", 1),
    ("4a", "build+encode submit_sm_resp", 1),
    ("4b", "decode submit_sm_resp", 1),
    ("5", "10,000-PDU buffer framed, per PDU", N_STREAM),
    ("5b", "10,000-PDU buffer, caller split, per PDU", N_STREAM),
    ("5c", "same, fed in 64 KB reads, per PDU", N_STREAM),
]
GOAL_OPS = ("1", "2b", "3b", "5")
GOAL_SMPP34 = 3.0
LIBS = ("ours", "smpp34", "smpplib")
FUNCS: dict[str, dict[str, Callable[[], Any]]] = {
    "ours": {
        "1": ours_1,
        "1b": ours_1b,
        "2": ours_2,
        "2b": ours_2b,
        "3": ours_3,
        "3b": ours_3b,
        "4a": ours_4a,
        "4b": ours_4b,
        "5": ours_5,
        "5b": ours_5b,
        "5c": ours_5c,
    },
    # smpp34 and smpplib have no framer: their column 5 is the caller's split (5b).
    "smpp34": {
        "1": smpp34_1,
        "1b": smpp34_1b,
        "2": smpp34_2,
        "2b": smpp34_2b,
        "3": smpp34_3,
        "3b": smpp34_3b,
        "4b": smpp34_4b,
        "5": smpp34_5b,
        "5b": smpp34_5b,
    },
    "smpplib": {
        "1": smpplib_1,
        "1b": smpplib_1b,
        "2": smpplib_2,
        "2b": smpplib_2b,
        "3": smpplib_3,
        "3b": smpplib_3b,
        "4a": smpplib_4a,
        "4b": smpplib_4b,
        "5": smpplib_5b,
        "5b": smpplib_5b,
    },
}


def _as_text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def verify() -> None:
    """Every library's bytes against the reference; every decoder's values as expected."""
    for lib in LIBS:
        f = FUNCS[lib]
        for key in ("1", "1b"):
            assert f[key]() == SUBMIT, (lib, key)
        if "4a" in f:
            assert f["4a"]() == RESP, (lib, "4a")
        got = tuple(_as_text(v) for v in f["2b"]())
        expected: tuple[Any, ...] = (*SUBMIT_FIELDS[:5], TEXT.decode())
        assert got == expected, (lib, "2b", got)
        got = tuple(_as_text(v) for v in f["3b"]())
        expected = (RECEIPT_FIELDS[0], 4, RECEIPT_TEXT.decode(), "0123456789", 2)
        assert got == expected, (lib, "3b", got)
        for key in ("5", "5b", "5c"):
            if key not in f:
                continue
            pdus = f[key]()
            assert len(pdus) == N_STREAM, (lib, key)
            seqs = [
                getattr(p, "sequence_number", None) or getattr(p, "sequence", None) for p in pdus
            ]
            assert seqs == list(range(1, N_STREAM + 1)), (lib, key)
    # The receipt: ours and smpp34 encode it byte for byte (smpplib orders TLVs its own way).
    receipt = engine.DeliverSm(
        sequence_number=1,
        source_addr_ton=1,
        source_addr_npi=1,
        source_addr="15557654321",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="15551234567",
        esm_class=4,
        short_message=RECEIPT_TEXT,
        receipted_message_id="0123456789",
        message_state=2,
    )
    assert engine.encode(receipt) == RECEIPT
    theirs = smpp34.DeliverSm(
        "15557654321",
        "15551234567",
        RECEIPT_TEXT,
        source_addr_ton=1,
        source_addr_npi=1,
        dest_addr_ton=1,
        dest_addr_npi=1,
        esm_class=4,
        tlvs=[smpp34.Tlv(0x001E, b"0123456789\x00"), smpp34.Tlv(0x0427, b"\x02")],
        sequence_number=1,
    )
    assert theirs.encode() == RECEIPT
    resp: Any = engine.decode(RESP)
    assert resp.message_id == "0123456789"
    assert l_parse(RESP, client=STUB).message_id == b"0123456789"
    raw: Any = r_decode(RESP)
    assert raw.body == b"0123456789\x00"


def _loop_ns(f: Callable[[], Any], n: int) -> int:
    """Wall time of ``n`` calls of ``f`` in a plain loop."""
    t0 = perf_counter_ns()
    for _ in range(n):
        f()
    return perf_counter_ns() - t0


def calibrate(f: Callable[[], Any], target_ns: float) -> int:
    """How many calls of ``f`` last about ``target_ns`` (the first call warms up)."""
    n = 1
    elapsed = _loop_ns(f, 1)
    while elapsed < target_ns / 5 and n < 1 << 24:
        n *= 4
        elapsed = _loop_ns(f, n)
    return max(1, round(n * target_ns / max(elapsed, 1)))


def measure_op(
    funcs: dict[str, Callable[[], Any]], target_ns: float, repeats: int
) -> dict[str, float]:
    """Median ns per call for each library's function.

    The repeats are interleaved (ours, smpp34, smpplib, ours, ...) so that a burst of load
    on the shared machine hits every library alike and the ratios stay fair.
    """
    counts = {lib: calibrate(f, target_ns) for lib, f in funcs.items()}
    samples: dict[str, list[float]] = {lib: [] for lib in funcs}
    for _ in range(repeats):
        for lib, f in funcs.items():
            samples[lib].append(_loop_ns(f, counts[lib]) / counts[lib])
    return {lib: statistics.median(s) for lib, s in samples.items()}


def _fmt(ns: float | None) -> str:
    if ns is None:
        return "n/a"
    return f"{ns:,.0f}" if ns >= 100 else f"{ns:,.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats of ~0.05 s (fast)")
    args = parser.parse_args()
    repeats, target = (3, 0.05e9) if args.quick else (7, 0.3e9)

    verify()
    print(
        f"# codec bench: Python {platform.python_version()}, {platform.machine()}, "
        f"smpp34 {smpp34.__version__}, smpplib {getattr(smpplib, '__version__', '2.2.4')}; "
        f"median of {repeats} repeats of ~{target / 1e9:.2f} s; ns per PDU"
    )
    print("# all outputs verified against the hand-built reference bytes")
    results: dict[tuple[str, str], float | None] = {}
    done: dict[Callable[[], Any], float] = {}  # smpp34/smpplib use one function for 5 and 5b
    for key, _, per_call in OPS:
        todo = {
            lib: FUNCS[lib][key]
            for lib in LIBS
            if key in FUNCS[lib] and FUNCS[lib][key] not in done
        }
        measured = measure_op(todo, target, repeats) if todo else {}
        for lib in LIBS:
            f = FUNCS[lib].get(key)
            if f is None:
                results[(lib, key)] = None
                continue
            if lib in measured:
                done[f] = measured[lib]
            results[(lib, key)] = done[f] / per_call

    header = (
        f"| {'op':<3} | {'operation':<40} | {'ours':>8} | {'smpp34':>8} | {'smpplib':>9} "
        f"| {'smpp34/ours':>11} | {'smpplib/ours':>12} |"
    )
    print()
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    goals: list[str] = []
    for key, desc, _ in OPS:
        ours, r34, slib = (results[(name, key)] for name in LIBS)  # ns, None when n/a
        ratio34 = f"{r34 / ours:.2f}x" if ours and r34 else "n/a"
        ratiolib = f"{slib / ours:.1f}x" if ours and slib else "n/a"
        if key == "4b" and r34 is not None:
            ratio34 += "*"
        print(
            f"| {key:<3} | {desc:<40} | {_fmt(ours):>8} | {_fmt(r34):>8} | {_fmt(slib):>9} "
            f"| {ratio34:>11} | {ratiolib:>12} |"
        )
        if key in GOAL_OPS and ours and r34 and slib:
            ok34 = r34 / ours >= GOAL_SMPP34
            oklib = slib / ours >= 50.0
            met34 = "met" if ok34 else "NOT met"
            metlib = "met" if oklib else "NOT met"
            goals.append(
                f"op {key:<2}: {r34 / ours:5.2f}x smpp34 (goal {GOAL_SMPP34:g}x: {met34}), "
                f"{slib / ours:6.1f}x smpplib (goal 50x: {metlib})"
            )
    print()
    print("* smpp34 decodes submit_sm_resp only to a RawPdu (message_id not parsed).")
    print("  smpp34 and smpplib have no framer: their op 5 is the caller's split (5b).")
    single = results[("ours", "2")]
    for key, label in (("5", "one 10,000-PDU feed"), ("5c", "64 KB feeds")):
        feed = results[("ours", key)]
        if feed and single:
            met = "met" if feed <= single else "NOT met"
            goals.append(f"{label} per PDU / one decode: {feed / single:.2f} (goal <= 1: {met})")
    print()
    print("Goals (ops 1, 2b, 3b, 5):")
    for line in goals:
        print("  " + line)


if __name__ == "__main__":
    main()
