"""The directory: accounts, API keys, phone numbers, opt-outs and alerts, in a SQLite file
of its own beside the message store.

The REST API reads it on every request (credentials, the ``From`` number's owner and
capabilities, opt-outs), so reads are plain point lookups on the calling thread (a few
microseconds; WAL lets every process read while one writes) and verified credentials are
cached for a few seconds.  Writes are rare (an account, a key, a provisioning) and run in
``BEGIN IMMEDIATE`` transactions, so that several processes may share the file and two of
them provisioning the same number get exactly one winner.

Secrets: an account's auth token is kept as it is, because webhooks are signed with it
(as Twilio does); an API key's secret is kept only as its SHA-256 and shown once, at
creation.  Every credential comparison is constant-time and does the same work whether
the user exists or not.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import msgspec

from engine.errors import StoreError

if TYPE_CHECKING:  # imported where used: phonenumbers is heavy, most users need none of it
    from engine.inventory import InventoryNumber

__all__ = [
    "AccountRecord",
    "AlertRecord",
    "ApiKeyRecord",
    "Directory",
    "NumberRecord",
    "NumberType",
    "new_sid",
]

NumberType = Literal["local", "toll-free", "mobile", "short-code"]
NUMBER_TYPES: Final = frozenset({"local", "toll-free", "mobile", "short-code"})
_CACHE_TTL: Final = 5.0  # seconds a verified credential is trusted without a read
# Seconds a number or an opt-out read is reused: the API reads both on every create, and
# another process's change (a provisioning, a STOP) is seen within this.
_LOOKUP_TTL: Final = 1.0
_CACHE_MAX: Final = 10_000
_DUMMY_TOKEN: Final = "0" * 32
# What an unknown key's secret is compared against; computed once, so that an unknown key
# costs the same as a known one (one hash of the given secret, one comparison).
_DUMMY_SECRET_SHA256: Final = hashlib.sha256(_DUMMY_TOKEN.encode()).hexdigest()


def _formatted(number: str) -> str:
    """Twilio's default friendly name: ``(415) 555-0100`` in North America, else the number
    (engine.numbers.friendly_name, without importing phonenumbers here)."""
    if number.startswith("+1") and len(number) == 12 and number[1:].isdigit():
        return f"({number[2:5]}) {number[5:8]}-{number[8:]}"
    return number


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 lowercase hex digits."""
    return prefix + secrets.token_hex(16)


class AccountRecord(msgspec.Struct, kw_only=True):
    """An account (``owner_account_sid`` is the parent of a subaccount, else itself)."""

    sid: str
    auth_token: str
    friendly_name: str
    owner_account_sid: str
    status: str = "active"
    date_created: float
    date_updated: float

    @property
    def is_subaccount(self) -> bool:
        """True for an account created under another one."""
        return self.owner_account_sid != self.sid

    def __repr__(self) -> str:  # never the token
        return f"AccountRecord(sid={self.sid!r}, friendly_name={self.friendly_name!r})"


class ApiKeyRecord(msgspec.Struct, kw_only=True):
    """An API key (its secret is shown once, at creation, and never kept)."""

    sid: str
    account_sid: str
    friendly_name: str
    date_created: float
    date_updated: float


class NumberRecord(msgspec.Struct, kw_only=True):
    """A phone number of the inventory (``account_sid`` None) or provisioned to an account.

    ``rate``: its own segments per second (None: its tier's); ``link``: the carrier link
    that carries what it sends (None: routed by destination).
    """

    sid: str
    phone_number: str
    account_sid: str | None = None
    number_type: str = "local"
    iso_country: str = "US"
    region: str | None = None
    locality: str | None = None
    postal_code: str | None = None
    rate_center: str | None = None
    lata: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    sms: bool = True
    mms: bool = False
    voice: bool = True
    rate: float | None = None
    link: str | None = None
    friendly_name: str = ""
    sms_url: str | None = None
    sms_method: str = "POST"
    sms_fallback_url: str | None = None
    sms_fallback_method: str = "POST"
    status_callback: str | None = None
    status_callback_method: str = "POST"
    opt_out_enabled: bool = True
    date_created: float = 0.0
    date_updated: float = 0.0

    @classmethod
    def new(cls, phone_number: str, **fields: Any) -> NumberRecord:
        """A new inventory number with a fresh ``PN`` sid."""
        fields.setdefault("friendly_name", phone_number)
        return cls(sid=new_sid("PN"), phone_number=phone_number, **fields)


class AlertRecord(msgspec.Struct, kw_only=True):
    """A failure an operator or the account owner should see (Twilio's Monitor alerts)."""

    sid: str
    account_sid: str
    error_code: int
    log_level: str
    text: str
    date_created: float
    url: str | None = None
    request_method: str | None = None
    response_status: int | None = None
    message_sid: str | None = None


# Change-log rows kept (older ones are pruned); a process further behind reloads everything.
_CHANGES_KEPT: Final = 10_000
# Numbers added at once above which one "reload" row is logged instead of one per number.
_CHANGES_BULK: Final = 1_000

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS accounts (
        sid TEXT PRIMARY KEY, auth_token TEXT NOT NULL, friendly_name TEXT NOT NULL,
        owner_account_sid TEXT NOT NULL, status TEXT NOT NULL,
        date_created REAL NOT NULL, date_updated REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS accounts_owner ON accounts(owner_account_sid)",
    """CREATE TABLE IF NOT EXISTS api_keys (
        sid TEXT PRIMARY KEY, account_sid TEXT NOT NULL, secret_sha256 TEXT NOT NULL,
        friendly_name TEXT NOT NULL, date_created REAL NOT NULL, date_updated REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS api_keys_account ON api_keys(account_sid)",
    """CREATE TABLE IF NOT EXISTS numbers (
        phone_number TEXT PRIMARY KEY, sid TEXT NOT NULL UNIQUE, account_sid TEXT,
        number_type TEXT NOT NULL, iso_country TEXT NOT NULL, region TEXT, locality TEXT,
        postal_code TEXT, rate_center TEXT, lata TEXT, latitude REAL, longitude REAL,
        sms INTEGER NOT NULL, mms INTEGER NOT NULL, voice INTEGER NOT NULL, rate REAL,
        link TEXT, friendly_name TEXT NOT NULL, sms_url TEXT, sms_method TEXT NOT NULL,
        sms_fallback_url TEXT, sms_fallback_method TEXT NOT NULL, status_callback TEXT,
        status_callback_method TEXT NOT NULL, opt_out_enabled INTEGER NOT NULL,
        date_created REAL NOT NULL, date_updated REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS numbers_account ON numbers(account_sid, phone_number)",
    """CREATE TABLE IF NOT EXISTS opt_outs (
        sender TEXT NOT NULL, recipient TEXT NOT NULL, at REAL NOT NULL,
        PRIMARY KEY (sender, recipient)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS alerts (
        sid TEXT PRIMARY KEY, account_sid TEXT NOT NULL, error_code INTEGER NOT NULL,
        log_level TEXT NOT NULL, text TEXT NOT NULL, date_created REAL NOT NULL, url TEXT,
        request_method TEXT, response_status INTEGER, message_sid TEXT)""",
    "CREATE INDEX IF NOT EXISTS alerts_account ON alerts(account_sid, date_created)",
    # The change log: one row per number changing owner or removed (written by triggers, so
    # that every writer logs alike) or added by add_inventory (NULL: many at once, reload
    # all); every process's search index (engine.aio.rest.numbers) catches up with one
    # indexed read per search.  (add_numbers, for a few numbers provisioned at once such
    # as the demo's, logs nothing of its own.)
    "CREATE TABLE IF NOT EXISTS number_changes (seq INTEGER PRIMARY KEY, phone_number TEXT)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TRIGGER IF NOT EXISTS numbers_removed AFTER DELETE ON numbers
        BEGIN INSERT INTO number_changes (phone_number) VALUES (OLD.phone_number); END""",
    """CREATE TRIGGER IF NOT EXISTS numbers_owner AFTER UPDATE OF account_sid ON numbers
        WHEN OLD.account_sid IS NOT NEW.account_sid
        BEGIN INSERT INTO number_changes (phone_number) VALUES (NEW.phone_number); END""",
    # A provisioning is a new IncomingPhoneNumber (as on Twilio): a fresh sid, so that the
    # previous owner's is gone for good, and its purchase date.
    """CREATE TRIGGER IF NOT EXISTS numbers_provisioned AFTER UPDATE OF account_sid ON numbers
        WHEN OLD.account_sid IS NULL AND NEW.account_sid IS NOT NULL
        BEGIN UPDATE numbers SET sid = 'PN' || lower(hex(randomblob(16))),
            date_created = NEW.date_updated WHERE phone_number = NEW.phone_number; END""",
    f"""CREATE TRIGGER IF NOT EXISTS number_changes_pruned AFTER INSERT ON number_changes
        BEGIN DELETE FROM number_changes WHERE seq <= NEW.seq - {_CHANGES_KEPT}; END""",
    # A number's own opt-out confirmation texts (NULL: Twilio's default).  Kept with the
    # owner's sid: a released and re-provisioned number does not inherit them.
    """CREATE TABLE IF NOT EXISTS keyword_replies (
        phone_number TEXT PRIMARY KEY, account_sid TEXT NOT NULL, opt_out TEXT, opt_in TEXT,
        help TEXT) WITHOUT ROWID""",
)
_INVENTORY_COLUMNS: Final = (
    "phone_number, number_type, iso_country, region, locality, postal_code, rate_center, "
    "lata, latitude, longitude, sms, mms, voice, rate, link"
)

_NUMBER_COLUMNS: Final = tuple(NumberRecord.__struct_fields__)
_NUMBER_SELECT: Final = f"SELECT {', '.join(_NUMBER_COLUMNS)} FROM numbers"
_BOOL_COLUMNS: Final = frozenset({"sms", "mms", "voice", "opt_out_enabled"})
_ACCOUNT_SELECT: Final = (
    "SELECT sid, auth_token, friendly_name, owner_account_sid, status, date_created, "
    "date_updated FROM accounts"
)
_ALERT_COLUMNS: Final = tuple(AlertRecord.__struct_fields__)


def _number(row: Sequence[Any]) -> NumberRecord:
    values = dict(zip(_NUMBER_COLUMNS, row, strict=True))
    for name in _BOOL_COLUMNS:
        values[name] = bool(values[name])
    return NumberRecord(**values)


def _account(row: Sequence[Any]) -> AccountRecord:
    return AccountRecord(
        sid=row[0],
        auth_token=row[1],
        friendly_name=row[2],
        owner_account_sid=row[3],
        status=row[4],
        date_created=row[5],
        date_updated=row[6],
    )


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


class Directory:
    """Accounts, keys, numbers, opt-outs and alerts (see the module docstring).

    Safe to share between threads of one process and between processes (SQLite's
    locking).  Each thread reads on a connection of its own, without any lock, so that a
    write waiting for another process's write lock (an operator importing a million
    numbers) never holds up the reads of the event loop; writes share one connection
    under a lock.  A write may wait up to ``busy_timeout`` seconds for that lock: callers
    on an event loop should make writes from a thread.  ``close()`` when done.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._busy_timeout = busy_timeout
        self._lock = threading.RLock()
        self._auth_cache: dict[tuple[str, str], tuple[float, str | None]] = {}
        self._number_cache: dict[str, tuple[float, NumberRecord | None]] = {}
        self._optout_cache: dict[tuple[str, str], tuple[float, bool]] = {}
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()  # not _lock: a waiting write holds that
        self._closed = False
        self._conn = self._connect()
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = FULL")
        with self._write():
            for statement in _SCHEMA:
                self._conn.execute(statement)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            str(self.path),
            isolation_level=None,
            check_same_thread=False,
            timeout=self._busy_timeout,
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
        return conn

    def __repr__(self) -> str:
        return f"<Directory {self.path}>"

    def close(self) -> None:
        """Close the file (every thread's reader too).  Idempotent."""
        with self._lock, self._readers_lock:
            if not self._closed:
                self._closed = True
                self._conn.close()
                for reader in self._readers:
                    reader.close()
                self._readers.clear()

    def __enter__(self) -> Directory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # plumbing -----------------------------------------------------------------------------

    def _write(self) -> Any:
        directory = self

        class _Tx:
            def __enter__(self) -> sqlite3.Connection:
                directory._lock.acquire()
                try:
                    if directory._closed:
                        raise StoreError("the directory is closed")
                    directory._conn.execute("BEGIN IMMEDIATE")
                except BaseException:
                    directory._lock.release()
                    raise
                return directory._conn

            def __exit__(self, exc_type: Any, *rest: Any) -> None:
                try:
                    directory._conn.execute("ROLLBACK" if exc_type else "COMMIT")
                finally:
                    directory._number_cache.clear()
                    directory._optout_cache.clear()
                    directory._lock.release()

        return _Tx()

    def _reader(self) -> sqlite3.Connection:
        """This thread's read connection (WAL: it reads while another writes)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            with self._readers_lock:
                if self._closed:
                    raise StoreError("the directory is closed")
                conn = self._connect()
                conn.execute("PRAGMA query_only = ON")
                self._readers.append(conn)
            self._local.conn = conn
        return conn

    def _one(self, sql: str, args: Sequence[Any]) -> Any:
        return self._reader().execute(sql, args).fetchone()

    def _all(self, sql: str, args: Sequence[Any]) -> list[Any]:
        return self._reader().execute(sql, args).fetchall()

    # accounts -----------------------------------------------------------------------------

    def create_account(
        self, friendly_name: str = "", parent_sid: str | None = None, *, at: float | None = None
    ) -> AccountRecord:
        """A new account (a subaccount of ``parent_sid`` when given) with a fresh token."""
        if len(friendly_name) > 64:
            raise StoreError("friendly_name: longer than 64 characters", field="friendly_name")
        now = time.time() if at is None else at
        sid = new_sid("AC")
        if parent_sid is not None:
            parent = self.get_account(parent_sid)
            if parent is None:
                raise StoreError(f"unknown account {parent_sid}", field="parent_sid")
            if parent.is_subaccount:  # Twilio: subaccounts have no subaccounts
                raise StoreError("a subaccount cannot have subaccounts", field="parent_sid")
        record = AccountRecord(
            sid=sid,
            auth_token=secrets.token_hex(16),
            friendly_name=friendly_name or f"{'Sub' if parent_sid else ''}Account {sid[-6:]}",
            owner_account_sid=parent_sid or sid,
            date_created=now,
            date_updated=now,
        )
        with self._write() as conn:
            conn.execute(
                "INSERT INTO accounts VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.sid,
                    record.auth_token,
                    record.friendly_name,
                    record.owner_account_sid,
                    record.status,
                    now,
                    now,
                ),
            )
        return record

    def get_account(self, sid: str) -> AccountRecord | None:
        """The account ``sid``, or None."""
        row = self._one(_ACCOUNT_SELECT + " WHERE sid = ?", (sid,))
        return _account(row) if row is not None else None

    def list_accounts(self, owner_sid: str) -> list[AccountRecord]:
        """The account itself and its subaccounts (what Twilio's Accounts.json lists)."""
        rows = self._all(
            _ACCOUNT_SELECT + " WHERE sid = ? OR owner_account_sid = ? ORDER BY date_created",
            (owner_sid, owner_sid),
        )
        return [_account(r) for r in rows]

    def update_account(
        self, sid: str, *, friendly_name: str | None = None, status: str | None = None
    ) -> AccountRecord | None:
        """Change an account's name or status (``active``, ``suspended``, ``closed``)."""
        if status is not None and status not in ("active", "suspended", "closed"):
            raise StoreError(f"status: unknown {status!r}", field="status")
        if friendly_name is not None and len(friendly_name) > 64:
            raise StoreError("friendly_name: longer than 64 characters", field="friendly_name")
        with self._write() as conn:
            if friendly_name is not None:
                conn.execute(
                    "UPDATE accounts SET friendly_name = ?, date_updated = ? WHERE sid = ?",
                    (friendly_name, time.time(), sid),
                )
            if status is not None:
                conn.execute(
                    "UPDATE accounts SET status = ?, date_updated = ? WHERE sid = ?",
                    (status, time.time(), sid),
                )
        self._auth_cache.clear()
        return self.get_account(sid)

    def may_access(self, principal_sid: str, account_sid: str) -> bool:
        """True when credentials acting as ``principal_sid`` may use ``account_sid``'s
        resources: the account itself or one of its subaccounts."""
        if principal_sid == account_sid:
            return True
        account = self.get_account(account_sid)
        return account is not None and account.owner_account_sid == principal_sid

    def authenticate(self, username: str, password: str) -> str | None:
        """The account sid these Basic-auth credentials act as, or None.

        ``username`` is an account sid (password: its auth token) or an API key sid
        (password: its secret; it acts as the key's account).  Constant-time, with the
        same work for an unknown user; verified pairs are cached for a few seconds.
        """
        key = (username, _sha256(password))
        now = time.monotonic()
        hit = self._auth_cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        principal: str | None = None
        if username.startswith("SK"):
            row = self._one(
                "SELECT k.account_sid, k.secret_sha256, a.status FROM api_keys k "
                "JOIN accounts a ON a.sid = k.account_sid WHERE k.sid = ?",
                (username,),
            )
            expected = row[1] if row is not None else _DUMMY_SECRET_SHA256
            ok = hmac.compare_digest(expected, key[1])
            if ok and row is not None and row[2] == "active":
                principal = row[0]
        else:
            row = self._one("SELECT auth_token, status FROM accounts WHERE sid = ?", (username,))
            expected = row[0] if row is not None else _DUMMY_TOKEN
            ok = hmac.compare_digest(
                expected.encode("utf-8"), password.encode("utf-8", "surrogatepass")
            )
            if ok and row is not None and row[1] == "active":
                principal = username
        if len(self._auth_cache) >= _CACHE_MAX:
            self._auth_cache.clear()
        self._auth_cache[key] = (now + _CACHE_TTL, principal)
        return principal

    # API keys -----------------------------------------------------------------------------

    def create_api_key(
        self, account_sid: str, friendly_name: str = "", *, at: float | None = None
    ) -> tuple[ApiKeyRecord, str]:
        """A new key of ``account_sid`` and its secret (shown once, kept only hashed)."""
        if len(friendly_name) > 64:
            raise StoreError("friendly_name: longer than 64 characters", field="friendly_name")
        now = time.time() if at is None else at
        secret = secrets.token_urlsafe(24)
        record = ApiKeyRecord(
            sid=new_sid("SK"),
            account_sid=account_sid,
            friendly_name=friendly_name,
            date_created=now,
            date_updated=now,
        )
        with self._write() as conn:
            conn.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?)",
                (record.sid, account_sid, _sha256(secret), friendly_name, now, now),
            )
        return record, secret

    def get_api_key(self, sid: str, account_sid: str) -> ApiKeyRecord | None:
        """The key ``sid`` of ``account_sid``, or None."""
        row = self._one(
            "SELECT sid, account_sid, friendly_name, date_created, date_updated FROM api_keys "
            "WHERE sid = ? AND account_sid = ?",
            (sid, account_sid),
        )
        if row is None:
            return None
        return ApiKeyRecord(
            sid=row[0],
            account_sid=row[1],
            friendly_name=row[2],
            date_created=row[3],
            date_updated=row[4],
        )

    def list_api_keys(self, account_sid: str) -> list[ApiKeyRecord]:
        """The account's keys, oldest first."""
        rows = self._all(
            "SELECT sid, account_sid, friendly_name, date_created, date_updated FROM api_keys "
            "WHERE account_sid = ? ORDER BY date_created",
            (account_sid,),
        )
        return [
            ApiKeyRecord(
                sid=r[0], account_sid=r[1], friendly_name=r[2], date_created=r[3], date_updated=r[4]
            )
            for r in rows
        ]

    def update_api_key(
        self, sid: str, account_sid: str, friendly_name: str, *, at: float | None = None
    ) -> ApiKeyRecord | None:
        """Rename a key of ``account_sid``; None when the account has no such key."""
        if len(friendly_name) > 64:
            raise StoreError("friendly_name: longer than 64 characters", field="friendly_name")
        with self._write() as conn:
            conn.execute(
                "UPDATE api_keys SET friendly_name = ?, date_updated = ?"
                " WHERE sid = ? AND account_sid = ?",
                (friendly_name, time.time() if at is None else at, sid, account_sid),
            )
        return self.get_api_key(sid, account_sid)

    def delete_api_key(self, sid: str, account_sid: str) -> bool:
        """Remove a key (its credentials stop working at once); False when unknown."""
        with self._write() as conn:
            cur = conn.execute(
                "DELETE FROM api_keys WHERE sid = ? AND account_sid = ?", (sid, account_sid)
            )
        self._auth_cache.clear()
        return bool(cur.rowcount > 0)

    # numbers ------------------------------------------------------------------------------

    def add_numbers(self, records: Iterable[NumberRecord], *, at: float | None = None) -> int:
        """Add numbers to the inventory (one transaction; a number already present is left
        as it is).  The count added."""
        now = time.time() if at is None else at
        rows = []
        for r in records:
            if r.number_type not in NUMBER_TYPES:
                raise StoreError(
                    f"number_type: {r.number_type!r} is not one of {sorted(NUMBER_TYPES)}",
                    field="number_type",
                )
            values = msgspec.structs.asdict(r)
            values["date_created"] = values["date_created"] or now
            values["date_updated"] = values["date_updated"] or now
            rows.append(tuple(values[c] for c in _NUMBER_COLUMNS))
        marks = ", ".join("?" * len(_NUMBER_COLUMNS))
        with self._write() as conn:
            before = conn.total_changes
            conn.executemany(
                f"INSERT OR IGNORE INTO numbers ({', '.join(_NUMBER_COLUMNS)}) VALUES ({marks})",
                rows,
            )
            return int(conn.total_changes - before)

    def add_inventory(self, records: Iterable[InventoryNumber], *, at: float | None = None) -> int:
        """Add :class:`engine.inventory.InventoryNumber` records to the inventory, free, in
        one transaction (a million in about ten seconds); a number already present is left
        as it is.  The count added."""
        with self._write() as conn:
            return self._insert_inventory(conn, records, time.time() if at is None else at)

    def ensure_default_inventory(
        self, make: Callable[[], Iterable[InventoryNumber]], *, key: str = "default_inventory"
    ) -> int:
        """Add ``make()``'s numbers the first time this is called for ``key`` in this file,
        never again (even when numbers are later released or removed), in one transaction;
        the count added."""
        if self._one("SELECT 1 FROM meta WHERE key = ?", (key,)) is not None:
            return 0
        records = make()
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM meta WHERE key = ?", (key,)).fetchone() is not None:
                return 0  # another process did it meanwhile
            added = self._insert_inventory(conn, records, time.time())
            conn.execute("INSERT INTO meta VALUES (?, ?)", (key, str(added)))
        return added

    def _insert_inventory(
        self, conn: sqlite3.Connection, records: Iterable[InventoryNumber], now: float
    ) -> int:
        # Sorted by number, with sids that count up from a random base: both unique indexes
        # then grow at their end, several times faster than random inserts.  (A number gets
        # a random sid when it is provisioned; a free number's sid is never shown.)
        base = secrets.randbits(63)
        ordered = sorted(records, key=lambda r: r.phone_number)
        rows = [
            (
                f"PN{base + i:032x}",
                r.phone_number,
                r.number_type,
                r.iso_country,
                r.region,
                r.locality,
                r.postal_code,
                r.rate_center,
                r.lata,
                r.latitude,
                r.longitude,
                r.sms,
                r.mms,
                r.voice,
                r.rate,
                r.link,
                _formatted(r.phone_number),
                now,
                now,
            )
            for i, r in enumerate(ordered)
        ]
        for r in rows:
            if r[2] not in NUMBER_TYPES:
                raise StoreError(
                    f"number_type: {r[2]!r} is not one of {sorted(NUMBER_TYPES)}",
                    field="number_type",
                )
        before = conn.total_changes
        conn.executemany(
            f"INSERT OR IGNORE INTO numbers (sid, {_INVENTORY_COLUMNS}, friendly_name, "
            "sms_method, sms_fallback_method, status_callback_method, opt_out_enabled, "
            "date_created, date_updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?, ?, 'POST', 'POST', 'POST', 1, ?, ?)",
            rows,
        )
        added = int(conn.total_changes - before)
        if len(rows) > _CHANGES_BULK:  # one "reload all" instead of one per number
            conn.execute("INSERT INTO number_changes (phone_number) VALUES (NULL)")
        elif added:
            conn.executemany(
                "INSERT INTO number_changes (phone_number) VALUES (?)", [(r[1],) for r in rows]
            )
        return added

    def number_changes(self, since: int) -> tuple[int, list[str] | None]:
        """(newest change number, the numbers changed after ``since``); the list is None
        when the caller must reload every free number (a bulk change, or ``since`` is older
        than the log keeps).  One indexed read: cheap enough to call before every search."""
        rows = self._all(
            "SELECT seq, phone_number FROM number_changes WHERE seq > ? ORDER BY seq LIMIT ?",
            (since, _CHANGES_BULK + 1),
        )
        if not rows:
            return since, []
        newest = rows[-1][0]
        if rows[0][0] != since + 1 or len(rows) > _CHANGES_BULK:
            row = self._one("SELECT max(seq) FROM number_changes", ())
            return int(row[0]), None
        numbers = [r[1] for r in rows]
        if any(n is None for n in numbers):
            return newest, None
        for n in numbers:  # another process changed them: our cached reads are stale
            self._number_cache.pop(n, None)
        return newest, numbers

    def change_seq(self) -> int:
        """The newest change number (0 when nothing changed yet)."""
        row = self._one("SELECT max(seq) FROM number_changes", ())
        return int(row[0] or 0)

    def free_inventory(
        self,
        *,
        iso_country: str | None = None,
        number_type: str | None = None,
        prefix: str | None = None,
        numbers: Collection[str] | None = None,
    ) -> tuple[int, list[InventoryNumber]]:
        """(change number, the free numbers) read in one snapshot, optionally only of one
        country, type, ``phone_number`` prefix or list.  Reads on a connection of its own,
        so that it may run in a thread while the directory serves others."""
        from engine.inventory import InventoryNumber

        where = ["account_sid IS NULL"]
        args: list[Any] = []
        if iso_country is not None:
            where.append("iso_country = ?")
            args.append(iso_country)
        if number_type is not None:
            where.append("number_type = ?")
            args.append(number_type)
        if prefix is not None:
            where.append("phone_number >= ? AND phone_number < ?")
            args += [prefix, prefix + "\uffff"]
        if numbers is not None:
            where.append(f"phone_number IN ({', '.join('?' * len(numbers))})")
            args += list(numbers)
        conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        try:
            conn.execute("BEGIN")  # one read snapshot for both reads
            seq = conn.execute("SELECT max(seq) FROM number_changes").fetchone()[0] or 0
            cursor = conn.execute(
                f"SELECT {_INVENTORY_COLUMNS} FROM numbers WHERE {' AND '.join(where)}", args
            )
            out = [
                InventoryNumber(
                    phone_number=r[0],
                    number_type=r[1],
                    iso_country=r[2],
                    region=r[3],
                    locality=r[4],
                    postal_code=r[5],
                    rate_center=r[6],
                    lata=r[7],
                    latitude=r[8],
                    longitude=r[9],
                    sms=bool(r[10]),
                    mms=bool(r[11]),
                    voice=bool(r[12]),
                    rate=r[13],
                    link=r[14],
                )
                for r in cursor
            ]
            conn.execute("COMMIT")
        finally:
            conn.close()
        return int(seq), out

    def phone_numbers(self) -> set[str]:
        """Every number in the directory, free or provisioned (to refuse duplicates)."""
        return {r[0] for r in self._all("SELECT phone_number FROM numbers", ())}

    def assign_number(
        self, phone_number: str, account_sid: str, *, at: float | None = None, **config: Any
    ) -> NumberRecord | None:
        """Provision a free number to ``account_sid`` (with optional configuration fields);
        None when it is not free.  Atomic across processes: of two concurrent calls for
        one number exactly one gets it."""
        now = time.time() if at is None else at
        sets, args = self._config_sets(config)
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE numbers SET account_sid = ?, date_updated = ?"
                + "".join(f", {s}" for s in sets)
                + " WHERE phone_number = ? AND account_sid IS NULL",
                (account_sid, now, *args, phone_number),
            )
            if cur.rowcount != 1:
                return None
        return self.get_number(phone_number)

    def move_number(
        self, phone_number: str, from_account: str, to_account: str, *, at: float | None = None
    ) -> NumberRecord | None:
        """Give a number ``from_account`` owns to ``to_account`` (the caller checked they
        are an account and its subaccounts); None when ``from_account`` does not own it."""
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE numbers SET account_sid = ?, date_updated = ?"
                " WHERE phone_number = ? AND account_sid = ?",
                (to_account, time.time() if at is None else at, phone_number, from_account),
            )
            if cur.rowcount != 1:
                return None
        return self.get_number(phone_number)

    _CONFIGURABLE: Final = frozenset(
        {
            "friendly_name",
            "sms_url",
            "sms_method",
            "sms_fallback_url",
            "sms_fallback_method",
            "status_callback",
            "status_callback_method",
            "opt_out_enabled",
            "rate",
            "link",
        }
    )

    def _config_sets(self, config: dict[str, Any]) -> tuple[list[str], list[Any]]:
        sets, args = [], []
        for name, value in config.items():
            if name not in self._CONFIGURABLE:
                raise StoreError(f"{name}: not a configurable number field", field=name)
            sets.append(f"{name} = ?")
            args.append(value)
        return sets, args

    def update_number(
        self, phone_number: str, account_sid: str, *, at: float | None = None, **config: Any
    ) -> NumberRecord | None:
        """Change a provisioned number's configuration; None when ``account_sid`` does not
        own it."""
        sets, args = self._config_sets(config)
        now = time.time() if at is None else at
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE numbers SET date_updated = ?"
                + "".join(f", {s}" for s in sets)
                + " WHERE phone_number = ? AND account_sid = ?",
                (now, *args, phone_number, account_sid),
            )
            if cur.rowcount != 1:
                return None
        return self.get_number(phone_number)

    def release_number(self, phone_number: str, account_sid: str) -> bool:
        """Give a number back to the inventory (its configuration cleared)."""
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE numbers SET account_sid = NULL, sms_url = NULL, sms_fallback_url = NULL,"
                " status_callback = NULL, friendly_name = phone_number, date_updated = ?"
                " WHERE phone_number = ? AND account_sid = ?",
                (time.time(), phone_number, account_sid),
            )
        return bool(cur.rowcount == 1)

    def get_number(self, phone_number: str) -> NumberRecord | None:
        """The number (free or provisioned), or None (cached for about a second)."""
        now = time.monotonic()
        hit = self._number_cache.get(phone_number)
        if hit is not None and hit[0] > now:
            return hit[1]
        row = self._one(_NUMBER_SELECT + " WHERE phone_number = ?", (phone_number,))
        number = _number(row) if row is not None else None
        if len(self._number_cache) >= _CACHE_MAX:
            self._number_cache.clear()
        self._number_cache[phone_number] = (now + _LOOKUP_TTL, number)
        return number

    def get_number_by_sid(self, sid: str) -> NumberRecord | None:
        """The number with this ``PN`` sid, or None."""
        row = self._one(_NUMBER_SELECT + " WHERE sid = ?", (sid,))
        return _number(row) if row is not None else None

    def owned_number(self, account_sid: str, phone_number: str) -> NumberRecord | None:
        """The number when ``account_sid`` owns it, else None."""
        number = self.get_number(phone_number)
        if number is None or number.account_sid != account_sid:
            return None
        return number

    def list_numbers(self, account_sid: str) -> list[NumberRecord]:
        """The numbers an account owns, by number."""
        rows = self._all(
            _NUMBER_SELECT + " WHERE account_sid = ? ORDER BY phone_number", (account_sid,)
        )
        return [_number(r) for r in rows]

    def list_provisioned(self) -> list[NumberRecord]:
        """Every provisioned number of every account, by number (the operator's view)."""
        rows = self._all(
            _NUMBER_SELECT + " WHERE account_sid IS NOT NULL ORDER BY phone_number", ()
        )
        return [_number(r) for r in rows]

    def count_numbers(self) -> tuple[int, int]:
        """(numbers in the directory, of which provisioned)."""
        row = self._one("SELECT count(*), count(account_sid) FROM numbers", ())
        return int(row[0]), int(row[1])

    # opt-outs -----------------------------------------------------------------------------

    def is_opted_out(self, sender: str, recipient: str) -> bool:
        """True when ``recipient`` opted out of messages from ``sender`` (Twilio 21610);
        cached for about a second."""
        now = time.monotonic()
        key = (sender, recipient)
        hit = self._optout_cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        row = self._one(
            "SELECT 1 FROM opt_outs WHERE sender = ? AND recipient = ?", (sender, recipient)
        )
        if len(self._optout_cache) >= _CACHE_MAX:
            self._optout_cache.clear()
        self._optout_cache[key] = (now + _LOOKUP_TTL, row is not None)
        return row is not None

    def set_opted_out(
        self, sender: str, recipient: str, opted_out: bool, *, at: float | None = None
    ) -> None:
        """Record an opt-out (STOP) or remove it (START)."""
        with self._write() as conn:
            if opted_out:
                conn.execute(
                    "INSERT OR REPLACE INTO opt_outs VALUES (?, ?, ?)",
                    (sender, recipient, time.time() if at is None else at),
                )
            else:
                conn.execute(
                    "DELETE FROM opt_outs WHERE sender = ? AND recipient = ?",
                    (sender, recipient),
                )

    def keyword_replies(self, phone_number: str, account_sid: str) -> tuple[str | None, ...]:
        """(opt_out, opt_in, help) texts the owner set for the number (None: default)."""
        row = self._one(
            "SELECT opt_out, opt_in, help FROM keyword_replies"
            " WHERE phone_number = ? AND account_sid = ?",
            (phone_number, account_sid),
        )
        return tuple(row) if row is not None else (None, None, None)

    def set_keyword_replies(
        self,
        phone_number: str,
        account_sid: str,
        *,
        opt_out: str | None = None,
        opt_in: str | None = None,
        help: str | None = None,
    ) -> bool:
        """Set the number's STOP/START/HELP confirmation texts (None: Twilio's default, "":
        no reply); False when ``account_sid`` does not own the number."""
        for name, text in (("opt_out", opt_out), ("opt_in", opt_in), ("help", help)):
            if text is not None and len(text) > 1600:
                raise StoreError(f"{name}: longer than 1600 characters", field=name)
        if self.owned_number(account_sid, phone_number) is None:
            return False
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO keyword_replies VALUES (?, ?, ?, ?, ?)",
                (phone_number, account_sid, opt_out, opt_in, help),
            )
        return True

    # alerts -------------------------------------------------------------------------------

    def add_alert(self, alert: Any) -> None:
        """Record an alert (any object with :class:`AlertRecord`'s fields)."""
        values = [getattr(alert, c, None) for c in _ALERT_COLUMNS]
        with self._write() as conn:
            conn.execute(
                f"INSERT OR IGNORE INTO alerts ({', '.join(_ALERT_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_ALERT_COLUMNS))})",
                values,
            )

    def list_alerts(
        self,
        account_sid: str | None = None,
        *,
        limit: int = 50,
        offset: int = 0,
        log_level: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[AlertRecord]:
        """The newest alerts, of one account or of all, optionally of one ``log_level``
        and created in ``[since, until]``; ``offset`` skips the newest ones (paging)."""
        conditions: list[str] = []
        args: list[Any] = []
        for sql, value in (
            ("account_sid = ?", account_sid),
            ("log_level = ?", log_level),
            ("date_created >= ?", since),
            ("date_created <= ?", until),
        ):
            if value is not None and value != "":
                conditions.append(sql)
                args.append(value)
        where = ("WHERE " + " AND ".join(conditions)) if conditions else ""
        rows = self._all(
            f"SELECT {', '.join(_ALERT_COLUMNS)} FROM alerts {where} "
            "ORDER BY date_created DESC, sid LIMIT ? OFFSET ?",
            (*args, max(1, min(limit, 1000)), max(0, offset)),
        )
        return [AlertRecord(**dict(zip(_ALERT_COLUMNS, r, strict=True))) for r in rows]

    def get_alert(self, sid: str, account_sid: str | None = None) -> AlertRecord | None:
        """The alert ``sid`` (of ``account_sid`` when given), or None."""
        where, args = ("sid = ?", [sid])
        if account_sid is not None:
            where, args = "sid = ? AND account_sid = ?", [sid, account_sid]
        row = self._one(f"SELECT {', '.join(_ALERT_COLUMNS)} FROM alerts WHERE {where}", args)
        return AlertRecord(**dict(zip(_ALERT_COLUMNS, row, strict=True))) if row else None
