"""Phone numbers on a live gateway with the real twilio helper library: search by area code,
region, locality, postal code, letters and wildcards (each checked against the directory by
brute force), provisioning, update, release, a subaccount move, the race between two
accounts, isolation, and the index following other processes' changes."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from engine.aio.app import DIRECTORY_DB, Gateway
from engine.config import ApiConfig
from engine.inventory import InventoryNumber, record_for
from engine.store.directory import Directory
from engine.vanity import keypad_digits
from tests.gateway_helpers import eventually, running_gateway, twilio_client


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with running_gateway(tmp_path) as gateway:
        yield gateway


def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return asyncio.to_thread(fn, *args, **kwargs)


async def rest_error(fn: Any, *args: Any, **kwargs: Any) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as info:
        await call(fn, *args, **kwargs)
    return info.value


def free(gw: Gateway) -> list[InventoryNumber]:
    """Every free number in the directory (the brute-force side of each check)."""
    _, numbers = gw.directory.free_inventory()
    return list(numbers)


def nsn(number: str) -> str:
    return number[2:] if number.startswith("+1") else number


def check_search(
    found: list[Any], expected: list[InventoryNumber], limit: int, what: str
) -> list[str]:
    """Every result is expected and, when fewer than ``limit`` exist, all of them came."""
    numbers = [n.phone_number for n in found]
    want = {r.phone_number for r in expected}
    assert want, f"the inventory has nothing for {what}: the check would prove nothing"
    assert len(numbers) == len(set(numbers)), what
    assert set(numbers) <= want, f"{what}: {set(numbers) - want} do not match"
    assert len(numbers) == min(limit, len(want)), what
    return numbers


def raw(
    gw: Gateway, method: str, path: str, auth: tuple[str, str], data: bytes | None = None
) -> tuple[int, dict[str, Any]]:
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    req = urllib.request.Request(gw.api_url + path, data=data, method=method)
    req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


# search ------------------------------------------------------------------------------------


async def test_search_by_area_code_and_shape(gw: Gateway) -> None:
    assert gw.demo is not None
    client = twilio_client(gw)
    inventory = free(gw)
    found = await call(client.available_phone_numbers("US").local.list, area_code=415, limit=20)
    expected = [
        r
        for r in inventory
        if r.iso_country == "US" and r.number_type == "local" and nsn(r.phone_number)[:3] == "415"
    ]
    check_search(found, expected, 20, "AreaCode=415")
    first = found[0]
    record = next(r for r in expected if r.phone_number == first.phone_number)
    # Twilio's search casing: upper-case SMS/MMS, lower-case voice; coordinates as strings
    assert first.capabilities == {"voice": record.voice, "SMS": record.sms, "MMS": record.mms}
    digits = nsn(first.phone_number)
    assert first.friendly_name == f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    assert first.locality == record.locality and first.region == record.region
    assert float(first.latitude) == pytest.approx(record.latitude)  # the lib reads decimals
    status, body = await call(
        raw,
        gw,
        "GET",
        f"/2010-04-01/Accounts/{gw.demo.account_sid}/AvailablePhoneNumbers/US/Local.json"
        "?AreaCode=415&PageSize=1",
        (gw.demo.account_sid, gw.demo.auth_token),
    )
    assert status == 200 and set(body) == {"available_phone_numbers", "uri"}
    assert isinstance(body["available_phone_numbers"][0]["latitude"], str)  # "37.774900"
    # the demo's own number is provisioned: never offered
    all_415 = await call(
        client.available_phone_numbers("US").local.list, area_code=415, page_size=1000
    )
    assert "+14155550100" not in {n.phone_number for n in all_415}


async def test_search_by_place(gw: Gateway) -> None:
    client = twilio_client(gw)
    inventory = [r for r in free(gw) if r.iso_country == "US" and r.number_type == "local"]
    sample = next(r for r in inventory if r.postal_code and r.locality and r.region)
    local = client.available_phone_numbers("US").local
    cases: list[tuple[dict[str, Any], Callable[[InventoryNumber], bool]]] = [
        ({"in_region": sample.region}, lambda r: r.region == sample.region),
        ({"in_locality": sample.locality}, lambda r: r.locality == sample.locality),
        ({"in_postal_code": sample.postal_code}, lambda r: r.postal_code == sample.postal_code),
        (
            {"in_region": sample.region.lower(), "sms_enabled": True, "mms_enabled": False},
            lambda r: r.region == sample.region and r.sms and not r.mms,
        ),
    ]
    for params, match in cases:
        expected = [r for r in inventory if match(r)]
        found = await call(local.list, page_size=1000, **params)
        if not expected:
            assert found == [], params
            continue
        check_search(found, expected, 1000, str(params))


async def test_search_by_letters_and_wildcards(gw: Gateway) -> None:
    client = twilio_client(gw)
    inventory = [r for r in free(gw) if r.iso_country == "US" and r.number_type == "local"]
    local = client.available_phone_numbers("US").local
    # letters: CAKE is 2253 on the keypad, anywhere in the national number
    digits = keypad_digits("CAKE")
    expected = [r for r in inventory if digits in nsn(r.phone_number)]
    found = check_search(
        await call(local.list, contains="CAKE", page_size=1000), expected, 1000, "CAKE"
    )
    # ranked: every number with the word at its end comes before the others
    ends = [n.endswith(digits) for n in found]
    assert any(ends) and not all(ends)
    assert ends == sorted(ends, reverse=True)
    # '*' is exactly one digit: 41*5 matches 4105..4195 within the number
    rx = re.compile("41[0-9]5")
    expected = [r for r in inventory if rx.search(nsn(r.phone_number))]
    check_search(await call(local.list, contains="41*5", page_size=50), expected, 50, "41*5")
    # area code and a word together (PA is 72 on the keypad)
    expected = [
        r
        for r in inventory
        if nsn(r.phone_number).startswith("212") and "72" in nsn(r.phone_number)
    ]
    found = await call(local.list, area_code=212, contains="PA", page_size=1000)
    check_search(found, expected, 1000, "AreaCode=212 Contains=PA")


async def test_search_errors_name_the_parameter(gw: Gateway) -> None:
    assert gw.demo is not None
    auth = (gw.demo.account_sid, gw.demo.auth_token)
    base = f"/2010-04-01/Accounts/{gw.demo.account_sid}/AvailablePhoneNumbers"
    cases = [
        ("/US/Local.json?AreaCode=41", 21451, "AreaCode"),
        ("/US/Local.json?AreaCode=abc", 21451, "AreaCode"),
        ("/US/Local.json?Contains=%21%21", 20001, "Contains"),
        ("/US/Local.json?SmsEnabled=maybe", 20001, "SmsEnabled"),
        ("/US/Local.json?PageSize=5000", 20001, "PageSize"),
        ("/US/Local.json?InRegion=" + "x" * 100, 20001, "InRegion"),
    ]
    for path, code, name in cases:
        status, body = await call(raw, gw, "GET", base + path, auth)
        assert (status, body["code"]) == (400, code), path
        assert name in body["message"], path
        assert set(body) == {"code", "message", "more_info", "status"}
    status, body = await call(raw, gw, "GET", base + "/US/Fancy.json", auth)
    assert (status, body["code"]) == (404, 20404)
    # accepted and ignored: ExcludeAllAddressRequired, Beta
    status, body = await call(
        raw, gw, "GET", base + "/US/Local.json?ExcludeAllAddressRequired=true&Beta=false", auth
    )
    assert status == 200 and body["available_phone_numbers"]


async def test_countries(gw: Gateway) -> None:
    client = twilio_client(gw)
    countries = {c.country_code: c for c in await call(client.available_phone_numbers.list)}
    assert {"US", "CA"} <= set(countries)
    assert set(countries["US"].subresource_uris) == {"local", "toll_free"}
    assert countries["US"].country == "United States"
    one = await call(client.available_phone_numbers("CA").fetch)
    assert one.country_code == "CA" and "local" in one.subresource_uris
    toll_free = await call(client.available_phone_numbers("US").toll_free.list, limit=5)
    assert len(toll_free) == 5 and all(
        n.phone_number[2:5] in {"800", "833", "844", "855", "866", "877", "888"} for n in toll_free
    )


# provisioning ---------------------------------------------------------------------------------


async def test_provision_update_release_and_again(gw: Gateway) -> None:
    assert gw.demo is not None
    client = twilio_client(gw)
    offered = await call(client.available_phone_numbers("US").local.list, area_code=212, limit=1)
    number = offered[0].phone_number
    bought = await call(
        client.incoming_phone_numbers.create,
        phone_number=number,
        sms_url="https://example.com/sms",
        friendly_name="Sales",
    )
    assert bought.sid.startswith("PN") and bought.account_sid == gw.demo.account_sid
    assert bought.capabilities.keys() == {"voice", "sms", "mms", "fax"}
    assert (bought.sms_url, bought.sms_method, bought.friendly_name) == (
        "https://example.com/sms",
        "POST",
        "Sales",
    )
    # never offered again while provisioned
    again = await call(
        client.available_phone_numbers("US").local.list, contains=nsn(number)[3:], page_size=1000
    )
    assert number not in {n.phone_number for n in again}
    fetched = await call(client.incoming_phone_numbers(bought.sid).fetch)
    assert fetched.phone_number == number
    updated = await call(
        client.incoming_phone_numbers(bought.sid).update,
        sms_url="https://example.com/v2",
        sms_method="GET",
        sms_fallback_url="https://example.com/fallback",
        status_callback="https://example.com/status",
        friendly_name="Support",
    )
    assert (updated.sms_url, updated.sms_method, updated.sms_fallback_url) == (
        "https://example.com/v2",
        "GET",
        "https://example.com/fallback",
    )
    assert updated.status_callback == "https://example.com/status"
    record = gw.directory.get_number(number)
    assert record.sms_url == "https://example.com/v2" and record.friendly_name == "Support"
    # list with filters
    listed = await call(client.incoming_phone_numbers.list, phone_number=nsn(number)[3:])
    assert [n.phone_number for n in listed] == [number]
    listed = await call(client.incoming_phone_numbers.list, friendly_name="Support")
    assert [n.sid for n in listed] == [bought.sid]
    assert await call(client.incoming_phone_numbers.list, friendly_name="nobody") == []
    # bad configuration: named
    err = await rest_error(client.incoming_phone_numbers(bought.sid).update, sms_method="PUT")
    assert err.status == 400 and "SmsMethod" in err.msg
    err = await rest_error(client.incoming_phone_numbers(bought.sid).update, sms_url="ftp://x")
    assert err.status == 400 and "SmsUrl" in err.msg
    # release: gone from the account, offered again, provisioned by another account
    assert await call(client.incoming_phone_numbers(bought.sid).delete) is True
    err = await rest_error(client.incoming_phone_numbers(bought.sid).fetch)
    assert (err.status, err.code) == (404, 20404)
    offered = await call(
        client.available_phone_numbers("US").local.list, contains=nsn(number)[3:], page_size=1000
    )
    assert number in {n.phone_number for n in offered}
    assert gw.directory.get_number(number).sms_url is None  # its configuration went with it
    other = gw.directory.create_account("other")
    theirs = await call(
        twilio_client(gw, other.sid, other.auth_token).incoming_phone_numbers.create,
        phone_number=number,
    )
    assert theirs.account_sid == other.sid and theirs.sid != bought.sid
    shown = next(n.friendly_name for n in offered if n.phone_number == number)
    assert theirs.sms_url == "" and theirs.friendly_name == shown


async def test_provision_by_area_code_and_errors(gw: Gateway) -> None:
    client = twilio_client(gw)
    bought = await call(client.incoming_phone_numbers.create, area_code="303")
    assert nsn(bought.phone_number).startswith("303")
    tf = await call(client.available_phone_numbers("US").toll_free.list, contains="800", limit=1)
    typed = await call(
        client.incoming_phone_numbers.toll_free.create, phone_number=tf[0].phone_number
    )
    assert typed.phone_number == tf[0].phone_number and typed.capabilities["sms"] is not None
    local = await call(client.incoming_phone_numbers.local.list)
    assert bought.phone_number in {n.phone_number for n in local}
    assert typed.phone_number not in {n.phone_number for n in local}
    err = await rest_error(client.incoming_phone_numbers.create, area_code="999")
    assert (err.status, err.code) == (400, 21452)
    err = await rest_error(client.incoming_phone_numbers.create, area_code="12")
    assert (err.status, err.code) == (400, 21451)
    err = await rest_error(client.incoming_phone_numbers.create, phone_number="+14155550100")
    assert (err.status, err.code) == (400, 21422)  # the demo's own number
    err = await rest_error(client.incoming_phone_numbers.create, phone_number="not a number")
    assert (err.status, err.code) == (400, 21421)
    # a toll-free number through Local.json: not available as that type
    tf = (await call(client.available_phone_numbers("US").toll_free.list, limit=1))[0]
    err = await rest_error(client.incoming_phone_numbers.local.create, phone_number=tf.phone_number)
    assert (err.status, err.code) == (400, 21422)
    assert gw.directory.get_number(tf.phone_number).account_sid is None


async def test_other_account_cannot_see_or_change(gw: Gateway) -> None:
    assert gw.demo is not None
    client = twilio_client(gw)
    bought = await call(client.incoming_phone_numbers.create, area_code="206")
    other = gw.directory.create_account("intruder")
    intruder = twilio_client(gw, other.sid, other.auth_token)
    assert await call(intruder.incoming_phone_numbers.list) == []
    for action, kwargs in (
        (intruder.incoming_phone_numbers(bought.sid).fetch, {}),
        (intruder.incoming_phone_numbers(bought.sid).update, {"sms_url": "https://evil.example"}),
        (intruder.incoming_phone_numbers(bought.sid).delete, {}),
    ):
        err = await rest_error(action, **kwargs)
        assert (err.status, err.code) == (404, 20404)
    # through the owner's path with the intruder's credentials: 404 too
    cross = Client(other.sid, other.auth_token, account_sid=gw.demo.account_sid)
    cross.api.base_url = gw.api_url
    err = await rest_error(cross.incoming_phone_numbers(bought.sid).fetch)
    assert (err.status, err.code) == (404, 20404)
    # and it cannot take it
    err = await rest_error(intruder.incoming_phone_numbers.create, phone_number=bought.phone_number)
    assert (err.status, err.code) == (400, 21422)
    record = gw.directory.get_number(bought.phone_number)
    assert record.account_sid == gw.demo.account_sid and record.sms_url is None


async def test_race_exactly_one_winner(gw: Gateway) -> None:
    a = gw.directory.create_account("a")
    b = gw.directory.create_account("b")
    clients = [twilio_client(gw, a.sid, a.auth_token), twilio_client(gw, b.sid, b.auth_token)]
    offered = await call(
        clients[0].available_phone_numbers("US").local.list, area_code=312, limit=25
    )
    assert len(offered) == 25

    def race(number: str) -> list[Any]:
        barrier = threading.Barrier(2)
        results: list[Any] = [None, None]

        def buy(i: int) -> None:
            barrier.wait()
            try:
                results[i] = clients[i].incoming_phone_numbers.create(phone_number=number)
            except TwilioRestException as exc:
                results[i] = exc

        threads = [threading.Thread(target=buy, args=(i,)) for i in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results

    wins = {a.sid: 0, b.sid: 0}
    for n in offered:
        results = await call(race, n.phone_number)
        winners = [r for r in results if not isinstance(r, TwilioRestException)]
        losers = [r for r in results if isinstance(r, TwilioRestException)]
        assert len(winners) == 1 and len(losers) == 1, n.phone_number
        assert (losers[0].status, losers[0].code) == (400, 21422)
        owner = gw.directory.get_number(n.phone_number).account_sid
        assert owner == winners[0].account_sid
        wins[owner] += 1
    assert sum(wins.values()) == 25


async def test_race_by_area_code_never_shares(gw: Gateway) -> None:
    a = gw.directory.create_account("a")
    b = gw.directory.create_account("b")
    clients = [twilio_client(gw, a.sid, a.auth_token), twilio_client(gw, b.sid, b.auth_token)]

    def burst() -> list[str]:
        barrier = threading.Barrier(8)
        got: list[str] = []

        def buy(i: int) -> None:
            barrier.wait()
            got.append(clients[i % 2].incoming_phone_numbers.create(area_code="305").phone_number)

        threads = [threading.Thread(target=buy, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return got

    got = await call(burst)
    assert len(got) == 8 and len(set(got)) == 8
    owners = {n: gw.directory.get_number(n).account_sid for n in got}
    assert sorted(owners.values()).count(a.sid) == 4


async def test_subaccount_move_keeps_rate_link_and_from_check(gw: Gateway) -> None:
    assert gw.demo is not None
    client = twilio_client(gw)
    number = "+13125550199"
    gw.directory.add_inventory([record_for(number, rate=2.5, link="sim")])
    sub = await call(client.api.v2010.accounts.create, friendly_name="Shop")
    bought = await call(client.incoming_phone_numbers.create, phone_number=number)
    moved = await call(client.incoming_phone_numbers(bought.sid).update, account_sid=sub.sid)
    assert moved.account_sid == sub.sid
    record = gw.directory.get_number(number)
    assert (record.account_sid, record.rate, record.link) == (sub.sid, 2.5, "sim")
    # the parent no longer owns it (21606 on From), the subaccount does
    err = await rest_error(client.messages.create, to="+15557654321", from_=number, body="x")
    assert err.code == 21606
    sub_client = twilio_client(gw, sub.sid, sub.auth_token)
    msg = await call(sub_client.messages.create, to="+15557654321", from_=number, body="hi")
    assert msg.from_ == number
    assert await call(client.incoming_phone_numbers.list, phone_number=number) == []
    # the subaccount cannot move it back to its parent (the parent's credentials can)
    err = await rest_error(
        sub_client.incoming_phone_numbers(bought.sid).update, account_sid=gw.demo.account_sid
    )
    assert err.status == 400 and "AccountSid" in err.msg
    as_parent = twilio_client(gw, account_sid=sub.sid)
    back = await call(
        as_parent.incoming_phone_numbers(bought.sid).update, account_sid=gw.demo.account_sid
    )
    assert back.account_sid == gw.demo.account_sid
    other = gw.directory.create_account("stranger")
    err = await rest_error(client.incoming_phone_numbers(bought.sid).update, account_sid=other.sid)
    assert err.status == 400 and "AccountSid" in err.msg
    # released: the rate and link stay with the number in the inventory
    await call(client.incoming_phone_numbers(bought.sid).delete)
    record = gw.directory.get_number(number)
    assert (record.account_sid, record.rate, record.link) == (None, 2.5, "sim")


async def test_released_number_no_longer_receives_for_old_owner(gw: Gateway) -> None:
    assert gw.demo is not None and gw.sim is not None and gw.dispatcher is not None
    client = twilio_client(gw)
    bought = await call(client.incoming_phone_numbers.create, area_code="617")
    number = bought.phone_number

    async def inject() -> None:
        async def bound() -> bool:
            try:
                await gw.sim.inject("+15550001111", number, "hello", system_id="gateway")
            except Exception:
                return False
            return True

        await eventually(bound, "the gateway's bind to the simulated carrier")

    before = gw.dispatcher.stats.inbound
    await inject()
    await eventually(lambda: gw.dispatcher.stats.inbound == before + 1, "the inbound message")
    inbound = await call(client.messages.list, to=number)
    assert [m.body for m in inbound] == ["hello"]
    await call(client.incoming_phone_numbers(bought.sid).delete)
    unowned = gw.dispatcher.stats.inbound_unowned
    await inject()
    await eventually(
        lambda: gw.dispatcher.stats.inbound_unowned == unowned + 1, "the unowned inbound"
    )
    # Kept under the reserved unrouted account, never the old owner's.
    assert [m.body for m in await call(client.messages.list, to=number)] == ["hello"]


async def test_index_follows_other_processes(gw: Gateway) -> None:
    """Another process (here: another Directory on the same file) provisions, releases and
    imports: this process's search sees it at its next search."""
    client = twilio_client(gw)
    local = client.available_phone_numbers("US").local
    first = (await call(local.list, area_code=512, limit=1))[0].phone_number
    other = Directory(Path(gw.config.data_dir) / DIRECTORY_DB)
    try:
        account = other.create_account("elsewhere")
        assert other.assign_number(first, account.sid) is not None
        offered = await call(local.list, area_code=512, page_size=1000)
        assert first not in {n.phone_number for n in offered}
        assert other.release_number(first, account.sid)
        offered = await call(local.list, area_code=512, page_size=1000)
        assert first in {n.phone_number for n in offered}
        # a small import and a bulk one (one "reload" change)
        other.add_inventory([record_for("+15125550142")])
        offered = await call(local.list, contains="5550142", page_size=10)
        assert "+15125550142" in {n.phone_number for n in offered}
        bulk = [record_for(f"+1512556{i:04d}") for i in range(1500)]
        assert other.add_inventory(bulk) == 1500
        offered = await call(local.list, contains="5125561499", page_size=10)
        assert [n.phone_number for n in offered] == ["+15125561499"]
    finally:
        other.close()


async def test_default_inventory_only_once(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw:
        total, provisioned = gw.directory.count_numbers()
        assert total >= 50_000 and provisioned == 3
        client = twilio_client(gw)
        bought = await call(client.incoming_phone_numbers.create, area_code="415")
        await call(client.incoming_phone_numbers(bought.sid).delete)
        demo = gw.demo
    async with running_gateway(tmp_path) as gw:
        assert gw.directory.count_numbers() == (total, 3)
        assert gw.demo == demo
        assert {n.phone_number for n in gw.directory.list_numbers(demo.account_sid)} == set(
            demo.numbers
        )


async def test_http_workers_share_the_inventory(tmp_path: Path) -> None:
    """Two HTTP worker processes, each with its own index: what one provisions the other
    never offers, what one releases the other offers again."""
    api = ApiConfig(listen="127.0.0.1:0", workers=2)
    async with running_gateway(tmp_path, api=api) as gw:
        assert gw.demo is not None

        def fresh() -> Client:  # a new connection: the kernel picks a worker
            return twilio_client(gw)

        bought = [
            await call(fresh().incoming_phone_numbers.create, area_code="720") for _ in range(6)
        ]
        numbers = {b.phone_number for b in bought}
        assert len(numbers) == 6
        for _ in range(8):
            offered = await call(
                fresh().available_phone_numbers("US").local.list, area_code=720, page_size=1000
            )
            assert not numbers & {n.phone_number for n in offered}
        for b in bought:
            await call(fresh().incoming_phone_numbers(b.sid).delete)
        for _ in range(8):
            offered = await call(
                fresh().available_phone_numbers("US").local.list, area_code=720, page_size=1000
            )
            assert numbers <= {n.phone_number for n in offered}
