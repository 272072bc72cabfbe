"""Inbound messages end to end over real sockets: the simulated carrier sends deliver_sm, the
gateway stores it and calls a real aiohttp application (signatures checked with the helper
library's RequestValidator), the application answers TwiML (written by the helper
library's MessagingResponse), and the reply reaches the carrier as submit_sm."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from twilio.base.exceptions import TwilioRestException

from engine.aio.inbound import UNROUTED_ACCOUNT
from engine.config import WebhookConfig
from engine.numbers import to_smpp
from engine.reassembly import Reassembler
from engine.text import build_deliver_sms
from engine.twilio.optout import DEFAULT_HELP_REPLY, DEFAULT_OPT_IN_REPLY, DEFAULT_OPT_OUT_REPLY
from tests.gateway_helpers import eventually, running_gateway, twilio_client
from tests.inbound_helpers import BOMB, WebhookApp, twiml, webhook_app, xml

PHONE = "+15557654321"
OTHER_PHONE = "+15557650000"
LONG_CODE = "+14155550100"
TOLL_FREE = "+18005550100"


@contextlib.asynccontextmanager
async def inbound_gateway(tmp_path: Path, **changes: Any) -> AsyncIterator[tuple[Any, WebhookApp]]:
    """A gateway bound to its simulated carrier, and the test application."""
    async with running_gateway(tmp_path, **changes) as gw:
        await eventually(lambda: bool(gw.sim.connections()), "the gateway's bind")
        assert gw.demo is not None
        async with webhook_app({gw.demo.account_sid: gw.demo.auth_token}) as app:
            yield gw, app


def configure(gw: Any, number: str = LONG_CODE, **fields: Any) -> None:
    assert gw.directory.update_number(number, gw.demo.account_sid, **fields) is not None


async def mo(
    gw: Any, text: str, *, to: str = LONG_CODE, from_: str = PHONE, **kw: Any
) -> list[Any]:
    """Inject an inbound message as a phone would send it; the gateway's responses."""
    src, dst = to_smpp(from_), to_smpp(to)
    responses = await gw.sim.inject(
        src.addr,
        dst.addr,
        text,
        source_addr_ton=src.ton,
        source_addr_npi=src.npi,
        dest_addr_ton=dst.ton,
        dest_addr_npi=dst.npi,
        **kw,
    )
    assert [int(r.command_status) for r in responses] == [0] * len(responses)
    return responses


def replies(gw: Any, to: str = PHONE, from_: str | None = None) -> list[str]:
    """The texts the carrier received as submit_sm to ``to`` (joined per message)."""
    out = []
    assembler = Reassembler()
    for rec in list(gw.sim.received):
        pdu = rec.pdu
        if pdu.command_name != "submit_sm" or "+" + pdu.destination_addr != to:
            continue
        if from_ is not None and "+" + pdu.source_addr != from_:
            continue
        message = assembler.add(pdu, 0.0)
        if message is not None:
            out.append(message.text)
    return out


async def alerts(gw: Any, account: str | None = None) -> list[Any]:
    await gw.inbound.idle()
    return gw.directory.list_alerts(account or gw.demo.account_sid, limit=1000)


def codes(items: list[Any]) -> list[int]:
    return sorted(a.error_code for a in items)


# the happy path --------------------------------------------------------------------------


async def test_webhook_signed_and_twiml_reply_reaches_the_carrier(tmp_path: Path) -> None:
    async with inbound_gateway(tmp_path) as (gw, app):
        configure(gw, sms_url=app.url("/sms"))
        await mo(gw, "Hello gateway")
        [hit] = await app.wait_for("/sms")
        assert hit.valid and hit.method == "POST"
        p = hit.params
        assert p["From"] == PHONE and p["To"] == LONG_CODE and p["Body"] == "Hello gateway"
        assert p["AccountSid"] == gw.demo.account_sid
        assert p["MessageSid"] == p["SmsSid"] == p["SmsMessageSid"]
        assert p["MessageSid"].startswith("SM")
        assert p["NumSegments"] == "1" and p["NumMedia"] == "0" and p["SmsStatus"] == "received"
        assert p["ApiVersion"] == "2010-04-01"
        assert p["ToCountry"] == "US" and p["FromCountry"] == "US"
        await eventually(lambda: replies(gw) == ["echo: Hello gateway"], "the reply submit_sm")
        [rec] = [r for r in gw.sim.received if r.pdu.command_name == "submit_sm"]
        assert rec.pdu.source_addr == LONG_CODE[1:] and rec.pdu.destination_addr == PHONE[1:]
        # Both are listed by the Messages API: the inbound and the reply.
        client = twilio_client(gw)
        listed = await asyncio.to_thread(lambda: client.messages.list(limit=20))
        directions = {m.direction: m for m in listed}
        assert directions["inbound"].body == "Hello gateway"
        assert directions["inbound"].status == "received"
        assert directions["inbound"].sid == p["MessageSid"]
        assert directions["outbound-reply"].from_ == LONG_CODE
        assert directions["outbound-reply"].to == PHONE
        assert await alerts(gw) == []


async def test_get_webhook_validates(tmp_path: Path) -> None:
    async with inbound_gateway(tmp_path) as (gw, app):
        configure(gw, sms_url=app.url("/sms?app=1"), sms_method="GET")
        await mo(gw, "via GET & query")
        [hit] = await app.wait_for("/sms")
        assert hit.method == "GET" and hit.valid
        assert hit.params["Body"] == "via GET & query" and hit.params["app"] == "1"
        await eventually(lambda: replies(gw) == ["echo: via GET & query"], "the reply")


async def test_multipart_inbound_in_shuffled_order(tmp_path: Path) -> None:
    text = "".join(f"part {i:03d} of a long inbound message. " for i in range(20))
    async with inbound_gateway(tmp_path) as (gw, app):
        configure(gw, sms_url=app.url("/sms"))
        app.answers["/sms"] = lambda hit: twiml("got it")
        responses = await mo(gw, text, order=[3, 0, 4, 1, 2])
        assert len(responses) == 5
        [hit] = await app.wait_for("/sms")
        assert hit.params["Body"] == text and hit.params["NumSegments"] == "5"
        await eventually(lambda: replies(gw) == ["got it"], "the reply")


async def test_ucs2_inbound(tmp_path: Path) -> None:
    text = "Привет, 世界 👋 — ça va?"
    async with inbound_gateway(tmp_path) as (gw, app):
        configure(gw, sms_url=app.url("/sms"))
        app.answers["/sms"] = lambda hit: twiml("Ответ: " + hit.params["Body"])
        await mo(gw, text)
        [hit] = await app.wait_for("/sms")
        assert hit.valid and hit.params["Body"] == text
        await eventually(lambda: replies(gw) == ["Ответ: " + text], "the UCS-2 reply")


async def test_multipart_parts_across_two_binds(tmp_path: Path) -> None:
    text = "x" * 200 + " the end"
    async with inbound_gateway(tmp_path) as (gw, app):
        configure(gw, sms_url=app.url("/sms"))
        src, dst = to_smpp(PHONE), to_smpp(LONG_CODE)
        pdus = build_deliver_sms(
            src.addr, dst.addr, text, source_addr_ton=1, source_addr_npi=1,
            dest_addr_ton=1, dest_addr_npi=1,
        )  # fmt: skip
        assert len(pdus) == 2
        # Part 2 over the carrier's bind, part 1 as if over a second link to the same carrier
        # (the dispatcher's entry point for every link): they join.
        [conn] = gw.sim.connections()
        response = await conn.send_request(pdus[1])
        assert int(response.command_status) == 0
        assert await gw.dispatcher.on_deliver("sim-2", pdus[0]) == 0
        [hit] = await app.wait_for("/sms")
        assert hit.params["Body"] == text


# failures and the fallback ---------------------------------------------------------------


FAILURES = {
    "/500": (lambda hit: xml("oops", "text/plain", 500), 11200, 500),
    "/html": (lambda hit: xml("<html><body>hello</body></html>", "text/html"), 12102, 200),
    "/invalid": (lambda hit: xml("<Response><Message>x</Response>"), 12100, 200),
    "/bomb": (lambda hit: xml(BOMB), 12100, 200),
    "/json": (lambda hit: xml('{"reply": "x"}', "application/json"), 12300, 200),
    "/notresponse": (lambda hit: xml("<Reply><Message>x</Message></Reply>"), 12102, 200),
}


@pytest.mark.parametrize("path", sorted(FAILURES))
async def test_failure_records_alert_and_uses_fallback(tmp_path: Path, path: str) -> None:
    answer, code, status = FAILURES[path]
    async with inbound_gateway(tmp_path) as (gw, app):
        app.answers[path] = answer
        app.answers["/fallback"] = lambda hit: twiml("from the fallback")
        configure(gw, sms_url=app.url(path), sms_fallback_url=app.url("/fallback"))
        await mo(gw, "hi")
        [primary] = await app.wait_for(path)
        [fallback] = await app.wait_for("/fallback")
        assert primary.valid and fallback.valid
        assert fallback.params["ErrorCode"] == str(code)
        assert fallback.params["ErrorUrl"] == app.url(path)
        assert fallback.params["Body"] == "hi"
        await eventually(lambda: replies(gw) == ["from the fallback"], "the fallback's reply")
        [alert] = await alerts(gw)
        assert alert.error_code == code and alert.log_level == "error"
        assert alert.url == app.url(path) and alert.request_method == "POST"
        assert alert.response_status == status
        assert alert.message_sid == primary.params["MessageSid"]


async def test_timeout_records_11200_and_uses_fallback(tmp_path: Path) -> None:
    hooks = WebhookConfig(total_timeout=1.0)
    async with inbound_gateway(tmp_path, webhooks=hooks) as (gw, app):
        app.answers["/fallback"] = lambda hit: twiml("late but here")
        configure(gw, sms_url=app.url("/hang"), sms_fallback_url=app.url("/fallback"))
        await mo(gw, "anyone?")
        [fallback] = await app.wait_for("/fallback")
        assert fallback.params["ErrorCode"] == "11200"
        await eventually(lambda: replies(gw) == ["late but here"], "the fallback's reply")
        [alert] = await alerts(gw)
        assert alert.error_code == 11200 and "timed out" in alert.text


async def test_connection_refused_records_11205(tmp_path: Path) -> None:
    from tests.gateway_helpers import free_port

    async with inbound_gateway(tmp_path) as (gw, app):
        dead = f"http://127.0.0.1:{free_port()}/sms"
        configure(gw, sms_url=dead, sms_fallback_url=app.url("/fallback"))
        await mo(gw, "hello?")
        [fallback] = await app.wait_for("/fallback")
        assert fallback.params["ErrorCode"] == "11205" and fallback.params["ErrorUrl"] == dead
        assert codes(await alerts(gw)) == [11205]


async def test_failure_without_fallback_is_recorded_only(tmp_path: Path) -> None:
    async with inbound_gateway(tmp_path) as (gw, app):
        app.answers["/500"] = FAILURES["/500"][0]
        configure(gw, sms_url=app.url("/500"))
        await mo(gw, "hi")
        await app.wait_for("/500")
        assert codes(await alerts(gw)) == [11200]
        assert replies(gw) == []
        assert [h.path for h in app.hits] == ["/500"]
        # The operator's view: smpp-engine alerts list.
        data_dir = str(gw.data_dir)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "engine", "alerts", "list", "--data-dir", data_dir, "--json",
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await proc.communicate()
        assert proc.returncode == 0
        [line] = out.decode().splitlines()
        listed = json.loads(line)
        assert listed["error_code"] == 11200 and listed["url"] == app.url("/500")
        assert listed["response_status"] == 500 and listed["account_sid"] == gw.demo.account_sid


async def test_redirect_loop_is_detected_and_falls_back(tmp_path: Path) -> None:
    async with inbound_gateway(tmp_path) as (gw, app):
        app.answers["/loop"] = lambda hit: xml("<Response><Redirect>/loop</Redirect></Response>")
        app.answers["/fallback"] = lambda hit: twiml("out of the loop")
        configure(gw, sms_url=app.url("/loop"), sms_fallback_url=app.url("/fallback"))
        await mo(gw, "loop me")
        [fallback] = await app.wait_for("/fallback")
        assert fallback.params["ErrorCode"] == "14106"
        assert len(app.on("/loop")) == 2  # the same document twice: a loop
        await eventually(lambda: replies(gw) == ["out of the loop"], "the fallback's reply")
        assert codes(await alerts(gw)) == [14106]


async def test_changing_redirects_stop_at_50_documents(tmp_path: Path) -> None:
    async with inbound_gateway(tmp_path) as (gw, app):
        counter = iter(range(1000))
        app.answers["/count"] = lambda hit: xml(
            f"<Response><Redirect>/count?n={next(counter)}</Redirect></Response>"
        )
        configure(gw, sms_url=app.url("/count"))
        await mo(gw, "count")
        assert codes(await alerts(gw)) == [14106]
        assert len(app.on("/count")) == 50
        assert all(h.valid for h in app.hits)


async def test_redirect_followed_relative_with_method(tmp_path: Path) -> None:
    async with inbound_gateway(tmp_path) as (gw, app):
        app.answers["/first"] = lambda hit: xml(
            '<Response><Message>one</Message><Redirect method="GET">next?step=2</Redirect>'
            "</Response>"
        )
        app.answers["/next"] = lambda hit: twiml("two")
        configure(gw, sms_url=app.url("/first"))
        await mo(gw, "go")
        [second] = await app.wait_for("/next")
        assert second.method == "GET" and second.valid and second.params["step"] == "2"
        assert second.params["Body"] == "go"
        await eventually(lambda: sorted(replies(gw)) == ["one", "two"], "both replies")
        assert await alerts(gw) == []


async def test_more_than_10_replies_records_14109(tmp_path: Path) -> None:
    async with inbound_gateway(tmp_path) as (gw, app):
        app.answers["/many"] = lambda hit: twiml(*(f"reply {i}" for i in range(12)))
        configure(gw, sms_url=app.url("/many"))
        await mo(gw, "many")
        await eventually(lambda: len(replies(gw)) == 10, "ten replies")
        assert 14109 in codes(await alerts(gw))
        assert sorted(replies(gw)) == sorted(f"reply {i}" for i in range(10))


async def test_empty_response_and_text_plain(tmp_path: Path) -> None:
    async with inbound_gateway(tmp_path) as (gw, app):
        app.answers["/empty"] = lambda hit: xml(
            '<?xml version="1.0" encoding="UTF-8"?><Response />'
        )
        app.answers["/plain"] = lambda hit: xml("plain text reply", "text/plain")
        configure(gw, sms_url=app.url("/empty"))
        configure(gw, TOLL_FREE, sms_url=app.url("/plain"))
        await mo(gw, "nothing back")
        await mo(gw, "text back", to=TOLL_FREE)
        await app.wait_for("/empty")
        await eventually(lambda: replies(gw) == ["plain text reply"], "the text/plain reply")
        assert replies(gw, from_=TOLL_FREE) == ["plain text reply"]
        assert await alerts(gw) == []


async def test_message_to_from_and_status_callback_attributes(tmp_path: Path) -> None:
    async with inbound_gateway(tmp_path) as (gw, app):
        app.answers["/attrs"] = lambda hit: xml(
            f'<Response><Message to="{OTHER_PHONE}" from="{TOLL_FREE}" '
            f'action="/status">forwarded</Message></Response>'
        )
        app.answers["/status"] = lambda hit: xml("", "text/plain", 204)
        configure(gw, sms_url=app.url("/attrs"))
        await mo(gw, "forward this")
        await eventually(lambda: replies(gw, OTHER_PHONE) == ["forwarded"], "the forward")
        assert replies(gw, OTHER_PHONE, from_=TOLL_FREE) == ["forwarded"]
        statuses = await app.wait_for("/status")
        assert statuses[0].valid and statuses[0].params["From"] == TOLL_FREE


async def test_reply_from_a_number_not_owned_is_refused(tmp_path: Path) -> None:
    async with inbound_gateway(tmp_path) as (gw, app):
        app.answers["/x"] = lambda hit: xml(
            '<Response><Message from="+15550009999">nope</Message><Message>yes</Message></Response>'
        )
        configure(gw, sms_url=app.url("/x"))
        await mo(gw, "hi")
        await eventually(lambda: replies(gw) == ["yes"], "the valid reply")
        assert codes(await alerts(gw)) == [14102]


# isolation -------------------------------------------------------------------------------


async def test_hanging_webhook_delays_neither_the_carrier_nor_other_numbers(
    tmp_path: Path,
) -> None:
    async with inbound_gateway(tmp_path) as (gw, app):
        assert gw.demo is not None
        async with webhook_app({gw.demo.account_sid: gw.demo.auth_token}) as other:
            configure(gw, sms_url=app.url("/hang"))
            configure(gw, TOLL_FREE, sms_url=other.url("/sms"))
            # The deliver_sm is answered although the application never answers.
            await mo(gw, "first, to the hanging app")
            await app.wait_for("/hang")
            await mo(gw, "second, to the other number", to=TOLL_FREE, from_=OTHER_PHONE)
            await eventually(
                lambda: replies(gw, OTHER_PHONE) == ["echo: second, to the other number"],
                "the other number's reply",
            )
            assert gw.inbound.pending == 1  # still waiting on the hanging app
            assert replies(gw, PHONE) == []
            app.release.set()
            await eventually(
                lambda: replies(gw, PHONE) == ["echo: first, to the hanging app"], "the late reply"
            )


async def test_pending_sessions_are_bounded(tmp_path: Path) -> None:
    async with inbound_gateway(tmp_path) as (gw, app):
        configure(gw, sms_url=app.url("/hang"))
        gw.inbound.max_pending = 2
        for i in range(4):
            await mo(gw, f"msg {i}")
        assert gw.inbound.stats.sessions_dropped == 2
        app.release.set()
        found = await alerts(gw)
        assert codes(found) == [11200, 11200]
        assert all("too many" in a.text for a in found)


# storage without an application ----------------------------------------------------------


async def test_unowned_and_unconfigured_numbers_are_stored_and_call_nothing(
    tmp_path: Path,
) -> None:
    async with inbound_gateway(tmp_path) as (gw, app):
        await mo(gw, "to nobody", to="+15550001111")
        await mo(gw, "to a number with no SmsUrl")
        await gw.inbound.idle()
        unrouted, _ = await gw.store.list_messages(UNROUTED_ACCOUNT)
        assert [(m.to, m.body, m.status) for m in unrouted] == [
            ("+15550001111", "to nobody", "received")
        ]
        mine, _ = await gw.store.list_messages(gw.demo.account_sid)
        assert [(m.direction, m.body) for m in mine] == [("inbound", "to a number with no SmsUrl")]
        assert app.hits == []
        assert gw.dispatcher.stats.inbound_unowned == 1


async def test_incomplete_multipart_is_stored_with_a_30009_alert(tmp_path: Path) -> None:
    async with inbound_gateway(tmp_path) as (gw, app):
        configure(gw, sms_url=app.url("/sms"))
        gw.dispatcher.reassembler.timeout = 0.2
        gw.inbound.expire_interval = 0.1
        src, dst = to_smpp(PHONE), to_smpp(LONG_CODE)
        text = "A" * 153 + "B" * 153 + "C" * 10
        pdus = build_deliver_sms(
            src.addr, dst.addr, text, source_addr_ton=1, source_addr_npi=1,
            dest_addr_ton=1, dest_addr_npi=1,
        )  # fmt: skip
        assert len(pdus) == 3
        responses = await gw.sim.inject_pdus([pdus[0], pdus[2]])
        assert [int(r.command_status) for r in responses] == [0, 0]

        async def alerted() -> bool:
            return codes(await alerts(gw)) == [30009]

        await eventually(alerted, "the 30009 alert")
        [alert] = await alerts(gw)
        assert "2" in alert.text
        stored, _ = await gw.store.list_messages(gw.demo.account_sid)
        assert [(m.body, m.num_segments) for m in stored] == [("A" * 153 + "C" * 10, 3)]
        assert alert.message_sid == stored[0].sid


# opt-out ---------------------------------------------------------------------------------


async def test_stop_start_help_sequence(tmp_path: Path) -> None:
    async with inbound_gateway(tmp_path) as (gw, app):
        configure(gw, sms_url=app.url("/sms"))
        app.answers["/sms"] = lambda hit: xml("<Response/>")
        client = twilio_client(gw)

        def send() -> Any:
            return client.messages.create(to=PHONE, from_=LONG_CODE, body="marketing")

        await mo(gw, "  stop ")
        # Opted out before the deliver_sm was answered.
        assert gw.directory.is_opted_out(LONG_CODE, PHONE)
        await eventually(lambda: replies(gw) == [DEFAULT_OPT_OUT_REPLY], "the STOP reply")
        [hit] = await app.wait_for("/sms")
        assert hit.params["Body"] == "  stop " and hit.params["OptOutType"] == "STOP"
        with pytest.raises(TwilioRestException) as err:
            await asyncio.to_thread(send)
        assert err.value.code == 21610
        # Another number of the same account is not affected.
        ok = await asyncio.to_thread(
            lambda: client.messages.create(to=PHONE, from_=TOLL_FREE, body="other number")
        )
        assert ok.status == "queued"

        await mo(gw, "HELP")
        await eventually(
            lambda: replies(gw, from_=LONG_CODE) == [DEFAULT_OPT_OUT_REPLY, DEFAULT_HELP_REPLY],
            "the HELP reply",
        )
        assert gw.directory.is_opted_out(LONG_CODE, PHONE)

        await mo(gw, "Start")
        assert not gw.directory.is_opted_out(LONG_CODE, PHONE)
        await eventually(
            lambda: replies(gw, from_=LONG_CODE)[-1:] == [DEFAULT_OPT_IN_REPLY], "the START reply"
        )
        sent = await asyncio.to_thread(send)
        assert sent.status == "queued"
        hits = await app.wait_for("/sms", 3)
        assert [h.params.get("OptOutType") for h in hits] == ["STOP", "HELP", "START"]


async def test_stop_blocks_twiml_replies_with_21610(tmp_path: Path) -> None:
    async with inbound_gateway(tmp_path) as (gw, app):
        configure(gw, sms_url=app.url("/sms"))
        app.answers["/sms"] = lambda hit: twiml("sorry to see you go")
        await mo(gw, "UNSUBSCRIBE")
        await app.wait_for("/sms")
        assert codes(await alerts(gw)) == [21610]
        await eventually(lambda: replies(gw) == [DEFAULT_OPT_OUT_REPLY], "the STOP reply")
        assert replies(gw) == [DEFAULT_OPT_OUT_REPLY]  # and not the application's


async def test_keywords_only_as_the_whole_body(tmp_path: Path) -> None:
    async with inbound_gateway(tmp_path) as (gw, _app):
        await mo(gw, "STOP PLEASE")
        await mo(gw, "please stop")
        await gw.inbound.idle()
        assert not gw.directory.is_opted_out(LONG_CODE, PHONE)
        assert replies(gw) == []


async def test_opt_out_off_and_custom_replies_per_number(tmp_path: Path) -> None:
    async with inbound_gateway(tmp_path) as (gw, _app):
        configure(gw, opt_out_enabled=False)
        await mo(gw, "STOP")
        await gw.inbound.idle()
        assert not gw.directory.is_opted_out(LONG_CODE, PHONE)
        assert replies(gw) == []

        assert gw.directory.set_keyword_replies(
            TOLL_FREE, gw.demo.account_sid, opt_out="Bye from ACME.", help=""
        )
        await mo(gw, "quit", to=TOLL_FREE)
        await mo(gw, "info", to=TOLL_FREE)
        await gw.inbound.idle()
        assert gw.directory.is_opted_out(TOLL_FREE, PHONE)
        await eventually(lambda: replies(gw) == ["Bye from ACME."], "the custom reply")


# the Monitor API -------------------------------------------------------------------------


async def test_monitor_alerts_through_the_helper_library(tmp_path: Path) -> None:
    async with inbound_gateway(tmp_path) as (gw, app):
        app.answers["/500"] = FAILURES["/500"][0]
        app.answers["/bad"] = FAILURES["/invalid"][0]
        configure(gw, sms_url=app.url("/500"))
        configure(gw, TOLL_FREE, sms_url=app.url("/bad"))
        await mo(gw, "one")
        await mo(gw, "two", to=TOLL_FREE)
        assert codes(await alerts(gw)) == [11200, 12100]
        client = twilio_client(gw)
        client.monitor.base_url = gw.api_url
        listed = await asyncio.to_thread(lambda: client.monitor.v1.alerts.list())
        assert sorted(a.error_code for a in listed) == ["11200", "12100"]
        assert {a.log_level for a in listed} == {"error"}
        assert all(a.account_sid == gw.demo.account_sid for a in listed)
        paged = await asyncio.to_thread(lambda: client.monitor.v1.alerts.list(page_size=1))
        assert sorted(a.sid for a in paged) == sorted(a.sid for a in listed)
        one = await asyncio.to_thread(lambda: client.monitor.v1.alerts(listed[0].sid).fetch())
        assert one.error_code == listed[0].error_code and one.date_created is not None
        warnings = await asyncio.to_thread(
            lambda: client.monitor.v1.alerts.list(log_level="warning")
        )
        assert warnings == []
        # Another account sees none of them.
        other = gw.directory.create_account("other")
        stranger = twilio_client(gw, other.sid, other.auth_token)
        stranger.monitor.base_url = gw.api_url
        assert await asyncio.to_thread(lambda: stranger.monitor.v1.alerts.list()) == []
        with pytest.raises(TwilioRestException) as err:
            await asyncio.to_thread(lambda: stranger.monitor.v1.alerts(listed[0].sid).fetch())
        assert err.value.status == 404


def test_config_struct_is_used() -> None:
    # The inbound timeouts come from config.webhooks (documented): keep the names honest.
    cfg = WebhookConfig()
    assert msgspec.structs.asdict(cfg)["total_timeout"] == 15.0
    assert cfg.connect_timeout == 5.0


# the carrier link's deliveries ---------------------------------------------------------


async def test_deliveries_of_one_bind_are_handled_together_in_order() -> None:
    """A bind's deliver_sm are handed to on_deliver without waiting for the previous one's
    answer (so the store can commit them in one group), in arrival order, and answered."""
    from engine import EsmeClient
    from engine.session import SessionConfig
    from engine.sim import SimCarrier

    gate = asyncio.Event()
    started: list[bytes] = []

    async def on_deliver(pdu: Any) -> int:
        started.append(bytes(pdu.short_message))
        await gate.wait()
        return 0

    async with (
        SimCarrier(
            credentials={"esme": "secret"},
            receipt_delay=None,
            session_config=SessionConfig(window=8),
        ) as sim,
        EsmeClient(
            "127.0.0.1", sim.port, system_id="esme", password="secret", on_deliver=on_deliver
        ),
    ):
        await eventually(lambda: bool(sim.connections("esme")), "the bind")
        sends = [
            asyncio.ensure_future(sim.inject("1", "2", f"m{i}", system_id="esme")) for i in range(5)
        ]
        await eventually(lambda: len(started) == 5, "all five handed over before any answer")
        assert not any(s.done() for s in sends)
        assert started == [f"m{i}".encode() for i in range(5)]
        gate.set()
        responses = await asyncio.wait_for(asyncio.gather(*sends), 30)
        assert [int(r[0].command_status) for r in responses] == [0] * 5


async def test_reply_loop_protection_14107(tmp_path: Path) -> None:
    async with inbound_gateway(tmp_path) as (gw, app):
        configure(gw, sms_url=app.url("/sms"))
        gw.inbound.reply_limit = 3
        for i in range(5):
            await mo(gw, f"ping {i}")
        await app.wait_for("/sms", 5)
        found = await alerts(gw)
        assert codes(found) == [14107, 14107]
        await eventually(lambda: len(replies(gw)) == 3, "three replies")
        # Sessions run side by side: any three of the five get their reply.
        sent = replies(gw)
        assert len(set(sent)) == 3 and set(sent) <= {f"echo: ping {i}" for i in range(5)}
