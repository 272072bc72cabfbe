"""asyncio adapters around the sans-IO core: the SMPP client (ESME) and server (SMSC)."""

from engine.aio.client import EsmeClient, LinkDownError
from engine.aio.server import SmscConnection, SmscHandler, SmscServer

__all__ = ["EsmeClient", "LinkDownError", "SmscConnection", "SmscHandler", "SmscServer"]
