"""The simulated carrier against hostile or broken ESMEs, over real loopback TCP (issue 12):
address ranges that would stall a regex engine or capture other binds' numbers, an ESME
that never answers its receipts, and records that could grow without a byte cap."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

import engine
from engine import CommandStatus, PduReader
from engine.sim import SimCarrier
from engine.sim.__main__ import parse_args
from engine.sim.address_range import compile_range

GUARD = 20.0  # a hang guard, never a timing assertion
ST = CommandStatus


class Raw:
    """A bare ESME over a socket: writes our codec's bytes, reads PDUs; answers nothing."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.framer = PduReader()
        self.pending: list[Any] = []
        self.seq = 0

    @classmethod
    async def bind(cls, port: int, **kw: Any) -> Raw:
        r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), GUARD)
        raw = cls(r, w)
        kw.setdefault("system_id", "acme")
        kw.setdefault("password", "secret")
        raw.send(engine.BindTransceiver(**kw))
        resp = await raw.recv()
        assert resp.command_status == 0, resp
        return raw

    def send(self, *pdus: Any) -> None:
        for pdu in pdus:
            self.seq += 1
            pdu.sequence_number = self.seq
        self.writer.write(engine.encode_many(list(pdus)))

    async def recv(self) -> Any:
        while not self.pending:
            data = await asyncio.wait_for(self.reader.read(65536), GUARD)
            if not data:
                raise EOFError("closed")
            self.pending += self.framer.feed(data)
        return self.pending.pop(0)

    async def responses(self, n: int) -> list[Any]:
        """The next ``n`` submit_sm_resp, skipping the deliver_sm the carrier sends."""
        out = []
        while len(out) < n:
            pdu = await self.recv()
            if pdu.command_name == "submit_sm_resp":
                out.append(pdu)
        return out


CREDS = {"acme": "secret", "other": "pw2"}


async def _until(cond: Any) -> None:
    async def poll() -> None:
        while not cond():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), GUARD)


# ---- address_range ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "yes", "no"),
    [
        (r"1500555\d+", ["15005550001"], ["1500555", "25005550001", "1500555x"]),
        (r"^44\d{4,6}$", ["441234", "44123456"], ["44123", "441234567"]),
        (r"[1-3]0?9*", ["1", "209", "30999"], ["4", "1009"]),
        (r"\+1.*", ["+1", "+15551234"], ["15551234"]),
        (r"\+1555[^0]", ["+15551"], ["+15550"]),
        ("4477", ["4477"], ["44771"]),
    ],
)
def test_safe_subset_matches_whole_numbers(pattern: str, yes: list[str], no: list[str]) -> None:
    rng = compile_range(pattern)
    assert [rng.matches(n) for n in yes] == [True] * len(yes)
    assert [rng.matches(n) for n in no] == [False] * len(no)


@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        (r"((((\d+)+)+)+)+x", "groups"),
        ("1|2", "alternation"),
        (r"\d++", "repeat of a repeat"),
        (r"\d{0,99}", "outside"),
        ("*1", "nothing to repeat"),
        (r"\1", "escape"),
        ("[0-9", "without"),
        ("1" * 42, "longer"),
    ],
)
def test_what_could_backtrack_is_refused_naming_it(pattern: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as info:
        compile_range(pattern)
    assert str(info.value).startswith("address_range:")


def test_star_heavy_range_is_linear() -> None:
    # re needs exponential time on patterns like this against a long near-miss; this
    # matcher walks the number once with at most len(pattern) states (no timing asserted)
    rng = compile_range(r"\d*\d*\d*\d*\d*\d*\d*\d*x")
    assert not rng.matches("1" * 21 + "y") and rng.matches("123x")


async def test_catastrophic_range_binds_but_captures_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # before: re.compile(address_range); routing "1"*30 + "y" then stalled the loop
    caplog.set_level(logging.INFO, logger="engine.sim")
    async with SimCarrier(credentials=CREDS, receipt_delay=None) as sim:
        evil = await Raw.bind(sim.port, address_range=r"((((\d+)+)+)+)+x")
        assert sim.route("1" * 30 + "y") == ("acme", None)  # only bind: the fallback
        assert sim._conn_ranges and all(r is None for r in sim._conn_ranges.values())
        assert "address_range ignored" in caplog.text and "groups" in caplog.text
        evil.writer.close()


async def test_range_captures_only_what_the_operator_allows() -> None:
    # before: ".*" of the first bind captured every inbound number, others' too
    allowed = {"acme": ["1500555"], "other": ["+44"]}
    async with SimCarrier(credentials=CREDS, receipt_delay=None, allowed_ranges=allowed) as sim:
        greedy = await Raw.bind(sim.port, address_range=".*")
        fair = await Raw.bind(sim.port, system_id="other", password="pw2", address_range=r"44\d+")
        inject = asyncio.create_task(sim.inject("1", "447700900123", "for other"))
        got = await fair.recv()
        assert got.command_name == "deliver_sm" and got.destination_addr == "447700900123"
        fair.writer.write(engine.encode(got.make_response()))
        await asyncio.wait_for(inject, GUARD)
        assert sim.route("15005550001")[0] == "acme"  # acme's ".*" narrowed to its prefix
        assert sim.route("33123456789") == (None, None)  # nobody is allowed this number
        greedy.writer.close()
        fair.writer.close()


async def test_without_operator_policy_ranges_still_route() -> None:
    async with SimCarrier(credentials=CREDS, receipt_delay=None) as sim:
        a = await Raw.bind(sim.port, address_range=r"1500555\d+")
        b = await Raw.bind(sim.port, system_id="other", password="pw2", address_range=r"44\d+")
        assert sim.route("447700900123")[0] == "other"
        assert sim.route("15005550001")[0] == "acme"
        a.writer.close()
        b.writer.close()


def test_operator_policy_on_the_command_line() -> None:
    args = parse_args(["--allow", "acme:1500555,1500556", "--allow", "other:44"])
    assert dict(args.allow) == {"acme": ("1500555", "1500556"), "other": ("44",)}
    with pytest.raises(SystemExit):
        parse_args(["--allow", "acme"])


# ---- receipts to an ESME that never answers them -------------------------------------------


async def test_unanswered_receipts_are_bounded_and_push_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # before: every receipt waited for a window slot without limit (about 250 MB at 100,000)
    # and each one dropped was logged with its whole PDU
    caplog.set_level(logging.INFO, logger="engine")
    dropped: list[tuple[str, Any]] = []
    sim = SimCarrier(
        credentials=CREDS,
        receipt_delay=0.0,
        max_pending_receipts=5,
        on_receipt_dropped=lambda sid, pdu: dropped.append((sid, pdu)),
    )
    sim.receipt_retry_interval = 0.0
    async with sim:
        esme = await Raw.bind(sim.port)
        esme.send(
            *[engine.SubmitSm(destination_addr=f"1500555{i:04d}", registered_delivery=1)
              for i in range(12)]
        )  # fmt: skip
        statuses = [r.command_status for r in await esme.responses(12)]
        assert statuses == [0] * 5 + [ST.ESME_RMSGQFUL] * 7  # back-pressure on the submitter
        assert sim.pending_receipts("acme") == 5 and sim.receipts_refused == 7
        esme.writer.transport.abort()  # the receipts can no longer leave
        await _until(lambda: sim.receipts_failed == 5)
        assert sim.pending_receipts("acme") == 0
        # the hook gets the receipts themselves (to keep for the next bind)
        assert sorted(p.source_addr for _, p in dropped) == [f"1500555{i:04d}" for i in range(5)]
        assert [sid for sid, _ in dropped] == ["acme"] * 5
        assert all(p.esm_class & 0x04 and p.receipted_message_id for _, p in dropped)
    summaries = [r for r in caplog.records if "not delivered" in r.getMessage()]
    assert len(summaries) == 1  # one summary line, not one per PDU
    assert "deliver_sm" not in caplog.text and "DeliverSm(" not in caplog.text


async def test_receipts_leave_again_once_the_esme_answers() -> None:
    async with SimCarrier(credentials=CREDS, receipt_delay=0.0, max_pending_receipts=2) as sim:
        esme = await Raw.bind(sim.port)
        esme.send(*[engine.SubmitSm(destination_addr="1", registered_delivery=1) for _ in range(3)])
        got = [await esme.recv() for _ in range(5)]  # 3 responses, 2 receipts (any order)
        receipts = [p for p in got if p.command_name == "deliver_sm"]
        resps = [p.command_status for p in got if p.command_name == "submit_sm_resp"]
        assert resps == [0, 0, ST.ESME_RMSGQFUL] and len(receipts) == 2
        esme.writer.write(engine.encode_many([p.make_response() for p in receipts]))
        await _until(lambda: sim.pending_receipts("acme") == 0)
        esme.send(engine.SubmitSm(destination_addr="1", registered_delivery=1))
        assert (await esme.responses(1))[0].command_status == 0
        assert sim.receipts_sent == 2
        esme.writer.close()


# ---- records ---------------------------------------------------------------------------------


async def test_records_are_capped_by_bytes_as_well_as_count() -> None:
    # before: only max_records (1,000,000) bounded them: 4,000 submits of 65 KB took 260 MB
    async with SimCarrier(credentials=CREDS, receipt_delay=None, max_record_bytes=20_000) as sim:
        esme = await Raw.bind(sim.port)
        big = b"x" * 4000
        esme.send(*[engine.SubmitSm(destination_addr=str(i), message_payload=big)
                    for i in range(10)])  # fmt: skip
        assert [r.command_status for r in await esme.responses(10)] == [0] * 10
        assert sim.record_bytes <= 20_000
        kept = [r.pdu.destination_addr for r in sim.received]
        assert kept == [str(i) for i in range(10 - len(kept), 10)] and 0 < len(kept) < 10
        assert sim.accepted == 10
        esme.writer.close()
