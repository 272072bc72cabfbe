"""make_rest_app on its own: a real SqliteStore and Directory in tmp_path, the app served by
aiohttp on 127.0.0.1, the real twilio helper library (in a thread) as the client.  What
tests/test_rest.py (the whole gateway) does not reach: the hooks, raw Authorization
headers, bodies the store refuses, combined updates, keys and subaccounts across paths,
every error body's exact keys."""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from engine.aio.rest import make_rest_app, set_draining
from engine.store import MessageRecord, SqliteStore
from engine.store.directory import AccountRecord, Directory, NumberRecord

FROM = "+14155550100"
SHORT = "12345"
TO = "+14155550123"
ERROR_KEYS = {"code", "message", "more_info", "status"}


@dataclass
class Hooks:
    """Records what the app tells the dispatcher; ``limit`` answers sender_limit."""

    accepted: list[MessageRecord] = field(default_factory=list)
    canceled: list[MessageRecord] = field(default_factory=list)
    limit: int | None = None

    def accepted_(self, record: MessageRecord) -> None:
        self.accepted.append(record)

    def canceled_(self, record: MessageRecord) -> None:
        self.canceled.append(record)

    def sender_limit(self, from_: str) -> int | None:
        return self.limit


class _HookAdapter:
    def __init__(self, hooks: Hooks) -> None:
        self.h = hooks

    def accepted(self, record: MessageRecord) -> None:
        self.h.accepted_(record)

    def canceled(self, record: MessageRecord) -> None:
        self.h.canceled_(record)

    def sender_limit(self, from_: str) -> int | None:
        return self.h.sender_limit(from_)


@dataclass
class Api:
    url: str
    app: web.Application
    store: SqliteStore
    directory: Directory
    account: AccountRecord
    hooks: Hooks

    def client(
        self, sid: str | None = None, token: str | None = None, account_sid: str | None = None
    ) -> Client:
        c = Client(
            sid or self.account.sid, token or self.account.auth_token, account_sid=account_sid
        )
        c.api.base_url = self.url
        return c

    def raw(
        self,
        method: str,
        path: str,
        *,
        auth: tuple[str, str] | None = None,
        header: str | None = None,
        data: bytes | None = None,
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if auth is not None:
            header = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        if header is not None:
            req.add_header("Authorization", header)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                body = resp.read()
                return resp.status, json.loads(body) if body else {}, dict(resp.headers)
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read()), dict(err.headers)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    store = await SqliteStore.open(tmp_path / "messages.db", synchronous="NORMAL")
    directory = Directory(tmp_path / "directory.sqlite3")
    account = directory.create_account("Acme")
    directory.add_numbers(
        [
            NumberRecord.new(FROM, number_type="local"),
            NumberRecord.new(SHORT, number_type="short-code"),
            NumberRecord.new("+14155550111", number_type="local", sms=False),
        ]
    )
    for n in (FROM, SHORT, "+14155550111"):
        assert directory.assign_number(n, account.sid) is not None
    hooks = Hooks()
    app = make_rest_app(store=store, directory=directory, hooks=_HookAdapter(hooks))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Api(f"http://127.0.0.1:{port}", app, store, directory, account, hooks)
    finally:
        await runner.cleanup()
        await store.close()
        directory.close()


def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return asyncio.to_thread(fn, *args, **kwargs)


async def rest_error(fn: Any, *args: Any, **kwargs: Any) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as info:
        await call(fn, *args, **kwargs)
    return info.value


def messages_path(account: str) -> str:
    return f"/2010-04-01/Accounts/{account}/Messages.json"


async def test_create_tells_the_hook_after_the_store_has_it(api: Api) -> None:
    client = api.client()
    m = await call(client.messages.create, to=TO, from_=FROM, body="héllo €")
    assert [r.sid for r in api.hooks.accepted] == [m.sid]
    stored = await api.store.get(m.sid, api.account.sid)
    assert stored is not None and stored.body == "héllo €" and stored.num_segments == 1
    assert m.num_segments == "1" and m.status == "queued"
    long = await call(client.messages.create, to=TO, from_=FROM, body="😀" * 71)
    assert long.num_segments == "3"  # UCS-2: 142 units, 67 a part
    # A number given in another form is stored in E.164.
    spaced = await call(
        client.messages.create, to="+1 (415) 555-0123", from_="+1 415-555-0100", body="x"
    )
    assert (spaced.to, spaced.from_) == (TO, FROM)


async def test_paging_with_stream_and_limit(api: Api) -> None:
    client = api.client()
    sids = [
        (await call(client.messages.create, to=TO, from_=SHORT, body=f"m{i}")).sid for i in range(5)
    ]
    newest_first = list(reversed(sids))
    assert [m.sid for m in await call(lambda: list(client.messages.stream(page_size=2)))] == (
        newest_first
    )
    assert [m.sid for m in await call(client.messages.list, limit=3)] == newest_first[:3]
    assert [m.sid for m in await call(client.messages.list, limit=3, page_size=1)] == (
        newest_first[:3]
    )
    # The filters stay in every next_page_uri.
    status, page, _ = await call(
        api.raw,
        "GET",
        messages_path(api.account.sid) + "?From=12345&PageSize=2",
        auth=(api.account.sid, api.account.auth_token),
    )
    assert status == 200 and len(page["messages"]) == 2
    assert page["next_page_uri"].startswith(messages_path(api.account.sid) + "?")
    assert "From=12345" in page["next_page_uri"] and "PageToken=PA" in page["next_page_uri"]
    assert set(page) - {"messages"} <= {
        "first_page_uri",
        "next_page_uri",
        "previous_page_uri",
        "page",
        "page_size",
        "start",
        "end",
        "uri",
    }


async def test_validation_codes_with_exact_bodies(api: Api) -> None:
    auth = (api.account.sid, api.account.auth_token)
    path = messages_path(api.account.sid)
    cases = [
        (b"From=12345&Body=x", 21604),
        (b"To=%2B14155550123&Body=x", 21603),
        (b"To=%2B14155550123&From=12345", 21602),
        (b"To=%2B14155550123&From=12345&Body=", 21602),
        (b"To=%2B1555&From=12345&Body=x", 21211),
        (b"To=%2B14155550100&From=%2B14155550100&Body=x", 21211),
        (b"To=%2B14155550123&From=%2B14155559999&Body=x", 21606),
        (b"To=%2B14155550123&From=%2B14155550111&Body=x", 21606),  # not SMS-capable
        (b"To=%2B14155550123&From=12345&Body=" + b"x" * 1601, 21617),
        (b"To=%2B14155550123&From=12345&Body=x&StatusCallback=ftp%3A%2F%2Fh%2Fx", 21609),
        (b"To=%2B14155550123&From=12345&Body=x&StatusCallback=http%3A%2F%2F" + b"h" * 4000, 21609),
        (b"To=%2B14155550123&From=12345&Body=x&ValidityPeriod=0", 21624),
        (b"To=%2B14155550123&From=12345&Body=x&ValidityPeriod=36001", 21624),
        (b"To=%2B14155550123&From=12345&Body=x&ValidityPeriod=ten", 21624),
        (b"To=%2B14155550123&From=12345&Body=x&StatusCallback=http%3A%2F%2F%5Bx", 21609),
        (b"To=%2B14155550123&From=12345&Body=x&StatusCallback=http%3A%2F%2Fh%3A99999%2F", 21609),
    ]
    for data, code in cases:
        status, body, _ = await call(api.raw, "POST", path, auth=auth, data=data)
        assert (status, body.get("code")) == (400, code), (data, body)
        assert set(body) == ERROR_KEYS
        assert body["status"] == 400 and body["more_info"].endswith(f"/{code}")
    assert api.hooks.accepted == []


async def test_body_the_store_refuses_is_a_400_naming_the_field(api: Api) -> None:
    status, body, _ = await call(
        api.raw,
        "POST",
        messages_path(api.account.sid),
        auth=(api.account.sid, api.account.auth_token),
        data=b"To=%2B14155550123&From=12345&Body=a%00b",
    )
    assert status == 400 and set(body) == ERROR_KEYS
    assert "Body" in body["message"] or "body" in body["message"]


async def test_opt_out_and_full_queue(api: Api) -> None:
    client = api.client()
    api.directory.set_opted_out(FROM, TO, True)
    err = await rest_error(client.messages.create, to=TO, from_=FROM, body="x")
    assert (err.status, err.code) == (400, 21610)
    await call(client.messages.create, to=TO, from_=SHORT, body="other sender is fine")
    api.hooks.limit = 2
    await call(client.messages.create, to="+14155550124", from_=FROM, body="one")
    err = await rest_error(client.messages.create, to="+14155550124", from_=FROM, body="x" * 200)
    assert (err.status, err.code) == (400, 21611)  # 1 queued + 2 segments > 2
    await call(client.messages.create, to="+14155550124", from_=FROM, body="two")
    err = await rest_error(client.messages.create, to="+14155550124", from_=FROM, body="x")
    assert err.code == 21611
    assert len(api.hooks.accepted) == 3


async def test_update_cancel_redact_delete(api: Api) -> None:
    client = api.client()
    m = await call(client.messages.create, to=TO, from_=FROM, body="secret")
    err = await rest_error(client.messages(m.sid).delete)
    assert err.status in (400, 409) and err.code == 20009
    assert "queued" in str(err.msg)
    err = await rest_error(client.messages(m.sid).update, status="sent")
    assert err.status == 400 and "Status" in str(err.msg)
    err = await rest_error(client.messages(m.sid).update, body="new text")
    assert err.status == 400 and "Body" in str(err.msg)
    # Cancel and redact in one request: both happen.
    both = await call(client.messages(m.sid).update, status="canceled", body="")
    assert (both.status, both.body) == ("canceled", "")
    assert [r.sid for r in api.hooks.canceled] == [m.sid]
    stored = await api.store.get(m.sid, api.account.sid)
    assert stored is not None and stored.body == "" and stored.status == "canceled"
    assert await call(client.messages(m.sid).delete) is True
    err = await rest_error(client.messages(m.sid).fetch)
    assert (err.status, err.code) == (404, 20404)
    err = await rest_error(client.messages(m.sid).update, status="canceled")
    assert (err.status, err.code) == (404, 20404)


async def test_cannot_cancel_a_message_that_left(api: Api) -> None:
    client = api.client()
    m = await call(client.messages.create, to=TO, from_=FROM, body="x")
    await api.store.mark_sending(m.sid, "link-a")
    err = await rest_error(client.messages(m.sid).update, status="canceled")
    assert (err.status, err.code) == (400, 30409)
    assert "sending" in str(err.msg)
    assert api.hooks.canceled == []


async def test_credentials(api: Api) -> None:
    path = messages_path(api.account.sid)
    good = (
        "Basic " + base64.b64encode(f"{api.account.sid}:{api.account.auth_token}".encode()).decode()
    )
    for header in (
        None,
        "Bearer abc",
        "Basic",
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(f"{api.account.sid}:wrong".encode()).decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Basic " + "A" * 5000,
        good + "x",
    ):
        status, body, headers = await call(api.raw, "GET", path, header=header)
        assert (status, body) == (
            401,
            {
                "code": 20003,
                "message": body["message"],
                "more_info": "https://www.twilio.com/docs/errors/20003",
                "status": 401,
            },
        ), header
        assert headers["WWW-Authenticate"] == 'Basic realm="Twilio API"'
    status, _, _ = await call(api.raw, "GET", path, header=good)
    assert status == 200


async def test_keys_and_subaccounts_across_paths(api: Api) -> None:
    client = api.client()
    sub = await call(client.api.v2010.accounts.create, friendly_name="Shop")
    assert sub.owner_account_sid == api.account.sid and sub.auth_token
    api.directory.add_numbers([NumberRecord.new("+14155550177")])
    api.directory.assign_number("+14155550177", sub.sid)
    # The parent's key acts on the subaccount's path; the subaccount's key does not act
    # on the parent's (404, as for any account it may not see).
    parent_key = await call(client.new_keys.create, friendly_name="parent")
    as_parent = api.client(parent_key.sid, parent_key.secret, account_sid=sub.sid)
    m = await call(as_parent.messages.create, to=TO, from_="+14155550177", body="via key")
    assert m.account_sid == sub.sid
    sub_client = api.client(sub.sid, sub.auth_token)
    sub_key = await call(sub_client.new_keys.create, friendly_name="sub")
    upward = api.client(sub_key.sid, sub_key.secret, account_sid=api.account.sid)
    err = await rest_error(upward.messages.create, to=TO, from_=FROM, body="x")
    assert (err.status, err.code) == (404, 20404)
    err = await rest_error(upward.messages(m.sid).fetch)
    assert (err.status, err.code) == (404, 20404)
    own = api.client(sub_key.sid, sub_key.secret, account_sid=sub.sid)
    assert [x.sid for x in await call(own.messages.list)] == [m.sid]
    # A key sends and reads messages, but manages neither accounts nor keys: a leaked key
    # must not read the auth token or mint itself new keys.
    for action in (
        lambda: as_parent.api.v2010.accounts(sub.sid).fetch(),
        lambda: as_parent.api.v2010.accounts.create(friendly_name="x"),
        lambda: as_parent.new_keys.create(friendly_name="x"),
        lambda: as_parent.keys(sub_key.sid).fetch(),
        lambda: as_parent.keys(sub_key.sid).delete(),
    ):
        err = await rest_error(action)
        assert (err.status, err.code) == (401, 20003)
    status, body, _ = await call(
        api.raw, "GET", "/2010-04-01/Accounts.json", auth=(parent_key.sid, parent_key.secret)
    )
    assert (status, body["code"]) == (401, 20003)
    # Keys: rename, list, fetch, delete (then the key stops working at once).
    renamed = await call(sub_client.keys(sub_key.sid).update, friendly_name="renamed")
    assert renamed.friendly_name == "renamed"
    assert [k.sid for k in await call(sub_client.keys.list)] == [sub_key.sid]
    assert (await call(sub_client.keys(sub_key.sid).fetch)).friendly_name == "renamed"
    err = await rest_error(client.keys(sub_key.sid).fetch)  # the parent's own keys only
    assert (err.status, err.code) == (404, 20404)
    assert await call(sub_client.keys(sub_key.sid).delete) is True
    err = await rest_error(own.messages(m.sid).fetch)
    assert (err.status, err.code) == (401, 20003)
    # The message's media: none (SMS only), but the list answers as the library expects.
    assert await call(lambda: list(sub_client.messages(m.sid).media.list())) == []
    # The parent's own list does not mix in the subaccount's messages.
    assert await call(client.messages.list) == []
    # Only the parent sets a subaccount's status.
    err = await rest_error(sub_client.api.v2010.accounts(sub.sid).update, status="closed")
    assert err.status == 400 and "Status" in str(err.msg)
    # A suspended subaccount's credentials stop working.
    await call(client.api.v2010.accounts(sub.sid).update, status="suspended")
    err = await rest_error(sub_client.messages(m.sid).fetch)
    assert (err.status, err.code) == (401, 20003)
    # ... and the parent cannot send through it, though it still reads it and may
    # reactivate it.
    as_parent_token = api.client(account_sid=sub.sid)
    err = await rest_error(as_parent_token.messages.create, to=TO, from_="+14155550177", body="x")
    assert err.code == 20005 and "suspended" in str(err.msg)
    assert (await call(as_parent_token.messages(m.sid).fetch)).sid == m.sid
    await call(client.api.v2010.accounts(sub.sid).update, status="active")
    assert (await call(sub_client.messages(m.sid).fetch)).sid == m.sid


async def test_unknown_paths_methods_and_draining(api: Api) -> None:
    auth = (api.account.sid, api.account.auth_token)
    for method, path, status, code in (
        ("GET", "/2010-04-01/Nope.json", 404, 20404),
        ("GET", f"/2010-04-01/Accounts/{api.account.sid}/Messages/SMnope.json", 404, 20404),
        ("PUT", messages_path(api.account.sid), 405, 20004),
        ("DELETE", messages_path(api.account.sid), 405, 20004),
    ):
        got, body, _ = await call(api.raw, method, path, auth=auth)
        assert (got, body["code"], set(body)) == (status, code, ERROR_KEYS)
    got, body, _ = await call(
        api.raw, "POST", messages_path(api.account.sid), auth=auth, data=b"x" * (65 * 1024)
    )
    assert (got, body["code"], set(body)) == (413, 20413, ERROR_KEYS)
    set_draining(api.app, True)
    got, body, _ = await call(api.raw, "GET", messages_path(api.account.sid), auth=auth)
    assert (got, body["code"], set(body)) == (503, 20503, ERROR_KEYS)
    err = await rest_error(api.client().messages.create, to=TO, from_=FROM, body="x")
    assert (err.status, err.code) == (503, 20503)
    got, _, _ = await call(api.raw, "GET", "/health")
    assert got == 200
    set_draining(api.app, False)
    assert (await call(api.client().messages.create, to=TO, from_=FROM, body="x")).sid
