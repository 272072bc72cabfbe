"""The search index over available numbers (pure: no I/O, no clock; the store feeds it).

It answers Twilio's ``AvailablePhoneNumbers`` search (``../shared/reference/twilio-compat.md``
§4.1): by country and type, ``AreaCode``, ``Contains`` (keypad letters, ``*``, ``%``, ``+``
and ``$``), ``InRegion``, ``InLocality``, ``InPostalCode``, ``InRateCenter``, ``InLata``,
``SmsEnabled``/``MmsEnabled``/``VoiceEnabled`` and ``PageSize``.  A number is taken out when
it is provisioned (:meth:`NumberIndex.remove`) and put back when it is released
(:meth:`NumberIndex.add`), both in constant time for a number the index has seen.

Results come in number order; for a ``Contains`` with letters, ranked first (the word at the
end of the number, then right after the area code, then anywhere: :mod:`engine.vanity`).

How it is fast (one million numbers, well under 20 ms per search): numbers are kept per
(country, type) *shard*, and in a shard per *bucket* of the first three NSN digits (the area
code in North America), sorted.  Each bucket also keeps its numbers as one ``bytearray`` of
fixed-width records (``\\n``, the digits, ``\\n`` padding, one state byte: capability bits
and "provisioned"), so a ``Contains`` pattern becomes one regular expression that ``re`` runs
over the bucket in C, skipping provisioned numbers and capability misses by the state byte;
a record's index is the match offset divided by the width.  A pattern with four or more
literal digits in a row is looked up instead in a posting list of every 4-digit substring
(about 700 entries per substring at a million numbers), then checked.  Provisioning and
release flip a per-number ``alive`` flag and the record's state byte; buckets remember which
regions, localities, postal codes, rate centers, LATAs and capability sets they hold, so
filters skip whole buckets.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Final, NamedTuple

import msgspec

from engine.inventory import InventoryNumber
from engine.numbers import NumberError, NumberType, split_e164
from engine.vanity import (
    RANK_BURIED,
    RANK_END,
    RANK_SUBSCRIBER_START,
    ContainsPattern,
    NsnPattern,
    parse_contains,
    subscriber_offset,
)

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "TWILIO_TYPES",
    "NumberIndex",
    "SearchQuery",
    "query_from_params",
]

DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 1000
MAX_FILTER: Final = 64  # longest InRegion/InLocality/... value
GRAM: Final = 4  # digits per posting-list key
_SCAN_LIMIT: Final = 40_000
_FLAG_BASE: Final = 0x41  # state byte of a record: "A" + sms 1 | mms 2 | voice 4 | dead 8
_DEAD: Final = 8  # fewer candidate records than this: scan blobs, not postings

# The type segment of the REST path to our number types.
TWILIO_TYPES: Final[dict[str, NumberType]] = {
    "Local": "local",
    "TollFree": "toll-free",
    "Mobile": "mobile",
}


class SearchQuery(msgspec.Struct, frozen=True, kw_only=True):
    """One search.  ``iso_country`` is ISO 3166 alpha-2; ``area_code`` a prefix of the
    national number (US and Canada: the 3-digit area code); ``contains`` a parsed pattern
    (:func:`engine.vanity.parse_contains`); ``in_*`` match case-insensitively and exactly;
    ``*_enabled`` None means either; ``limit`` is Twilio's ``PageSize``."""

    iso_country: str
    number_type: NumberType
    area_code: str | None = None
    contains: ContainsPattern | None = None
    in_region: str | None = None
    in_locality: str | None = None
    in_postal_code: str | None = None
    in_rate_center: str | None = None
    in_lata: str | None = None
    sms_enabled: bool | None = None
    mms_enabled: bool | None = None
    voice_enabled: bool | None = None
    limit: int = DEFAULT_PAGE_SIZE


def _bool_param(params: Mapping[str, str], name: str) -> bool | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    v = value.strip().lower()
    if v == "true":
        return True
    if v == "false":
        return False
    raise NumberError(f"{value[:20]!r} is not true or false", field=name)


def _text_param(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None or not value.strip():
        return None
    if len(value) > MAX_FILTER:
        raise NumberError(f"is longer than {MAX_FILTER} characters", field=name)
    return value.strip()


def query_from_params(
    iso_country: str, type_segment: str, params: Mapping[str, str]
) -> SearchQuery:
    """A :class:`SearchQuery` from the path (``US``, ``Local``) and query parameters of
    ``AvailablePhoneNumbers/{Country}/{Type}.json``.  Parameters Twilio defines that change
    nothing here (``ExcludeAllAddressRequired``, ``Beta``, ``Page``...) and unknown ones are
    ignored.  Raises :class:`NumberError` whose ``field`` is the parameter."""
    country = iso_country.upper()
    if not (len(country) == 2 and country.isascii() and country.isalpha()):
        raise NumberError(f"{iso_country[:8]!r} is not a 2-letter country code", field="Country")
    kind = TWILIO_TYPES.get(type_segment)
    if kind is None:
        raise NumberError(
            f"{type_segment[:20]!r} is not one of {', '.join(TWILIO_TYPES)}", field="Type"
        )
    area = _text_param(params, "AreaCode")
    if area is not None:
        nanp = country in ("US", "CA")
        if not area.isascii() or not area.isdigit() or (nanp and len(area) != 3) or len(area) > 6:
            raise NumberError(
                f"{area!r} is not a valid area code"
                + (" (3 digits in the US and Canada)" if nanp else ""),
                field="AreaCode",
            )
    contains = params.get("Contains")
    page = params.get("PageSize")
    limit = DEFAULT_PAGE_SIZE
    if page not in (None, ""):
        assert page is not None
        if not (page.isascii() and page.isdigit() and 1 <= int(page[:6]) <= MAX_PAGE_SIZE):
            raise NumberError(f"must be 1 to {MAX_PAGE_SIZE}", field="PageSize")
        limit = int(page)
    return SearchQuery(
        iso_country=country,
        number_type=kind,
        area_code=area,
        contains=parse_contains(contains) if contains not in (None, "") else None,
        in_region=_text_param(params, "InRegion"),
        in_locality=_text_param(params, "InLocality"),
        in_postal_code=_text_param(params, "InPostalCode"),
        in_rate_center=_text_param(params, "InRateCenter"),
        in_lata=_text_param(params, "InLata"),
        sms_enabled=_bool_param(params, "SmsEnabled"),
        mms_enabled=_bool_param(params, "MmsEnabled"),
        voice_enabled=_bool_param(params, "VoiceEnabled"),
        limit=limit,
    )


# ---------------------------------------------------------------------------------------------
# The index
# ---------------------------------------------------------------------------------------------


def _caps(r: InventoryNumber) -> int:
    return (1 if r.sms else 0) | (2 if r.mms else 0) | (4 if r.voice else 0)


def _fold(value: str | None) -> str:
    return value.casefold() if value else ""


class _Bucket:
    """The numbers of one shard whose NSN starts with ``key``, sorted by NSN."""

    __slots__ = (
        "blob",
        "caps",
        "key",
        "latas",
        "localities",
        "nsns",
        "postals",
        "rate_centers",
        "regions",
        "seen",
        "slots",
        "width",
    )

    def __init__(self, key: str) -> None:
        self.key = key
        self.nsns: list[str] = []
        self.slots = array("I")
        self.width = 0
        self.blob = bytearray()
        self.regions: set[str] = set()
        self.localities: set[str] = set()
        self.postals: set[str] = set()
        self.rate_centers: set[str] = set()
        self.latas: set[str] = set()
        self.caps: set[int] = set()
        self.seen: set[tuple[object, ...]] = set()

    def _record(self, nsn: str, flag: int) -> bytes:
        pad = self.width - 2 - len(nsn)
        return b"\n" + nsn.encode() + b"\n" * pad + bytes((_FLAG_BASE + flag,))

    def set_flag(self, nsn: str, flag: int) -> None:
        """Rewrite the state byte of ``nsn``'s record (no-op while the bucket is pending)."""
        i = bisect_left(self.nsns, nsn)
        if i < len(self.nsns) and self.nsns[i] == nsn:
            self.blob[(i + 1) * self.width - 1] = _FLAG_BASE + flag

    def note(self, r: InventoryNumber) -> None:
        """Remember the record's filterable values (sets only grow: they prune, no more)."""
        values = (r.region, r.locality, r.postal_code, r.rate_center, r.lata, _caps(r))
        if values in self.seen:
            return
        self.seen.add(values)
        self.regions.add(_fold(r.region))
        self.localities.add(_fold(r.locality))
        self.postals.add(_fold(r.postal_code))
        self.rate_centers.add(_fold(r.rate_center))
        self.latas.add(_fold(r.lata))
        self.caps.add(_caps(r))

    def fill(self, items: list[tuple[str, int]], shard: _Shard) -> None:
        """Build the bucket from (nsn, slot) pairs in one go."""
        items.sort()
        self.nsns = [n for n, _ in items]
        self.slots = array("I", [s for _, s in items])
        self.width = max(len(n) for n in self.nsns) + 3
        flag = shard.flag
        self.blob = bytearray(b"".join(self._record(n, flag(s)) for n, s in items))

    def insert(self, nsn: str, slot: int, shard: _Shard) -> None:
        """Add one number in its sorted place."""
        if len(nsn) + 3 > self.width:
            self.fill([*zip(self.nsns, self.slots, strict=True), (nsn, slot)], shard)
            return
        i = bisect_left(self.nsns, nsn)
        self.nsns.insert(i, nsn)
        self.slots.insert(i, slot)
        self.blob[i * self.width : i * self.width] = self._record(nsn, shard.flag(slot))


class _Shard:
    """The numbers of one (country, type)."""

    def __init__(self, key: tuple[str, str], country_code: str, index: int) -> None:
        self.key = key
        self.index = index
        self.cc = country_code
        self.sub = subscriber_offset(country_code)
        self.records: list[InventoryNumber] = []
        self.nsns: list[str] = []
        self.alive = bytearray()
        self.caps = bytearray()  # per slot: sms 1 | mms 2 | voice 4, checked without the record
        self.available = 0
        self.buckets: dict[str, _Bucket] = {}
        self.order: list[_Bucket] = []  # buckets by key
        # posting lists of every 4-digit substring: slot << 4 | position
        self.grams: list[array[int]] = [array("I") for _ in range(10**GRAM)]
        # slots by their last 4 digits: the numbers that can spell a word at their end, the
        # first tier of a ranked search, without the other ~7 positions of each gram
        self.ends: list[array[int]] = [array("I") for _ in range(10**GRAM)]

    def new_slot(self, r: InventoryNumber, nsn: str) -> int:
        slot = len(self.records)
        self.records.append(r)
        self.nsns.append(nsn)
        self.alive.append(1)
        self.caps.append(_caps(r))
        self.available += 1
        grams = self.grams
        base = slot << 4  # an NSN has at most 15 digits: the position fits 4 bits
        for p in range(len(nsn) - GRAM + 1):
            grams[int(nsn[p : p + GRAM])].append(base | p)
        if len(nsn) >= GRAM:
            self.ends[int(nsn[-GRAM:])].append(slot)
        return slot

    def flag(self, slot: int) -> int:
        """The state byte of a record: its capability bits, and 8 when it is provisioned."""
        return self.caps[slot] | (0 if self.alive[slot] else _DEAD)

    def refresh(self, slot: int) -> None:
        """Write a slot's state into its bucket's blob, after ``alive`` or ``caps`` changed."""
        nsn = self.nsns[slot]
        self.buckets[nsn[:3]].set_flag(nsn, self.flag(slot))

    def bucket(self, key: str) -> _Bucket:
        b = self.buckets.get(key)
        if b is None:
            b = self.buckets[key] = _Bucket(key)
            self.order = [self.buckets[k] for k in sorted(self.buckets)]
        return b


class _Plan(NamedTuple):
    """A query resolved against one shard."""

    area: str
    form: NsnPattern | None
    ranked: bool
    check: Callable[[InventoryNumber], bool] | None
    need: int  # capability bits a number must have
    refuse: int  # capability bits it must not have
    limit: int


@lru_cache(maxsize=256)
def _blob_regex(body: str, start: bool, end: bool, states: bytes) -> re.Pattern[bytes]:
    """``body`` over a bucket's blob, ending on a record whose state byte is in ``states``
    (so that provisioned numbers and capability filters are skipped inside ``re``)."""
    text = ("\n" if start else "") + body.replace("*", "[0-9]") + ("" if end else "[0-9]*")
    return re.compile(text.encode() + b"\n+[" + states + b"]")


def _states(need: int, refuse: int) -> bytes:
    """State bytes of available numbers that have ``need`` and none of ``refuse``."""
    return bytes(_FLAG_BASE + c for c in range(8) if c & need == need and not c & refuse)


@lru_cache(maxsize=256)
def _nsn_end_regex(body: str, start: bool) -> re.Pattern[str]:
    return re.compile(("^" if start else "") + body.replace("*", "[0-9]") + "$")


@lru_cache(maxsize=256)
def _nsn_regex(prefix: int, body: str) -> re.Pattern[str]:
    return re.compile(("[0-9]" * prefix) + body.replace("*", "[0-9]"))


class NumberIndex:
    """The available numbers, searchable.  Not thread-safe: one event loop owns it.

    ``NumberIndex(records)`` builds it (a million records in a few seconds);
    :meth:`add` puts a number (back) in, :meth:`remove` takes one out, :meth:`search`
    answers a :class:`SearchQuery`."""

    def __init__(self, numbers: Iterable[InventoryNumber] = ()) -> None:
        self._shards: dict[tuple[str, str], _Shard] = {}
        self._shard_list: list[_Shard] = []
        # number -> shard index << 32 | slot (an int, not a tuple: a million of them)
        self._where: dict[str, int] = {}
        self.add_many(numbers)

    # -- changes --------------------------------------------------------------------------

    def _shard_for(self, r: InventoryNumber, cc: str) -> _Shard:
        key = (r.iso_country.upper(), r.number_type)
        shard = self._shards.get(key)
        if shard is None:
            shard = self._shards[key] = _Shard(key, cc, len(self._shard_list))
            self._shard_list.append(shard)
        return shard

    def _locate(self, phone_number: str) -> tuple[_Shard, int] | None:
        where = self._where.get(phone_number)
        if where is None:
            return None
        return self._shard_list[where >> 32], where & 0xFFFFFFFF

    def add_many(self, numbers: Iterable[InventoryNumber]) -> int:
        """Make every record available (new ones, released ones, or a new version of an
        available one); returns how many were not available before.  Raises
        :class:`NumberError` for a record whose number is not E.164 or a short code."""
        fresh: dict[tuple[int, str], list[tuple[str, int]]] = {}
        added = 0
        for r in numbers:
            found = self._locate(r.phone_number)
            if found is not None:
                shard, slot = found
                if (r.iso_country.upper(), r.number_type) == shard.key:
                    added += self._revive(r, shard, slot)
                    continue
                # a new type or country for a known number: the old slot dies for good
                # (unreachable from _where) and the record is indexed afresh
                del self._where[r.phone_number]
                if shard.alive[slot]:
                    shard.available -= 1
                    added -= 1  # it was available: counted again below
                shard.alive[slot] = 0
                shard.refresh(slot)
            cc, nsn = split_e164(r.phone_number)
            shard = self._shard_for(r, cc)
            slot = shard.new_slot(r, nsn)
            self._where[r.phone_number] = shard.index << 32 | slot
            key = nsn[:3]
            bucket = shard.bucket(key)
            bucket.note(r)
            pending = fresh.get((shard.index, key))
            if pending is not None:
                pending.append((nsn, slot))
            elif bucket.nsns:
                bucket.insert(nsn, slot, shard)
            else:
                fresh[(shard.index, key)] = [(nsn, slot)]  # a new bucket: built in one go
            added += 1
        for (index, key), items in fresh.items():
            shard = self._shard_list[index]
            shard.buckets[key].fill(items, shard)
        return added

    def _revive(self, r: InventoryNumber, shard: _Shard, slot: int) -> int:
        shard.records[slot] = r
        shard.caps[slot] = _caps(r)
        shard.buckets[shard.nsns[slot][:3]].note(r)
        was = shard.alive[slot]
        shard.alive[slot] = 1
        shard.refresh(slot)
        if was:
            return 0
        shard.available += 1
        return 1

    def add(self, number: InventoryNumber) -> bool:
        """Make ``number`` available (imported or released).  True if it was not."""
        return self.add_many([number]) == 1

    def remove(self, phone_number: str) -> InventoryNumber | None:
        """Take a number out of the search (it was provisioned): its record, or None when it
        was not available."""
        found = self._locate(phone_number)
        if found is None:
            return None
        shard, slot = found
        if not shard.alive[slot]:
            return None
        shard.alive[slot] = 0
        shard.refresh(slot)
        shard.available -= 1
        return shard.records[slot]

    # -- reads ----------------------------------------------------------------------------

    def get(self, phone_number: str) -> InventoryNumber | None:
        """The record of an available number, or None."""
        found = self._locate(phone_number)
        if found is None or not found[0].alive[found[1]]:
            return None
        return found[0].records[found[1]]

    def __contains__(self, phone_number: object) -> bool:
        return isinstance(phone_number, str) and self.get(phone_number) is not None

    def __len__(self) -> int:
        return sum(s.available for s in self._shards.values())

    def countries(self) -> dict[str, dict[str, int]]:
        """Available numbers by country and type: ``{"US": {"local": 35000, ...}, ...}``
        (countries and types with none are left out)."""
        out: dict[str, dict[str, int]] = {}
        for (iso, kind), shard in sorted(self._shards.items()):
            if shard.available:
                out.setdefault(iso, {})[kind] = shard.available
        return out

    def search(self, query: SearchQuery) -> list[InventoryNumber]:
        """The available numbers that match ``query``: at most ``query.limit``, in number
        order, ranked first when ``query.contains`` has letters."""
        shard = self._shards.get((query.iso_country.upper(), query.number_type))
        if shard is None or query.limit <= 0:
            return []
        form: NsnPattern | None = None
        if query.contains is not None:
            form = query.contains.for_country(shard.cc)
            if form is None:
                return []
            if form.matches_all:
                form = None
        plan = _Plan(
            area=query.area_code or "",
            form=form,
            ranked=form is not None and query.contains is not None and query.contains.has_letters,
            check=_predicate(query),
            need=_need(query),
            refuse=_refuse(query),
            limit=min(query.limit, MAX_PAGE_SIZE),
        )
        buckets = _buckets(shard, query, form)
        if form is None:
            slots = _scan_plain(shard, buckets, plan)
        else:
            run_at, run = form.literal_run()
            big = sum(len(b.nsns) for b in buckets) > _SCAN_LIMIT
            ended = _lookup_ends(shard, plan, form) if big else None
            if ended is not None:
                slots = ended
            elif len(run) >= GRAM and big:
                slots = _lookup_grams(shard, plan, form, run_at, run)
            else:
                slots = _scan_blobs(shard, buckets, plan, form)
        return [shard.records[s] for s in slots]


def _predicate(q: SearchQuery) -> Callable[[InventoryNumber], bool] | None:
    """A check of the record-level filters, or None when there are none."""
    texts = [
        (attr, value.casefold())
        for attr, value in (
            ("region", q.in_region),
            ("locality", q.in_locality),
            ("postal_code", q.in_postal_code),
            ("rate_center", q.in_rate_center),
            ("lata", q.in_lata),
        )
        if value is not None
    ]
    if not texts:
        return None

    def check(r: InventoryNumber) -> bool:
        for attr, want in texts:
            got = getattr(r, attr)
            if got is None or got.casefold() != want:
                return False
        return True

    return check


def _need(q: SearchQuery) -> int:
    """Capability bits a number must have: sms 1, mms 2, voice 4."""
    return (1 if q.sms_enabled else 0) | (2 if q.mms_enabled else 0) | (4 if q.voice_enabled else 0)


def _refuse(q: SearchQuery) -> int:
    """Capability bits a number must not have (``SmsEnabled=false``...)."""
    return (
        (1 if q.sms_enabled is False else 0)
        | (2 if q.mms_enabled is False else 0)
        | (4 if q.voice_enabled is False else 0)
    )


def _buckets(shard: _Shard, q: SearchQuery, form: NsnPattern | None) -> list[_Bucket]:
    """The buckets that can hold a match, in key order."""
    area = q.area_code or ""
    head = form.body[:3] if form is not None and form.start else ""
    wants = [
        (attr, value.casefold())
        for attr, value in (
            ("regions", q.in_region),
            ("localities", q.in_locality),
            ("postals", q.in_postal_code),
            ("rate_centers", q.in_rate_center),
            ("latas", q.in_lata),
        )
        if value is not None
    ]
    need, refuse = _need(q), _refuse(q)
    out: list[_Bucket] = []
    candidates = shard.order
    if len(area) >= 3:  # keys are 3 digits (no NSN or short code is shorter): one lookup
        found = shard.buckets.get(area[:3])
        candidates = [found] if found is not None else []
    for b in candidates:
        key = b.key
        if area and not (key.startswith(area) if len(area) <= len(key) else area.startswith(key)):
            continue
        if head and any(h != "*" and h != k for h, k in zip(head, key, strict=False)):
            continue
        if any(want not in getattr(b, attr) for attr, want in wants):
            continue
        if (need or refuse) and not any(c & need == need and not c & refuse for c in b.caps):
            continue
        out.append(b)
    return out


def _ok(shard: _Shard, slot: int, plan: _Plan) -> bool:
    if not shard.alive[slot]:
        return False
    if plan.need or plan.refuse:
        c = shard.caps[slot]
        if c & plan.need != plan.need or c & plan.refuse:
            return False
    if plan.area and not shard.nsns[slot].startswith(plan.area):
        return False
    return plan.check is None or plan.check(shard.records[slot])


def _scan_plain(shard: _Shard, buckets: list[_Bucket], plan: _Plan) -> list[int]:
    """No pattern: the first ``limit`` numbers that pass the filters."""
    out: list[int] = []
    alive = shard.alive
    for b in buckets:
        for slot in b.slots:
            if alive[slot] and _ok(shard, slot, plan):
                out.append(slot)
                if len(out) == plan.limit:
                    return out
    return out


def _scan_blobs(shard: _Shard, buckets: list[_Bucket], plan: _Plan, form: NsnPattern) -> list[int]:
    """A pattern run over the buckets' record blobs (``re`` in C)."""
    limit = plan.limit
    states = _states(plan.need, plan.refuse)
    if not states:
        return []
    if not plan.ranked or form.end:
        rx = _blob_regex(form.body, form.start, form.end, states)
        return _collect(shard, buckets, plan, rx, limit)
    # ranked, in one pass: the word at the end first, then right after the area code, then
    # anywhere; numbers come in number order, so `limit` words at the end end the scan
    rx = _blob_regex(form.body, form.start, False, states)
    end_rx = _nsn_end_regex(form.body, form.start)
    sub = shard.sub
    sub_rx = _nsn_regex(sub, form.body) if sub is not None and not form.start else None
    tiers: tuple[list[int], list[int], list[int]] = ([], [], [])
    nsns = shard.nsns
    for b in buckets:
        blob, width, slots = b.blob, b.width, b.slots
        for m in rx.finditer(blob):  # one match per record: it runs to the record's end
            slot = slots[m.start() // width]
            if not _ok(shard, slot, plan):
                continue
            nsn = nsns[slot]
            if end_rx.search(nsn):
                tiers[RANK_END].append(slot)
                if len(tiers[RANK_END]) >= limit:
                    return tiers[RANK_END]
            elif sub_rx is not None and sub_rx.match(nsn):
                tiers[RANK_SUBSCRIBER_START].append(slot)
            elif len(tiers[RANK_BURIED]) < limit:
                tiers[RANK_BURIED].append(slot)
    return (tiers[RANK_END] + tiers[RANK_SUBSCRIBER_START] + tiers[RANK_BURIED])[:limit]


def _collect(
    shard: _Shard,
    buckets: list[_Bucket],
    plan: _Plan,
    rx: re.Pattern[bytes],
    limit: int,
) -> list[int]:
    """The first ``limit`` records (in number order) that ``rx`` finds and pass the plan."""
    out: list[int] = []
    for b in buckets:
        blob, width, slots = b.blob, b.width, b.slots
        for m in rx.finditer(blob):  # one match per record: it runs to the record's end
            slot = slots[m.start() // width]
            if _ok(shard, slot, plan):
                out.append(slot)
                if len(out) == limit:
                    return out
    return out


def _lookup_ends(shard: _Shard, plan: _Plan, form: NsnPattern) -> list[int] | None:
    """The first tier alone, when it fills the page: a pattern ranked (or anchored) at the
    end whose last 4 characters are digits, looked up by the numbers' last 4 digits.  None
    when it does not apply or finds fewer than ``limit`` numbers (the caller then searches
    every tier, which gives these same numbers first)."""
    tail = form.body[-GRAM:]
    if not (plan.ranked or form.end) or len(tail) < GRAM or not tail.isdigit():
        return None
    rx = _nsn_end_regex(form.body, form.start)
    nsns = shard.nsns
    found = sorted(
        (nsns[slot], slot)
        for slot in shard.ends[int(tail)]
        if rx.search(nsns[slot]) and _ok(shard, slot, plan)
    )
    if len(found) < plan.limit and not form.end:
        return None
    return [slot for _, slot in found[: plan.limit]]


def _lookup_grams(shard: _Shard, plan: _Plan, form: NsnPattern, run_at: int, run: str) -> list[int]:
    """A pattern with 4+ literal digits in a row: candidates from the rarest 4-digit posting
    list in that run, each checked against the whole pattern."""
    best: array[int] | None = None
    best_at = 0
    for i in range(len(run) - GRAM + 1):
        posting = shard.grams[int(run[i : i + GRAM])]
        if best is None or len(posting) < len(best):
            best, best_at = posting, i
    assert best is not None
    offset = run_at + best_at  # where the gram sits in the body
    size = len(form.body)
    rx = _nsn_regex(0, form.body)
    sub = shard.sub
    tiers: dict[int, int] = {}
    nsns, alive = shard.nsns, shard.alive
    for entry in best:
        slot = entry >> 4
        if not alive[slot]:
            continue
        start = (entry & 15) - offset
        if start < 0:
            continue
        nsn = nsns[slot]
        end = start + size
        if end > len(nsn) or (form.start and start) or (form.end and end != len(nsn)):
            continue
        if not rx.match(nsn, start):
            continue
        if end == len(nsn):
            tier = RANK_END
        elif sub is not None and start == sub:
            tier = RANK_SUBSCRIBER_START
        else:
            tier = RANK_BURIED
        known = tiers.get(slot)
        if known is None:
            if not _ok(shard, slot, plan):
                tiers[slot] = -1  # fails the filters: remember, skip
                continue
            tiers[slot] = tier
        elif known != -1 and tier < known:
            tiers[slot] = tier
    found = [(t if plan.ranked else 0, nsns[s], s) for s, t in tiers.items() if t != -1]
    found.sort()
    return [s for _, _, s in found[: plan.limit]]
