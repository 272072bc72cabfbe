"""The simulated carrier's control endpoint: how ``smpp-engine sim mo`` reaches it.

The simulated carrier lives inside the ``serve`` process, so a command in another process
needs a way in.  This is a tiny HTTP endpoint on 127.0.0.1 (a random port), guarded by a
random bearer token; both go to ``DATA_DIR/run.json``, which the daemon writes with mode
0600, so only the user who runs the daemon (and root) can use it.

Why HTTP on loopback rather than a second SMPP bind on the carrier with a control
system_id: the command must exit once *the gateway* has answered the deliver_sm, and only
the carrier's own side of the gateway's bind sees that answer.  Here the handler injects
through the carrier (:meth:`engine.sim.SimCarrier.inject_pdus`) and returns the gateway's
deliver_sm_resp statuses; a relayed submit_sm would be answered before the deliver_sm is
even sent, and would make the carrier treat one bind's MT traffic as another's MO.

``POST /sim/mo`` with JSON ``{"from", "to", "text", "parts": N|null, "ucs2": bool}``
answers ``{"statuses": [...], "parts": N}`` (200), or ``{"error": ...}`` with 400 (bad
input, naming the field), 401 (token), 503 (the gateway is not bound) or 504.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from dataclasses import dataclass
from typing import Any, Final

import msgspec
from aiohttp import web

from engine._core import DeliverSm
from engine.errors import EngineError
from engine.numbers import to_smpp
from engine.text import plan_segments, udh_concat

__all__ = ["MAX_TEXT", "SimControl", "build_mo_pdus", "make_sim_control_app", "start_sim_control"]

MAX_TEXT: Final = 10_000
"""Longest text ``sim mo`` injects (characters)."""
_INJECT_TIMEOUT: Final = 30.0
# What one part holds beside a 6-octet concatenation UDH: septets, octets, UTF-16 units.
_UNITS_WITH_UDH: Final = {0: 153, 3: 134, 8: 67}
_TOKEN: Final = web.AppKey("token", str)
_SIM: Final = web.AppKey("sim", object)


class _MoRequest(msgspec.Struct, forbid_unknown_fields=True):
    from_: str = msgspec.field(name="from")
    to: str = ""
    text: str = ""
    parts: int | None = None
    ucs2: bool = False


def build_mo_pdus(
    from_: str, to: str, text: str, *, parts: int | None = None, ucs2: bool = False
) -> list[Any]:
    """The deliver_sm PDUs of an inbound message: one, or ``parts`` parts (8-bit
    concatenation UDH, the text split evenly on character boundaries), GSM-7 when it fits
    (UCS-2 when ``ucs2`` or when it does not).  Raises ValueError naming the field."""
    for name, value in (("from", from_), ("to", to)):
        if not value or len(value) > 21 or not value.isprintable():
            raise ValueError(f"{name}: expected a phone number, short code or sender id")
    if not text:
        raise ValueError("text: empty")
    if len(text) > MAX_TEXT or "\x00" in text:
        raise ValueError(f"text: longer than {MAX_TEXT} characters or contains NUL")
    src, dst = to_smpp(from_), to_smpp(to)
    fields: dict[str, Any] = dict(
        source_addr=src.addr,
        source_addr_ton=src.ton,
        source_addr_npi=src.npi,
        destination_addr=dst.addr,
        dest_addr_ton=dst.ton,
        dest_addr_npi=dst.npi,
    )
    try:
        plan = plan_segments(text, 8 if ucs2 else None)
    except EngineError as exc:
        raise ValueError(f"text: {exc}") from None
    coding = plan.data_coding
    if parts is None:
        parts = len(plan.parts)
    if not 1 <= parts <= 255 or parts > len(text):
        raise ValueError(f"parts: expected 1..{min(255, len(text))}, got {parts}")
    if parts == 1:
        if len(plan.parts) != 1:
            raise ValueError(f"text: needs {len(plan.parts)} parts, not 1")
        return [DeliverSm(short_message=plan.parts[0], data_coding=coding, **fields)]
    size, extra = divmod(len(text), parts)
    chunks, at = [], 0
    for i in range(parts):
        n = size + (1 if i < extra else 0)
        chunks.append(text[at : at + n])
        at += n
    reference = secrets.randbelow(256)
    pdus = []
    for seq, chunk in enumerate(chunks, 1):
        plan = plan_segments(chunk, coding)
        encoded = plan.parts
        if len(encoded) != 1 or plan.units > _UNITS_WITH_UDH.get(coding, 67):
            raise ValueError(f"parts: {parts} parts are too few for this text")
        pdus.append(
            DeliverSm(
                esm_class=0x40,  # UDHI: the short message starts with a UDH (SMPP 3.4 §5.2.12)
                short_message=udh_concat(reference, parts, seq) + encoded[0],
                data_coding=coding,
                **fields,
            )
        )
    return pdus


def _error(status: int, text: str) -> web.Response:
    return web.json_response({"error": text}, status=status)


async def _mo(request: web.Request) -> web.Response:
    header = request.headers.get("Authorization", "")
    given = header[7:] if header.startswith("Bearer ") else ""
    if not hmac.compare_digest(given.encode(), request.app[_TOKEN].encode()):
        return _error(401, "wrong or missing control token")
    try:
        req = msgspec.json.decode(await request.read(), type=_MoRequest)
        pdus = build_mo_pdus(req.from_, req.to, req.text, parts=req.parts, ucs2=req.ucs2)
    except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
        return _error(400, str(exc))
    sim: Any = request.app[_SIM]
    try:
        responses = await asyncio.wait_for(sim.inject_pdus(pdus), _INJECT_TIMEOUT)
    except TimeoutError:
        return _error(504, "the gateway did not answer the deliver_sm in time")
    except EngineError as exc:
        return _error(503, f"the gateway is not bound to the simulated carrier: {exc}")
    statuses = [int(getattr(r, "command_status", -1)) for r in responses]
    return web.json_response({"statuses": statuses, "parts": len(pdus)})


def make_sim_control_app(sim: Any, token: str) -> web.Application:
    """The control application (see the module docstring)."""
    app = web.Application(client_max_size=64 * 1024)
    app[_TOKEN] = token
    app[_SIM] = sim
    app.router.add_post("/sim/mo", _mo)
    return app


@dataclass
class SimControl:
    """A running control endpoint: its URL and token (for run.json)."""

    url: str
    token: str
    runner: web.AppRunner

    def __repr__(self) -> str:  # never the token
        return f"SimControl(url={self.url!r})"

    async def close(self) -> None:
        """Stop listening."""
        await self.runner.cleanup()


async def start_sim_control(sim: Any) -> SimControl:
    """Listen on 127.0.0.1 (a random port) with a fresh random token."""
    token = secrets.token_urlsafe(32)
    runner = web.AppRunner(make_sim_control_app(sim, token), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server: Any = site._server
    port = int(server.sockets[0].getsockname()[1])
    return SimControl(f"http://127.0.0.1:{port}", token, runner)
