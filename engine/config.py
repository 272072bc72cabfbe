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
    "EXAMPLE",
    "ApiConfig",
    "CarrierLinkConfig",
    "ConfigError",
    "GatewayConfig",
    "LogConfig",
    "OptOutConfig",
    "PacingConfig",
    "WebhookConfig",
    "check",
    "default",
    "load_config",
    "parse_listen",
    "revalidate",
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
    ``binds``: how many binds (sessions) the link opens to the carrier; they share the
    link's name and its routes, and each has its own ``window`` and ``max_rate``.
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
    binds: Annotated[int, msgspec.Meta(ge=1, le=16)] = 1
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


class OptOutConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Opt-out handling of inbound keywords (CTIA / Twilio Advanced Opt-Out defaults):
    a STOP keyword opts the sender out of the number's messages, a START keyword back in,
    and HELP is answered with ``help_reply``.  Keywords are matched case-insensitively on
    the whole trimmed body."""

    enabled: bool = True
    stop_keywords: list[str] = msgspec.field(
        default_factory=lambda: [
            "STOP",
            "STOPALL",
            "UNSUBSCRIBE",
            "CANCEL",
            "END",
            "QUIT",
            "OPTOUT",
            "REVOKE",
        ]
    )
    start_keywords: list[str] = msgspec.field(default_factory=lambda: ["START", "UNSTOP", "YES"])
    help_keywords: list[str] = msgspec.field(default_factory=lambda: ["HELP", "INFO"])
    stop_reply: Annotated[str, msgspec.Meta(max_length=1600)] = (
        "You have successfully been unsubscribed. You will not receive any more messages "
        "from this number. Reply START to resubscribe."
    )
    start_reply: Annotated[str, msgspec.Meta(max_length=1600)] = (
        "You have successfully been re-subscribed to messages from this number. "
        "Reply HELP for help. Reply STOP to unsubscribe."
    )
    help_reply: Annotated[str, msgspec.Meta(max_length=1600)] = (
        "Reply STOP to unsubscribe. Msg&Data Rates May Apply."
    )


class LogConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Logging: ``text`` for people, ``json`` (one object a line) for machines."""

    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


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
    optout: OptOutConfig = msgspec.field(default_factory=OptOutConfig)
    log: LogConfig = msgspec.field(default_factory=LogConfig)
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


EXAMPLE: Final = """\
# smpp-engine configuration (TOML).  Check it with: smpp-engine config check FILE
# Run with: smpp-engine serve --config FILE   (or SMPP_ENGINE_CONFIG=FILE)
# Every key is optional; an unknown key is an error.

data_dir = "smpp-engine-data"   # the SQLite store, the directory of accounts/numbers, run.json
demo = false                    # true: create a demo account with three numbers
shutdown_grace = 10.0           # seconds to finish submits in flight on SIGTERM
synchronous = "FULL"            # SQLite durability: FULL, NORMAL or OFF

[api]
listen = "127.0.0.1:8080"       # HOST:PORT of the Twilio-compatible REST API
workers = 1                     # HTTP worker processes sharing the socket and the store
max_body = 65536                # bytes a request body may have

[log]
format = "text"                 # text or json (one object a line)
level = "INFO"                  # DEBUG, INFO, WARNING or ERROR

# One [[carriers]] table per carrier link.  With none, serve starts the simulated carrier.
# The password is never written here: password_env names the variable that holds it.
[[carriers]]
name = "primary"
host = "127.0.0.1"
port = 2775
system_id = "gateway"
password_env = "SMPP_PRIMARY_PASSWORD"
bind_type = "transceiver"       # transmitter, receiver, transceiver or pair
binds = 1                       # sessions to open under this link name
window = 10                     # submits in flight per bind (SMPP 3.4 section 2.8)
max_rate = 100.0                # PDUs per second per bind (omit: no limit)
tls = false
prefixes = ["+1"]               # destinations it serves; empty: every destination
priority = 0                    # lower is tried first

[[carriers]]
name = "backup"                 # the failover for +1: same prefixes, a higher priority value
host = "127.0.0.1"
port = 2776
system_id = "gateway"
password_env = "SMPP_BACKUP_PASSWORD"
prefixes = ["+1"]
priority = 1

[pacing]
# segments per second of each sender tier
tier_rates = { long_code = 1.0, toll_free = 3.0, short_code = 100.0 }
validity = 36000.0              # seconds a queued message may wait before it fails (30001)
throttle_backoff = 1.0          # first pause after a carrier throttle, doubling...
throttle_backoff_max = 60.0     # ...up to this
in_flight_policy = "at-least-once"

[webhooks]
connect_timeout = 5.0           # seconds, status callbacks and inbound webhooks
total_timeout = 15.0
callback_retries = 3
max_pending = 10000

[optout]
enabled = true
stop_keywords = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"]
start_keywords = ["START", "UNSTOP", "YES"]
help_keywords = ["HELP", "INFO"]
"""
"""A commented configuration that :func:`load_config` accepts (with the two password
variables set): what ``smpp-engine config example`` prints."""


def _key_of(error: msgspec.ValidationError) -> tuple[str, str | None]:
    """(reason, dotted key) from msgspec's "... - at `$.a.b[0].c`" message."""
    text = str(error)
    reason, sep, where = text.rpartition(" - at `")
    if not sep:
        if text.startswith("Object contains unknown field"):
            return "unknown key", text.split("`")[1]
        return text, None
    path = where.rstrip("`").removeprefix("$").lstrip(".")
    if reason.startswith("Object contains unknown field"):
        field_name = reason.split("`")[1]
        path = f"{path}.{field_name}" if path else field_name
        reason = "unknown key"
    return reason, path or None


def revalidate(config: GatewayConfig) -> GatewayConfig:
    """``config`` validated again after changes made around msgspec (``structs.replace``
    from command-line options): ConfigError naming the key, as :func:`load_config`."""
    try:
        return msgspec.convert(msgspec.to_builtins(config), GatewayConfig)
    except msgspec.ValidationError as exc:
        reason, key = _key_of(exc)
        raise ConfigError(reason, key=key) from None


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
    _check_routes(config.carriers)
    for name in ("stop_keywords", "start_keywords", "help_keywords"):
        for j, word in enumerate(getattr(config.optout, name)):
            if not word.strip() or len(word) > 32:
                raise ConfigError(
                    f"expected a keyword of 1..32 characters, got {word!r}",
                    key=f"optout.{name}[{j}]",
                )


def _covers(outer: list[str], inner: list[str]) -> bool:
    """True when every destination ``inner`` serves is served by ``outer`` too."""
    if not outer:
        return True
    if not inner:
        return False
    return all(any(p.startswith(q) for q in outer) for p in inner)


def _check_routes(links: list[CarrierLinkConfig]) -> None:
    """A link with no route of its own is an error.

    Links are tried in ``priority`` order and a link that is down or throttled is skipped
    for the next one, so a link whose prefixes a *higher-priority* link also serves is its
    failover: that is a route.  But between two links of the *same* priority only the order
    of the file decides; a link that an earlier link of its priority fully covers would be
    used only by accident of that order.  It has no route: give it another priority (a
    failover) or other prefixes.
    """
    for i, link in enumerate(links):
        for j in range(i):
            earlier = links[j]
            if earlier.priority == link.priority and _covers(earlier.prefixes, link.prefixes):
                served = ", ".join(earlier.prefixes) if earlier.prefixes else "every destination"
                raise ConfigError(
                    f"no route: link {earlier.name!r} (carriers[{j}], same priority "
                    f"{link.priority}) already serves {served}; give this link another "
                    "priority to make it a failover, or other prefixes",
                    key=f"carriers[{i}].prefixes",
                )
