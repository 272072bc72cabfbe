"""The SMSC's defences against hostile peers, as plain bookkeeping with time as an argument.

- :class:`BindGuard`: failed binds per (address, system_id): a growing delay before each
  failure is answered, then a temporary lock-out; what it did is kept for an operator.
- :class:`UnboundPool`: connections that have not bound yet, in a pool of their own with a
  per-address limit, so that idle connections can never crowd out a bind.

Neither does I/O nor reads a clock; :class:`engine.aio.server.SmscServer` drives both.
"""

from __future__ import annotations

import collections
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["BindGuard", "BindLockout", "UnboundPool"]

_MAX_TRACKED = 10_000  # (address, system_id) pairs remembered at most; the oldest go first


@dataclass(frozen=True, slots=True)
class BindLockout:
    """One lock-out: binds as ``system_id`` from ``address`` were refused until ``until``
    (the server's clock) after ``failures`` failed binds.  No password is kept."""

    address: str
    system_id: str
    failures: int
    since: float
    until: float


class _Record:
    __slots__ = ("failures", "last", "locked_until")

    def __init__(self) -> None:
        self.failures = 0
        self.last = 0.0
        self.locked_until = 0.0


class BindGuard:
    """Slows repeated bind failures from one address for one system_id.

    The n-th failure in a row is answered after ``delay * 2**(n-1)`` seconds (at most
    ``max_delay``); at ``lockout_after`` failures every bind of that pair is refused without
    looking at the password for ``lockout`` seconds.  A success, or ``lockout`` seconds
    without a failure, forgets the pair.  ``lockout_after=None`` never locks out.
    """

    def __init__(
        self,
        *,
        delay: float = 0.25,
        max_delay: float = 4.0,
        lockout_after: int | None = 10,
        lockout: float = 300.0,
        history: int = 1000,
    ) -> None:
        if delay < 0 or max_delay < 0:
            raise ValueError("bind failure delays must be >= 0")
        if lockout_after is not None and lockout_after < 1:
            raise ValueError("bind_lockout_after must be >= 1 or None")
        if not lockout > 0:
            raise ValueError("bind_lockout must be > 0")
        self.delay = delay
        self.max_delay = max_delay
        self.lockout_after = lockout_after
        self.lockout = lockout
        self.failures = 0  # failed binds in all
        self.refused_locked = 0  # binds refused because their pair was locked out
        self.lockouts: collections.deque[BindLockout] = collections.deque(maxlen=history)
        self._records: collections.OrderedDict[tuple[str, str], _Record] = collections.OrderedDict()

    def locked(self, address: str, system_id: str, now: float) -> bool:
        """True while binds of this pair are refused unseen (counts the refusal)."""
        rec = self._records.get((address, system_id))
        if rec is None or rec.locked_until <= now:
            return False
        self.refused_locked += 1
        return True

    def failed(self, address: str, system_id: str, now: float) -> tuple[float, BindLockout | None]:
        """Record a failed bind; return the seconds to wait before answering it and the
        lock-out it started (None when it started none)."""
        self.failures += 1
        key = (address, system_id)
        records = self._records
        rec = records.get(key)
        if rec is None or (rec.locked_until <= now and now - rec.last >= self.lockout):
            rec = _Record()  # new, or quiet for a lock-out period: start again
        records[key] = rec
        records.move_to_end(key)
        if len(records) > _MAX_TRACKED:
            records.popitem(last=False)
        rec.failures += 1
        rec.last = now
        delay = min(self.delay * 2 ** min(rec.failures - 1, 30), self.max_delay)
        limit = self.lockout_after
        if limit is not None and rec.failures >= limit and rec.locked_until <= now:
            rec.locked_until = now + self.lockout
            event = BindLockout(address, system_id, rec.failures, now, rec.locked_until)
            self.lockouts.append(event)
            rec.failures = 0  # after the lock-out the count starts again
            return delay, event
        return delay, None

    def succeeded(self, address: str, system_id: str) -> None:
        """A bind of this pair succeeded: forget its failures."""
        self._records.pop((address, system_id), None)

    def locked_out(self, now: float) -> list[BindLockout]:
        """The lock-outs still running at ``now``."""
        return [e for e in self.lockouts if e.until > now]


_C = TypeVar("_C", bound=Hashable)


class UnboundPool(Generic[_C]):
    """Connections not bound yet, oldest first per address.

    :meth:`admit` makes room for a new connection and returns the connections to close
    for it: the oldest of its own address when that address holds ``per_address``, else
    (when the pool holds ``size``) the oldest of the address that holds the most.  So a
    flood of idle connections pushes out its own, never a newcomer about to bind.
    """

    def __init__(self, size: int, per_address: int) -> None:
        if size < 1 or per_address < 1:
            raise ValueError("max_unbound and max_unbound_per_address must be >= 1")
        self.size = size
        self.per_address = per_address
        self.evicted = 0  # connections closed to make room
        self._by_address: dict[str, dict[_C, None]] = {}
        self._where: dict[_C, str] = {}

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, conn: object) -> bool:
        return conn in self._where

    def count(self, address: str) -> int:
        """Unbound connections from ``address``."""
        return len(self._by_address.get(address, ()))

    def admit(self, conn: _C, address: str) -> list[_C]:
        """Add ``conn``; return the connections to close to make room (already removed)."""
        out: list[_C] = []
        own = self._by_address.get(address)
        if own is not None and len(own) >= self.per_address:
            out.append(self._pop_oldest(address))
        elif len(self._where) >= self.size:
            busiest = max(self._by_address, key=lambda a: len(self._by_address[a]))
            out.append(self._pop_oldest(busiest))
        self._by_address.setdefault(address, {})[conn] = None
        self._where[conn] = address
        self.evicted += len(out)
        return out

    def evict_one(self) -> _C | None:
        """Remove and return the oldest connection of the busiest address (None: empty)."""
        if not self._where:
            return None
        busiest = max(self._by_address, key=lambda a: len(self._by_address[a]))
        self.evicted += 1
        return self._pop_oldest(busiest)

    def remove(self, conn: _C) -> None:
        """Forget ``conn`` (bound or closed); no error when it is not here."""
        address = self._where.pop(conn, None)
        if address is None:
            return
        conns = self._by_address[address]
        del conns[conn]
        if not conns:
            del self._by_address[address]

    def _pop_oldest(self, address: str) -> _C:
        conn = next(iter(self._by_address[address]))
        self.remove(conn)
        return conn
