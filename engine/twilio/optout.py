"""Opt-out keywords and their default replies (twilio-compat.md §11).

An inbound message whose whole body, trimmed and in any case, is one keyword changes the
sender's subscription to the number it was sent to:

- ``STOP``, ``STOPALL``, ``UNSUBSCRIBE``, ``CANCEL``, ``END``, ``QUIT``: opted out; later
  messages from that number to the sender are refused with 21610;
- ``START``, ``YES``, ``UNSTOP``: opted back in;
- ``HELP``, ``INFO``: no change; the number's help text is sent back.

"STOP PLEASE" is not a keyword, nor is a body with non-ASCII letters.  The message still
reaches the number's webhook, as on Twilio.  The confirmation replies are Twilio's default
texts unless the number has its own (:class:`KeywordReplies`).  This module is pure.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

import msgspec

__all__ = [
    "DEFAULT_HELP_REPLY",
    "DEFAULT_OPT_IN_REPLY",
    "DEFAULT_OPT_OUT_REPLY",
    "HELP_KEYWORDS",
    "MAX_REPLY",
    "OPT_IN_KEYWORDS",
    "OPT_OUT_KEYWORDS",
    "KeywordAction",
    "KeywordReplies",
    "classify",
    "reply_for",
]

OPT_OUT_KEYWORDS: Final = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
"""Bodies that opt the sender out of the number."""

OPT_IN_KEYWORDS: Final = frozenset({"START", "YES", "UNSTOP"})
"""Bodies that opt the sender back in."""

HELP_KEYWORDS: Final = frozenset({"HELP", "INFO"})
"""Bodies that ask for the number's help text."""

DEFAULT_OPT_OUT_REPLY: Final = (
    "You have successfully been unsubscribed. You will not receive any more messages from "
    "this number. Reply START to resubscribe."
)
DEFAULT_OPT_IN_REPLY: Final = (
    "You have successfully been re-subscribed to messages from this number. Reply HELP for "
    "help. Reply STOP to unsubscribe. Msg&Data Rates May Apply."
)
DEFAULT_HELP_REPLY: Final = "Reply STOP to unsubscribe. Msg&Data Rates May Apply."

MAX_REPLY: Final = 1600
"""Longest configurable reply, in characters (Twilio's body limit)."""

# The longest keyword is 11 characters: anything much longer is not one, whatever its
# whitespace, so a long body is never upper-cased just to be compared.
_LONGEST: Final = 64


class KeywordAction(StrEnum):
    """What a keyword asks for (also Twilio's ``OptOutType`` webhook values)."""

    STOP = "STOP"
    START = "START"
    HELP = "HELP"


class KeywordReplies(msgspec.Struct, frozen=True, kw_only=True):
    """A number's own confirmation texts; None: Twilio's default; "" sends no reply."""

    opt_out: str | None = None
    opt_in: str | None = None
    help: str | None = None

    def __post_init__(self) -> None:
        for name in ("opt_out", "opt_in", "help"):
            value = getattr(self, name)
            if value is not None and len(value) > MAX_REPLY:
                raise ValueError(f"{name}: longer than {MAX_REPLY} characters")


def classify(body: str) -> KeywordAction | None:
    """The keyword ``body`` is (trimmed, any case, whole body only), or None."""
    if len(body) > _LONGEST or not body.isascii():
        # ASCII only: str.upper() maps some letters to several ("ﬆop" -> "STOP").
        return None
    word = body.strip().upper()
    if word in OPT_OUT_KEYWORDS:
        return KeywordAction.STOP
    if word in OPT_IN_KEYWORDS:
        return KeywordAction.START
    if word in HELP_KEYWORDS:
        return KeywordAction.HELP
    return None


def reply_for(action: KeywordAction, replies: KeywordReplies | None = None) -> str | None:
    """The confirmation text for ``action``: the number's own, else Twilio's default; None
    when the number chose to send none (an empty text)."""
    replies = replies or KeywordReplies()
    if action is KeywordAction.STOP:
        text = replies.opt_out if replies.opt_out is not None else DEFAULT_OPT_OUT_REPLY
    elif action is KeywordAction.START:
        text = replies.opt_in if replies.opt_in is not None else DEFAULT_OPT_IN_REPLY
    else:
        text = replies.help if replies.help is not None else DEFAULT_HELP_REPLY
    return text or None
