"""``python -m engine.sim``: run the simulated carrier as a process (see ``--help``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence

from engine.session import SessionConfig
from engine.sim.carrier import Faults, SimCarrier
from engine.sim.rules import OUTCOME_HELP

__all__ = ["main", "parse_args"]


def _credential(value: str) -> tuple[str, str]:
    system_id, sep, password = value.partition(":")
    if not sep or not system_id:
        raise argparse.ArgumentTypeError(f"expected SYSTEM_ID:PASSWORD, got {value!r}")
    return system_id, password


def _allow(value: str) -> tuple[str, tuple[str, ...]]:
    system_id, sep, prefixes = value.partition(":")
    numbers = tuple(p for p in prefixes.split(",") if p)
    if not sep or not system_id or not numbers:
        raise argparse.ArgumentTypeError(f"expected SYSTEM_ID:PREFIX[,PREFIX...], got {value!r}")
    return system_id, numbers


def _status(value: str) -> int:
    try:
        return int(value, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a command_status number, got {value!r}"
        ) from None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line (``--help`` lists every option)."""
    p = argparse.ArgumentParser(
        prog="python -m engine.sim",
        description=(
            "A simulated SMPP 3.4 carrier (SMSC). It acknowledges submit_sm with unique"
            " message ids and sends delivery receipts when registered_delivery asks for them. "
            + OUTCOME_HELP
            + " On start it prints 'listening on HOST:PORT' on stdout."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=2775, help="TCP port; 0 picks a free one (2775)")
    p.add_argument(
        "--credentials",
        type=_credential,
        action="append",
        metavar="SYSTEM_ID:PASSWORD",
        help="accepted bind credentials (repeatable; visible in the process list: a test"
        " carrier only); without any, every bind is accepted",
    )
    p.add_argument("--system-id", default="SIMSMSC", help="system_id in bind responses")
    p.add_argument(
        "--receipt-delay",
        type=float,
        default=1.0,
        help="seconds from submit to receipt (1.0); negative turns receipts off",
    )
    p.add_argument("--no-record", action="store_true", help="do not keep received PDUs")
    p.add_argument(
        "--allow",
        type=_allow,
        action="append",
        metavar="SYSTEM_ID:PREFIX[,PREFIX...]",
        help="number prefixes a system_id's address_range may capture (repeatable); with"
        " any --allow, a system_id not named captures nothing",
    )
    p.add_argument(
        "--max-pending-receipts",
        type=int,
        default=10_000,
        help="receipts per system_id waiting to be delivered; beyond, submits asking for"
        " one get ESME_RMSGQFUL (10000)",
    )
    p.add_argument(
        "--distinct-bind-errors",
        action="store_true",
        help="answer ESME_RINVSYSID / ESME_RINVPASWD instead of ESME_RBINDFAIL for both",
    )
    p.add_argument("--window", type=int, default=10, help="carrier's own window for deliver_sm")
    p.add_argument(
        "--enquire-link-interval",
        type=float,
        default=30.0,
        help="idle seconds before the carrier probes a bind with enquire_link (30)",
    )
    p.add_argument(
        "--throttle-rate", type=float, help="answer ESME_RTHROTTLED above this many submits/s"
    )
    p.add_argument(
        "--throttle-fraction",
        type=float,
        default=0.0,
        help="answer ESME_RTHROTTLED for this fraction of submits (0..1)",
    )
    p.add_argument("--drop-after", type=int, help="drop the connection after N submits")
    p.add_argument("--delay", type=float, default=0.0, help="seconds before each submit response")
    p.add_argument("--error-status", type=_status, help="answer submits with this command_status")
    p.add_argument(
        "--error-fraction", type=float, default=1.0, help="fraction of submits given --error-status"
    )
    p.add_argument("--seed", type=int, help="seed of the random fault choices")
    p.add_argument("--uvloop", action="store_true", help="run on uvloop (if installed)")
    args = p.parse_args(argv)
    if not 0.0 <= args.throttle_fraction <= 1.0:
        p.error("--throttle-fraction: expected 0..1")
    if not 0.0 <= args.error_fraction <= 1.0:
        p.error("--error-fraction: expected 0..1")
    if args.max_pending_receipts < 0:
        p.error("--max-pending-receipts: expected >= 0")
    return args


async def _serve(args: argparse.Namespace) -> None:
    faults = Faults(
        throttle_rate=args.throttle_rate,
        throttle_fraction=args.throttle_fraction,
        drop_after=args.drop_after,
        delay=args.delay,
        error_status=args.error_status,
        error_fraction=args.error_fraction,
    )
    carrier = SimCarrier(
        host=args.host,
        port=args.port,
        credentials=dict(args.credentials) if args.credentials else None,
        system_id=args.system_id,
        receipt_delay=None if args.receipt_delay < 0 else args.receipt_delay,
        record=not args.no_record,
        allowed_ranges=dict(args.allow) if args.allow else None,
        max_pending_receipts=args.max_pending_receipts,
        distinct_bind_errors=args.distinct_bind_errors,
        session_config=SessionConfig(
            window=args.window, enquire_link_interval=args.enquire_link_interval
        ),
        seed=args.seed,
        faults=faults,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with carrier:
        print(f"listening on {args.host}:{carrier.port}", flush=True)
        await stop.wait()
    print(f"accepted {carrier.accepted} submits, sent {carrier.receipts_sent} receipts", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    if args.uvloop:
        try:
            import uvloop
        except ImportError:
            print("uvloop is not installed; using asyncio", file=sys.stderr)
        else:
            uvloop.run(_serve(args))
            return 0
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
