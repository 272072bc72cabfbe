"""``/metrics`` (Prometheus text format, through ``prometheus-client``) and ``/ready``.

Nothing is added to the message path: every figure is read when it is scraped.

- From the running objects (:func:`live_snapshot`): each carrier link's binds (bound,
  window size and in use, submits queued, rebinds, throttles), the dispatcher's counters
  (:class:`engine.aio.dispatcher.DispatcherStats`), the webhook client's
  (:meth:`engine.aio.webhook.WebhookClient.stats`) and the store's.
- From the store's file (:class:`StoreFigures`, a read-only SQLite connection of its own):
  messages by direction, status and error code, the queue depth by sender tier, and the
  latency histograms of each stage from the status history (created -> sending: waiting
  for the sender's rate; sending -> sent: the submit; sent -> delivered/undelivered/failed:
  the receipt).  The history is read incrementally (from the last row seen), so a scrape
  costs the rows written since the previous one.

With ``api.workers`` above 1 the HTTP workers do not run the dispatcher or the links.  The
main process then writes its :func:`live_snapshot` to ``DATA_DIR/stats.json`` once a
second (:class:`StatsFileWriter`, atomic replace) and each worker serves ``/metrics`` and
``/ready`` from that file plus its own read of the store (:class:`FileSource`).  A file
rather than shared memory or a proxy to the main process: it costs the main process one
small write a second whatever the scrape rate, a worker needs nothing but the data
directory it already has, and a stale file (main process gone or stuck) is seen by its
age: ``/ready`` answers 503 when it is older than :data:`STALE_AFTER` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final, Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from engine.scheduler import classify_sender

__all__ = [
    "STATS_FILE",
    "FileSource",
    "LiveSource",
    "MetricsSource",
    "StatsFileWriter",
    "StoreFigures",
    "live_snapshot",
    "mount",
    "render",
]

log = logging.getLogger("engine.aio.metrics")

STATS_FILE: Final = "stats.json"
STALE_AFTER: Final = 5.0
BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
STAGES: Final = {"sending": "queue", "sent": "submit", "delivered": "receipt"}
_RECEIPT_FINAL: Final = ("delivered", "undelivered", "failed")
_HISTORY_BATCH: Final = 50_000

_LATENCY_SQL: Final = """
SELECT h.rowid, h.status,
  h.at - CASE h.status
    WHEN 'sending' THEN m.date_created
    WHEN 'sent' THEN (SELECT max(p.at) FROM history p
                      WHERE p.msg_id = h.msg_id AND p.status = 'sending' AND p.rowid < h.rowid)
    ELSE (SELECT max(p.at) FROM history p
          WHERE p.msg_id = h.msg_id AND p.status = 'sent' AND p.rowid < h.rowid)
  END
FROM history h JOIN messages m ON m.id = h.msg_id
WHERE h.rowid > ? AND h.status IN ('sending', 'sent', 'delivered', 'undelivered', 'failed')
ORDER BY h.rowid LIMIT ?
"""


class _Histogram:
    """Cumulative-bucket histogram kept as plain counts (rendered as a Prometheus one)."""

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        value = max(0.0, value)
        for i, bound in enumerate(BUCKETS):
            if value <= bound:
                self.counts[i] += 1
                break
        else:
            self.counts[-1] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*BUCKETS, math.inf), self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == math.inf else repr(bound), float(running)))
        return out


class StoreFigures:
    """What the store's file says: message counts, queue depth by tier and the latency of
    each stage.  Blocking (call it from a thread); one instance per process."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._after = 0
        self._lock = threading.Lock()
        self.latency = {stage: _Histogram() for stage in ("queue", "submit", "receipt")}

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            uri = f"file:{self.path}?mode=ro"
            self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self._conn.execute("PRAGMA busy_timeout = 5000")
        return self._conn

    def close(self) -> None:
        """Close the read connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def read(self) -> dict[str, Any]:
        """Counts now, and the latency histograms brought up to date."""
        with self._lock:
            return self._read()

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"messages": [], "queue": {}, "latency": {}}
        conn = self._connect()
        messages = conn.execute(
            "SELECT direction, status, COALESCE(error_code, 0), count(*) FROM messages"
            " GROUP BY 1, 2, 3"
        ).fetchall()
        queue: dict[str, int] = {}
        for from_, count in conn.execute(
            "SELECT from_, count(*) FROM messages WHERE status IN ('queued', 'sending')"
            " AND direction LIKE 'outbound%' GROUP BY from_"
        ):
            try:
                tier = classify_sender(from_).value
            except (TypeError, ValueError):
                tier = "unknown"
            queue[tier] = queue.get(tier, 0) + count
        while True:
            rows = conn.execute(_LATENCY_SQL, (self._after, _HISTORY_BATCH)).fetchall()
            for rowid, status, elapsed in rows:
                self._after = rowid
                stage = "receipt" if status in _RECEIPT_FINAL else STAGES[status]
                if elapsed is not None:
                    self.latency[stage].observe(float(elapsed))
            if len(rows) < _HISTORY_BATCH:
                break
        latency = {stage: (h.buckets(), h.total) for stage, h in self.latency.items()}
        return {"messages": [list(r) for r in messages], "queue": queue, "latency": latency}


def live_snapshot(gw: Any) -> dict[str, Any]:
    """The in-memory figures of a running :class:`engine.aio.app.Gateway` (JSON-able)."""
    links = []
    if gw.links is not None:
        for link in gw.links:
            client = link.client
            links.append(
                {
                    "link": link.name,
                    "bind": link.bind,
                    "bound": bool(client.bound),
                    "window": int(client.window),
                    "in_flight": int(client.in_flight),
                    "queued": int(client.queued),
                    "binds": int(client.binds),
                    "throttled": int(client.throttled_count),
                    "written": int(client.sent_count),
                }
            )
    dispatcher: dict[str, int] = {}
    scheduler_depth = 0
    in_flight = 0
    if gw.dispatcher is not None:
        stats = gw.dispatcher.stats
        dispatcher = {
            k: int(v) for k, v in vars(stats).items() if isinstance(v, int) and k != "errors"
        }
        scheduler_depth = int(gw.dispatcher.queued)
        in_flight = int(gw.dispatcher.in_flight)
    webhooks: dict[str, int] = {}
    if gw.webhooks is not None:
        ws = gw.webhooks.stats()
        webhooks = {
            name: int(getattr(ws, name))
            for name in (
                "sent",
                "retried",
                "failed",
                "dropped",
                "abandoned",
                "pending",
                "fetched",
                "fetch_failed",
            )
        }
    store_open = gw.store is not None and not getattr(gw.store, "_closed", True)
    writer = getattr(gw.store, "_writer", None)
    if writer is not None and getattr(writer, "failure", None) is not None:
        store_open = False
    store_stats = dict(gw.store.stats) if gw.store is not None else {}
    return {
        "at": time.time(),
        "pid": os.getpid(),
        "stopping": bool(getattr(gw, "_stopped", False)),
        "store_open": store_open,
        "store": store_stats,
        "links": links,
        "dispatcher": dispatcher,
        "scheduler_depth": scheduler_depth,
        "in_flight": in_flight,
        "webhooks": webhooks,
    }


def readiness(live: dict[str, Any], *, now: float | None = None) -> tuple[bool, str]:
    """(ready, why not): the store is open and at least one carrier link is bound."""
    if live.get("stopping"):
        return False, "stopping"
    if now is not None and now - float(live.get("at", 0.0)) > STALE_AFTER:
        return False, "the main process has not reported for over 5 s"
    if not live.get("store_open"):
        return False, "the store is not open"
    if not any(b.get("bound") for b in live.get("links", ())):
        return False, "no carrier link is bound"
    return True, "ready"


class _Collector:
    def __init__(self, live: dict[str, Any], db: dict[str, Any]) -> None:
        self.live, self.db = live, db

    def collect(self) -> Iterator[Metric]:
        live, db = self.live, self.db
        m = GaugeMetricFamily(
            "smpp_engine_messages",
            "Messages in the store by direction, status and error code (0: none)",
            labels=["direction", "status", "error_code"],
        )
        for direction, status, code, count in db.get("messages", ()):
            m.add_metric([direction, status, str(code)], count)
        yield m
        q = GaugeMetricFamily(
            "smpp_engine_queue_depth",
            "Outbound messages queued or being sent, by sender tier",
            labels=["tier"],
        )
        for tier, count in sorted(db.get("queue", {}).items()):
            q.add_metric([tier], count)
        yield q
        g = GaugeMetricFamily(
            "smpp_engine_scheduler_depth", "Messages in the dispatcher's rate scheduler"
        )
        g.add_metric([], live.get("scheduler_depth", 0))
        yield g
        g = GaugeMetricFamily("smpp_engine_submits_in_flight", "Messages being submitted")
        g.add_metric([], live.get("in_flight", 0))
        yield g
        for stage, (buckets, total) in db.get("latency", {}).items():
            h = HistogramMetricFamily(
                f"smpp_engine_{stage}_latency_seconds",
                {
                    "queue": "From acceptance to the start of the submit (waiting for the "
                    "sender's rate)",
                    "submit": "From the start of the submit to submit_sm_resp (sending->sent)",
                    "receipt": "From sent to the delivery receipt's final status",
                }[stage],
            )
            h.add_metric([], buckets, total)
            yield h
        specs = (
            ("bound", GaugeMetricFamily, "1 when the bind is bound"),
            ("window", GaugeMetricFamily, "The bind's window (submits in flight at most)"),
            ("in_flight", GaugeMetricFamily, "Window in use: submits awaiting their response"),
            ("queued", GaugeMetricFamily, "Submits waiting for the window or the rate limit"),
            ("binds", CounterMetricFamily, "Successful binds (first bind and rebinds)"),
            ("reconnects", CounterMetricFamily, "Rebinds after a lost connection"),
            ("throttled", CounterMetricFamily, "Throttling answers from the carrier"),
            ("written", CounterMetricFamily, "Submits written to the carrier"),
        )
        for name, kind, help_text in specs:
            fam = kind(f"smpp_engine_link_{name}", help_text, labels=["link", "bind"])
            for b in live.get("links", ()):
                value = max(0, b["binds"] - 1) if name == "reconnects" else b[name]
                fam.add_metric([b["link"], str(b["bind"])], float(value))
            yield fam
        for name, value in sorted(live.get("dispatcher", {}).items()):
            c = CounterMetricFamily(
                f"smpp_engine_dispatcher_{name}", f"Dispatcher counter {name!r} since start"
            )
            c.add_metric([], value)
            yield c
        hooks = live.get("webhooks", {})
        c = CounterMetricFamily(
            "smpp_engine_webhook_requests",
            "Status callbacks (sent, retried, failed, dropped, abandoned) and inbound webhook "
            "fetches (fetched, fetch_failed) since start",
            labels=["outcome"],
        )
        for name, value in sorted(hooks.items()):
            if name != "pending":
                c.add_metric([name], value)
        yield c
        g = GaugeMetricFamily("smpp_engine_webhook_pending", "Webhook requests queued or in flight")
        g.add_metric([], hooks.get("pending", 0))
        yield g
        for name, value in sorted(live.get("store", {}).items()):
            c = CounterMetricFamily(f"smpp_engine_store_{name}", f"Store counter {name!r}")
            c.add_metric([], value)
            yield c
        ready, _ = readiness(live)
        g = GaugeMetricFamily("smpp_engine_ready", "1 when /ready answers 200")
        g.add_metric([], 1.0 if ready else 0.0)
        yield g


def render(live: dict[str, Any], db: dict[str, Any]) -> bytes:
    """The Prometheus text exposition of one snapshot (:func:`live_snapshot` and
    :meth:`StoreFigures.read`)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(live, db))
    return generate_latest(registry)


class MetricsSource(Protocol):
    """Where ``/metrics`` and ``/ready`` get their figures."""

    figures: StoreFigures

    async def live(self) -> dict[str, Any]: ...

    def now(self) -> float | None: ...


class LiveSource:
    """The process that runs the gateway: figures read from its objects."""

    def __init__(self, gw: Any, store_path: str | os.PathLike[str]) -> None:
        self.gw = gw
        self.figures = StoreFigures(store_path)

    async def live(self) -> dict[str, Any]:
        return live_snapshot(self.gw)

    def now(self) -> float | None:
        return None  # always fresh


class FileSource:
    """An HTTP worker: the main process's figures from ``DATA_DIR/stats.json``."""

    def __init__(self, data_dir: str | os.PathLike[str], store_path: str | os.PathLike[str]):
        self.path = Path(data_dir) / STATS_FILE
        self.figures = StoreFigures(store_path)

    async def live(self) -> dict[str, Any]:
        try:
            data = json.loads(await asyncio.to_thread(self.path.read_text))
        except (OSError, ValueError):
            return {"at": 0.0, "links": [], "store_open": False}
        return data if isinstance(data, dict) else {"at": 0.0}

    def now(self) -> float | None:
        return time.time()


class StatsFileWriter:
    """In the main process with HTTP workers: writes :func:`live_snapshot` to
    ``DATA_DIR/stats.json`` every ``interval`` seconds (write to a temporary file, then
    rename, so a worker never reads half of it)."""

    def __init__(self, gw: Any, data_dir: str | os.PathLike[str], interval: float = 1.0):
        self.gw = gw
        self.path = Path(data_dir) / STATS_FILE
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def write(self) -> None:
        """Write the snapshot now."""
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(live_snapshot(self.gw)))
        tmp.replace(self.path)

    def start(self) -> None:
        """Write now and then every ``interval`` seconds until :meth:`stop`."""
        self.write()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="stats file")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.write()
            except OSError as exc:
                log.warning("stats file not written: %s", exc)

    async def stop(self) -> None:
        """Write a last snapshot (``stopping``: workers answer /ready 503) and stop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(OSError):
            self.write()


_SOURCE: web.AppKey[Any] = web.AppKey("metrics_source", object)


async def _metrics(request: web.Request) -> web.Response:
    source = request.app[_SOURCE]
    live = await source.live()
    figures: StoreFigures = source.figures
    db = await asyncio.to_thread(figures.read)
    body = render(live, db)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _ready(request: web.Request) -> web.Response:
    source = request.app[_SOURCE]
    live = await source.live()
    ok, why = readiness(live, now=source.now())
    return web.json_response({"ready": ok, "reason": why}, status=200 if ok else 503)


def mount(app: web.Application, source: MetricsSource) -> None:
    """Add ``GET /metrics`` and ``GET /ready`` to ``app``."""
    app[_SOURCE] = source

    async def close(_: web.Application) -> None:
        source.figures.close()

    app.on_cleanup.append(close)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/ready", _ready)
