"""The REST API with the real twilio helper library on a live server: messages (create,
fetch, list and paging, filters, cancel, redact, delete), every validation code,
subaccounts, API keys, isolation between accounts, error bodies, draining."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from engine.aio.app import Gateway
from tests.gateway_helpers import (
    carrier_link,
    eventually,
    running_gateway,
    twilio_client,
)

TO = "+15557654321"
LONG = "+14155550100"
SHORT = "12345"


@pytest.fixture
async def gw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Gateway]:
    """A gateway whose only carrier is down: messages stay queued."""
    link = carrier_link(monkeypatch, name="down")
    async with running_gateway(tmp_path, carriers=[link]) as gateway:
        yield gateway


def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return asyncio.to_thread(fn, *args, **kwargs)


async def rest_error(fn: Any, *args: Any, **kwargs: Any) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as info:
        await call(fn, *args, **kwargs)
    return info.value


def raw(
    gw: Gateway,
    method: str,
    path: str,
    *,
    auth: tuple[str, str] | None = None,
    data: bytes | None = None,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    req = urllib.request.Request(gw.api_url + path, data=data, method=method)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
            return resp.status, json.loads(body) if body else {}, dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), dict(err.headers)


async def test_create_fetch_and_list_through_pages(gw: Gateway) -> None:
    client = twilio_client(gw)
    sids = []
    for i in range(7):
        m = await call(client.messages.create, to=f"+1555765432{i}", from_=SHORT, body=f"p{i}")
        assert m.status == "queued" and m.direction == "outbound-api"
        assert m.date_created.tzinfo is not None and m.date_sent is None
        sids.append(m.sid)
    fetched = await call(client.messages(sids[0]).fetch)
    assert fetched.body == "p0" and fetched.to == "+15557654320" and fetched.from_ == SHORT
    assert fetched.num_segments == "1" and fetched.error_code is None
    streamed = await call(lambda: [m.sid for m in client.messages.stream(page_size=2)])
    assert streamed == list(reversed(sids))  # newest first, across four pages
    listed = await call(client.messages.list, limit=5)
    assert [m.sid for m in listed] == list(reversed(sids))[:5]
    only = await call(client.messages.list, to="+15557654323")
    assert [m.sid for m in only] == [sids[3]]
    none = await call(client.messages.list, from_=LONG)
    assert none == []
    # DateSent filters: nothing has been sent yet (the carrier is down).
    today = dt.datetime.now(dt.UTC).date()
    assert await call(client.messages.list, date_sent=today) == []
    assert await call(client.messages.list, date_sent_after=today) == []


async def test_date_sent_filters_after_sending(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw:
        client = twilio_client(gw)
        m = await call(client.messages.create, to=TO, from_=SHORT, body="dated")

        async def sent() -> bool:
            return (await call(client.messages(m.sid).fetch)).date_sent is not None

        await eventually(sent, "a send date")
        today = dt.datetime.now(dt.UTC).date()
        yesterday = today - dt.timedelta(days=1)
        assert [x.sid for x in await call(client.messages.list, date_sent=today)] == [m.sid]
        assert [
            x.sid
            for x in await call(
                client.messages.list, date_sent_after=yesterday, date_sent_before=today
            )
        ] == [m.sid]
        assert await call(client.messages.list, date_sent_before=yesterday) == []


async def test_cancel_redact_and_delete(gw: Gateway) -> None:
    client = twilio_client(gw)
    m = await call(client.messages.create, to=TO, from_=SHORT, body="secret words")
    # Still on its way: neither deleted nor redacted.
    err = await rest_error(client.messages(m.sid).delete)
    assert err.status == 400 and err.code == 20009
    err = await rest_error(client.messages(m.sid).update, body="")
    assert err.status == 400 and err.code == 20009
    canceled = await call(client.messages(m.sid).update, status="canceled")
    assert canceled.status == "canceled"
    redacted = await call(client.messages(m.sid).update, body="")
    assert redacted.body == "" and redacted.status == "canceled"
    assert await call(client.messages(m.sid).delete) is True
    err = await rest_error(client.messages(m.sid).fetch)
    assert err.status == 404 and err.code == 20404
    err = await rest_error(client.messages(m.sid).update, status="delivered")
    assert err.status == 400


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"to": "+1555", "from_": SHORT, "body": "x"}, 21211),
        ({"to": "not a number", "from_": SHORT, "body": "x"}, 21211),
        ({"to": TO, "from_": "+14155559999", "body": "x"}, 21606),
        ({"to": TO, "from_": SHORT, "body": "x" * 1601}, 21617),
        ({"to": TO, "from_": SHORT, "body": "😀" * 801}, 21617),
        ({"to": TO, "from_": SHORT, "body": "x", "status_callback": "ftp://x/y"}, 21609),
        ({"to": TO, "from_": SHORT, "body": "x", "validity_period": 0}, 21624),
        ({"to": TO, "from_": SHORT, "body": "x", "validity_period": 36001}, 21624),
        ({"to": LONG, "from_": LONG, "body": "x"}, 21211),
    ],
)
async def test_validation_codes(gw: Gateway, kwargs: dict[str, Any], code: int) -> None:
    client = twilio_client(gw)
    err = await rest_error(client.messages.create, **kwargs)
    assert err.status == 400 and err.code == code


async def test_missing_fields(gw: Gateway) -> None:
    assert gw.demo is not None
    auth = (gw.demo.account_sid, gw.demo.auth_token)
    path = f"/2010-04-01/Accounts/{gw.demo.account_sid}/Messages.json"
    for data, code in (
        (b"From=12345&Body=x", 21604),
        (b"To=%2B15557654321&Body=x", 21603),
        (b"To=%2B15557654321&From=12345", 21602),
        (b"To=%2B15557654321&From=12345&Body=", 21602),
    ):
        status, body, _ = await call(raw, gw, "POST", path, auth=auth, data=data)
        assert (status, body["code"]) == (400, code)
        assert set(body) == {"code", "message", "more_info", "status"}
        assert body["more_info"].endswith(str(code))


async def test_opted_out_recipient_and_full_queue(gw: Gateway) -> None:
    client = twilio_client(gw)
    gw.directory.set_opted_out(SHORT, TO, True)
    err = await rest_error(client.messages.create, to=TO, from_=SHORT, body="x")
    assert err.code == 21610
    gw.directory.set_opted_out(SHORT, TO, False)
    await call(client.messages.create, to=TO, from_=SHORT, body="x")
    # A long code at 1 segment/s may queue a validity period's worth; make that tiny.
    gw.directory.update_number(LONG, gw.demo.account_sid, rate=0.0001)  # type: ignore[union-attr]
    # 0.0001/s * 36000 s = 3 segments
    for _ in range(3):
        await call(client.messages.create, to=TO, from_=LONG, body="x")
    err = await rest_error(client.messages.create, to=TO, from_=LONG, body="x")
    assert err.code == 21611


async def test_authentication_and_isolation(gw: Gateway) -> None:
    assert gw.demo is not None
    client = twilio_client(gw)
    m = await call(client.messages.create, to=TO, from_=SHORT, body="mine")
    bad = twilio_client(gw, gw.demo.account_sid, "f" * 32)
    err = await rest_error(bad.messages(m.sid).fetch)
    assert (err.status, err.code) == (401, 20003)
    status, body, headers = await call(
        raw, gw, "GET", f"/2010-04-01/Accounts/{gw.demo.account_sid}/Messages.json"
    )
    assert status == 401 and body["code"] == 20003
    assert headers.get("WWW-Authenticate", "").startswith("Basic")
    other = gw.directory.create_account("other")
    intruder = twilio_client(gw, other.sid, other.auth_token)
    for action in (intruder.messages(m.sid).fetch, intruder.messages(m.sid).delete):
        err = await rest_error(action)
        assert (err.status, err.code) == (404, 20404)
    # The intruder's own view of its account shows nothing of the first.
    assert await call(intruder.messages.list) == []
    # Using the first account's path with the intruder's credentials: 404, no leak.
    cross = Client(other.sid, other.auth_token, account_sid=gw.demo.account_sid)
    cross.api.base_url = gw.api_url
    err = await rest_error(cross.messages(m.sid).fetch)
    assert (err.status, err.code) == (404, 20404)
    err = await rest_error(cross.messages.create, to=TO, from_=SHORT, body="x")
    assert (err.status, err.code) == (404, 20404)


async def test_subaccounts(gw: Gateway) -> None:
    assert gw.demo is not None
    client = twilio_client(gw)
    sub = await call(client.api.v2010.accounts.create, friendly_name="Shop")
    assert sub.sid.startswith("AC") and sub.owner_account_sid == gw.demo.account_sid
    listed = await call(client.api.v2010.accounts.list)
    assert {a.sid for a in listed} == {gw.demo.account_sid, sub.sid}
    # The parent acts on the subaccount's resources through the subaccount's path.
    gw.directory.add_numbers([_number("+14155550155")])
    gw.directory.assign_number("+14155550155", sub.sid)
    as_parent = twilio_client(gw, account_sid=sub.sid)
    m = await call(as_parent.messages.create, to=TO, from_="+14155550155", body="sub msg")
    sub_client = twilio_client(gw, sub.sid, sub.auth_token)
    assert [x.sid for x in await call(sub_client.messages.list)] == [m.sid]
    # The subaccount may not see the parent's resources nor make subaccounts.
    err = await rest_error(sub_client.api.v2010.accounts(gw.demo.account_sid).fetch)
    assert err.status == 404
    err = await rest_error(sub_client.api.v2010.accounts.create, friendly_name="x")
    assert err.status == 401
    # The parent's own number is not the subaccount's to send from.
    err = await rest_error(sub_client.messages.create, to=TO, from_=SHORT, body="x")
    assert err.code == 21606


def _number(phone: str) -> Any:
    from engine.store.directory import NumberRecord

    return NumberRecord.new(phone, number_type="local")


async def test_api_keys(gw: Gateway) -> None:
    assert gw.demo is not None
    client = twilio_client(gw)
    key = await call(client.new_keys.create, friendly_name="deploy")
    assert key.sid.startswith("SK") and key.secret
    keyed = twilio_client(gw, key.sid, key.secret, account_sid=gw.demo.account_sid)
    m = await call(keyed.messages.create, to=TO, from_=SHORT, body="by key")
    assert (await call(client.messages(m.sid).fetch)).body == "by key"
    listed = await call(client.keys.list)
    assert [k.sid for k in listed] == [key.sid]
    assert await call(client.keys(key.sid).delete) is True
    err = await rest_error(keyed.messages(m.sid).fetch)
    assert (err.status, err.code) == (401, 20003)


async def test_unknown_path_and_method(gw: Gateway) -> None:
    assert gw.demo is not None
    auth = (gw.demo.account_sid, gw.demo.auth_token)
    status, body, _ = await call(raw, gw, "GET", "/2010-04-01/Nope.json", auth=auth)
    assert (status, body["code"]) == (404, 20404)
    status, body, _ = await call(
        raw, gw, "PUT", f"/2010-04-01/Accounts/{gw.demo.account_sid}/Messages.json", auth=auth
    )
    assert (status, body["code"]) == (405, 20004)
    big = b"Body=" + b"x" * (gw.config.api.max_body + 10)
    status, body, _ = await call(
        raw,
        gw,
        "POST",
        f"/2010-04-01/Accounts/{gw.demo.account_sid}/Messages.json",
        auth=auth,
        data=big,
    )
    assert (status, body["code"]) == (413, 20413)


async def test_draining_answers_503(gw: Gateway) -> None:
    from engine.aio.rest import set_draining

    assert gw.app is not None
    set_draining(gw.app, True)
    client = twilio_client(gw)
    err = await rest_error(client.messages.create, to=TO, from_=SHORT, body="x")
    assert (err.status, err.code) == (503, 20503)
    status, body, _ = await call(raw, gw, "GET", "/health")
    assert status == 200 and body["status"] == "ok"
    set_draining(gw.app, False)
