"""The message store's contract: every backend must pass this file unchanged.

A backend joins by adding an opener to ``BACKENDS``: a function of a fresh temporary
directory that returns a coroutine function opening the *same* store each time it is
called (so that a test can close the store and open it again, as a restarted daemon does).
Today: SQLite at synchronous=FULL and NORMAL, on real files.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from engine.errors import StoreError
from engine.store import (
    IN_FLIGHT_ERROR_CODE,
    MessageNotFoundError,
    MessageRecord,
    MessageStateError,
    NewMessage,
    SqliteStore,
    Store,
)

Opener = Callable[..., Awaitable[Store]]


def _sqlite(synchronous: str, **fixed: Any) -> Callable[[Path], Opener]:
    def make(tmp: Path) -> Opener:
        async def open_store(**options: Any) -> Store:
            return await SqliteStore.open(
                tmp / "messages.db", synchronous=synchronous, **fixed, **options
            )

        return open_store

    return make


BACKENDS: dict[str, Callable[[Path], Opener]] = {
    "sqlite-full": _sqlite("FULL"),
    "sqlite-full-fsync-in-sqlite": _sqlite("FULL", fsync_thread=False),
    "sqlite-normal": _sqlite("NORMAL"),
}

AC = "AC" + "1" * 32
OTHER = "AC" + "2" * 32
T0 = 1_790_000_000.0


@pytest.fixture(params=sorted(BACKENDS))
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    return BACKENDS[request.param](tmp_path)


@pytest.fixture
async def store(open_store: Opener) -> AsyncIterator[Store]:
    s = await open_store()
    try:
        yield s
    finally:
        await s.close()


def msg(
    body: str = "hello",
    *,
    to: str = "+15550000001",
    from_: str = "+15557770000",
    account: str = AC,
    **kw: Any,
) -> NewMessage:
    return NewMessage(account_sid=account, from_=from_, to=to, body=body, **kw)


async def sent_message(
    store: Store, carrier_id: str, *, link: str = "bind-1", at: float = T0
) -> MessageRecord:
    rec = await store.accept(msg(), at=at)
    await store.mark_sending(rec.sid, link, at=at + 1)
    return await store.mark_sent(rec.sid, carrier_id, at=at + 2)


# -- accept and get ----------------------------------------------------------------------


async def test_accept_returns_the_stored_record(store: Store) -> None:
    m = msg(
        "Hi ☃ there", status_callback="https://example.com/cb", validity_period=600, num_segments=2
    )
    rec = await store.accept(m, at=T0)
    assert rec.sid.startswith("SM") and len(rec.sid) == 34
    int(rec.sid[2:], 16)  # hex
    assert (rec.status, rec.direction, rec.body, rec.to, rec.from_) == (
        "queued",
        "outbound-api",
        "Hi ☃ there",
        "+15550000001",
        "+15557770000",
    )
    assert rec.date_created == rec.date_updated == T0
    assert rec.expires_at == T0 + 600 and rec.validity_period == 600
    assert rec.num_segments == 2 and rec.attempts == 0 and not rec.possible_duplicate
    assert await store.get(rec.sid) == rec
    assert await store.get(rec.sid, AC) == rec


async def test_get_is_scoped_to_the_account(store: Store) -> None:
    rec = await store.accept(msg())
    assert await store.get(rec.sid, OTHER) is None
    assert await store.get("SM" + "0" * 32) is None
    assert await store.get("not a sid") is None
    assert await store.get("SM" + "z" * 5000) is None


async def test_sids_are_unique_and_accept_order_is_kept(store: Store) -> None:
    recs = await asyncio.gather(*(store.accept(msg(str(i))) for i in range(300)))
    assert len({r.sid for r in recs}) == 300
    # Tasks started in this order reach the writer in this order.
    assert [r.sender_seq for r in recs] == sorted(r.sender_seq for r in recs)
    many = await store.accept_many([msg(f"m{i}") for i in range(50)])
    assert [r.body for r in many] == [f"m{i}" for i in range(50)]
    seqs = [r.sender_seq for r in many]
    assert seqs == list(range(seqs[0], seqs[0] + 50)) and seqs[0] > recs[-1].sender_seq
    assert await store.accept_many([]) == []


async def test_concurrent_accepts_share_commits(store: Store, open_store: Opener) -> None:
    if not isinstance(store, SqliteStore):
        pytest.skip("group commit counters are SQLite-specific")  # pragma: no cover
    before = store.stats["commits"]
    recs = await asyncio.gather(*(store.accept(msg(str(i))) for i in range(1000)))
    commits = store.stats["commits"] - before
    assert 1 <= commits < 1000
    assert store.stats["writes"] >= 1000
    assert len(recs) == 1000


async def test_accepted_messages_survive_reopen(open_store: Opener) -> None:
    store = await open_store()
    recs = await store.accept_many([msg(f"x{i}", to=f"+1555000{i:04d}") for i in range(20)])
    one = await store.accept(msg("single"))
    await store.close()
    store = await open_store()
    try:
        for r in [*recs, one]:
            assert await store.get(r.sid) == r
        again = await store.accept(msg("after"))
        assert again.sender_seq > one.sender_seq
    finally:
        await store.close()


async def test_record_inbound(store: Store) -> None:
    rec = await store.record_inbound(
        AC, "+15550000001", "+15557770000", "STOP", num_segments=1, link="bind-9", at=T0
    )
    assert (rec.status, rec.direction, rec.link) == ("received", "inbound", "bind-9")
    assert await store.get(rec.sid) == rec
    assert await store.history(rec.sid) == [("received", T0, None)]
    with pytest.raises(StoreError, match="illegal"):
        await store.mark_sending(rec.sid, "bind-1")


# -- bounded input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "field,kw",
    [
        ("body", {"body": "x" * 1601}),
        ("body", {"body": "bad \ud800 surrogate"}),
        ("body", {"body": b"bytes"}),
        ("to", {"to": "+1" * 40}),
        ("from_", {"from_": "" + "9" * 65}),
        ("account_sid", {"account": ""}),
        ("account_sid", {"account": "A" * 65}),
        ("direction", {"direction": "sideways"}),
        ("num_segments", {"num_segments": 256}),
        ("num_segments", {"num_segments": -1}),
        ("num_segments", {"num_segments": True}),
        ("num_media", {"num_media": 11}),
        ("status_callback", {"status_callback": "https://x/" + "a" * 4000}),
        ("validity_period", {"validity_period": 0}),
        ("validity_period", {"validity_period": 10**9}),
    ],
)
async def test_bad_input_is_refused_naming_the_field(
    store: Store, field: str, kw: dict[str, Any]
) -> None:
    with pytest.raises(StoreError) as info:
        await store.accept(msg(**kw))
    assert info.value.field == field
    assert field in str(info.value)
    with pytest.raises(StoreError):
        await store.accept_many([msg("good"), msg(**kw)])
    assert await store.list_messages(AC) == ([], None)  # nothing half-stored


async def test_limits_themselves_are_accepted(store: Store) -> None:
    rec = await store.accept(msg("é" * 1600, to="+" + "1" * 19, num_segments=255))
    assert (await store.get(rec.sid)) == rec


async def test_other_arguments_are_bounded(store: Store) -> None:
    rec = await store.accept(msg())
    with pytest.raises(StoreError) as info:
        await store.mark_sending(rec.sid, "L" * 129)
    assert info.value.field == "link"
    await store.mark_sending(rec.sid, "bind-1")
    with pytest.raises(StoreError) as info:
        await store.mark_sent(rec.sid, "9" * 66)
    assert info.value.field == "carrier_message_id"
    with pytest.raises(StoreError) as info:
        await store.mark_sent(rec.sid, "")
    assert info.value.field == "carrier_message_id"
    with pytest.raises(StoreError) as info:
        await store.mark_failed(rec.sid, "30008", "x")  # type: ignore[arg-type]
    assert info.value.field == "error_code"
    with pytest.raises(StoreError) as info:
        await store.apply_receipt("abc", "read")
    assert info.value.field == "status"
    for kw, field in (
        ({"page_size": 0}, "page_size"),
        ({"page_size": 1001}, "page_size"),
        ({"page_token": "XX123"}, "page_token"),
        ({"page_token": "PASM" + "0" * 32}, "page_token"),
    ):
        with pytest.raises(StoreError) as info:
            await store.list_messages(AC, **kw)
        assert info.value.field == field
    for bad_at in ("now", float("nan"), float("inf"), -1.0, None.__class__):
        with pytest.raises(StoreError) as info:
            await store.accept(msg(), at=bad_at)  # type: ignore[arg-type]
        assert info.value.field == "at"
    with pytest.raises(StoreError) as info:
        await store.requeue("SM" + "0" * 5000)
    assert info.value.field == "sid"
    assert (await store.get(rec.sid)).status == "sending"  # type: ignore[union-attr]


# -- status transitions and history -------------------------------------------------------


async def test_the_outbound_lifecycle_and_its_history(store: Store) -> None:
    rec = await store.accept(msg(), at=T0)
    sending = await store.mark_sending(rec.sid, "bind-1", at=T0 + 1)
    assert (sending.status, sending.link, sending.attempts) == ("sending", "bind-1", 1)
    sent = await store.mark_sent(rec.sid, "A1B2", at=T0 + 2)
    assert (sent.status, sent.carrier_message_id, sent.date_sent) == ("sent", "A1B2", T0 + 2)
    done = await store.apply_receipt("a1b2", "delivered", at=T0 + 3)
    assert done is not None and done.sid == rec.sid and done.status == "delivered"
    assert done.date_updated == T0 + 3
    assert await store.get(rec.sid) == done
    hist = await store.history(rec.sid)
    assert [(h.status, h.at) for h in hist] == [
        ("queued", T0),
        ("sending", T0 + 1),
        ("sent", T0 + 2),
        ("delivered", T0 + 3),
    ]


async def test_illegal_transitions_are_refused(store: Store) -> None:
    rec = await store.accept(msg())
    with pytest.raises(StoreError, match="queued -> sent"):
        await store.mark_sent(rec.sid, "1")
    assert (await store.requeue(rec.sid)).status == "queued"  # a repeat: no change
    assert len(await store.history(rec.sid)) == 1
    done = await sent_message(store, "77")
    await store.apply_receipt("77", "delivered")
    for call in (
        store.mark_sending(done.sid, "b"),
        store.requeue(done.sid),
        store.mark_sent(done.sid, "78"),
        store.mark_failed(done.sid, 30008, "x"),
    ):
        with pytest.raises(StoreError, match="delivered -> "):
            await call
    assert (await store.get(done.sid)).status == "delivered"  # type: ignore[union-attr]
    with pytest.raises(StoreError) as info:
        await store.mark_sending("SM" + "f" * 32, "b")
    assert info.value.field == "sid"


async def test_repeats_are_idempotent(store: Store) -> None:
    rec = await sent_message(store, "55")
    again = await store.mark_sent(rec.sid, "55")
    assert again.status == "sent"
    # A second id during the same attempt is a further part; both match.
    assert (await store.mark_sent(rec.sid, "56")).carrier_message_id == "55"
    assert (await store.apply_receipt("56", "sent")).sid == rec.sid  # type: ignore[union-attr]
    failed = await store.mark_failed(rec.sid, 30003, "unreachable")
    assert (failed.status, failed.error_code, failed.error_message) == (
        "failed",
        30003,
        "unreachable",
    )
    assert (await store.mark_failed(rec.sid, 30003, "unreachable")).status == "failed"
    statuses = [h.status for h in await store.history(rec.sid)]
    assert statuses == ["queued", "sending", "sent", "failed"]


async def test_requeue_and_a_second_attempt(store: Store) -> None:
    rec = await store.accept(msg())
    await store.mark_sending(rec.sid, "bind-1")
    back = await store.requeue(rec.sid, detail="ESME_RTHROTTLED")
    assert back.status == "queued"
    second = await store.mark_sending(rec.sid, "bind-2")
    assert (second.attempts, second.link) == (2, "bind-2")
    third = await store.mark_sending(rec.sid, "bind-2")  # resent without an answer
    assert third.attempts == 3
    hist = await store.history(rec.sid)
    assert [(h.status, h.detail) for h in hist][1:3] == [
        ("sending", "link bind-1"),
        ("queued", "ESME_RTHROTTLED"),
    ]


# -- receipts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "submitted,receipted",
    [
        ("0x1F", "31"),
        ("0x1F", "00031"),
        ("31", "0x1F"),
        ("1F", "1f"),
        ("00031", "31"),
        ("ABC123", "abc123"),
        ("7f4e2a1c-9b3d-4e5f-8a6b-1c2d3e4f5a6b", "7F4E2A1C-9B3D-4E5F-8A6B-1C2D3E4F5A6B"),
        ("msg-XYZ", "msg-XYZ"),
    ],
)
async def test_receipts_match_other_spellings(store: Store, submitted: str, receipted: str) -> None:
    rec = await sent_message(store, submitted)
    got = await store.apply_receipt(receipted, "delivered")
    assert got is not None and got.sid == rec.sid and got.status == "delivered"


async def test_receipt_that_matches_nothing(store: Store) -> None:
    await sent_message(store, "1000")
    assert await store.apply_receipt("2000", "delivered") is None
    assert await store.apply_receipt("msg-XYZ", "delivered") is None


async def test_receipt_before_the_carrier_id_is_known(store: Store) -> None:
    """The documented order: a receipt that overtakes mark_sent matches nothing (the
    dispatcher keeps it and applies it again after mark_sent)."""
    rec = await store.accept(msg())
    await store.mark_sending(rec.sid, "bind-1")
    assert await store.apply_receipt("42", "delivered") is None
    await store.mark_sent(rec.sid, "42")
    got = await store.apply_receipt("42", "delivered")
    assert got is not None and got.status == "delivered"


async def test_receipt_prefers_the_exact_spelling_then_the_link(store: Store) -> None:
    dec = await sent_message(store, "31", link="bind-1")  # also matches hex 0x31 = 49
    hexa = await sent_message(store, "1f", link="bind-1")  # also matches decimal 31
    got = await store.apply_receipt("31", "delivered")
    assert got is not None and got.sid == dec.sid
    got = await store.apply_receipt("1F", "undelivered", 30003)
    assert got is not None and got.sid == hexa.sid and got.error_code == 30003
    a = await sent_message(store, "5000", link="bind-a")
    b = await sent_message(store, "5000", link="bind-b")
    got = await store.apply_receipt("5000", "delivered", link="bind-a")
    assert got is not None and got.sid == a.sid
    got = await store.apply_receipt("5000", "delivered", link="bind-b")
    assert got is not None and got.sid == b.sid
    assert await store.apply_receipt("5000", "delivered", link="bind-c") is None


async def test_final_receipts_stand(store: Store) -> None:
    one = await sent_message(store, "901")
    assert (await store.apply_receipt("901", "delivered")).status == "delivered"  # type: ignore[union-attr]
    assert (await store.apply_receipt("901", "undelivered")).status == "delivered"  # type: ignore[union-attr]
    two = await sent_message(store, "902")
    assert (await store.apply_receipt("902", "sent")).status == "sent"  # type: ignore[union-attr]
    assert (await store.apply_receipt("902", "undelivered", 30005)).status == "undelivered"  # type: ignore[union-attr]
    # A duplicate copy that did get through wins.
    assert (await store.apply_receipt("902", "delivered")).status == "delivered"  # type: ignore[union-attr]
    assert [h.status for h in await store.history(one.sid)][-1] == "delivered"
    assert [h.status for h in await store.history(two.sid)][-2:] == ["undelivered", "delivered"]


# -- multipart receipts (one attempt sent as several submit_sm parts) ---------------------


async def multipart(store: Store, ids: list[str], *, at: float = T0) -> MessageRecord:
    rec = await store.accept(msg("x" * 300, num_segments=len(ids)), at=at)
    await store.mark_sending(rec.sid, "bind-1", at=at + 1)
    sent = await store.mark_sent(rec.sid, ids, at=at + 2)
    assert (sent.status, sent.carrier_message_id) == ("sent", ids[0])
    return sent


async def status_after(store: Store, receipts: list[tuple[str, str]]) -> list[str]:
    out = []
    for carrier_id, status in receipts:
        got = await store.apply_receipt(carrier_id, status)
        assert got is not None
        out.append(got.status)
    return out


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
async def test_two_parts_are_delivered_when_both_are(store: Store, order: tuple[int, int]) -> None:
    ids = ["a10", "a11"]
    rec = await multipart(store, ids)
    got = await status_after(store, [(ids[i], "delivered") for i in order])
    assert got == ["sent", "delivered"]
    hist = [(h.status, h.detail) for h in await store.history(rec.sid)]
    first, last = order
    assert hist[-2:] == [
        ("sent", f"receipt for part {first + 1} of 2 (carrier id {ids[first]}): delivered"),
        ("delivered", f"receipt for part {last + 1} of 2 (carrier id {ids[last]})"),
    ]


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 0, 1), (1, 2, 0)])
async def test_three_parts_in_any_order(store: Store, order: tuple[int, int, int]) -> None:
    ids = ["b20", "b21", "b22"]
    await multipart(store, ids)
    got = await status_after(store, [(ids[i], "delivered") for i in order])
    assert got == ["sent", "sent", "delivered"]


async def test_a_failed_part_fails_the_message_and_stands(store: Store) -> None:
    ids = ["c30", "c31", "c32"]
    rec = await multipart(store, ids)
    assert await status_after(store, [("c31", "delivered")]) == ["sent"]
    failed = await store.apply_receipt("c30", "undelivered", 30003)
    assert failed is not None
    assert (failed.status, failed.error_code) == ("undelivered", 30003)
    # Another part failing later, or being delivered, changes nothing: the first failure
    # and its error code stand.
    later = await store.apply_receipt("c32", "failed", 30005)
    assert later is not None and (later.status, later.error_code) == ("undelivered", 30003)
    again = await store.apply_receipt("c30", "delivered")
    assert again is not None and (again.status, again.error_code) == ("undelivered", 30003)
    hist = [(h.status, h.detail) for h in await store.history(rec.sid)]
    assert hist[-3:] == [
        ("sent", "receipt for part 2 of 3 (carrier id c31): delivered"),
        ("undelivered", "receipt for part 1 of 3 (carrier id c30)"),
        ("undelivered", "receipt for part 3 of 3 (carrier id c32): failed"),
    ]


async def test_failing_part_then_delivered_part_stays_undelivered(store: Store) -> None:
    await multipart(store, ["d40", "d41"])
    got = await status_after(store, [("d40", "undelivered"), ("d41", "delivered")])
    assert got == ["undelivered", "undelivered"]


async def test_one_delivered_part_does_not_deliver_the_message(store: Store) -> None:
    await multipart(store, ["e50", "e51"])
    assert await status_after(store, [("e50", "delivered")]) == ["sent"]
    # ... and the other part may still fail.
    assert await status_after(store, [("e51", "undelivered")]) == ["undelivered"]


async def test_repeated_part_receipts_and_intermediate_ones_are_no_ops(store: Store) -> None:
    rec = await multipart(store, ["f60", "f61"])
    assert await status_after(store, [("f60", "delivered")]) == ["sent"]
    n = len(await store.history(rec.sid))
    assert await status_after(store, [("f60", "delivered"), ("f61", "sent")]) == ["sent", "sent"]
    assert await status_after(store, [("0xF60", "delivered")]) == ["sent"]  # another spelling
    assert len(await store.history(rec.sid)) == n
    assert await status_after(store, [("f61", "delivered")]) == ["delivered"]


async def test_one_id_in_a_list_is_a_str(store: Store) -> None:
    rec = await multipart(store, ["70"])
    hist = await store.history(rec.sid)
    assert hist[-1] == ("sent", T0 + 2, "carrier id 70")
    # Single-part rules as before: a delivered copy turns undelivered into delivered.
    got = await status_after(store, [("70", "undelivered"), ("70", "delivered")])
    assert got == ["undelivered", "delivered"]


async def test_parts_recorded_one_by_one(store: Store) -> None:
    rec = await store.accept(msg("y" * 200, num_segments=2))
    await store.mark_sending(rec.sid, "bind-1")
    first = await store.mark_sent(rec.sid, "g80")
    second = await store.mark_sent(rec.sid, "g81")
    assert (
        (second.status, second.carrier_message_id)
        == ("sent", "g80")
        == (
            first.status,
            first.carrier_message_id,
        )
    )
    assert (await store.mark_sent(rec.sid, ["g80", "g81"])).status == "sent"  # a repeat
    assert await status_after(store, [("g81", "delivered")]) == ["sent"]
    assert (await store.history(rec.sid))[-1].detail == (
        "receipt for part 2 of 2 (carrier id g81): delivered"
    )
    assert await status_after(store, [("g80", "delivered")]) == ["delivered"]


async def test_a_new_attempt_has_its_own_parts(open_store: Opener) -> None:
    store = await open_store()
    try:
        rec = await store.accept(msg("z" * 300, num_segments=2))
        await store.mark_sending(rec.sid, "bind-1")
        await store.mark_sent(rec.sid, ["h90", "h91"])
        # A receipt for the first attempt's part: still waiting for the other part.
        assert await status_after(store, [("h90", "delivered")]) == ["sent"]
    finally:
        await store.close()
    store = await open_store()  # crash-like restart: nothing in flight, all kept
    try:
        second = await store.accept(msg("w" * 300, num_segments=2))
        await store.mark_sending(second.sid, "bind-1")
        await store.requeue(second.sid, detail="ESME_RTHROTTLED")
        retry = await store.mark_sending(second.sid, "bind-2")
        assert retry.attempts == 2
        sent = await store.mark_sent(second.sid, ["i10", "i11", "i12"])
        assert sent.attempts == 2
        assert await status_after(store, [("i10", "delivered"), ("i12", "delivered")]) == [
            "sent",
            "sent",
        ]
        assert (await store.history(second.sid))[-1].detail == (
            "receipt for part 3 of 3 (carrier id i12): delivered"
        )
        assert await status_after(store, [("i11", "delivered")]) == ["delivered"]
        # The first message's parts were kept across the restart.
        assert await status_after(store, [("h91", "delivered")]) == ["delivered"]
    finally:
        await store.close()


async def test_bad_part_lists_are_refused(store: Store) -> None:
    rec = await store.accept(msg())
    await store.mark_sending(rec.sid, "bind-1")
    for bad in ([], ["1", "1"], ["1", "0x01"], ["1", ""], ["1", 2], ["9"] * 256, b"12", 12):
        with pytest.raises(StoreError) as info:
            await store.mark_sent(rec.sid, bad)  # type: ignore[arg-type]
        assert info.value.field == "carrier_message_id"
    assert (await store.get(rec.sid)).status == "sending"  # type: ignore[union-attr]


# -- listing -------------------------------------------------------------------------------


async def test_list_newest_first_with_keyset_paging(store: Store) -> None:
    recs = await store.accept_many([msg(f"n{i}") for i in range(23)])
    await store.accept(msg("theirs", account=OTHER))
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page, token = await store.list_messages(AC, page_size=5, page_token=token)
        seen += [r.sid for r in page]
        pages += 1
        assert all(r.account_sid == AC for r in page)
        if token is None:
            break
        assert token.startswith("PA")
        # Messages accepted meanwhile do not shift the pages (keyset, not offset).
        await store.accept(msg("late"))
    assert pages == 5
    assert seen == [r.sid for r in reversed(recs)]
    with pytest.raises(StoreError):  # another account's message is not a valid anchor
        await store.list_messages(OTHER, page_token="PA" + recs[3].sid)


async def test_list_filters(store: Store) -> None:
    a = await store.accept(msg("a", to="+15550000001"))
    b = await store.accept(msg("b", to="+15550000002", from_="+15557770001"))
    c = await store.accept(msg("c", to="+15550000001", from_="+15557770001"))
    day = dt.datetime(2026, 11, 20, tzinfo=dt.UTC).timestamp()
    for rec, at in ((a, day + 10), (b, day + 86400 + 10), (c, day - 10)):
        await store.mark_sending(rec.sid, "bind-1", at=at)
        await store.mark_sent(rec.sid, rec.body, at=at)
    await store.accept(msg("unsent", to="+15550000001"))

    async def bodies(**kw: Any) -> list[str]:
        return [r.body for r in (await store.list_messages(AC, **kw))[0]]

    assert await bodies(to="+15550000001") == ["unsent", "c", "a"]
    assert await bodies(from_="+15557770001") == ["c", "b"]
    assert await bodies(to="+15550000001", from_="+15557770001") == ["c"]
    assert await bodies(date_sent=dt.date(2026, 11, 20)) == ["a"]
    assert await bodies(date_sent_after=day) == ["b", "a"]
    assert await bodies(date_sent_before=day + 10) == ["c", "a"]
    assert await bodies(date_sent_after=day, date_sent_before=day + 10) == ["a"]
    assert await bodies(to="+19999999999") == []


# -- recovery ------------------------------------------------------------------------------


async def test_recover_at_least_once(open_store: Opener) -> None:
    store = await open_store()
    senders = ["+15557770001", "+15557770002", "+15557770003"]
    accepted = await store.accept_many(
        [msg(f"{s}:{i}", from_=s) for i in range(10) for s in senders]
    )
    # One sender's first message went out before the "crash", the next was in flight.
    first, second = accepted[0], accepted[3]
    await store.mark_sending(first.sid, "bind-1")
    await store.mark_sent(first.sid, "0xA0")  # 160
    await store.mark_sending(second.sid, "bind-1")
    await store.requeue(second.sid, detail="ESME_RTHROTTLED")
    await store.mark_sending(second.sid, "bind-2")  # in flight at the crash
    await store.close()

    store = await open_store()
    try:
        queued = await store.recover(at=T0)
        assert first.sid not in {r.sid for r in queued}
        assert len(queued) == len(accepted) - 1
        for s in senders:
            mine = [r.body for r in queued if r.from_ == s]
            assert mine == [r.body for r in accepted if r.from_ == s and r.sid != first.sid]
        again = next(r for r in queued if r.sid == second.sid)
        assert again.status == "queued" and again.possible_duplicate and again.attempts == 2
        assert not any(r.possible_duplicate for r in queued if r.sid != second.sid)
        assert [h.status for h in await store.history(second.sid)][-1] == "queued"
        # Recovering again changes nothing.
        assert [r.sid for r in await store.recover()] == [r.sid for r in queued]
        # The copy is sent again; the receipt for the first message still matches.
        assert (await store.apply_receipt("160", "delivered")).sid == first.sid  # type: ignore[union-attr]
        await store.mark_sending(second.sid, "bind-1")
        resent = await store.mark_sent(second.sid, "B2")
        assert resent.attempts == 3 and resent.possible_duplicate
        assert (await store.apply_receipt("178", "delivered")).sid == second.sid  # type: ignore[union-attr]
    finally:
        await store.close()


async def test_recover_at_most_once(open_store: Opener) -> None:
    store = await open_store(in_flight_policy="at-most-once")
    a, b = await store.accept_many([msg("a"), msg("b")])
    await store.mark_sending(a.sid, "bind-1")
    await store.close()
    store = await open_store(in_flight_policy="at-most-once")
    try:
        queued = await store.recover()
        assert [r.sid for r in queued] == [b.sid]
        gone = await store.get(a.sid)
        assert gone is not None and gone.status == "failed"
        assert gone.error_code == IN_FLIGHT_ERROR_CODE and gone.error_message
    finally:
        await store.close()


# -- purge, close ---------------------------------------------------------------------------


async def test_purge_by_age_keeps_what_is_not_done(store: Store) -> None:
    old_done = await sent_message(store, "300", at=T0)
    await store.apply_receipt("300", "delivered")
    old_sent = await sent_message(store, "301", at=T0)
    old_queued = await store.accept(msg("old queued"), at=T0)
    new_done = await sent_message(store, "302", at=T0 + 1000)
    assert await store.purge(T0 + 500) == 2
    assert await store.get(old_done.sid) is None and await store.get(old_sent.sid) is None
    assert await store.get(old_queued.sid) is not None and await store.get(new_done.sid)
    assert await store.apply_receipt("300", "delivered") is None  # its ids went with it
    with pytest.raises(StoreError):
        await store.history(old_done.sid)
    assert await store.purge(T0 + 500) == 0


async def test_closed_store_refuses_work(open_store: Opener) -> None:
    store = await open_store()
    rec = await store.accept(msg())
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        await store.accept(msg())
    with pytest.raises(StoreError, match="closed"):
        await store.get(rec.sid)


async def test_cancelled_accept_leaves_the_store_working(store: Store) -> None:
    tasks = [asyncio.ensure_future(store.accept(msg(f"c{i}"))) for i in range(50)]
    await asyncio.sleep(0)
    for t in tasks[::2]:
        t.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    kept = [r for r in results if isinstance(r, MessageRecord)]
    assert len(kept) >= 25
    for r in kept:
        assert await store.get(r.sid) == r
    assert (await store.accept(msg("after"))).status == "queued"


async def test_large_groups_of_mixed_shapes_are_stored_exactly(store: Store) -> None:
    batch = [
        msg(
            f"b{i} " + "ü" * (i % 3),
            to=f"+1555{i:07d}",
            status_callback=f"https://cb.example/{i}" if i % 2 else None,
            validity_period=60 + i if i % 3 == 0 else None,
            num_segments=1 + i % 4,
        )
        for i in range(333)
    ]
    recs = await store.accept_many(batch, at=T0)
    singles = await asyncio.gather(*(store.accept(m, at=T0 + 1) for m in batch[:150]))
    for rec in [*recs, *singles]:
        assert await store.get(rec.sid) == rec
    assert [r.body for r in recs] == [m.body for m in batch]
    assert recs[3].expires_at == T0 + 63 and recs[1].status_callback == "https://cb.example/1"


async def test_ids_follow_acceptance_order_across_shapes_in_one_group(store: Store) -> None:
    # Every INSERT shape (callback or not, validity or not, inbound) in one loop iteration:
    # the ids the commit gives must still follow the order of the calls.
    shapes: list[dict[str, Any]] = [
        {},
        {"status_callback": "https://cb.example/x"},
        {"validity_period": 60},
        {"status_callback": "https://cb.example/y", "validity_period": 60},
    ]
    calls: list[Awaitable[Any]] = []
    for i in range(40):
        if i % 5 == 4:
            calls.append(store.record_inbound(AC, "+15550000009", "+15557770000", f"in{i}"))
        elif i % 7 == 6:
            calls.append(store.accept_many([msg(f"m{i}a", **shapes[i % 4]), msg(f"m{i}b")]))
        else:
            calls.append(store.accept(msg(f"s{i}", **shapes[i % 4])))
    results = await asyncio.gather(*calls)
    recs: list[MessageRecord] = []
    for r in results:
        recs += r if isinstance(r, list) else [r]
    seqs = [r.sender_seq for r in recs]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    for rec in recs:
        assert await store.get(rec.sid) == rec  # the returned sender_seq is the stored one
    later = await store.accept(msg("later"))
    assert later.sender_seq > seqs[-1]


# -- the dispatcher's poll and the sender's queue ---------------------------------------------


async def test_list_queued_polls_new_messages_in_order(store: Store) -> None:
    assert await store.list_queued() == []
    recs = await store.accept_many([msg(f"q{i}", from_=f"+1555777000{i % 3}") for i in range(7)])
    inbound = await store.record_inbound(AC, "+15550000009", "+15557770000", "mo")
    polled = await store.list_queued()
    assert [r.sid for r in polled] == [r.sid for r in recs]
    assert polled == recs
    # Paging by the last seen sender_seq, with a limit.
    first = await store.list_queued(0, limit=3)
    rest = await store.list_queued(first[-1].sender_seq, limit=100)
    assert [r.sid for r in first + rest] == [r.sid for r in recs]
    assert await store.list_queued(recs[-1].sender_seq) == []
    assert inbound.sid not in {r.sid for r in polled}
    # Only status queued: a message that left the queue is not listed.
    await store.mark_sending(recs[0].sid, "bind-1")
    await store.cancel(recs[1].sid)
    assert [r.sid for r in await store.list_queued()] == [r.sid for r in recs[2:]]
    new = await store.accept(msg("new"))
    assert [r.sid for r in await store.list_queued(recs[-1].sender_seq)] == [new.sid]


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"after_seq": -1}, "after_seq"),
        ({"after_seq": 1.5}, "after_seq"),
        ({"limit": 0}, "limit"),
        ({"limit": 10_001}, "limit"),
        ({"limit": "5"}, "limit"),
    ],
)
async def test_list_queued_bounds(store: Store, kw: dict[str, Any], field: str) -> None:
    with pytest.raises(StoreError) as err:
        await store.list_queued(**kw)
    assert err.value.field == field


async def test_queued_segments_counts_the_senders_queue(store: Store) -> None:
    a, b = "+15557770001", "+15557770002"
    assert await store.queued_segments(a) == 0
    r1 = await store.accept(msg(from_=a, num_segments=3))
    r2 = await store.accept(msg(from_=a, num_segments=2))
    r3 = await store.accept(msg(from_=a))
    await store.accept(msg(from_=b, num_segments=4))
    await store.accept(msg(from_=a, account=OTHER, num_segments=5))  # same number, counted
    assert await store.queued_segments(a) == 11
    assert await store.queued_segments(b) == 4
    await store.mark_sending(r1.sid, "bind-1")
    assert await store.queued_segments(a) == 11  # sending still holds its place
    await store.mark_sent(r1.sid, "901")
    await store.cancel(r2.sid)
    assert await store.queued_segments(a) == 6
    await store.mark_failed(r3.sid, 30001, "queue overflow")
    assert await store.queued_segments(a) == 5
    with pytest.raises(StoreError) as err:
        await store.queued_segments("+1" * 40)
    assert err.value.field == "from_"


# -- cancel, redact, delete ----------------------------------------------------------------


async def test_cancel_a_queued_message(store: Store) -> None:
    rec = await store.accept(msg(), at=T0)
    canceled = await store.cancel(rec.sid, AC, at=T0 + 5)
    assert canceled.status == "canceled" and canceled.date_updated == T0 + 5
    assert canceled.error_code is None and canceled.date_sent is None
    assert await store.get(rec.sid) == canceled
    assert [h.status for h in await store.history(rec.sid)] == ["queued", "canceled"]
    assert await store.cancel(rec.sid) == canceled  # a repeat changes nothing
    with pytest.raises(MessageStateError, match="canceled -> sending") as err:
        await store.mark_sending(rec.sid, "bind-1")  # a dispatcher that still held it
    assert err.value.status == "canceled"


@pytest.mark.parametrize("status", ["sending", "sent", "delivered", "failed"])
async def test_cancel_refuses_a_message_on_its_way_naming_its_status(
    store: Store, status: str
) -> None:
    rec = await store.accept(msg())
    if status != "failed":
        await store.mark_sending(rec.sid, "bind-1")
    if status in ("sent", "delivered"):
        await store.mark_sent(rec.sid, "77")
    if status == "delivered":
        await store.apply_receipt("77", "delivered")
    if status == "failed":
        await store.mark_failed(rec.sid, 30001, "queue overflow")
    with pytest.raises(MessageStateError, match=status) as err:
        await store.cancel(rec.sid, AC)
    assert err.value.reason == "state" and err.value.status == status
    assert isinstance(err.value, StoreError)
    assert (await store.get(rec.sid)).status == status  # type: ignore[union-attr]


async def test_another_account_cannot_cancel_redact_or_delete(store: Store) -> None:
    rec = await store.accept(msg("secret"))
    done = await sent_message(store, "555")
    await store.apply_receipt("555", "delivered")
    unknown = "SM" + "0" * 32
    for sid, account in ((rec.sid, OTHER), (unknown, AC), (unknown, None)):
        with pytest.raises(MessageNotFoundError) as err:
            await store.cancel(sid, account)
        assert err.value.reason == "not_found" and err.value.field == "sid"
        with pytest.raises(MessageNotFoundError):
            await store.redact(sid, account)
    assert await store.delete(done.sid, OTHER) is False
    assert await store.delete(unknown) is False
    # Nothing changed: same text, same status, still there.
    assert await store.get(rec.sid) == rec
    assert (await store.get(done.sid)).status == "delivered"  # type: ignore[union-attr]
    # A not-found error says nothing of the other account's message.
    with pytest.raises(MessageNotFoundError) as err:
        await store.cancel(rec.sid, OTHER)
    assert "secret" not in str(err.value) and AC not in str(err.value)


async def test_redact_empties_the_body_in_any_status(store: Store) -> None:
    queued = await store.accept(msg("private one"), at=T0)
    red = await store.redact(queued.sid, AC, at=T0 + 3)
    assert red.body == "" and red.status == "queued" and red.date_updated == T0 + 3
    assert msgspec_fields_except(red, queued, {"body", "date_updated"})
    done = await sent_message(store, "556")
    delivered = await store.apply_receipt("556", "delivered")
    assert delivered is not None
    red2 = await store.redact(done.sid, at=T0 + 9)
    assert red2.body == "" and red2.status == "delivered"
    assert msgspec_fields_except(red2, delivered, {"body", "date_updated"})
    assert await store.get(done.sid) == red2
    hist = await store.history(done.sid)
    assert hist[-1] == ("delivered", T0 + 9, "body redacted")
    assert (await store.redact(done.sid)).body == ""  # again: fine


def msgspec_fields_except(a: MessageRecord, b: MessageRecord, skip: set[str]) -> bool:
    """True when ``a`` and ``b`` agree on every field outside ``skip``."""
    return all(getattr(a, f) == getattr(b, f) for f in a.__struct_fields__ if f not in skip)


async def test_delete_removes_a_finished_message_and_everything_of_it(store: Store) -> None:
    done = await sent_message(store, "0x1F")
    await store.apply_receipt("31", "delivered")
    keep = await sent_message(store, "0x20")
    assert await store.delete(done.sid, AC) is True
    assert await store.get(done.sid) is None
    with pytest.raises(MessageNotFoundError):
        await store.history(done.sid)
    assert await store.apply_receipt("31", "delivered") is None  # its carrier ids went too
    assert await store.delete(done.sid, AC) is False  # already gone
    assert (await store.get(keep.sid)) == keep
    page, _ = await store.list_messages(AC)
    assert [r.sid for r in page] == [keep.sid]
    # A canceled or failed message can be deleted too.
    c = await store.accept(msg())
    await store.cancel(c.sid)
    assert await store.delete(c.sid) is True


@pytest.mark.parametrize("status", ["queued", "sending"])
async def test_delete_refuses_a_message_still_on_its_way(store: Store, status: str) -> None:
    rec = await store.accept(msg())
    if status == "sending":
        await store.mark_sending(rec.sid, "bind-1")
    with pytest.raises(MessageStateError, match=status) as err:
        await store.delete(rec.sid, AC)
    assert err.value.status == status and err.value.reason == "state"
    assert (await store.get(rec.sid)).status == status  # type: ignore[union-attr]


async def test_ids_are_never_given_twice_after_a_delete(open_store: Opener) -> None:
    store = await open_store()
    try:
        a = await store.accept(msg("a"))
        b = await store.accept(msg("b"))
        await store.cancel(b.sid)
        assert await store.delete(b.sid)  # the newest message
        c = await store.accept(msg("c"))
        assert c.sender_seq > b.sender_seq > a.sender_seq
        await store.cancel(c.sid)
        assert await store.delete(c.sid)
    finally:
        await store.close()
    store = await open_store()  # also across a restart
    try:
        d = await store.accept(msg("d"))
        assert d.sender_seq > c.sender_seq
        assert [r.sid for r in await store.list_queued(c.sender_seq)] == [d.sid]
    finally:
        await store.close()


async def test_date_sent_is_set_when_sent_and_kept_after(store: Store) -> None:
    day = dt.datetime(2026, 11, 20, tzinfo=dt.UTC).timestamp()
    sent = await sent_message(store, "700", at=day + 100)
    assert sent.date_sent == day + 102
    delivered = await store.apply_receipt("700", "delivered", at=day + 90000)
    assert delivered is not None and delivered.date_sent == day + 102
    later = await sent_message(store, "701", at=day + 86400)
    failed = await store.mark_failed(later.sid, 30008, "unknown", at=day + 86500)
    assert failed.date_sent == day + 86402
    never = await store.accept(msg("never sent"), at=day)
    assert (await store.cancel(never.sid)).date_sent is None
    page, _ = await store.list_messages(AC, date_sent=dt.date(2026, 11, 20))
    assert [r.sid for r in page] == [sent.sid]
    page, _ = await store.list_messages(AC, date_sent_after=day + 200)
    assert [r.sid for r in page] == [later.sid]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_queued_segments_agrees_with_the_messages_after_any_mix(
    open_store: Opener, seed: int
) -> None:
    """Random work on a few senders: every status change that enters or leaves the queue,
    restarts with messages in flight, both recovery policies.  The count must equal the
    messages' sum."""

    rng = random.Random(seed)
    senders = ["+15557770001", "+15557770002", "+15557770003"]
    policy = "at-least-once" if seed % 2 else "at-most-once"
    store = await open_store(in_flight_policy=policy)
    sids: list[str] = []
    carrier = 1000

    async def check() -> None:
        recs = [await store.get(sid) for sid in sids]
        for s in senders:
            want = sum(
                r.num_segments
                for r in recs
                if r is not None and r.from_ == s and r.status in ("queued", "sending")
            )
            assert await store.queued_segments(s) == want, (seed, s)

    try:
        for step in range(160):
            op = rng.randrange(10)
            if op <= 2 or not sids:
                n = rng.randrange(1, 4)
                batch = [
                    msg(from_=rng.choice(senders), num_segments=rng.randrange(0, 5))
                    for _ in range(n)
                ]
                if rng.random() < 0.1:
                    batch[0].direction = "inbound"  # received: never in the queue
                sids += [r.sid for r in await store.accept_many(batch)]
                continue
            sid = rng.choice(sids)
            rec = await store.get(sid)
            assert rec is not None
            try:
                if op == 3:
                    await store.mark_sending(sid, "bind-1")
                elif op == 4:
                    carrier += 1
                    ids = [str(carrier)] if rng.random() < 0.7 else [f"{carrier}a", f"{carrier}b"]
                    await store.mark_sent(sid, ids)
                elif op == 5 and rec.carrier_message_id:
                    await store.apply_receipt(
                        rec.carrier_message_id, rng.choice(["delivered", "undelivered", "failed"])
                    )
                elif op == 6:
                    await store.mark_failed(sid, 30001, "queue overflow")
                elif op == 7:
                    await store.requeue(sid)
                elif op == 8:
                    await store.cancel(sid)
            except StoreError:
                pass  # an illegal change for this status: nothing changed
            if step in (60, 120):  # a restart with some messages in flight
                for r in await store.list_queued(limit=3):
                    await store.mark_sending(r.sid, "bind-1")
                await store.close()
                store = await open_store(in_flight_policy=policy)
                await store.recover()
                await check()
            if step % 20 == 0:
                await check()
        await check()
    finally:
        await store.close()


# -- batches: the dispatcher's calls of one loop iteration ---------------------------------


async def test_batch_marks_give_what_single_calls_give(store: Store) -> None:
    a, b, c, d = [await store.accept(msg(f"m{i}", num_segments=2), at=T0) for i in range(4)]
    await store.cancel(c.sid)
    assert await store.queued_segments(a.from_) == 6
    unknown = "SM" + "f" * 32
    marked = await store.mark_sending_many(
        [
            (a.sid, "L1"),
            (b.sid, "L2"),
            (unknown, "L1"),
            (c.sid, "L1"),
            ("bad", "L1"),
            (d.sid, "L1"),
        ],
        at=T0 + 1,
    )
    assert marked[:2] == [None, None] and marked[5] is None
    assert isinstance(marked[2], MessageNotFoundError)
    assert isinstance(marked[3], MessageStateError) and marked[3].status == "canceled"
    assert isinstance(marked[4], StoreError) and marked[4].field == "sid"
    got_a = await store.get(a.sid)
    assert got_a is not None
    assert (got_a.status, got_a.link, got_a.attempts, got_a.date_updated) == (
        "sending",
        "L1",
        1,
        T0 + 1,
    )
    assert (await store.history(a.sid))[-1] == ("sending", T0 + 1, "link L1")
    assert await store.queued_segments(a.from_) == 6  # sending still counts

    sent = await store.mark_sent_many(
        [(a.sid, "0A1"), (b.sid, ["B1", "B2"]), (c.sid, "C1"), (a.sid, "0A1"), (d.sid, "")],
        at=T0 + 2,
    )
    assert sent[0] is None and sent[1] is None and sent[3] is None
    assert isinstance(sent[2], MessageStateError)
    assert isinstance(sent[4], StoreError) and sent[4].field == "carrier_message_id"
    got_a, got_b = await store.get(a.sid), await store.get(b.sid)
    assert got_a is not None and got_b is not None
    assert (got_a.status, got_a.carrier_message_id, got_a.date_sent) == ("sent", "0A1", T0 + 2)
    assert (got_b.status, got_b.carrier_message_id) == ("sent", "B1")
    assert [h.status for h in await store.history(a.sid)] == ["queued", "sending", "sent"]
    assert await store.queued_segments(a.from_) == 2  # d is still sending
    # What a single call would refuse, the batch refuses too.
    with pytest.raises(StoreError):
        await store.mark_sending(a.sid, "L1")
    assert isinstance((await store.mark_sending_many([(a.sid, "L1")]))[0], MessageStateError)


async def test_batch_receipts_give_what_single_calls_give(store: Store) -> None:
    a, b, c = [await store.accept(msg(f"m{i}"), at=T0) for i in range(3)]
    await store.mark_sending_many([(r.sid, "bind-1") for r in (a, b, c)], at=T0 + 1)
    await store.mark_sent_many([(a.sid, "a1"), (b.sid, ["b1", "b2"]), (c.sid, "0x1F")], at=T0 + 2)
    results = await store.apply_receipts(
        [
            ("A1", "delivered", None, "bind-1"),
            ("b1", "delivered", None, None),
            ("nothing", "delivered", None, None),
            ("31", "undelivered", 30003, None),  # 0x1F spelled in decimal
            ("", "delivered", None, None),
            ("a1", "undelivered", 30003, None),  # a repeat in another spelling: no change
        ],
        at=T0 + 3,
    )
    got = {r.sid: await store.get(r.sid) for r in (a, b, c)}
    ra, rb, none, rc, bad, ra2 = results
    assert isinstance(ra, MessageRecord) and ra == got[a.sid]
    assert ra.status == "delivered" and ra.date_updated == T0 + 3
    assert isinstance(rb, MessageRecord) and rb == got[b.sid] and rb.status == "sent"
    assert none is None
    assert isinstance(rc, MessageRecord) and rc == got[c.sid]
    assert (rc.status, rc.error_code, rc.error_message) == (
        "undelivered",
        30003,
        "carrier error 30003",
    )
    assert isinstance(bad, StoreError) and bad.field == "carrier_message_id"
    assert isinstance(ra2, MessageRecord) and ra2.status == "delivered"
    # The second part completes b.
    (rb2,) = await store.apply_receipts([("b2", "delivered", None, None)], at=T0 + 4)
    assert isinstance(rb2, MessageRecord) and rb2.status == "delivered"
    assert rb2 == await store.get(b.sid)
    assert [h.status for h in await store.history(c.sid)] == [
        "queued",
        "sending",
        "sent",
        "undelivered",
    ]
    assert await store.queued_segments(a.from_) == 0
