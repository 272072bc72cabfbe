"""SMPP 3.4 vocabulary: data only (command ids, statuses, TLV tags, field values)."""

from engine.pdu.constants import (
    CommandId,
    CommandStatus,
    DataCoding,
    EsmClass,
    MessageState,
    Npi,
    RegisteredDelivery,
    Tag,
    Ton,
)

__all__ = [
    "CommandId",
    "CommandStatus",
    "DataCoding",
    "EsmClass",
    "MessageState",
    "Npi",
    "RegisteredDelivery",
    "Tag",
    "Ton",
]
