"""The message store's contract: the records it keeps and the one interface every backend
implements.

The REST API calls :meth:`Store.accept` and answers only after it returns (the message is
durable then); the dispatcher calls the ``mark_*`` methods around each submit_sm and
:meth:`Store.apply_receipt` for each delivery receipt; the daemon calls :meth:`Store.recover`
once at start.  The SQLite backend (:mod:`engine.store.sqlite`) is the default; a PostgreSQL
backend for several daemons can be added behind the same class and must pass the same
contract tests (``tests/test_store_contract.py``).

Times are ``float`` epoch seconds (UTC) and are arguments (``at=``); a backend fills in
``time.time()`` when the caller leaves them out.  This module does no I/O.
"""

from __future__ import annotations

import abc
import datetime as _dt
from collections.abc import Sequence
from typing import Final, Literal, NamedTuple

import msgspec

from engine.errors import StoreError

__all__ = [
    "DIRECTIONS",
    "FINAL_STATUSES",
    "IN_FLIGHT_ERROR_CODE",
    "STATUSES",
    "Direction",
    "HistoryEntry",
    "InFlightPolicy",
    "MessageNotFoundError",
    "MessageRecord",
    "MessageStateError",
    "NewMessage",
    "Status",
    "Store",
    "SyncLevel",
]

Status = Literal[
    "accepted",
    "queued",
    "sending",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "received",
    "canceled",
]
"""Twilio's message statuses that the engine uses."""

STATUSES: Final[frozenset[str]] = frozenset(Status.__args__)  # type: ignore[attr-defined]

FINAL_STATUSES: Final[frozenset[str]] = frozenset(
    {"delivered", "undelivered", "failed", "received", "canceled"}
)
"""Statuses a message keeps (only a receipt may still turn undelivered into delivered)."""

Direction = Literal["outbound-api", "inbound", "outbound-reply"]
"""``outbound-api`` (REST), ``outbound-reply`` (TwiML reply) or ``inbound`` (MO)."""

DIRECTIONS: Final[frozenset[str]] = frozenset(Direction.__args__)  # type: ignore[attr-defined]

InFlightPolicy = Literal["at-least-once", "at-most-once"]
"""What :meth:`Store.recover` does with a message that was ``sending`` when the process died.

``at-least-once`` (default): it is queued again with ``possible_duplicate=True``; its old
carrier ids stay indexed so that a late receipt for the first copy still matches.
``at-most-once``: it is marked ``failed`` with :data:`IN_FLIGHT_ERROR_CODE`.
"""

IN_FLIGHT_ERROR_CODE: Final = 30008
"""Twilio "unknown error": the at-most-once policy's code for a message in flight at a crash."""

SyncLevel = Literal["FULL", "NORMAL", "OFF"]
"""SQLite ``PRAGMA synchronous`` levels a store may be opened with (see docs/durability.md)."""


class MessageNotFoundError(StoreError):
    """No message with this sid, or it belongs to another account (the two are one case,
    so that an account learns nothing of another's messages).  ``reason`` is
    ``"not_found"``; the REST API answers 404 (Twilio 20404)."""

    reason: Final = "not_found"


class MessageStateError(StoreError):
    """The message exists but its status does not allow the operation (cancel a message
    that is already sending, delete one still on its way).  ``status`` is the status it
    has; ``reason`` is ``"state"``."""

    reason: Final = "state"

    def __init__(self, message: str, *, status: str) -> None:
        super().__init__(message)
        self.status = status


class NewMessage(msgspec.Struct, kw_only=True):
    """A message to accept: what the API (or a TwiML reply) hands to :meth:`Store.accept`.

    ``validity_period`` is in seconds from acceptance (``None``: no expiry).  Bounds are
    checked by the store (``engine.store.rules.check_new_message``): a value out of bounds
    raises :class:`~engine.errors.StoreError` naming the field.
    """

    account_sid: str
    from_: str
    to: str
    body: str
    direction: Direction = "outbound-api"
    num_segments: int = 1
    num_media: int = 0
    status_callback: str | None = None
    validity_period: int | None = None


class MessageRecord(msgspec.Struct, kw_only=True):
    """One stored message, as the store returns it (Twilio's Message resource, typed).

    ``sender_seq`` is the store-wide acceptance order: a sender's messages sorted by it are
    in the order they were accepted.  It is given when the message commits, in commit
    order, also when several processes share the store, so a reader never sees a larger
    one commit before a smaller one: polling with "greater than the last seen" misses
    nothing (:meth:`Store.list_queued`).  Ids are never given twice, even after a delete.
    ``attempts`` counts :meth:`Store.mark_sending` calls.  ``possible_duplicate`` is set
    when the message was queued again after being in flight at a crash (at-least-once):
    the carrier may already hold a copy.
    """

    sid: str
    account_sid: str
    direction: str
    from_: str
    to: str
    body: str
    status: str
    num_segments: int
    num_media: int = 0
    error_code: int | None = None
    error_message: str | None = None
    carrier_message_id: str | None = None
    link: str | None = None
    date_created: float
    date_updated: float
    date_sent: float | None = None
    status_callback: str | None = None
    expires_at: float | None = None
    attempts: int = 0
    possible_duplicate: bool = False
    sender_seq: int = 0
    price: str | None = None
    price_unit: str | None = None

    @property
    def validity_period(self) -> int | None:
        """Seconds from acceptance to ``expires_at`` (``None`` when there is no expiry)."""
        if self.expires_at is None:
            return None
        return round(self.expires_at - self.date_created)


class HistoryEntry(NamedTuple):
    """One status a message went through: ``(status, at, detail)``; ``detail`` may be None."""

    status: str
    at: float
    detail: str | None = None


class Store(abc.ABC):
    """The message store.  Every method is a coroutine; every write is durable (at the
    configured level) before the coroutine returns.

    Errors: :class:`~engine.errors.StoreError` for bad input (``field`` names it), unknown
    sids, illegal status transitions and a closed store.  Two subclasses let a caller tell
    the cases apart: :class:`MessageNotFoundError` (``reason == "not_found"``: unknown sid,
    or another account's) and :class:`MessageStateError` (``reason == "state"``: the
    message's status does not allow it, including an illegal status change such as
    ``canceled -> sending``; ``status`` says which it is).  Cancelling a pending
    write does not undo it: the write may still commit.
    """

    @abc.abstractmethod
    async def accept(self, message: NewMessage, *, at: float | None = None) -> MessageRecord:
        """Store one new message (``queued``, or ``received`` for ``inbound``)."""

    @abc.abstractmethod
    async def accept_many(
        self, messages: Sequence[NewMessage], *, at: float | None = None
    ) -> list[MessageRecord]:
        """Store several messages in one write, in the given order (all or none)."""

    @abc.abstractmethod
    async def record_inbound(
        self,
        account_sid: str,
        from_: str,
        to: str,
        body: str,
        *,
        num_segments: int = 1,
        link: str | None = None,
        at: float | None = None,
    ) -> MessageRecord:
        """Store a message received from a carrier (status ``received``, direction ``inbound``)."""

    @abc.abstractmethod
    async def get(self, sid: str, account_sid: str | None = None) -> MessageRecord | None:
        """The message ``sid``; None when unknown or when it belongs to another account."""

    @abc.abstractmethod
    async def list_messages(
        self,
        account_sid: str,
        *,
        to: str | None = None,
        from_: str | None = None,
        date_sent_before: float | None = None,
        date_sent_after: float | None = None,
        date_sent: _dt.date | None = None,
        page_size: int = 50,
        page_token: str | None = None,
    ) -> tuple[list[MessageRecord], str | None]:
        """One page of the account's messages, newest first, and the next page's token.

        ``date_sent_before`` / ``date_sent_after`` are inclusive bounds on ``date_sent``
        (messages not yet sent have none and are left out by a date filter); ``date_sent``
        is one UTC day.  ``page_size`` is 1..1000.  The token is opaque (``PA`` + the last
        sid of the page); the next page holds what is older than that message.
        """

    @abc.abstractmethod
    async def history(self, sid: str) -> list[HistoryEntry]:
        """Every status the message went through, oldest first (first: its initial status)."""

    @abc.abstractmethod
    async def mark_sending(self, sid: str, link: str, *, at: float | None = None) -> MessageRecord:
        """``queued`` -> ``sending`` on ``link``: call it BEFORE the submit_sm is written.

        Counts an attempt.  Calling it again while ``sending`` counts another attempt.
        """

    @abc.abstractmethod
    async def mark_sent(
        self, sid: str, carrier_message_id: str | Sequence[str], *, at: float | None = None
    ) -> MessageRecord:
        """``sending`` -> ``sent``: the carrier accepted it (submit_sm_resp OK) with this id.

        A sequence gives the ids of every submit_sm part of this attempt, in part order (a
        long message sent as concatenated parts: each part gets its own id and receipt); a
        str is one part.  Called again during the same attempt (status ``sent``), an id
        already recorded is a no-op and a new one is ADDED as a further part, so a
        dispatcher may also record the parts one by one as their submit_sm_resps arrive
        (before their receipts can land: a receipt for a one-part attempt decides alone).
        Each attempt (:meth:`mark_sending`) has its own parts.  ``carrier_message_id`` in
        the record is the first part's id.  Every id is indexed under every spelling of
        :func:`engine.receipts.message_id_keys`.
        """

    @abc.abstractmethod
    async def mark_failed(
        self, sid: str, error_code: int, error_message: str, *, at: float | None = None
    ) -> MessageRecord:
        """``queued``/``sending``/``sent`` -> ``failed`` with Twilio's error code."""

    @abc.abstractmethod
    async def requeue(
        self, sid: str, *, detail: str | None = None, at: float | None = None
    ) -> MessageRecord:
        """``sending`` -> ``queued`` (e.g. the carrier answered ESME_RTHROTTLED)."""

    @abc.abstractmethod
    async def apply_receipt(
        self,
        carrier_message_id: str,
        status: str,
        error_code: int | None = None,
        *,
        link: str | None = None,
        at: float | None = None,
    ) -> MessageRecord | None:
        """Apply a delivery receipt; the matched message (changed or not) or None.

        ``status`` is ``delivered``, ``undelivered``, ``failed`` or ``sent`` (an
        intermediate receipt: it changes nothing).  ``link`` narrows the match
        to one carrier bind.  For a part of a multipart attempt the message fails with the
        first failing part and is delivered once every part is
        (:func:`engine.store.rules.part_receipt_target`).  See docs/durability.md for the
        matching and ordering rules.
        """

    # -- batches: the dispatcher's calls of one loop iteration as one write -------------
    # A backend may override these with one statement per batch; these defaults make one
    # call per item and give the same results.

    async def mark_sending_many(
        self, items: Sequence[tuple[str, str]], *, at: float | None = None
    ) -> list[StoreError | None]:
        """:meth:`mark_sending` for each ``(sid, link)``, in order, in one write.

        Per item: None when it was marked, else the :class:`~engine.errors.StoreError` that
        :meth:`mark_sending` would raise (the others are marked all the same).  No record is
        read back: the caller holds the message already.
        """
        out: list[StoreError | None] = []
        for sid, link in items:
            try:
                await self.mark_sending(sid, link, at=at)
                out.append(None)
            except StoreError as exc:
                out.append(exc)
        return out

    async def mark_sent_many(
        self, items: Sequence[tuple[str, str | Sequence[str]]], *, at: float | None = None
    ) -> list[StoreError | None]:
        """:meth:`mark_sent` for each ``(sid, carrier id or part ids)``, in order, in one
        write; per item None or the StoreError, as :meth:`mark_sending_many`."""
        out: list[StoreError | None] = []
        for sid, ids in items:
            try:
                await self.mark_sent(sid, ids, at=at)
                out.append(None)
            except StoreError as exc:
                out.append(exc)
        return out

    async def apply_receipts(
        self,
        receipts: Sequence[tuple[str, str, int | None, str | None]],
        *,
        at: float | None = None,
    ) -> list[MessageRecord | StoreError | None]:
        """:meth:`apply_receipt` for each ``(carrier id, status, error code, link)``, in
        order, in one write.  Per item what :meth:`apply_receipt` returns (the matched
        message after the receipt, or None), or the StoreError it would raise.  All take
        the same ``at``, so a record whose ``date_updated`` is ``at`` was changed by it."""
        out: list[MessageRecord | StoreError | None] = []
        for carrier_id, status, code, link in receipts:
            try:
                out.append(await self.apply_receipt(carrier_id, status, code, link=link, at=at))
            except StoreError as exc:
                out.append(exc)
        return out

    @abc.abstractmethod
    async def recover(self, *, at: float | None = None) -> list[MessageRecord]:
        """Apply the in-flight policy to ``sending`` messages, then return every ``queued``
        message in acceptance order (so each sender's messages are in their original order).
        """

    @abc.abstractmethod
    async def purge(self, older_than: float) -> int:
        """Delete messages created before ``older_than`` that are past the carrier
        (any status but ``accepted``, ``queued`` and ``sending``); the number deleted."""

    @abc.abstractmethod
    async def list_queued(self, after_seq: int = 0, limit: int = 1000) -> list[MessageRecord]:
        """Messages now ``queued`` with ``sender_seq > after_seq``, ascending by ``sender_seq``,
        at most ``limit`` (1..10000): the dispatcher's poll for new messages, cheap when
        nothing is new.  Pass the last ``sender_seq`` seen: ids are given in commit order,
        so nothing committed later can have a smaller one.  A message requeued after an
        attempt keeps its old ``sender_seq`` and is not seen again by such a poll (the
        dispatcher that requeued it still holds it; :meth:`recover` returns it at start).
        """

    @abc.abstractmethod
    async def queued_segments(self, from_: str) -> int:
        """The sum of ``num_segments`` of the sender ``from_``'s ``queued`` and ``sending``
        messages (across every process sharing the store): the queue-full check (Twilio
        21611)."""

    @abc.abstractmethod
    async def cancel(
        self, sid: str, account_sid: str | None = None, *, at: float | None = None
    ) -> MessageRecord:
        """``queued`` (or ``accepted``) -> ``canceled``; canceling a canceled message is a
        no-op.  :class:`MessageNotFoundError` when ``sid`` is unknown or belongs to another
        account than ``account_sid`` (None: any); :class:`MessageStateError` naming the
        status otherwise (e.g. it is already ``sending``).  A dispatcher that still holds a
        canceled message has its :meth:`mark_sending` refused (``canceled -> sending``)."""

    @abc.abstractmethod
    async def redact(
        self, sid: str, account_sid: str | None = None, *, at: float | None = None
    ) -> MessageRecord:
        """Set the body to ``""`` (every other field kept), in any status; a history entry
        notes it.  :class:`MessageNotFoundError` as for :meth:`cancel`."""

    @abc.abstractmethod
    async def delete(self, sid: str, account_sid: str | None = None) -> bool:
        """Remove the message with its history, carrier ids and parts; False when ``sid`` is
        unknown or another account's.  :class:`MessageStateError` while it is still on its
        way (``accepted``, ``queued``, ``sending``): cancel it first.  Its id is never given
        again."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish every pending write, then release the backend.  Idempotent."""

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
