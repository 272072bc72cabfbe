"""The store's pure rules: status transitions, receipt effects, input bounds."""

from __future__ import annotations

import pytest

from engine.errors import StoreError
from engine.store import FINAL_STATUSES, STATUSES, NewMessage
from engine.store.rules import (
    check_carrier_ids,
    check_new_message,
    check_transition,
    part_receipt_target,
    receipt_target,
)

LEGAL = {
    ("accepted", "queued"),
    ("accepted", "failed"),
    ("accepted", "canceled"),
    ("queued", "sending"),
    ("queued", "failed"),
    ("queued", "canceled"),
    ("sending", "sending"),
    ("sending", "sent"),
    ("sending", "failed"),
    ("sending", "queued"),
    ("sent", "failed"),
}


@pytest.mark.parametrize("current", sorted(STATUSES))
@pytest.mark.parametrize("new", sorted(STATUSES))
def test_every_transition(current: str, new: str) -> None:
    if (current, new) in LEGAL:
        assert check_transition("SMx", current, new) is True
    elif current == new:
        assert check_transition("SMx", current, new) is False  # idempotent repeat
    else:
        with pytest.raises(StoreError, match=f"{current} -> {new}"):
            check_transition("SMx", current, new)


def test_final_statuses_never_move_on_the_dispatcher_s_word() -> None:
    for final in FINAL_STATUSES:
        for new in STATUSES - {final}:
            with pytest.raises(StoreError):
                check_transition("SMx", final, new)


@pytest.mark.parametrize(
    "current,receipt,target",
    [
        ("sent", "delivered", "delivered"),
        ("sent", "undelivered", "undelivered"),
        ("sent", "failed", "failed"),
        ("sent", "sent", None),
        ("sending", "delivered", "delivered"),
        ("queued", "delivered", "delivered"),  # a copy sent before a crash got through
        ("undelivered", "delivered", "delivered"),
        ("delivered", "undelivered", None),
        ("delivered", "delivered", None),
        ("failed", "delivered", None),
        ("received", "delivered", None),
        ("canceled", "delivered", None),
    ],
)
def test_receipt_targets(current: str, receipt: str, target: str | None) -> None:
    assert receipt_target(current, receipt) == target


@pytest.mark.parametrize(
    "current,outcomes,part,status,target",
    [
        ("sent", [None, None], 0, "delivered", None),  # the other part has not reported
        ("sent", [None, "delivered"], 0, "delivered", "delivered"),
        ("sent", ["delivered", "delivered", None], 2, "delivered", "delivered"),
        ("sent", [None, "delivered"], 0, "undelivered", "undelivered"),
        ("sent", [None, None, None], 1, "failed", "failed"),
        ("undelivered", ["undelivered", None], 1, "delivered", None),  # first failure stands
        ("undelivered", ["undelivered", None], 1, "failed", None),
        ("sent", ["delivered", None], 0, "delivered", None),  # a repeat for that part
        ("sent", [None, "delivered"], 0, "sent", None),  # intermediate
        # Another attempt's copy decided already: receipt_target's rule applies.
        ("delivered", [None, None], 0, "undelivered", None),
        ("undelivered", [None, "delivered"], 0, "delivered", "delivered"),
    ],
)
def test_part_receipt_targets(
    current: str, outcomes: list[str | None], part: int, status: str, target: str | None
) -> None:
    assert part_receipt_target(current, outcomes, part, status) == target


def test_carrier_ids() -> None:
    assert check_carrier_ids("1F") == ("1F",)
    assert check_carrier_ids(["1", "2"]) == ("1", "2")
    assert check_carrier_ids(("a",)) == ("a",)
    for bad in ([], ["a", "A"], ["1", None], "", b"1", 1, ["1"] * 256):
        with pytest.raises(StoreError) as info:
            check_carrier_ids(bad)
        assert info.value.field == "carrier_message_id"


def _m(**kw: object) -> NewMessage:
    base: dict[str, object] = {"account_sid": "AC1", "from_": "+1", "to": "+2", "body": "b"}
    base.update(kw)
    return NewMessage(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"body": "ü€😀" * 400},
        {"body": ""},
        {"status_callback": "https://é.example/cb"},
        {"validity_period": 1},
        {"direction": "outbound-reply"},
        {"direction": "inbound"},
        {"num_segments": 0, "num_media": 10},
    ],
)
def test_in_bounds(kw: dict[str, object]) -> None:
    check_new_message(_m(**kw))


@pytest.mark.parametrize(
    "field,kw",
    [
        ("body", {"body": "😀" * 1601}),
        ("body", {"body": None}),
        ("to", {"to": 15550001}),
        ("from_", {"from_": "\udc80"}),
        ("account_sid", {"account_sid": "é" * 65}),
        ("status_callback", {"status_callback": b"https://x"}),
        ("validity_period", {"validity_period": 1.5}),
        ("num_media", {"num_media": -1}),
    ],
)
def test_out_of_bounds_names_the_field(field: str, kw: dict[str, object]) -> None:
    with pytest.raises(StoreError) as info:
        check_new_message(_m(**kw))
    assert info.value.field == field
    assert str(info.value).startswith(field + ":")


@pytest.mark.parametrize(
    "field,kw,says",
    [
        ("body", {"body": "hello\x00world"}, "NUL"),
        ("body", {"body": "ü\x00"}, "NUL"),  # the slow (non-ASCII) path too
        ("to", {"to": "+1555\x000001"}, "NUL"),
        ("to", {"to": ""}, "empty"),
        ("to", {"to": "1" * 21}, "SMPP address"),
        ("to", {"to": "é" * 11}, "SMPP address"),  # 22 octets in UTF-8
    ],
)
def test_what_smpp_cannot_carry_is_refused_at_accept(
    field: str, kw: dict[str, object], says: str
) -> None:
    # before: accepted here, failing only when the dispatcher encoded the submit_sm
    with pytest.raises(StoreError) as info:
        check_new_message(_m(**kw))
    assert info.value.field == field
    assert str(info.value).startswith(field + ":") and says in str(info.value)


def test_longest_to_an_smpp_address_carries_is_accepted() -> None:
    check_new_message(_m(to="1" * 20))  # 20 octets + the NUL = 21 (SMPP 3.4 §4.4.1)
