"""The weather example's forecasts: a fixed table by US ZIP code (no network)."""

from __future__ import annotations

import re
from typing import Final

FORECASTS: Final[dict[str, str]] = {
    "94107": "San Francisco: morning fog, then sun. High 19C, low 12C.",
    "10001": "New York: scattered showers. High 14C, low 8C.",
    "60601": "Chicago: windy and clear. High 9C, low 2C.",
    "73301": "Austin: hot and sunny. High 31C, low 21C.",
    "98101": "Seattle: light rain all day. High 12C, low 7C.",
}
"""Today's forecast for each ZIP code the example knows."""

HELP: Final = "Text 'weather' and a ZIP code, e.g. 'weather 94107'."

_ASK = re.compile(r"^\s*weather\s+(\d{5})\s*$", re.IGNORECASE)


def answer(body: str) -> str:
    """The reply to an inbound text: the forecast for 'weather ZIP', else how to ask."""
    match = _ASK.match(body[:200])
    if match is None:
        return HELP
    zip_code = match.group(1)
    forecast = FORECASTS.get(zip_code)
    if forecast is None:
        return f"No forecast for {zip_code}. Known: {', '.join(sorted(FORECASTS))}."
    return forecast


def morning_text(zip_code: str) -> str:
    """The morning message for a subscriber of ``zip_code``."""
    forecast = FORECASTS.get(zip_code)
    if forecast is None:
        raise KeyError(f"no forecast for ZIP {zip_code!r}")
    return f"Good morning! {forecast} Reply STOP to unsubscribe."
