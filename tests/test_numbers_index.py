"""The search index (engine/number_index.py) checked against a brute-force filter over the
same generated inventory, both of its search paths (blob scans and posting lists), with
numbers provisioned and released in between."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import number_index
from engine.inventory import InventoryNumber, generate, record_for
from engine.number_index import NumberIndex, SearchQuery, query_from_params
from engine.numbers import NumberError, NumberType, split_e164
from engine.vanity import ContainsPattern, parse_contains, vanity_rank

KINDS: list[tuple[str, NumberType]] = [("US", "local"), ("CA", "local"), ("US", "toll-free")]
WORDS = ["CAKE", "CAT", "PIZZA", "STORM", "HI", "FLOWERS", "TAXI", "LAW", "SHOP", "DOG", "GO"]


@lru_cache(maxsize=1)
def inventory() -> list[InventoryNumber]:
    return generate(seed=3, count=20_000)


@lru_cache(maxsize=1)
def small() -> list[InventoryNumber]:
    return generate(seed=11, count=3000)


@lru_cache(maxsize=1)
def shared_index() -> tuple[NumberIndex, frozenset[str]]:
    """An index over the inventory with every 7th number provisioned."""
    index = NumberIndex(inventory())
    taken = frozenset(r.phone_number for r in inventory()[::7])
    for number in taken:
        assert index.remove(number) is not None
    return index, taken


def brute(records: Iterable[InventoryNumber], q: SearchQuery) -> list[InventoryNumber]:
    """What a search must return: every record that passes, by (rank, number)."""
    found = []
    for r in records:
        if (r.iso_country, r.number_type) != (q.iso_country, q.number_type):
            continue
        _, nsn = split_e164(r.phone_number)
        if q.area_code and not nsn.startswith(q.area_code):
            continue
        texts = [
            (r.region, q.in_region),
            (r.locality, q.in_locality),
            (r.postal_code, q.in_postal_code),
            (r.rate_center, q.in_rate_center),
            (r.lata, q.in_lata),
        ]
        if any(
            want is not None and (got or "").casefold() != want.casefold() for got, want in texts
        ):
            continue
        flags = [(r.sms, q.sms_enabled), (r.mms, q.mms_enabled), (r.voice, q.voice_enabled)]
        if any(want is not None and got is not want for got, want in flags):
            continue
        rank = 0
        if q.contains is not None:
            got_rank = vanity_rank(r.phone_number, q.contains)
            if got_rank is None:
                continue
            rank = got_rank if q.contains.has_letters else 0
        found.append((rank, nsn, r))
    found.sort(key=lambda t: (t[0], t[1]))
    return [r for _, _, r in found[: q.limit]]


@pytest.fixture(params=["scan", "postings"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test over both search paths: blob scans, and 4-digit posting lists whenever the
    pattern has 4 literal digits in a row."""
    monkeypatch.setattr(number_index, "_SCAN_LIMIT", 10**9 if request.param == "scan" else 0)
    yield request.param


# -- strategies --------------------------------------------------------------------------------


def _contains() -> st.SearchStrategy[str]:
    digits = st.text("0123456789", min_size=2, max_size=5)
    word = st.sampled_from(WORDS)
    core = st.one_of(word, digits, st.builds(lambda a, b: a + "*" + b, digits, digits))
    core = st.one_of(core, st.builds(lambda w, n: w + "*" * n, word, st.integers(1, 3)))
    return st.builds(
        lambda c, head, tail: head + c + tail,
        core,
        st.sampled_from(["", "", "%", "*", "+1", "+1*", "+44", "+1415"]),
        st.sampled_from(["", "", "$", "%"]),
    ).filter(lambda s: _valid(s))


def _valid(text: str) -> bool:
    try:
        parse_contains(text)
    except NumberError:
        return False
    return True


def _own_pattern(r: InventoryNumber) -> st.SearchStrategy[str]:
    """Patterns taken from a number of the inventory (so that searches find something)."""
    cc, nsn = split_e164(r.phone_number)
    return st.one_of(
        st.integers(0, len(nsn) - 2).flatmap(
            lambda i: st.integers(i + 2, min(len(nsn), i + 8)).map(lambda j: nsn[i:j])
        ),
        st.just(nsn[-4:] + "$"),
        st.just(nsn[-3:-1] + "*$"),
        st.just(f"+{cc}{nsn[:3]}" if cc else "+" + nsn[:3]),
        st.just("+" + cc + nsn[:2] + "*" + nsn[3:5]),
    ).filter(_valid)


def _parsed(text: str | None) -> ContainsPattern | None:
    return None if text is None else parse_contains(text)


@st.composite
def queries(
    draw: st.DrawFn, source: Callable[[], list[InventoryNumber]] = inventory
) -> SearchQuery:
    records = source()
    pick = draw(st.sampled_from(records))
    kind = (pick.iso_country, pick.number_type)
    _, nsn = split_e164(pick.phone_number)
    return SearchQuery(
        iso_country=kind[0],
        number_type=kind[1],
        area_code=draw(st.sampled_from([None, None, nsn[:3], nsn[:2], "999"])),
        contains=draw(st.one_of(st.none(), _contains(), _own_pattern(pick)).map(_parsed)),
        in_region=draw(st.sampled_from([None, None, pick.region, "ca"])),
        in_locality=draw(st.sampled_from([None, None, None, pick.locality])),
        in_postal_code=draw(st.sampled_from([None, None, None, pick.postal_code])),
        in_rate_center=draw(st.sampled_from([None, None, None, pick.rate_center])),
        in_lata=draw(st.sampled_from([None, None, None, pick.lata])),
        sms_enabled=draw(st.sampled_from([None, True, False])),
        mms_enabled=draw(st.sampled_from([None, None, True, False])),
        voice_enabled=draw(st.sampled_from([None, None, True, False])),
        limit=draw(st.sampled_from([1, 5, 20, 50, 200])),
    )


# -- properties ------------------------------------------------------------------------------


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(q=queries())
def test_search_equals_brute_force(path: str, q: SearchQuery) -> None:
    index, taken = shared_index()
    available = [r for r in inventory() if r.phone_number not in taken]
    got = index.search(q)
    assert [r.phone_number for r in got] == [r.phone_number for r in brute(available, q)]
    assert not any(r.phone_number in taken for r in got)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    word=st.sampled_from(WORDS),
    kind=st.sampled_from(KINDS),
)
def test_vanity_searches_equal_brute_force(
    path: str, word: str, kind: tuple[str, NumberType]
) -> None:
    index, taken = shared_index()
    available = [r for r in inventory() if r.phone_number not in taken]
    q = SearchQuery(
        iso_country=kind[0], number_type=kind[1], contains=parse_contains(word), limit=30
    )
    got = index.search(q)
    assert [r.phone_number for r in got] == [r.phone_number for r in brute(available, q)]


# -- examples --------------------------------------------------------------------------------


def test_vanity_results_rank_the_word_at_the_end_first(path: str) -> None:
    numbers = ["+14155225310", "+14152253100", "+14155552253", "+14155550100", "+16505552253"]
    index = NumberIndex(record_for(n) for n in numbers)
    q = SearchQuery(iso_country="US", number_type="local", contains=parse_contains("CAKE"))
    assert [r.phone_number for r in index.search(q)] == [
        "+14155552253",
        "+16505552253",
        "+14152253100",
        "+14155225310",
    ]
    q = SearchQuery(iso_country="US", number_type="local", contains=parse_contains("CAKE$"))
    assert [r.phone_number for r in index.search(q)] == ["+14155552253", "+16505552253"]
    q = SearchQuery(
        iso_country="US", number_type="local", area_code="650", contains=parse_contains("CAKE")
    )
    assert [r.phone_number for r in index.search(q)] == ["+16505552253"]


def test_provisioned_numbers_are_never_offered_and_come_back_when_released() -> None:
    records = [record_for(f"+1415555{n:04d}") for n in range(200)]
    index = NumberIndex(records)
    area = SearchQuery(iso_country="US", number_type="local", area_code="415", limit=1000)
    assert len(index.search(area)) == 200 and len(index) == 200
    rng = random.Random(5)
    taken = set(rng.sample([r.phone_number for r in records], 150))
    for number in taken:
        assert index.remove(number) is not None
        assert index.remove(number) is None  # already taken: nothing to take
        assert number not in index and index.get(number) is None
    offered = {r.phone_number for r in index.search(area)}
    assert offered == {r.phone_number for r in records} - taken
    word = SearchQuery(iso_country="US", number_type="local", contains=parse_contains("555*"))
    assert not {r.phone_number for r in index.search(word)} & taken
    released = sorted(taken)[:10]
    for number in released:
        assert index.add(record_for(number)) is True
    assert index.add(record_for(released[0])) is False  # already available
    assert {r.phone_number for r in index.search(area)} == offered | set(released)
    assert index.countries() == {"US": {"local": 60}}


def test_new_numbers_join_their_sorted_place() -> None:
    index = NumberIndex(record_for(f"+1415555{n:04d}") for n in range(0, 100, 10))
    index.add(record_for("+14155550005"))
    index.add(record_for("+14155550095"))
    q = SearchQuery(iso_country="US", number_type="local", area_code="415", limit=4)
    assert [r.phone_number for r in index.search(q)] == [
        "+14155550000",
        "+14155550005",
        "+14155550010",
        "+14155550020",
    ]
    q = SearchQuery(iso_country="US", number_type="local", contains=parse_contains("95$"))
    assert [r.phone_number for r in index.search(q)] == ["+14155550095"]


def test_a_changed_record_replaces_the_old_one() -> None:
    index = NumberIndex([record_for("+14155550100")])
    index.add(record_for("+14155550100", sms=False, locality="Somewhere"))
    q = SearchQuery(iso_country="US", number_type="local", sms_enabled=False)
    assert [r.locality for r in index.search(q)] == ["Somewhere"]
    index.add(record_for("+14155550100", number_type="mobile"))
    assert index.search(q) == []
    assert index.countries() == {"US": {"mobile": 1}}


def test_short_codes_and_other_countries() -> None:
    index = NumberIndex([*inventory()])
    sc = index.search(SearchQuery(iso_country="US", number_type="short-code", limit=3))
    assert len(sc) == 3 and all(r.phone_number.isdigit() for r in sc)
    gb = index.search(
        SearchQuery(iso_country="GB", number_type="local", contains=parse_contains("+4420"))
    )
    assert gb and all(r.phone_number.startswith("+4420") for r in gb)
    assert index.search(SearchQuery(iso_country="FR", number_type="local")) == []
    assert set(index.countries()) == {"US", "CA", "GB", "DE", "AU"}


# -- query parameters --------------------------------------------------------------------------


def test_query_from_params() -> None:
    q = query_from_params(
        "us",
        "Local",
        {
            "AreaCode": "415",
            "Contains": "CAKE",
            "InRegion": "CA",
            "SmsEnabled": "true",
            "MmsEnabled": "False",
            "PageSize": "20",
            "ExcludeAllAddressRequired": "true",
            "Beta": "false",
        },
    )
    assert (q.iso_country, q.number_type, q.area_code, q.in_region) == ("US", "local", "415", "CA")
    assert q.contains is not None and q.contains.body == "2253"
    assert (q.sms_enabled, q.mms_enabled, q.voice_enabled, q.limit) == (True, False, None, 20)
    assert query_from_params("CA", "TollFree", {}).number_type == "toll-free"
    assert query_from_params("GB", "Mobile", {}).limit == 50


@pytest.mark.parametrize(
    ("country", "kind", "params", "field"),
    [
        ("USA", "Local", {}, "Country"),
        ("US", "Landline", {}, "Type"),
        ("US", "Local", {"AreaCode": "41"}, "AreaCode"),
        ("US", "Local", {"AreaCode": "4l5"}, "AreaCode"),
        ("US", "Local", {"Contains": "C"}, "Contains"),
        ("US", "Local", {"Contains": "12%34"}, "Contains"),
        ("US", "Local", {"SmsEnabled": "yes please"}, "SmsEnabled"),
        ("US", "Local", {"PageSize": "0"}, "PageSize"),
        ("US", "Local", {"PageSize": "1001"}, "PageSize"),
        ("US", "Local", {"PageSize": "ten"}, "PageSize"),
        ("US", "Local", {"InLocality": "x" * 65}, "InLocality"),
    ],
)
def test_query_from_params_errors_name_the_parameter(
    country: str, kind: str, params: dict[str, str], field: str
) -> None:
    with pytest.raises(NumberError) as exc:
        query_from_params(country, kind, params)
    assert exc.value.field == field


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ops=st.lists(
        st.tuples(st.sampled_from(["remove", "add", "new"]), st.integers(0, 2999)), max_size=300
    ),
    q=queries(small),
)
def test_search_after_provisioning_and_release_equals_brute_force(
    path: str, ops: list[tuple[str, int]], q: SearchQuery
) -> None:
    records = small()
    index = NumberIndex(records)
    available = {r.phone_number: r for r in records}
    for op, i in ops:
        r = records[i]
        if op == "remove":
            assert (index.remove(r.phone_number) is not None) == (r.phone_number in available)
            available.pop(r.phone_number, None)
        elif op == "add":
            assert index.add(r) == (r.phone_number not in available)
            available[r.phone_number] = r
        else:  # a number the index has never seen, next to one it has
            cc, nsn = split_e164(r.phone_number)
            if not cc:
                continue
            number = f"+{cc}{nsn[:-3]}{(int(nsn[-3:]) + 500) % 1000:03d}"
            if number in available or any(x.phone_number == number for x in records):
                continue
            new = msgspec.structs.replace(r, phone_number=number)
            assert index.add(new)
            available[number] = new
    assert len(index) == len(available)
    want = brute(sorted(available.values(), key=lambda r: r.phone_number), q)
    assert [r.phone_number for r in index.search(q)] == [r.phone_number for r in want]


def test_every_bucket_stays_in_order_after_new_numbers(path: str) -> None:
    records = small()
    index = NumberIndex(records)
    available = {r.phone_number: r for r in records}
    rng = random.Random(2)
    for r in rng.sample(records, 600):
        cc, nsn = split_e164(r.phone_number)
        if not cc:
            continue
        number = f"+{cc}{nsn[:-3]}{(int(nsn[-3:]) + 500) % 1000:03d}"
        if number not in available and index.get(number) is None:
            new = msgspec.structs.replace(r, phone_number=number)
            assert index.add(new)
            available[number] = new
    for r in rng.sample(records, 300):
        index.remove(r.phone_number)
        available.pop(r.phone_number)
    now = sorted(available.values(), key=lambda r: r.phone_number)
    for iso, kind in {(r.iso_country, r.number_type) for r in records}:
        prefixes = {split_e164(r.phone_number)[1][:3] for r in records if r.iso_country == iso}
        for prefix in sorted(prefixes):
            for contains in (None, parse_contains("05*"), parse_contains("55$")):
                q = SearchQuery(
                    iso_country=iso,
                    number_type=kind,
                    area_code=prefix,
                    contains=contains,
                    limit=1000,
                )
                got = [r.phone_number for r in index.search(q)]
                assert got == [r.phone_number for r in brute(now, q)], (iso, kind, prefix)
