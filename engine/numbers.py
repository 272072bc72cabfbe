"""Phone numbers between the two sides (pure: no I/O, no clock).

The REST side speaks E.164 (``+14155550100``), short codes (``12345``) and alphanumeric
sender ids (``ACME``); SMPP carries digits with a type of number (TON) and a numbering plan
indicator (NPI) beside them (SMPP 3.4 §5.2.5 and §5.2.6).  :func:`to_smpp` and
:func:`from_smpp` convert between the two, so that the dispatcher and the inbound path agree.
"""

from __future__ import annotations

from typing import Final, NamedTuple

__all__ = ["SmppAddress", "from_smpp", "to_smpp"]

TON_UNKNOWN: Final = 0
TON_INTERNATIONAL: Final = 1
TON_NETWORK_SPECIFIC: Final = 3
TON_ALPHANUMERIC: Final = 5
NPI_UNKNOWN: Final = 0
NPI_E164: Final = 1


class SmppAddress(NamedTuple):
    """An address as SMPP carries it: (ton, npi, addr)."""

    ton: int
    npi: int
    addr: str


def to_smpp(number: str) -> SmppAddress:
    """The SMPP form of an E.164 number (international, E.164 plan, digits without the
    plus), a short code (network specific) or an alphanumeric sender id (TON 5)."""
    if number.startswith("+") and number[1:].isdigit():
        return SmppAddress(TON_INTERNATIONAL, NPI_E164, number[1:])
    if number.isdigit():
        if len(number) <= 8:  # short codes and other network-specific numbers
            return SmppAddress(TON_NETWORK_SPECIFIC, NPI_UNKNOWN, number)
        return SmppAddress(TON_UNKNOWN, NPI_E164, number)
    return SmppAddress(TON_ALPHANUMERIC, NPI_UNKNOWN, number)


def from_smpp(ton: int, npi: int, addr: str) -> str:
    """The REST form of an SMPP address: ``+digits`` for an international number (or an
    E.164-plan number of 10 or more digits), else the address as it came."""
    if addr.isdigit() and (ton == TON_INTERNATIONAL or (npi == NPI_E164 and len(addr) >= 10)):
        return "+" + addr
    return addr
