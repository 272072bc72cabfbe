"""Queue entries of :class:`engine.EsmeClient`: one per submitted PDU, and the back-off rule.

Two kinds of entry, so that the hot path never branches on the kind: a single ``submit()``
owns a future, a ``submit_many()`` batch shares one.
"""

from __future__ import annotations

import asyncio
from typing import Any

from engine._core import Pdu
from engine.session.flow import FlowEntry

__all__ = ["Batch", "BatchEntry", "Entry", "FutureEntry", "backoff_delay"]


class Entry(FlowEntry):
    """A PDU waiting to be sent, in flight, or held after a throttling answer (the
    sans-IO :class:`engine.session.flow.FlowEntry`, resolved through asyncio)."""

    __slots__ = ()


class FutureEntry(Entry):
    """The entry of one ``submit()``: resolves its own future."""

    __slots__ = ("fut",)

    def __init__(self, order: int, pdu: Any, queued_at: float, fut: asyncio.Future[Pdu]) -> None:
        self.order = order
        self.pdu = pdu
        self.queued_at = queued_at
        self.throttles = 0
        self.fut = fut

    def ok(self, resp: Pdu) -> None:
        if not self.fut.done():
            self.fut.set_result(resp)

    def fail(self, exc: BaseException) -> None:
        if not self.fut.done():
            self.fut.set_exception(exc)

    def abandoned(self) -> bool:
        return self.fut.done()


class Batch:
    """The results of one ``submit_many()``; its future resolves when the last one is in."""

    __slots__ = ("fut", "remaining", "results")

    def __init__(self, n: int, fut: asyncio.Future[list[Any]]) -> None:
        self.fut = fut
        self.remaining = n
        self.results: list[Any] = [None] * n

    def set(self, index: int, value: Any) -> None:
        self.results[index] = value
        self.remaining -= 1
        if self.remaining == 0 and not self.fut.done():
            self.fut.set_result(self.results)


class BatchEntry(Entry):
    """One PDU of a ``submit_many()`` batch."""

    __slots__ = ("batch", "index")

    def __init__(self, order: int, pdu: Any, queued_at: float, batch: Batch, index: int) -> None:
        self.order = order
        self.pdu = pdu
        self.queued_at = queued_at
        self.throttles = 0
        self.batch = batch
        self.index = index

    def ok(self, resp: Pdu) -> None:
        self.batch.set(self.index, resp)

    def fail(self, exc: BaseException) -> None:
        self.batch.set(self.index, exc)

    def abandoned(self) -> bool:
        return self.batch.fut.done()


def backoff_delay(attempt: int, initial: float, maximum: float, u: float) -> float:
    """Seconds to wait before rebind attempt ``attempt`` (0 for the first after a failure).

    Exponential back-off with "equal jitter": the step doubles from ``initial`` up to
    ``maximum``; half of it is fixed and half is ``u`` (uniform in [0, 1)) times the other
    half, so that many clients dropped at once do not come back in step.
    """
    step = min(maximum, initial * (2.0 ** min(attempt, 60)))
    return step / 2.0 + u * step / 2.0
