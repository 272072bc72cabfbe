"""engine.lifecycle: the Twilio status and error code of a submit answer, a receipt and a
link error."""

from __future__ import annotations

import pytest

from engine import (
    ClientQueueFullError,
    ConnectionLostError,
    EncodeError,
    LinkDownError,
    MessageExpiredError,
    ResponseTimeoutError,
    SessionError,
    ThrottledError,
)
from engine.lifecycle import (
    EXPIRED_CODE,
    Outcome,
    link_error_outcome,
    receipt_outcome,
    submit_outcome,
)
from engine.pdu.constants import CommandStatus as C


def test_submit_ok_is_sent_and_throttling_is_requeued_not_failed() -> None:
    assert submit_outcome(0) == Outcome("sent", None, None)
    assert submit_outcome(C.ESME_RTHROTTLED) == Outcome("queued", None, None)
    assert submit_outcome(C.ESME_RMSGQFUL) == Outcome("queued", None, None)


@pytest.mark.parametrize(
    "status,code",
    [
        (C.ESME_RINVDSTADR, 30005),
        (C.ESME_RINVDSTTON, 30005),
        (C.ESME_RINVDSTNPI, 30005),
        (C.ESME_RINVMSGLEN, 30019),
        (C.ESME_RX_P_APPN, 30007),
        (C.ESME_RX_R_APPN, 30007),
        (C.ESME_RSYSERR, 30008),
        (C.ESME_RSUBMITFAIL, 30008),
        (0x400, 30008),  # reserved for the SMSC vendor: unknown to us
    ],
)
def test_submit_refusals_fail_with_a_code_and_name_the_status(status: int, code: int) -> None:
    out = submit_outcome(status)
    assert out.status == "failed" and out.error_code == code
    assert out.error_message is not None and f"0x{status:08X}" in out.error_message
    if status != 0x400:
        assert C(status).name in out.error_message


@pytest.mark.parametrize(
    "stat,err,expected",
    [
        ("DELIVRD", "000", ("delivered", None)),
        ("delivrd", None, ("delivered", None)),
        ("ENROUTE", None, ("sent", None)),
        ("ACCEPTD", "000", ("sent", None)),
        ("UNDELIV", None, ("undelivered", 30008)),
        ("UNDELIV", "001", ("undelivered", 30005)),
        ("UNDELIV", "27", ("undelivered", 30003)),
        ("UNDELIV", "013", ("undelivered", 30004)),
        ("UNDELIV", "011", ("undelivered", 30006)),
        ("UNDELIV", "999", ("undelivered", 30008)),
        ("UNDELIV", "x" * 1000, ("undelivered", 30008)),
        ("EXPIRED", "001", ("undelivered", 30003)),  # expiry wins over err
        ("DELETED", None, ("undelivered", 30008)),
        ("REJECTD", None, ("undelivered", 30007)),
        ("REJECTD", "001", ("undelivered", 30005)),
        ("UNKNOWN", None, ("undelivered", 30008)),
        ("BOGUS", None, ("undelivered", 30008)),
        (None, None, ("undelivered", 30008)),
    ],
)
def test_receipt_states(stat: str | None, err: str | None, expected: tuple[str, int]) -> None:
    out = receipt_outcome(stat, err)
    assert (out.status, out.error_code) == expected
    if expected[1] is None:
        assert out.error_message is None
    else:
        assert out.error_message is not None
        assert (stat.upper() if stat else "stat missing") in out.error_message


def test_link_errors_requeue_when_retry_safe_and_unknown_outcome_follows_the_policy() -> None:
    throttled = ThrottledError("kept throttling", command_status=0x58, attempts=6)
    for safe in (LinkDownError("x"), ClientQueueFullError("x"), throttled):
        assert safe.retry_safe
        assert link_error_outcome(safe) is None
        assert link_error_outcome(safe, at_most_once=True) is None
    for unknown in (ConnectionLostError("x"), ResponseTimeoutError("x")):
        assert not unknown.retry_safe
        assert link_error_outcome(unknown) is None  # at-least-once: requeue, flag duplicate
        out = link_error_outcome(unknown, at_most_once=True)
        assert out is not None and (out.status, out.error_code) == ("failed", 30008)
        assert "outcome unknown" in (out.error_message or "")


def test_other_exceptions() -> None:
    assert link_error_outcome(SessionError("closed")) is None  # never written
    bad = link_error_outcome(EncodeError("destination_addr too long", field="destination_addr"))
    assert bad is not None and bad.status == "failed" and "destination_addr" in str(bad)
    expired = link_error_outcome(MessageExpiredError("validity over"))
    assert expired == Outcome("failed", EXPIRED_CODE, "validity over")
    other = link_error_outcome(RuntimeError("boom"))
    assert other is not None and other.error_code == 30008 and "RuntimeError" in str(other)
