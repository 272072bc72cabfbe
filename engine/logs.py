"""The daemon's logging: ``text`` for people, ``json`` (one object a line) for machines.

Log records carry the message SID and the carrier link name where there is one (in the
text, and as ``sid``/``link`` fields in JSON when a caller passes them in ``extra``).
Secrets never reach the output: every carrier password and auth token the daemon knows is
registered with :func:`redact` and replaced by ``***`` in every formatted line, whatever
logger or library wrote it.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any, Final, Literal, TextIO

import msgspec

__all__ = ["JsonFormatter", "RedactingFilter", "redact", "setup_logging"]

MASK: Final = "***"
_MIN_SECRET: Final = 4  # shorter strings would mask ordinary words; none of ours is that short
_secrets: set[str] = set()
_lock = threading.Lock()
_encoder = msgspec.json.Encoder()


def redact(*secrets: str | None) -> None:
    """Never let these strings appear in a log line (passwords, auth tokens)."""
    with _lock:
        for secret in secrets:
            if secret and len(secret) >= _MIN_SECRET:
                _secrets.add(secret)


def _scrub(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Replaces every registered secret in the record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            message = _scrub(record.getMessage())
            record.msg, record.args = message, None
            if record.exc_info and not record.exc_text:
                record.exc_text = _scrub(logging.Formatter().formatException(record.exc_info))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``ts``, ``level``, ``logger``, ``msg`` and, when the record
    has them, ``sid``, ``link`` and ``exc``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in ("sid", "link", "account_sid"):
            value = getattr(record, name, None)
            if value is not None:
                out[name] = str(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        return _scrub(_encoder.encode(out).decode())


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return _scrub(super().format(record))


def setup_logging(
    fmt: Literal["text", "json"] = "text",
    level: str = "INFO",
    *,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every log record to ``stream`` (default stderr) in ``fmt``; returns the handler
    (replacing any handler an earlier call installed)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_smpp_engine", False):
            root.removeHandler(old)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler._smpp_engine = True  # type: ignore[attr-defined]
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aiohttp's access log would print every request line: off unless DEBUG.
    if level.upper() != "DEBUG":
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return handler
