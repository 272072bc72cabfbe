"""Pacing policy over the compiled :class:`engine.RateScheduler` (pure Python, sans-IO).

- :class:`Tier` and :data:`TIER_RATES`: the default segments per second of each kind of
  sender (long code 1, toll-free 3, short code 100, alphanumeric and international 10),
  the figures US carriers and Twilio publish for unregistered traffic;
- :func:`classify_sender`: which tier a sender key belongs to;
- :func:`tier_rate`: the default rate of a key (what RateScheduler uses for a key whose
  rate was never set);
- :class:`Pacer`: a RateScheduler with validity-based expiry and a per-link back-off for
  carrier throttles (ESME_RTHROTTLED / ESME_RMSGQFUL).

Nothing here reads a clock: every time is an argument.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from engine._core import TIER_RATES as _CORE_TIER_RATES
from engine._core import TOLL_FREE_AREA_CODES, RateScheduler, sender_tier
from engine._core import tier_rate as _core_tier_rate

__all__ = [
    "DEFAULT_VALIDITY",
    "TIER_RATES",
    "TOLL_FREE_AREA_CODES",
    "Pacer",
    "Tier",
    "classify_sender",
    "tier_rate",
]

DEFAULT_VALIDITY = 36_000.0
"""Seconds a message may wait before it fails with 30036 (Twilio's maximum, 10 hours)."""


class Tier(enum.StrEnum):
    """Kinds of senders, each with its own default rate."""

    LONG_CODE = "long_code"
    TOLL_FREE = "toll_free"
    SHORT_CODE = "short_code"
    ALPHANUMERIC = "alphanumeric"
    INTERNATIONAL = "international"


# The table and the classifier are the compiled core's (RateScheduler's default must not
# import this module); here they are presented with the Tier enum.
TIER_RATES: Mapping[Tier, float] = {Tier(name): rate for name, rate in _CORE_TIER_RATES.items()}
"""Default segments per second of each tier."""


def classify_sender(key: str) -> Tier:
    """The tier of a sender: an E.164 number, a short code or an alphanumeric id.

    - a letter anywhere: alphanumeric sender id;
    - 5 or 6 digits: short code;
    - ``+1`` and 10 digits (NANP; also ``1`` and 10 digits without the plus): toll-free
      when the area code is 800/833/844/855/866/877/888, else long code;
    - any other ``+`` number of 7 to 15 digits (E.164 §6): international.

    Raises TypeError for a key that is not a str and ValueError (naming ``key``) for one
    that is none of the above.
    """
    return Tier(sender_tier(key))


def tier_rate(key: Hashable) -> float:
    """The default segments per second of `key`: its tier's rate."""
    return _core_tier_rate(key)


class Pacer:
    """A :class:`RateScheduler` with tier defaults, validity expiry and link back-off.

    ``push(..., now=)`` stamps ``expires_at = now + validity``; ``throttled(link, now)``
    pauses a link for a back-off that doubles on each throttle in a row (up to
    ``max_backoff``) and ``link_ok(link)`` resets it after an accepted submit.  The
    scheduler is ``pacer.scheduler`` for everything else.
    """

    def __init__(
        self,
        *,
        tier_rates: Mapping[Tier, float] | None = None,
        validity: float = DEFAULT_VALIDITY,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        default_burst: float = 1,
    ) -> None:
        rates = dict(TIER_RATES)
        if tier_rates is not None:
            for tier, rate in tier_rates.items():
                rates[Tier(tier)] = float(rate)
        for tier, rate in rates.items():
            if not rate > 0:
                raise ValueError(f"tier_rates[{tier.value!r}] must be > 0, got {rate!r}")
        if not 0 < backoff <= max_backoff:
            raise ValueError("backoff must be > 0 and <= max_backoff")
        self.tier_rates: dict[Tier, float] = rates
        self.validity = float(validity)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self._backoffs: dict[Hashable, float] = {}
        rate_for: Callable[[Any], float] = self._rate_for
        self.scheduler = RateScheduler(
            rate_for, default_burst=default_burst, validity=self.validity
        )

    def _rate_for(self, key: Hashable) -> float:
        if not isinstance(key, str):
            return tier_rate(key)  # raises the clear error
        return self.tier_rates[classify_sender(key)]

    def rate_for(self, key: Hashable) -> float:
        """The segments per second `key` gets when it has no rate of its own: its tier's
        rate here (TypeError/ValueError for a key that has no tier)."""
        return self._rate_for(key)

    def push(
        self,
        key: Hashable,
        item: object,
        now: float,
        segments: int = 1,
        *,
        tier: Tier | str | None = None,
        rate: float | None = None,
        account: Hashable | None = None,
        link: Hashable | None = None,
    ) -> float:
        """Queue `item` for `key`; returns its ``expires_at`` (``now + validity``).

        ``rate`` sets the key's own rate; ``tier`` gives a key without its own rate that
        tier's rate instead of the classified one.
        """
        sched = self.scheduler
        if rate is not None:
            sched.set_rate(key, rate)
        elif tier is not None:
            info = sched.rate_of(key)
            if info is None or not info[2]:
                sched.set_rate(key, self.tier_rates[Tier(tier)])
        expires_at = float(now) + self.validity
        sched.push(key, item, segments, expires_at, account=account, link=link)
        return expires_at

    def throttled(self, link: Hashable, now: float) -> float:
        """A carrier throttled `link`: pause it; returns the time it resumes."""
        delay = self._backoffs.get(link, self.backoff / 2) * 2
        delay = min(delay, self.max_backoff)
        self._backoffs[link] = delay
        until = float(now) + delay
        self.scheduler.pause_link(link, until)
        return until

    def link_ok(self, link: Hashable) -> None:
        """A submit on `link` was accepted: the next throttle starts from ``backoff``."""
        self._backoffs.pop(link, None)
