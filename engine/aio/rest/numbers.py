"""Phone numbers on the REST API: search (``AvailablePhoneNumbers``) and provisioning and
configuration (``IncomingPhoneNumbers``), twilio-compat.md §4.

Search answers from a per-process :class:`NumberCatalog`: an in-memory
:class:`engine.number_index.NumberIndex` of the *free* numbers, built from the directory
when the app starts (in a thread: a million numbers take seconds) and kept current: this
process's own provisions and releases change it at once, and before every search one
indexed read of the directory's change log (``Directory.number_changes``) brings in what
other processes (HTTP workers, ``smpp-engine numbers import``) changed.  The directory stays
the source of truth: ``Directory.assign_number`` is atomic across processes, so of two
accounts buying one number exactly one gets it and the other gets 21422.

Capabilities are ``{"voice", "SMS", "MMS"}`` on ``AvailablePhoneNumbers`` and lower-case
``{"voice", "sms", "mms", "fax"}`` on ``IncomingPhoneNumbers``, as Twilio emits them.

A number's ``StatusCallback`` is stored and echoed; on Twilio it is the voice-call status
hook, and SMS delivery callbacks stay per message (``StatusCallback`` on the message).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, Final, cast
from urllib.parse import urlsplit

import msgspec
from aiohttp import web

from engine.inventory import InventoryNumber, available_json, generate
from engine.number_index import TWILIO_TYPES, NumberIndex, SearchQuery, query_from_params
from engine.numbers import (
    NumberError,
    NumberType,
    friendly_name,
    is_short_code,
    normalize_e164,
)
from engine.twilio.codes import ApiError, not_found
from engine.twilio.params import Form, parse_form, parse_page
from engine.twilio.resources import API_VERSION, page, rfc2822

__all__ = [
    "NumberCatalog",
    "add_number_routes",
    "default_inventory",
    "incoming_number_resource",
    "inventory_record",
]

log = logging.getLogger("engine.aio.rest.numbers")

V: Final = "/2010-04-01"
_AC: Final = r"{account:AC[0-9a-fA-F]{32}}"
_encode = msgspec.json.Encoder().encode
MAX_URL: Final = 1024
MAX_FRIENDLY_NAME: Final = 64
# Candidates drawn for a provisioning by AreaCode: one is picked at random so that
# accounts racing for the same area code rarely try the same number.
_AREA_CANDIDATES: Final = 20
# Types Twilio has that the inventory does not (an empty list, not a 404).
_EMPTY_TYPES: Final = frozenset({"National", "Voip", "SharedCost", "MachineToMachine"})
_TYPE_SEGMENTS: Final[dict[str, str]] = {v: k for k, v in TWILIO_TYPES.items()}
_SUBRESOURCE: Final = {"local": "local", "toll-free": "toll_free", "mobile": "mobile"}
_COUNTRY_NAMES: Final = {
    "US": "United States",
    "CA": "Canada",
    "GB": "United Kingdom",
    "DE": "Germany",
    "AU": "Australia",
    "FR": "France",
    "IE": "Ireland",
    "NL": "Netherlands",
    "ES": "Spain",
    "IT": "Italy",
    "MX": "Mexico",
    "BR": "Brazil",
    "IN": "India",
    "JP": "Japan",
    "SE": "Sweden",
}


@lru_cache(maxsize=1)
def default_inventory() -> tuple[InventoryNumber, ...]:
    """The embedded default inventory (:func:`engine.inventory.generate`, ~50,000 numbers),
    generated once per process."""
    return tuple(generate())


def inventory_record(rec: Any) -> InventoryNumber:
    """The :class:`InventoryNumber` of a directory ``NumberRecord``."""
    return InventoryNumber(
        phone_number=rec.phone_number,
        number_type=rec.number_type,
        iso_country=rec.iso_country,
        region=rec.region,
        locality=rec.locality,
        postal_code=rec.postal_code,
        rate_center=rec.rate_center,
        lata=rec.lata,
        latitude=rec.latitude,
        longitude=rec.longitude,
        sms=rec.sms,
        mms=rec.mms,
        voice=rec.voice,
        rate=rec.rate,
        link=rec.link,
    )


class NumberCatalog:
    """This process's index of the free numbers (see the module docstring).

    ``start()`` begins the build in a thread; ``await index()`` returns the index, current
    with the directory's change log; ``taken``/``returned`` record this process's own
    provisions and releases.  One event loop owns it."""

    def __init__(self, directory: Any) -> None:
        self.directory = directory
        self._index: NumberIndex | None = None
        self._seq = 0
        self._build: asyncio.Future[tuple[int, NumberIndex]] | None = None

    def _load(self) -> tuple[int, NumberIndex]:
        seq, free = self.directory.free_inventory()
        return seq, NumberIndex(free)

    def start(self) -> None:
        """Begin building the index in a worker thread (idempotent)."""
        if self._build is None:
            self._build = asyncio.get_running_loop().run_in_executor(None, self._load)

    async def close(self) -> None:
        """Wait for a build in progress (its thread cannot be interrupted)."""
        if self._build is not None:
            with contextlib.suppress(Exception):
                await self._build

    async def index(self) -> NumberIndex:
        """The index, with every change other processes made applied."""
        if self._index is None or self._build is None:
            self.start()
            assert self._build is not None
            build = self._build
            try:
                seq, built = await asyncio.shield(build)
            except Exception:
                if self._build is build:
                    self._build = None  # the next search tries again
                raise
            if self._index is None:
                self._index, self._seq = built, seq
                # A million numbers are millions of references that a full garbage
                # collection would walk (~100 ms, a latency spike): they live as long as
                # the process, so take them out of the collector's view.
                gc.freeze()
        index = self._index
        seq, changed = self.directory.number_changes(self._seq)
        if changed is None:  # a bulk change, or too far behind: build again, off the loop
            self._build = None
            self._index = None
            return await self.index()
        for number in dict.fromkeys(changed):
            rec = self.directory.get_number(number)
            if rec is not None and rec.account_sid is None:
                index.add(inventory_record(rec))
            else:
                index.remove(number)
        self._seq = max(self._seq, seq)
        return index

    def taken(self, phone_number: str) -> None:
        """This process provisioned the number: no longer offered."""
        if self._index is not None:
            self._index.remove(phone_number)

    def returned(self, rec: Any) -> None:
        """This process released the number (a directory record): offered again."""
        if self._index is not None:
            self._index.add(inventory_record(rec))


# ---------------------------------------------------------------------------------------------
# Twilio's shapes
# ---------------------------------------------------------------------------------------------


def _type_name(number_type: str) -> str:
    return {"toll-free": "tollfree", "short-code": "shortcode"}.get(number_type, number_type)


def incoming_number_resource(rec: Any) -> dict[str, Any]:
    """The IncomingPhoneNumber resource of a directory ``NumberRecord`` (lower-case
    capability keys, twilio-compat.md §4.2)."""
    uri = f"{V}/Accounts/{rec.account_sid}/IncomingPhoneNumbers/{rec.sid}.json"
    return {
        "account_sid": rec.account_sid,
        "address_requirements": "none",
        "address_sid": None,
        "api_version": API_VERSION,
        "beta": False,
        "bundle_sid": None,
        "capabilities": {"voice": rec.voice, "sms": rec.sms, "mms": rec.mms, "fax": False},
        "date_created": rfc2822(rec.date_created),
        "date_updated": rfc2822(rec.date_updated),
        "emergency_address_sid": None,
        "emergency_address_status": "unregistered",
        "emergency_status": "Inactive",
        "friendly_name": rec.friendly_name,
        "identity_sid": None,
        "origin": "twilio",
        "phone_number": rec.phone_number,
        "sid": rec.sid,
        "sms_application_sid": "",
        "sms_fallback_method": rec.sms_fallback_method,
        "sms_fallback_url": rec.sms_fallback_url or "",
        "sms_method": rec.sms_method,
        "sms_url": rec.sms_url or "",
        "status": "in-use",
        "status_callback": rec.status_callback or "",
        "status_callback_method": rec.status_callback_method,
        "subresource_uris": {
            "assigned_add_ons": uri.removesuffix(".json") + "/AssignedAddOns.json"
        },
        "trunk_sid": None,
        "type": _type_name(rec.number_type),
        "uri": uri,
        "voice_application_sid": "",
        "voice_caller_id_lookup": False,
        "voice_fallback_method": "POST",
        "voice_fallback_url": "",
        "voice_method": "POST",
        "voice_receive_mode": "voice",
        "voice_url": "",
    }


@lru_cache(maxsize=100_000)
def _available_bytes(r: InventoryNumber) -> bytes:
    """One ``available_phone_numbers`` entry, encoded (records are immutable: the same
    popular numbers are answered again and again)."""
    return _encode(available_json(r))


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=_encode(data), status=status, content_type="application/json")


def _param_error(exc: NumberError) -> ApiError:
    """A search or provisioning parameter at fault, named (Twilio's codes where it has
    one: 21451 for an area code)."""
    code = 21451 if exc.field == "AreaCode" else 20001
    return ApiError(code, f"Invalid {exc.field}: {exc.reason}")


# Configuration fields of a number: form name -> (directory field, kind).
_CONFIG: Final = {
    "FriendlyName": ("friendly_name", "name"),
    "SmsUrl": ("sms_url", "url"),
    "SmsMethod": ("sms_method", "method"),
    "SmsFallbackUrl": ("sms_fallback_url", "url"),
    "SmsFallbackMethod": ("sms_fallback_method", "method"),
    "StatusCallback": ("status_callback", "url"),
    "StatusCallbackMethod": ("status_callback_method", "method"),
}


def _config(form: Form) -> dict[str, Any]:
    """The configuration fields in a create or update form, validated (20001 naming the
    field); an empty URL clears it."""
    out: dict[str, Any] = {}
    for name, (column, kind) in _CONFIG.items():
        value = form.first(name)
        if value is None:
            continue
        if kind == "name":
            if len(value) > MAX_FRIENDLY_NAME:
                raise ApiError(
                    20001, f"Invalid FriendlyName: longer than {MAX_FRIENDLY_NAME} characters"
                )
            out[column] = value
        elif kind == "method":
            method = value.strip().upper()
            if method not in ("GET", "POST"):
                raise ApiError(20001, f"Invalid {name}: {value[:20]!r} is not GET or POST")
            out[column] = method
        else:
            if value == "":
                out[column] = None
                continue
            parts = urlsplit(value)
            if len(value) > MAX_URL or parts.scheme not in ("http", "https") or not parts.netloc:
                raise ApiError(20001, f"Invalid {name}: {value[:200]!r} is not an http(s) URL")
            out[column] = value
    return out


def _phone_filter(pattern: str) -> Callable[[str], bool]:
    """Twilio's ``PhoneNumber`` list filter: a partial number, ``*`` for any one digit."""
    digits = re.sub(r"[^0-9*]", "", pattern[:32])
    if not digits:
        raise ApiError(20001, f"Invalid PhoneNumber filter {pattern[:32]!r}")
    rx = re.compile(re.escape(digits).replace(r"\*", "[0-9]"))
    return lambda number: rx.search(number) is not None


# ---------------------------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------------------------


class NumberRoutes:
    """The handlers; ``api`` is the REST ``Api`` (authentication, the directory)."""

    def __init__(self, api: Any, catalog: NumberCatalog) -> None:
        self.api = api
        self.directory = api.directory
        self.catalog = catalog

    # search -----------------------------------------------------------------------------

    async def countries(self, request: web.Request) -> web.Response:
        account = self.api.account(request)
        index = await self.catalog.index()
        base = f"{V}/Accounts/{account}/AvailablePhoneNumbers"
        countries = [
            _country(base, iso, kinds)
            for iso, kinds in index.countries().items()
            if any(k in _SUBRESOURCE for k in kinds)
        ]
        return _json({"countries": countries, "uri": f"{base}.json"})

    async def country(self, request: web.Request) -> web.Response:
        account = self.api.account(request)
        iso = request.match_info["country"].upper()
        index = await self.catalog.index()
        kinds = index.countries().get(iso)
        if not kinds or not any(k in _SUBRESOURCE for k in kinds):
            raise not_found(request.path)
        return _json(_country(f"{V}/Accounts/{account}/AvailablePhoneNumbers", iso, kinds))

    async def search(self, request: web.Request) -> web.Response:
        self.api.account(request)
        segment = request.match_info["kind"]
        if segment in _EMPTY_TYPES:
            found: list[InventoryNumber] = []
        else:
            if segment not in TWILIO_TYPES:
                raise not_found(request.path)
            query = parse_form(request.query_string)
            params = {k: v[0] for k, v in query.items() if v}
            try:
                search = query_from_params(request.match_info["country"], segment, params)
            except NumberError as exc:
                if exc.field == "Country":
                    raise not_found(request.path) from None
                raise _param_error(exc) from None
            index = await self.catalog.index()
            found = index.search(search)
        body = b",".join([_available_bytes(r) for r in found])
        return web.Response(
            body=b'{"available_phone_numbers":['
            + body
            + b'],"uri":'
            + _encode(request.path_qs)
            + b"}",
            content_type="application/json",
        )

    # provisioning -----------------------------------------------------------------------

    async def create(self, request: web.Request) -> web.Response:
        account = self.api.account(request)
        segment = request.match_info.get("kind")
        kind = None
        if segment is not None:
            kind = TWILIO_TYPES.get(segment)
            if kind is None:
                raise not_found(request.path)
        form = parse_form(await request.read())
        config = _config(form)
        phone = form.first("PhoneNumber")
        area = form.first("AreaCode")
        if phone:
            rec = self._buy(account, _phone_param(phone), kind, config)
        elif area and kind in (None, "local", "toll-free"):
            rec = await self._buy_in_area(account, area, kind or "local", config)
        else:
            raise ApiError(
                20001,
                "Invalid PhoneNumber: PhoneNumber is required"
                if segment is not None
                else "Invalid PhoneNumber: PhoneNumber or AreaCode is required",
            )
        return _json(incoming_number_resource(rec), 201)

    def _buy(self, account: str, phone: str, kind: str | None, config: dict[str, Any]) -> Any:
        if kind is not None:
            current = self.directory.get_number(phone)
            if current is not None and current.number_type != kind:
                raise ApiError(
                    21422,
                    f"PhoneNumber {phone} is not available as a "
                    f"{_TYPE_SEGMENTS.get(kind, kind)} number (it is {current.number_type})",
                )
        rec = self.directory.assign_number(
            phone, account, **{"friendly_name": friendly_name(phone), **config}
        )
        if rec is None:
            raise ApiError(21422, f"PhoneNumber {phone} is not available")
        self.catalog.taken(phone)
        return rec

    async def _buy_in_area(self, account: str, area: str, kind: str, config: dict[str, Any]) -> Any:
        area = area.strip()
        if not (area.isascii() and area.isdigit() and len(area) == 3):
            raise ApiError(21451, f"Invalid AreaCode: {area[:10]!r} is not a 3-digit area code")
        index = await self.catalog.index()
        for iso in ("US", "CA"):
            while True:
                found = index.search(
                    SearchQuery(
                        iso_country=iso,
                        number_type=cast("NumberType", kind),
                        area_code=area,
                        limit=_AREA_CANDIDATES,
                    )
                )
                if not found:
                    break
                random.shuffle(found)
                for candidate in found:
                    number = candidate.phone_number
                    rec = self.directory.assign_number(
                        number, account, **{"friendly_name": friendly_name(number), **config}
                    )
                    self.catalog.taken(number)  # ours now, or someone else's
                    if rec is not None:
                        return rec
        raise ApiError(21452, f"No phone numbers found in area code {area}")

    # owned numbers ------------------------------------------------------------------------

    def _owned(self, request: web.Request, account: str) -> Any:
        key = request.match_info["number"]
        if key.startswith("PN"):
            rec = self.directory.get_number_by_sid(key)
        else:
            try:
                rec = self.directory.get_number(_phone_param(key))
            except ApiError:
                rec = None
        if rec is None or rec.account_sid != account:
            raise not_found(request.path)  # another account's number: not found alike
        return rec

    async def fetch(self, request: web.Request) -> web.Response:
        account = self.api.account(request)
        return _json(incoming_number_resource(self._owned(request, account)))

    async def update(self, request: web.Request) -> web.Response:
        principal = self.api.principal(request)
        account = self.api.account(request)
        rec = self._owned(request, account)
        form = parse_form(await request.read())
        config = _config(form)
        target = form.first("AccountSid")
        if target is not None and target != account:
            # Twilio: a number moves between an account and its subaccounts, by the
            # parent's credentials (both ends must be accounts the caller may use).
            valid = re.fullmatch(r"AC[0-9a-fA-F]{32}", target) is not None
            if not valid or self.directory.get_account(target) is None:
                raise ApiError(20001, f"Invalid AccountSid: {target[:40]!r} is not an account")
            if not self.directory.may_access(principal, target):
                raise ApiError(
                    20001,
                    f"Invalid AccountSid: {target} is not this account, its parent or one of "
                    "its subaccounts that these credentials may use",
                )
        if config:
            rec = self.directory.update_number(rec.phone_number, account, **config)
            if rec is None:
                raise not_found(request.path)
        if target is not None and target != account:
            rec = self.directory.move_number(rec.phone_number, account, target)
            if rec is None:
                raise not_found(request.path)
        return _json(incoming_number_resource(rec))

    async def release(self, request: web.Request) -> web.Response:
        account = self.api.account(request)
        rec = self._owned(request, account)
        if not self.directory.release_number(rec.phone_number, account):
            raise not_found(request.path)
        freed = self.directory.get_number(rec.phone_number)
        if freed is not None and freed.account_sid is None:
            self.catalog.returned(freed)
        return web.Response(status=204)

    async def list_owned(self, request: web.Request) -> web.Response:
        account = self.api.account(request)
        segment = request.match_info.get("kind")
        kind = None
        if segment is not None:
            kind = TWILIO_TYPES.get(segment)
            if kind is None:
                raise not_found(request.path)
        query = parse_form(request.query_string)
        records = self.directory.list_numbers(account)
        if kind is not None:
            records = [r for r in records if r.number_type == kind]
        filters: list[tuple[str, str]] = []
        if pattern := query.first("PhoneNumber"):
            match = _phone_filter(pattern)
            records = [r for r in records if match(r.phone_number)]
            filters.append(("PhoneNumber", pattern))
        if name := query.first("FriendlyName"):
            records = [r for r in records if r.friendly_name == name]
            filters.append(("FriendlyName", name))
        size, number, _ = parse_page(query)
        chunk = records[number * size : (number + 1) * size]
        more = len(records) > (number + 1) * size
        path = f"{V}/Accounts/{account}/IncomingPhoneNumbers"
        return _json(
            page(
                "incoming_phone_numbers",
                [incoming_number_resource(r) for r in chunk],
                path=f"{path}/{segment}.json" if segment else f"{path}.json",
                filters=filters,
                page_size=size,
                page_number=number,
                next_token=f"PA{chunk[-1].sid}" if more and chunk else None,
            )
        )


def _phone_param(text: str) -> str:
    """A ``PhoneNumber`` to provision: E.164 (a national form is read as US) or a short
    code; 21421 otherwise."""
    value = text.strip()
    if is_short_code(value):
        return value
    try:
        return normalize_e164(value, field="PhoneNumber")
    except NumberError as exc:
        raise ApiError(21421, f"PhoneNumber is invalid: {exc.reason}") from None


def _country(base: str, iso: str, kinds: Mapping[str, int]) -> dict[str, Any]:
    return {
        "country_code": iso,
        "country": _COUNTRY_NAMES.get(iso, iso),
        "uri": f"{base}/{iso}.json",
        "beta": False,
        "subresource_uris": {
            _SUBRESOURCE[k]: f"{base}/{iso}/{_TYPE_SEGMENTS[k]}.json"
            for k in kinds
            if k in _SUBRESOURCE
        },
    }


def add_number_routes(app: web.Application, api: Any, catalog: NumberCatalog | None = None) -> None:
    """Register the phone-number routes on the REST ``app``; the catalog (a new one over
    ``api.directory`` when None) starts building with the app and is waited for on
    cleanup."""
    cat = catalog if catalog is not None else NumberCatalog(api.directory)
    routes = NumberRoutes(api, cat)

    async def on_startup(_app: web.Application) -> None:
        cat.start()

    async def on_cleanup(_app: web.Application) -> None:
        await cat.close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    base = f"{V}/Accounts/{_AC}"
    kind = r"{kind:[A-Za-z]{1,24}}"
    number = r"{number:[^/]{1,40}}"
    r = app.router
    r.add_get(f"{base}/AvailablePhoneNumbers.json", routes.countries)
    r.add_get(f"{base}/AvailablePhoneNumbers/{{country:[A-Za-z]{{2}}}}.json", routes.country)
    r.add_get(f"{base}/AvailablePhoneNumbers/{{country:[A-Za-z]{{2}}}}/{kind}.json", routes.search)
    r.add_post(f"{base}/IncomingPhoneNumbers.json", routes.create)
    r.add_get(f"{base}/IncomingPhoneNumbers.json", routes.list_owned)
    # the typed paths come before {number}: "Local" is not a number
    r.add_post(f"{base}/IncomingPhoneNumbers/{{kind:Local|TollFree|Mobile}}.json", routes.create)
    r.add_get(f"{base}/IncomingPhoneNumbers/{{kind:Local|TollFree|Mobile}}.json", routes.list_owned)
    r.add_get(f"{base}/IncomingPhoneNumbers/{number}.json", routes.fetch)
    r.add_post(f"{base}/IncomingPhoneNumbers/{number}.json", routes.update)
    r.add_delete(f"{base}/IncomingPhoneNumbers/{number}.json", routes.release)
