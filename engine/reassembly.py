"""Inbound (MO) reassembly of concatenated messages.

A carrier delivers a long message as several deliver_sm, each carrying one part, marked by
a concatenation UDH (IEI 0x00, 8-bit reference, or IEI 0x08, 16-bit reference; esm_class
UDHI) or by the SAR TLVs (sar_msg_ref_num, sar_total_segments, sar_segment_seqnum).  Parts
arrive in any order, sometimes twice (a carrier resends a deliver_sm whose response it
missed), and sometimes not at all.  :class:`Reassembler` collects them:

- a set is keyed by (source_addr, destination_addr, scheme, reference, total), so two
  senders' reference 7 never mix (Jasmin #1257 lost parts that arrived out of order);
- a repeated part is ignored, also shortly after its message completed;
- a set still incomplete ``timeout`` seconds after its first part is given up on
  (Kannel's ``sms-combine-concatenated-mo-timeout`` default is 1,800 s) and returned by
  :meth:`Reassembler.expire` with what did arrive;
- memory is bounded: at most ``max_pending`` sets are held; the oldest is given up on
  to make room.

Time is an argument (seconds from any monotonic clock); this module reads no clock.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from engine._core import decode_text
from engine.errors import DecodeError
from engine.text import ConcatInfo, concat_info, parse_udh

__all__ = ["InboundMessage", "Reassembler", "split_part"]

_UDHI = 0x40

_Key = tuple[str, str, str, int, int]


@dataclass(slots=True)
class InboundMessage:
    """A whole inbound message (or, from :meth:`Reassembler.expire`, what arrived of one).

    ``text`` is the decoded text of the joined parts ("" when data_coding is not a text
    coding: read ``payload``).  ``payload`` is the joined user data without UDHs.
    ``pdus`` are the deliver_sm PDUs in part order (duplicates left out).  ``reference``
    is the concatenation reference (None for a single-part message).  ``complete`` is
    False for a set given up on; ``missing`` then lists the absent part numbers.
    """

    source_addr: str
    destination_addr: str
    text: str
    data_coding: int
    num_parts: int
    pdus: list[Any]
    payload: bytes = b""
    reference: int | None = None
    complete: bool = True
    missing: tuple[int, ...] = ()
    first_seen: float = 0.0

    @property
    def sequence_numbers(self) -> list[int]:
        """The SMPP sequence_number of each PDU, in part order."""
        return [getattr(p, "sequence_number", 0) for p in self.pdus]


def split_part(pdu: Any) -> tuple[str | None, ConcatInfo | None, bytes]:
    """Read one deliver_sm: ``(scheme, concat info, payload)``.

    scheme is "udh8", "udh16", "sar" or None (not a part of a concatenated message).  The
    body is short_message, or message_payload when short_message is empty; a UDH is
    removed from the payload.  A malformed UDH raises :class:`engine.DecodeError`
    (``field="short_message"``).
    """
    body = bytes(getattr(pdu, "short_message", b"") or b"")
    if not body:
        body = bytes(getattr(pdu, "message_payload", b"") or b"")
    if (getattr(pdu, "esm_class", 0) or 0) & _UDHI:
        elements, payload = parse_udh(body)
        info = concat_info(elements)
        if info is None:
            return None, None, payload
        return ("udh16" if info.sixteen_bit else "udh8"), info, payload
    ref = getattr(pdu, "sar_msg_ref_num", None)
    total = getattr(pdu, "sar_total_segments", None)
    seq = getattr(pdu, "sar_segment_seqnum", None)
    if ref is not None and total is not None and seq is not None:
        return "sar", ConcatInfo(ref, total, seq, False), body
    return None, None, body


def _decode(payloads: list[bytes], codings: list[int]) -> str:
    # Join the octets first and decode once: a sender that split an escape or surrogate
    # pair across two parts still reads right.  Parts of differing data_coding (seen from
    # broken senders) are decoded one by one.
    try:
        if len(set(codings)) <= 1:
            return decode_text(b"".join(payloads), codings[0] if codings else 0, "replace")
        return "".join(
            decode_text(p, dc, "replace") for p, dc in zip(payloads, codings, strict=True)
        )
    except DecodeError:
        return ""  # not a text data_coding: the caller reads InboundMessage.payload


class _PartSet:
    __slots__ = ("first_seen", "parts", "reference", "total")

    def __init__(self, reference: int, total: int, first_seen: float) -> None:
        self.reference = reference
        self.total = total
        self.first_seen = first_seen
        self.parts: dict[int, tuple[bytes, Any]] = {}


class Reassembler:
    """Joins the parts of concatenated inbound messages (see the module docstring).

    ``timeout``: seconds after a set's first part after which it is given up on.
    ``max_pending``: most incomplete sets held at once.  ``duplicate_window``: seconds a
    completed set's key is remembered so that a resent part of it is dropped instead of
    starting a new set that could only time out.  ``now`` must not go backwards.
    """

    def __init__(
        self,
        timeout: float = 1800.0,
        max_pending: int = 10_000,
        *,
        duplicate_window: float = 600.0,
    ) -> None:
        if timeout <= 0 or max_pending < 1:
            raise ValueError("timeout must be > 0 and max_pending >= 1")
        self.timeout = timeout
        self.max_pending = max_pending
        self.duplicate_window = duplicate_window
        self._pending: OrderedDict[_Key, _PartSet] = OrderedDict()
        self._done: OrderedDict[_Key, tuple[float, frozenset[int]]] = OrderedDict()
        self._given_up: list[InboundMessage] = []
        self.duplicates = 0
        """Parts dropped as repeats (a counter for metrics)."""
        self.dropped = 0
        """Given-up sets discarded because expire() was not called often enough."""

    @property
    def pending(self) -> int:
        """Incomplete sets held."""
        return len(self._pending)

    def next_deadline(self) -> float | None:
        """When the oldest incomplete set times out (for the caller's timer), or None."""
        for part_set in self._pending.values():
            return part_set.first_seen + self.timeout
        return None

    def add(self, pdu: Any, now: float) -> InboundMessage | None:
        """Take one deliver_sm.  Returns the whole message when this PDU completes it (at
        once for a single-part message), else None.

        A part whose numbers make no sense (total 0 or 1, seqnum 0 or above total) is
        delivered alone rather than held.  Raises :class:`engine.DecodeError` for a
        malformed UDH.
        """
        scheme, info, payload = split_part(pdu)
        if scheme is None or info is None or not 1 <= info.seqnum <= info.total or info.total < 2:
            return self._message(pdu, [payload], [pdu], None, now)
        key: _Key = (
            getattr(pdu, "source_addr", ""),
            getattr(pdu, "destination_addr", ""),
            scheme,
            info.reference,
            info.total,
        )
        done = self._done.get(key)
        if done is not None:
            if now - done[0] < self.duplicate_window and info.seqnum in done[1]:
                self.duplicates += 1
                return None
            del self._done[key]
        part_set = self._pending.get(key)
        if part_set is not None and now - part_set.first_seen >= self.timeout:
            # Stale: a new message reusing the reference.  Give the old one up first.
            self._give_up(key)
            part_set = None
        if part_set is None:
            while len(self._pending) >= self.max_pending:
                self._give_up(next(iter(self._pending)))
            part_set = _PartSet(info.reference, info.total, now)
            self._pending[key] = part_set
        if info.seqnum in part_set.parts:
            self.duplicates += 1
            return None
        part_set.parts[info.seqnum] = (payload, pdu)
        if len(part_set.parts) < part_set.total:
            return None
        del self._pending[key]
        self._remember_done(key, now, frozenset(part_set.parts))
        ordered = [part_set.parts[i] for i in range(1, part_set.total + 1)]
        return self._message(
            ordered[0][1],
            [p for p, _ in ordered],
            [q for _, q in ordered],
            part_set.reference,
            part_set.first_seen,
        )

    def expire(self, now: float) -> list[InboundMessage]:
        """Give up on every set whose first part is ``timeout`` seconds old or more.

        Returns them (``complete=False``, ``missing`` set, text of the parts that came),
        together with sets given up on earlier to respect ``max_pending``.
        """
        while self._pending:
            key, part_set = next(iter(self._pending.items()))
            if now - part_set.first_seen < self.timeout:
                break
            self._give_up(key)
        while self._done:
            key, (when, _) = next(iter(self._done.items()))
            if now - when < self.duplicate_window:
                break
            del self._done[key]
        given_up, self._given_up = self._given_up, []
        return given_up

    def _remember_done(self, key: _Key, now: float, seqnums: frozenset[int]) -> None:
        self._done[key] = (now, seqnums)
        self._done.move_to_end(key)
        while len(self._done) > self.max_pending:
            self._done.popitem(last=False)

    def _give_up(self, key: _Key) -> None:
        part_set = self._pending.pop(key)
        seqs = sorted(part_set.parts)
        payloads = [part_set.parts[i][0] for i in seqs]
        pdus = [part_set.parts[i][1] for i in seqs]
        msg = self._message(pdus[0], payloads, pdus, part_set.reference, part_set.first_seen)
        msg.num_parts = part_set.total
        msg.complete = False
        msg.missing = tuple(i for i in range(1, part_set.total + 1) if i not in part_set.parts)
        self._given_up.append(msg)
        if len(self._given_up) > self.max_pending:
            del self._given_up[0]
            self.dropped += 1

    @staticmethod
    def _message(
        first: Any, payloads: list[bytes], pdus: list[Any], reference: int | None, first_seen: float
    ) -> InboundMessage:
        codings = [getattr(p, "data_coding", 0) or 0 for p in pdus]
        return InboundMessage(
            source_addr=getattr(first, "source_addr", ""),
            destination_addr=getattr(first, "destination_addr", ""),
            text=_decode(payloads, codings),
            data_coding=codings[0],
            num_parts=len(pdus),
            pdus=pdus,
            payload=b"".join(payloads),
            reference=reference,
            first_seen=first_seen,
        )
