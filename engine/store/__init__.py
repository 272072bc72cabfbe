"""The durable message store: one interface (:class:`Store`), SQLite by default.

See :mod:`engine.store.base` for the contract and docs/durability.md for what "accepted"
promises across crashes and power loss.
"""

from engine.store.base import (
    FINAL_STATUSES,
    IN_FLIGHT_ERROR_CODE,
    STATUSES,
    HistoryEntry,
    InFlightPolicy,
    MessageNotFoundError,
    MessageRecord,
    MessageStateError,
    NewMessage,
    Store,
    SyncLevel,
)
from engine.store.sqlite import SqliteStore

__all__ = [
    "FINAL_STATUSES",
    "IN_FLIGHT_ERROR_CODE",
    "STATUSES",
    "HistoryEntry",
    "InFlightPolicy",
    "MessageNotFoundError",
    "MessageRecord",
    "MessageStateError",
    "NewMessage",
    "SqliteStore",
    "Store",
    "SyncLevel",
]
