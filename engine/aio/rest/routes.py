"""Routes, authentication and error rendering of the REST API (twilio-compat.md §1-§3).

- Every request under ``/2010-04-01`` needs HTTP Basic credentials: an account SID and
  its auth token, or an API key SID and its secret (acting as the key's account).
  Anything else is 401 with code 20003.  An account may use its own resources and those
  of its subaccounts; anything else is 404 with 20404 (never 403: existence is not
  leaked).
- Errors are exactly ``{code, message, more_info, status}``.
- ``201`` for a created message only once the store has committed it (durable).
- While draining (shutdown), every API request is answered 503 with 20503; ``/health``
  still answers.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import msgspec
from aiohttp import web

from engine.errors import StoreError
from engine.store import MessageRecord, NewMessage, Store
from engine.text import count_segments
from engine.twilio import resources
from engine.twilio.codes import ApiError, not_found, unauthorized
from engine.twilio.params import Form, parse_date_filter, parse_form, parse_page
from engine.twilio.validation import validate_create

__all__ = ["RestHooks", "make_rest_app", "set_draining"]

log = logging.getLogger("engine.aio.rest")

V = "/2010-04-01"
_AC = r"{account:AC[0-9a-fA-F]{32}}"


class _State:
    """Mutable per-app state (an aiohttp app is frozen once it runs)."""

    draining = False


_STATE = web.AppKey("state", _State)
API_KEY = web.AppKey("api", object)
_encode = msgspec.json.Encoder().encode
_QUEUE_CACHE_TTL = 0.1  # seconds a sender's queued count is reused for the 21611 check


class RestHooks(Protocol):
    """What the API tells the rest of the daemon (the dispatcher in this process)."""

    def accepted(self, record: MessageRecord) -> None:
        """A message was accepted (durable)."""

    def canceled(self, record: MessageRecord) -> None:
        """A queued message was canceled."""

    def sender_limit(self, from_: str) -> int | None:
        """The most segments ``from_`` may have queued (21611 beyond); None: no limit."""


class _NoHooks:
    def accepted(self, record: MessageRecord) -> None:
        pass

    def canceled(self, record: MessageRecord) -> None:
        pass

    def sender_limit(self, from_: str) -> int | None:
        return None


def set_draining(app: web.Application, draining: bool = True) -> None:
    """From now on answer every API request 503 (20503); ``/health`` still answers."""
    app[_STATE].draining = draining


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=_encode(data), status=status, content_type="application/json")


def _error(err: ApiError, *, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=_encode(err.body()),
        status=err.status,
        content_type="application/json",
        headers=headers,
    )


class Api:
    """The handlers, bound to one store and directory."""

    def __init__(self, store: Store, directory: Any, hooks: RestHooks) -> None:
        self.store = store
        self.directory = directory
        self.hooks = hooks
        self._queued: dict[str, tuple[float, int]] = {}

    # authentication -------------------------------------------------------------------

    def principal(self, request: web.Request) -> str:
        """The account sid the request's credentials act as; ApiError 20003 otherwise."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic ") or len(header) > 1024:
            raise unauthorized()
        try:
            raw = base64.b64decode(header[6:], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise unauthorized() from None
        username, sep, password = raw.partition(":")
        if not sep:
            raise unauthorized()
        principal = self.directory.authenticate(username, password)
        if principal is None:
            raise unauthorized()
        return str(principal)

    def account(self, request: web.Request) -> str:
        """The account in the path, when the credentials may use it (404 otherwise)."""
        principal = self.principal(request)
        account = request.match_info["account"]
        if not self.directory.may_access(principal, account):
            raise not_found(request.path)
        return account

    # accounts ---------------------------------------------------------------------------

    async def create_account(self, request: web.Request) -> web.Response:
        principal = self.principal(request)
        form = parse_form(await request.read())
        parent = self.directory.get_account(principal)
        if parent is None or parent.is_subaccount:
            raise ApiError(20003, "Subaccounts cannot create subaccounts", status=401)
        try:
            account = self.directory.create_account(form.first("FriendlyName") or "", principal)
        except StoreError as exc:
            raise ApiError(20001, str(exc)) from None
        return _json(resources.account_resource(account), 201)

    async def list_accounts(self, request: web.Request) -> web.Response:
        principal = self.principal(request)
        query = _query(request)
        accounts = self.directory.list_accounts(principal)
        if name := query.first("FriendlyName"):
            accounts = [a for a in accounts if a.friendly_name == name]
        if status := query.first("Status"):
            accounts = [a for a in accounts if a.status == status]
        size, number, _ = parse_page(query)
        chunk = accounts[number * size : (number + 1) * size]
        more = len(accounts) > (number + 1) * size
        return _json(
            resources.page(
                "accounts",
                [resources.account_resource(a) for a in chunk],
                path=f"{V}/Accounts.json",
                filters=[],
                page_size=size,
                page_number=number,
                next_token=f"PA{chunk[-1].sid}" if more and chunk else None,
            )
        )

    async def fetch_account(self, request: web.Request) -> web.Response:
        account = self.account(request)
        record = self.directory.get_account(account)
        if record is None:
            raise not_found(request.path)
        return _json(resources.account_resource(record))

    async def update_account(self, request: web.Request) -> web.Response:
        account = self.account(request)
        form = parse_form(await request.read())
        status = form.first("Status")
        if status is not None and status not in ("active", "suspended", "closed"):
            raise ApiError(20001, f"Invalid Status {status!r}: active, suspended or closed")
        try:
            record = self.directory.update_account(
                account, friendly_name=form.first("FriendlyName"), status=status
            )
        except StoreError as exc:
            raise ApiError(20001, str(exc)) from None
        if record is None:
            raise not_found(request.path)
        return _json(resources.account_resource(record))

    # API keys ---------------------------------------------------------------------------

    async def create_key(self, request: web.Request) -> web.Response:
        account = self.account(request)
        form = parse_form(await request.read())
        try:
            key, secret = self.directory.create_api_key(account, form.first("FriendlyName") or "")
        except StoreError as exc:
            raise ApiError(20001, str(exc)) from None
        return _json(resources.key_resource(key, secret), 201)

    async def list_keys(self, request: web.Request) -> web.Response:
        account = self.account(request)
        query = _query(request)
        keys = self.directory.list_api_keys(account)
        size, number, _ = parse_page(query)
        chunk = keys[number * size : (number + 1) * size]
        more = len(keys) > (number + 1) * size
        return _json(
            resources.page(
                "keys",
                [resources.key_resource(k) for k in chunk],
                path=f"{V}/Accounts/{account}/Keys.json",
                filters=[],
                page_size=size,
                page_number=number,
                next_token=f"PA{chunk[-1].sid}" if more and chunk else None,
            )
        )

    async def fetch_key(self, request: web.Request) -> web.Response:
        account = self.account(request)
        key = self.directory.get_api_key(request.match_info["key"], account)
        if key is None:
            raise not_found(request.path)
        return _json(resources.key_resource(key))

    async def delete_key(self, request: web.Request) -> web.Response:
        account = self.account(request)
        if not self.directory.delete_api_key(request.match_info["key"], account):
            raise not_found(request.path)
        return web.Response(status=204)

    # messages ---------------------------------------------------------------------------

    async def create_message(self, request: web.Request) -> web.Response:
        account = self.account(request)
        form = parse_form(await request.read())
        directory = self.directory
        msg = validate_create(
            form,
            owned_number=lambda number: directory.owned_number(account, number),
            opted_out=directory.is_opted_out,
        )
        segments = count_segments(msg.body)
        await self._check_queue(msg.from_, segments)
        record = await self.store.accept(
            NewMessage(
                account_sid=account,
                from_=msg.from_,
                to=msg.to,
                body=msg.body,
                num_segments=segments,
                status_callback=msg.status_callback,
                validity_period=msg.validity_period,
            )
        )
        self.hooks.accepted(record)
        return _json(resources.message_resource(record), 201)

    async def _check_queue(self, from_: str, segments: int) -> None:
        """Twilio 21611: the sender's queue already holds its limit."""
        limit = self.hooks.sender_limit(from_)
        if limit is None:
            return
        now = time.monotonic()
        hit = self._queued.get(from_)
        if hit is None or hit[0] < now:
            queued = await self.store.queued_segments(from_)
        else:
            queued = hit[1]
        if queued + segments > limit:
            raise ApiError(
                21611,
                f"This 'From' number has exceeded the maximum number of queued messages "
                f"({limit} segments)",
            )
        self._queued[from_] = (now + _QUEUE_CACHE_TTL, queued + segments)
        if len(self._queued) > 100_000:
            self._queued.clear()

    async def fetch_message(self, request: web.Request) -> web.Response:
        account = self.account(request)
        record = await self.store.get(request.match_info["sid"], account)
        if record is None:
            raise not_found(request.path)
        return _json(resources.message_resource(record))

    async def list_messages(self, request: web.Request) -> web.Response:
        account = self.account(request)
        query = _query(request)
        size, number, token = parse_page(query)
        dates = parse_date_filter(query)
        to, from_ = query.first("To"), query.first("From")
        try:
            records, next_token = await self.store.list_messages(
                account,
                to=to or None,
                from_=from_ or None,
                date_sent=dates.on,
                date_sent_after=dates.after,
                date_sent_before=dates.before,
                page_size=size,
                page_token=token,
            )
        except StoreError as exc:
            raise ApiError(20001, f"Invalid list parameters: {exc}") from None
        filters = [
            (name, values[0])
            for name in ("To", "From", "DateSent", "DateSent<", "DateSent>")
            if (values := query.get(name))
        ]
        return _json(
            resources.page(
                "messages",
                [resources.message_resource(r) for r in records],
                path=f"{V}/Accounts/{account}/Messages.json",
                filters=filters,
                page_size=size,
                page_number=number,
                next_token=next_token,
            )
        )

    async def update_message(self, request: web.Request) -> web.Response:
        account = self.account(request)
        sid = request.match_info["sid"]
        form = parse_form(await request.read())
        status = form.first("Status")
        body = form.first("Body")
        try:
            if status is not None:
                if status != "canceled":
                    raise ApiError(20001, f"Invalid Status {status!r}: only 'canceled' can be set")
                record = await self.store.cancel(sid, account)
                self.hooks.canceled(record)
            elif body is not None:
                if body != "":
                    raise ApiError(20001, "Body can only be set to '' (redact the message)")
                current = await self.store.get(sid, account)
                if current is None:
                    raise not_found(request.path)
                if current.status in ("accepted", "queued", "sending"):
                    raise ApiError(
                        20009,
                        f"Cannot redact message {sid}: it is still {current.status}",
                    )
                record = await self.store.redact(sid, account)
            else:
                raise ApiError(20001, "Nothing to update: give Status=canceled or Body=''")
        except StoreError as exc:
            raise self._store_error(exc, request, sid) from None
        return _json(resources.message_resource(record))

    async def delete_message(self, request: web.Request) -> web.Response:
        account = self.account(request)
        sid = request.match_info["sid"]
        try:
            deleted = await self.store.delete(sid, account)
        except StoreError as exc:
            raise self._store_error(exc, request, sid) from None
        if not deleted:
            raise not_found(request.path)
        return web.Response(status=204)

    def _store_error(self, exc: StoreError, request: web.Request, sid: str) -> ApiError:
        reason = getattr(exc, "reason", None)
        if reason == "not_found":
            return not_found(request.path)
        if reason == "state":
            status = getattr(exc, "status", "in its current status")
            return ApiError(20009, f"Message {sid} cannot be changed while {status}: {exc}")
        return ApiError(20001, str(exc))

    async def health(self, request: web.Request) -> web.Response:
        return _json({"status": "ok"})


def _query(request: web.Request) -> Form:
    return parse_form(request.query_string)


def _middleware(app_draining: Callable[[], bool]) -> Any:
    @web.middleware
    async def errors(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if app_draining() and request.path != "/health":
            return _error(ApiError(20503, "Service is shutting down; try again", status=503))
        try:
            return await handler(request)
        except ApiError as err:
            headers = None
            if err.code == 20003:
                headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'}
            return _error(err, headers=headers)
        except web.HTTPRequestEntityTooLarge:
            return _error(ApiError(20413, "Request body too large", status=413))
        except web.HTTPMethodNotAllowed:
            return _error(ApiError(20004, f"Method not allowed: {request.method}", status=405))
        except web.HTTPNotFound:
            return _error(not_found(request.path))
        except web.HTTPException:
            raise
        except StoreError as exc:
            log.error("store error on %s %s: %s", request.method, request.path, exc)
            return _error(
                ApiError(20500, "Internal error: the store refused the request", status=500)
            )
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.path)
            return _error(ApiError(20500, "Internal server error", status=500))

    return errors


def make_rest_app(
    *,
    store: Store,
    directory: Any,
    hooks: RestHooks | None = None,
    client_max_size: int = 64 * 1024,
) -> web.Application:
    """The REST application (see the module docstring)."""
    api = Api(store, directory, hooks if hooks is not None else _NoHooks())
    app = web.Application(client_max_size=client_max_size)
    state = app[_STATE] = _State()
    app.middlewares.append(_middleware(lambda: state.draining))
    r = app.router
    r.add_get("/health", api.health)
    r.add_post(f"{V}/Accounts.json", api.create_account)
    r.add_get(f"{V}/Accounts.json", api.list_accounts)
    r.add_get(f"{V}/Accounts/{_AC}.json", api.fetch_account)
    r.add_post(f"{V}/Accounts/{_AC}.json", api.update_account)
    r.add_post(f"{V}/Accounts/{_AC}/Keys.json", api.create_key)
    r.add_get(f"{V}/Accounts/{_AC}/Keys.json", api.list_keys)
    key = r"{key:SK[0-9a-fA-F]{32}}"
    r.add_get(f"{V}/Accounts/{_AC}/Keys/{key}.json", api.fetch_key)
    r.add_delete(f"{V}/Accounts/{_AC}/Keys/{key}.json", api.delete_key)
    r.add_post(f"{V}/Accounts/{_AC}/Messages.json", api.create_message)
    r.add_get(f"{V}/Accounts/{_AC}/Messages.json", api.list_messages)
    sid = r"{sid:[A-Z]{2}[0-9a-fA-F]{32}}"
    r.add_get(f"{V}/Accounts/{_AC}/Messages/{sid}.json", api.fetch_message)
    r.add_post(f"{V}/Accounts/{_AC}/Messages/{sid}.json", api.update_message)
    r.add_delete(f"{V}/Accounts/{_AC}/Messages/{sid}.json", api.delete_message)
    app[API_KEY] = api
    return app
