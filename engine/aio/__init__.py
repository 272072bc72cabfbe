"""asyncio adapters around the sans-IO core: the SMPP client (ESME) and server (SMSC)."""

from engine.aio.client import EsmeClient, LinkDownError

__all__ = ["EsmeClient", "LinkDownError"]
