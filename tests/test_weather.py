"""The weather example: the morning script through the REST API with the helper library,
and the webhook app answering an inbound "weather 94107" with a TwiML forecast.

The inbound half injects the text at the simulated carrier (``gw.sim.inject``, what
``smpp-engine sim mo`` does), lets the gateway reassemble and store it, and asks the
weather app for its answer with the gateway's own webhook client (signed with the
account's token) and TwiML parser.  When the inbound webhook path (engine.aio.inbound)
is merged, the gateway does that last step itself and this test should assert the reply
message it sends instead.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from engine.twilio.callbacks import inbound_webhook_params
from examples.weather.forecasts import FORECASTS, HELP, answer, morning_text
from examples.weather.morning import main as morning_main
from examples.weather.morning import read_subscribers, send_morning
from tests.gateway_helpers import eventually, running_gateway, twilio_client

SUBSCRIBERS = Path(__file__).resolve().parent.parent / "examples/weather/subscribers.txt"


def test_answers() -> None:
    assert answer("weather 94107") == FORECASTS["94107"]
    assert answer("  WEATHER 10001 ") == FORECASTS["10001"]
    assert answer("weather 00000").startswith("No forecast for 00000")
    assert answer("hello") == HELP
    assert answer("weather " + "9" * 10_000) == HELP  # bounded, no crash
    with pytest.raises(KeyError):
        morning_text("00000")
    with pytest.raises(ValueError, match="line 2"):
        read_subscribers(["+15550000001 94107", "nonsense"])


async def test_morning_script_sends_through_the_rest_api(tmp_path: Path) -> None:
    subscribers = read_subscribers(SUBSCRIBERS.read_text().splitlines())
    assert len(subscribers) == 3
    async with running_gateway(tmp_path) as gw:
        client = twilio_client(gw)
        sent, errors = await asyncio.to_thread(
            send_morning, client, "+14155550100", [*subscribers, ("+15557654399", "00000")]
        )
        assert set(sent) == {phone for phone, _ in subscribers}
        assert list(errors) == ["+15557654399"]  # no forecast for that ZIP: not sent

        async def delivered() -> bool:
            recs = [await gw.store.get(s) for s in sent.values()]
            return all(r is not None and r.status == "delivered" for r in recs)

        await eventually(delivered, "the morning forecasts delivered")
        assert gw.sim is not None
        bodies = {r.pdu.short_message.decode() for r in gw.sim.received}
        assert {morning_text(z) for _, z in subscribers} <= bodies


async def test_morning_script_command_line(tmp_path: Path, capsys: Any) -> None:
    async with running_gateway(tmp_path) as gw:
        assert gw.demo is not None
        import os

        old = {k: os.environ.get(k) for k in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")}
        os.environ["TWILIO_ACCOUNT_SID"] = gw.demo.account_sid
        os.environ["TWILIO_AUTH_TOKEN"] = gw.demo.auth_token
        try:
            code = await asyncio.to_thread(
                morning_main, [str(SUBSCRIBERS), "--from", "12345", "--api", gw.api_url]
            )
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        assert code == 0
        lines = capsys.readouterr().out.split()
        assert lines[0] == "+15557654301" and lines[1].startswith("SM")


async def test_inbound_weather_walkthrough(tmp_path: Path) -> None:
    # The walk-through: a subscriber texts "weather 94107" to the long code; the gateway
    # calls the weather app (signed), and the forecast it answers in TwiML goes back to the
    # subscriber through the simulated carrier.
    from examples.weather.app import make_app

    async with running_gateway(tmp_path) as gw:
        assert gw.demo is not None and gw.sim is not None
        token = gw.demo.auth_token
        runner = web.AppRunner(make_app(auth_token=token))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        sms_url = f"http://127.0.0.1:{port}/sms"
        number = "+14155550100"
        assert gw.directory.update_number(number, gw.demo.account_sid, sms_url=sms_url)
        try:
            await eventually(lambda: gw.links is not None and gw.links.any_bound, "bind")
            await gw.sim.inject("+15557654301", number, "weather 94107")

            def replies() -> list[Any]:
                return [
                    r.pdu
                    for r in gw.sim.received
                    if r.pdu.destination_addr == "15557654301" and r.pdu.source_addr == number[1:]
                ]

            await eventually(lambda: bool(replies()), "the forecast sent back")
            (reply,) = replies()
            assert reply.short_message.decode() == FORECASTS["94107"]
            # A request not signed with the account's token is refused by the app.
            params = inbound_webhook_params(
                message_sid="SM" + "0" * 32,
                account_sid=gw.demo.account_sid,
                from_="+15557654301",
                to=number,
                body="weather 94107",
                num_segments=1,
            )
            bad = await gw.webhooks.fetch_twiml(sms_url, "POST", params, "0" * 32, alert=False)
            assert bad.status == 403
        finally:
            await runner.cleanup()
