"""The daemon's carrier links: named :class:`engine.EsmeClient` binds, their capacity and
the routing of a message to one of them.

A message goes out on the link its sender number names (``NumberRecord.link``) when one is
set; otherwise on the first link, in ``priority`` order, whose destination prefixes match
its ``To`` (a link without prefixes serves every destination).  A link that is unbound or
paused by a carrier throttle is skipped for the next matching one (failover); when no
matching link can take the message now, it waits in its sender's queue.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl as _ssl
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.aio.client import EsmeClient
from engine.config import CarrierLinkConfig, ConfigError

__all__ = ["CarrierLink", "CarrierLinks"]

log = logging.getLogger("engine.aio.carriers")

DeliverHandler = Callable[[str, Any], Awaitable[int | None]]


@dataclass(eq=False)
class CarrierLink:
    """One named bind: its client, the destinations it serves and its throttle pause."""

    name: str
    client: EsmeClient
    prefixes: tuple[str, ...] = ()
    priority: int = 0
    paused_until: float = 0.0
    throttles: int = 0
    reserved: int = 0
    # Messages sent back by this link (throttled, never written) waiting to go back to
    # their senders' queues all together, in order, once nothing is in flight on it.
    held: list[Any] = field(default_factory=list)
    held_since: float = 0.0
    bind: int = 0  # which of the link's binds (CarrierLinkConfig.binds) this client is

    def serves(self, destination: str) -> bool:
        """True when this link may carry a message to ``destination``."""
        if not self.prefixes:
            return True
        return any(destination.startswith(p) for p in self.prefixes)

    def capacity(self, now: float) -> int:
        """Segments the dispatcher may hand this link now: two windows' worth (one in
        flight, one being prepared: marked ``sending`` in the store meanwhile) less what it
        already holds; 0 while the link is unbound or paused by a throttle."""
        if now < self.paused_until or not self.client.bound:
            return 0
        return max(0, 2 * self.client.window - self.reserved)


class CarrierLinks:
    """Every configured link, started and stopped together."""

    def __init__(self, links: Sequence[CarrierLink]) -> None:
        names = [(link.name, link.bind) for link in links]
        if len(set(names)) != len(names):
            raise ConfigError(f"duplicate link names in {names}", key="carriers")
        self._links = sorted(links, key=lambda link: link.priority)
        # A link with several binds is several CarrierLink entries under one name.
        self._by_name: dict[str, list[CarrierLink]] = {}
        for link in self._links:
            self._by_name.setdefault(link.name, []).append(link)
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def from_config(
        cls,
        configs: Sequence[CarrierLinkConfig],
        on_deliver: DeliverHandler,
        *,
        passwords: dict[str, str] | None = None,
        **client_options: Any,
    ) -> CarrierLinks:
        """Build one :class:`EsmeClient` per configured link.  A link's password comes from
        ``passwords[name]`` (the embedded carrier) or the environment variable it names."""
        links = []
        for i, cfg in enumerate(configs):
            key = f"carriers[{i}]"
            password = (passwords or {}).get(cfg.name)
            if password is None:
                if not cfg.password_env:
                    raise ConfigError("no password_env given", key=f"{key}.password_env")
                password = os.environ.get(cfg.password_env)
                if password is None:
                    raise ConfigError(
                        f"environment variable {cfg.password_env} is not set",
                        key=f"{key}.password_env",
                    )
            name = cfg.name

            async def deliver(pdu: Any, _name: str = name) -> int | None:
                return await on_deliver(_name, pdu)

            for bind in range(cfg.binds):
                client = EsmeClient(
                    cfg.host,
                    cfg.port,
                    system_id=cfg.system_id,
                    password=password,
                    bind_type=cfg.bind_type,
                    window=cfg.window,
                    max_rate=cfg.max_rate,
                    ssl=_ssl.create_default_context() if cfg.tls else None,
                    response_timeout=cfg.response_timeout,
                    enquire_link_interval=cfg.enquire_link_interval,
                    on_deliver=deliver,
                    # The dispatcher's scheduler owns the back-off: a throttled submit comes
                    # back at once and the link pauses there (engine.scheduler.Pacer).
                    throttle="caller",
                    **client_options,
                )
                links.append(
                    CarrierLink(name, client, tuple(cfg.prefixes), cfg.priority, bind=bind)
                )
        return cls(links)

    def __iter__(self) -> Iterator[CarrierLink]:
        return iter(self._links)

    def __len__(self) -> int:
        return len(self._links)

    def get(self, name: str) -> CarrierLink | None:
        """The link called ``name`` (its first bind), or None."""
        binds = self._by_name.get(name)
        return binds[0] if binds else None

    def binds_of(self, name: str) -> list[CarrierLink]:
        """Every bind of the link called ``name`` (empty when there is none)."""
        return list(self._by_name.get(name, ()))

    @property
    def names(self) -> list[str]:
        """The link names, in priority order."""
        return list(self._by_name)

    async def start(self, *, wait: bool = False) -> None:
        """Start every link.  With ``wait`` return only once each is bound; without it a
        carrier that is down now is bound in the background (messages wait for it)."""
        for link in self._links:
            if wait:
                await link.client.start()
            else:
                self._start_soon(link)

    def _start_soon(self, link: CarrierLink) -> None:
        async def start() -> None:
            try:
                await link.client.start()
            except Exception as exc:  # the client keeps rebinding by itself
                log.warning(
                    "link %s: first bind failed (%s); retrying in the background", link.name, exc
                )

        task = asyncio.get_running_loop().create_task(start(), name=f"bind {link.name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Unbind and close every link (requests still queued fail as never written)."""
        for task in list(self._tasks):
            task.cancel()
        for link in self._links:
            try:
                await link.client.close()
            except Exception as exc:
                log.warning("link %s: close failed: %s", link.name, exc)

    def capacity(self, now: float) -> int:
        """Free submit slots over every link right now."""
        return sum(link.capacity(now) for link in self._links)

    def route(self, destination: str, preferred: str | None, now: float) -> CarrierLink | None:
        """The link to use for ``destination`` now (the sender's own link when it names one),
        or None when every link that may carry it is down, paused or full."""
        if preferred is not None:
            binds = self._by_name.get(preferred)
            if binds:
                best = max(binds, key=lambda link: link.capacity(now))
                return best if best.capacity(now) > 0 else None
        for link in self._links:
            if link.serves(destination) and link.capacity(now) > 0:
                return link
        return None

    def next_resume(self, now: float) -> float | None:
        """The earliest time a throttle pause ends, if any link is paused."""
        pauses = [link.paused_until for link in self._links if link.paused_until > now]
        return min(pauses) if pauses else None

    @property
    def any_bound(self) -> bool:
        """True when at least one link is bound."""
        return any(link.client.bound for link in self._links)
