"""``/metrics`` parsed with prometheus_client's own parser, counters matching what was
sent; ``/ready`` following the store and the carrier links; both correct with HTTP
workers (the main process's stats file)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.gateway_helpers import eventually, free_port, running_gateway, twilio_client
from tests.ops_helpers import Served, get, wait_for, write_config

TO = "+15557654321"
UNDELIVERED_TO = "+15557654391"  # the sim answers UNDELIV for destinations ending in 91


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample: (name, sorted labels) -> value."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_match_what_was_sent(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw, aiohttp.ClientSession() as http:
        await eventually(lambda: gw.links is not None and gw.links.any_bound, "bind")
        async with http.get(gw.api_url + "/ready") as resp:
            assert resp.status == 200
            assert (await resp.json())["ready"] is True
        client = twilio_client(gw)

        def send(to: str, from_: str) -> str:
            return str(client.messages.create(to=to, from_=from_, body="count me").sid)

        delivered = [await asyncio.to_thread(send, TO, "12345") for _ in range(5)]
        undelivered = [await asyncio.to_thread(send, UNDELIVERED_TO, "12345") for _ in range(2)]
        finals = {"delivered", "undelivered"}

        async def all_final() -> bool:
            recs = [await gw.store.get(s) for s in delivered + undelivered]
            return all(r is not None and r.status in finals for r in recs)

        await eventually(all_final, "final statuses")
        async with http.get(gw.api_url + "/metrics") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain")
            found = samples(await resp.text())
        out = "outbound-api"
        assert (
            value(found, "smpp_engine_messages", direction=out, status="delivered", error_code="0")
            == 5
        )
        undeliv = [
            v
            for (name, labels), v in found.items()
            if name == "smpp_engine_messages" and ("status", "undelivered") in labels
        ]
        assert sum(undeliv) == 2
        assert value(found, "smpp_engine_submit_latency_seconds_count") == 7
        assert value(found, "smpp_engine_receipt_latency_seconds_count") == 7
        assert value(found, "smpp_engine_queue_latency_seconds_count") == 7
        assert value(found, "smpp_engine_dispatcher_sent_total") == 7
        assert value(found, "smpp_engine_dispatcher_receipts_total") == 7
        assert value(found, "smpp_engine_link_bound", link="sim", bind="0") == 1
        assert value(found, "smpp_engine_link_written_total", link="sim", bind="0") == 7
        assert value(found, "smpp_engine_link_reconnects_total", link="sim", bind="0") == 0
        assert value(found, "smpp_engine_queue_depth", tier="short_code") == 0
        assert value(found, "smpp_engine_ready") == 1

        # A later scrape counts only the new history rows: still 7, not 14.
        async with http.get(gw.api_url + "/metrics") as resp:
            again = samples(await resp.text())
        assert value(again, "smpp_engine_submit_latency_seconds_count") == 7

        # Every link down: not ready (503), and the gauge says so.
        assert gw.links is not None
        await gw.links.close()
        async with http.get(gw.api_url + "/ready") as resp:
            assert resp.status == 503
            assert "no carrier link is bound" in (await resp.json())["reason"]
        async with http.get(gw.api_url + "/metrics") as resp:
            down = samples(await resp.text())
        assert value(down, "smpp_engine_link_bound", link="sim", bind="0") == 0
        assert value(down, "smpp_engine_ready") == 0


def test_metrics_and_ready_with_http_workers(tmp_path: Path) -> None:
    from tests.ops_helpers import Smsc

    smsc = Smsc("gw", "pw123456")
    data = tmp_path / "data"
    config = write_config(
        tmp_path / "w.toml",
        data,
        f"127.0.0.1:{free_port()}",
        [{"name": "only", "port": smsc.port, "system_id": "gw", "password_env": "PW"}],
    )
    served = Served(config, data, "--workers", "2", PW="pw123456")
    try:
        client = served.client()
        sids = [client.messages.create(to=TO, from_="12345", body="w").sid for _ in range(4)]
        wait_for(
            lambda: all(client.messages(s).fetch().status == "delivered" for s in sids),
            "delivery",
        )
        # Each request may land on either worker: both read the main process's figures.
        for _ in range(4):
            status, body = get(served.url + "/metrics")
            assert status == 200
            found = samples(body.decode())
            assert value(found, "smpp_engine_link_bound", link="only", bind="0") == 1
            assert (
                value(
                    found,
                    "smpp_engine_messages",
                    direction="outbound-api",
                    status="delivered",
                    error_code="0",
                )
                == 4
            )
            assert get(served.url + "/ready")[0] == 200
        smsc.stop()  # the carrier goes away: the main process reports the link unbound
        wait_for(lambda: get(served.url + "/ready")[0] == 503, "/ready 503 from a worker")
    finally:
        code = served.stop()
        if smsc.proc.poll() is None:
            smsc.stop()
    assert code == 0, served.text
