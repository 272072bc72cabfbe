"""The gateway's configuration as typed structs (pure: no I/O, no clock).

:func:`default` is the embedded setup that ``smpp-engine serve`` runs with no
configuration: a SQLite store in the data directory, the simulated carrier on a free
loopback port bound over real SMPP, the REST API on 127.0.0.1:8080 and a demo account
that owns a long code, a toll-free number and a short code.

Carrier passwords are never written in a configuration: a link names the environment
variable that holds it (``password_env``); only the embedded simulated carrier, which
listens on loopback and is started by the daemon itself, gets a generated one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Final, Literal

import msgspec

__all__ = [
    "DEFAULT_DATA_DIR",
    "DEFAULT_LISTEN",
    "ApiConfig",
    "CarrierLinkConfig",
    "ConfigError",
    "GatewayConfig",
    "PacingConfig",
    "WebhookConfig",
    "check",
    "default",
    "load_config",
    "parse_listen",
]

DEFAULT_DATA_DIR: Final = "smpp-engine-data"
DEFAULT_LISTEN: Final = "127.0.0.1:8080"

BindKind = Literal["transmitter", "receiver", "transceiver", "pair"]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
Positive = Annotated[float, msgspec.Meta(gt=0)]
Window = Annotated[int, msgspec.Meta(ge=1, le=1000)]
TIERS: Final = ("long_code", "toll_free", "short_code", "alphanumeric", "international")


class ConfigError(ValueError):
    """A configuration value is wrong; ``key`` names it (dotted path)."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


class CarrierLinkConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One named carrier bind (an :class:`engine.EsmeClient`).

    ``prefixes``: destination prefixes this link serves (empty: every destination); links
    are tried in ``priority`` order (lower first) and a link that is down or throttled is
    skipped for the next one (failover).  A number whose ``link`` is set always uses it.
    """

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    host: str = "127.0.0.1"
    port: Port = 2775
    system_id: Annotated[str, msgspec.Meta(max_length=15)] = ""
    password_env: str | None = None
    bind_type: BindKind = "transceiver"
    window: Window = 10
    max_rate: Positive | None = None
    tls: bool = False
    prefixes: list[str] = msgspec.field(default_factory=list)
    priority: int = 0
    response_timeout: Positive = 30.0
    enquire_link_interval: Positive = 30.0


class PacingConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Segments per second: tier defaults (long_code, toll_free, short_code, alphanumeric,
    international), an optional rate per account, and the default validity period."""

    tier_rates: dict[str, Positive] = msgspec.field(default_factory=dict)
    account_rates: dict[str, Positive] = msgspec.field(default_factory=dict)
    default_account_rate: Positive | None = None
    validity: Positive = 36_000.0
    throttle_backoff: Positive = 1.0
    throttle_backoff_max: Positive = 60.0
    in_flight_policy: Literal["at-least-once", "at-most-once"] = "at-least-once"


class WebhookConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Status callbacks and inbound webhooks: timeouts (seconds), retries, bounds."""

    connect_timeout: Positive = 5.0
    total_timeout: Positive = 15.0
    callback_retries: Annotated[int, msgspec.Meta(ge=0, le=20)] = 3
    max_pending: Annotated[int, msgspec.Meta(ge=1)] = 10_000
    max_pending_per_host: Annotated[int, msgspec.Meta(ge=1)] = 1_000
    per_host_concurrency: Annotated[int, msgspec.Meta(ge=1)] = 8


class ApiConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The REST API: where it listens, how many HTTP worker processes, body bound."""

    listen: str = DEFAULT_LISTEN
    workers: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1
    max_body: Annotated[int, msgspec.Meta(ge=1024, le=16 * 1024 * 1024)] = 64 * 1024
    public_url: str | None = None


class GatewayConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The whole daemon.  No ``carriers``: the embedded simulated carrier is started."""

    data_dir: str = DEFAULT_DATA_DIR
    api: ApiConfig = msgspec.field(default_factory=ApiConfig)
    carriers: list[CarrierLinkConfig] = msgspec.field(default_factory=list)
    pacing: PacingConfig = msgspec.field(default_factory=PacingConfig)
    webhooks: WebhookConfig = msgspec.field(default_factory=WebhookConfig)
    shutdown_grace: Annotated[float, msgspec.Meta(ge=0)] = 10.0
    synchronous: Literal["FULL", "NORMAL", "OFF"] = "FULL"
    demo: bool = True
    sim_receipt_delay: float = 0.05
    sim_record: bool = False

    @property
    def embedded_carrier(self) -> bool:
        """True when the daemon starts the simulated carrier itself (no links configured)."""
        return not self.carriers


def parse_listen(value: str, *, key: str = "api.listen") -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) as a (host, port) pair; ConfigError naming
    ``key`` when it is not one."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ConfigError(f"expected HOST:PORT, got {value!r}", key=key)
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ConfigError(f"port {port} is out of range 0..65535", key=key)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


def default(
    data_dir: str = DEFAULT_DATA_DIR, listen: str = DEFAULT_LISTEN, *, workers: int = 1
) -> GatewayConfig:
    """The embedded default: SQLite in ``data_dir``, the simulated carrier, a demo account."""
    parse_listen(listen)
    if workers < 1:
        raise ConfigError(f"expected >= 1, got {workers}", key="api.workers")
    return GatewayConfig(data_dir=data_dir, api=ApiConfig(listen=listen, workers=workers))


def _key_of(error: msgspec.ValidationError) -> tuple[str, str | None]:
    """(reason, dotted key) from msgspec's "... - at `$.a.b[0].c`" message."""
    text = str(error)
    reason, sep, where = text.rpartition(" - at `")
    if not sep:
        return text, None
    path = where.rstrip("`").removeprefix("$").lstrip(".")
    if reason.startswith("Object contains unknown field"):
        field_name = reason.split("`")[1]
        path = f"{path}.{field_name}" if path else field_name
        reason = "unknown key"
    return reason, path or None


def load_config(
    data: bytes | str, *, env: Mapping[str, str] | None = None, source: str = "config"
) -> GatewayConfig:
    """Parse a TOML configuration and :func:`check` it; ConfigError names the key."""
    try:
        config = msgspec.toml.decode(data, type=GatewayConfig)
    except msgspec.ValidationError as exc:
        reason, key = _key_of(exc)
        raise ConfigError(reason, key=key) from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML: {exc}") from None
    check(config, env=env)
    return config


def check(config: GatewayConfig, *, env: Mapping[str, str] | None = None) -> None:
    """What the types alone cannot say: the listen address, tier names, link names and
    passwords (when ``env`` is given, each link's ``password_env`` must be set in it)."""
    parse_listen(config.api.listen)
    for tier in config.pacing.tier_rates:
        if tier not in TIERS:
            raise ConfigError(
                f"unknown tier {tier!r} (one of {', '.join(TIERS)})",
                key=f"pacing.tier_rates.{tier}",
            )
    seen: set[str] = set()
    for i, link in enumerate(config.carriers):
        key = f"carriers[{i}]"
        if link.name in seen:
            raise ConfigError(f"duplicate link name {link.name!r}", key=f"{key}.name")
        seen.add(link.name)
        if not link.system_id:
            raise ConfigError("empty system_id", key=f"{key}.system_id")
        if not link.password_env:
            raise ConfigError(
                "a link needs password_env (the variable holding its password)",
                key=f"{key}.password_env",
            )
        if env is not None and link.password_env not in env:
            raise ConfigError(
                f"environment variable {link.password_env} is not set", key=f"{key}.password_env"
            )
        for j, prefix in enumerate(link.prefixes):
            if not prefix or not (prefix.lstrip("+").isdigit()):
                raise ConfigError(
                    f"expected a destination prefix such as +1 or +4420, got {prefix!r}",
                    key=f"{key}.prefixes[{j}]",
                )
