"""The SQLite store's schema and statements, prepared once as strings.

Why the hot table looks as it does (figures in bench/README.md, "Store"):

- ``id INTEGER PRIMARY KEY`` is the rowid, given by the writer inside its transaction, under
  SQLite's write lock: ``max(id)`` (and the floor in ``ids_used``) read once per group, then
  each row's id is that plus its place in the group (:data:`INSERT_ACCEPT_ROWS`).  So ids
  grow in commit order even with several processes writing the file, rows append at the
  end of the table, and ``id`` orders each sender's queue.  ``ids_used`` keeps the highest
  id ever deleted, so that deleting the newest message never lets its id be given again (a
  poller that saw it would miss the next message).
- The sid starts with the acceptance time in milliseconds (then 80 random bits), so its
  unique index grows at its right edge too: a random sid dirtied one index page per insert
  and cost about 4x the whole insert.
- Listing uses ``(account_sid, id)``; the queue uses a partial index on ``id`` for the
  ``queued``/``sending`` rows only.  Indexes on To/From dirty one random page per insert
  (the most expensive thing here) and are created only with ``number_index=True``.
- Carrier message ids are indexed in their own table, written at ``mark_sent`` (not at
  accept), under every spelling of :func:`engine.receipts.message_id_keys`.
- ``parts`` holds one row per submit_sm part of each attempt (also written at
  ``mark_sent``, read only by ``apply_receipt``): a multipart message's receipts are
  counted per part.  Schema version 2 added it; a version 1 file gets it at open.
- ``sender_queue`` keeps, per sender, the sum of ``num_segments`` of its ``queued`` and
  ``sending`` messages (Twilio 21611, across processes): the writer adds a group's
  messages with one UPSERT per sender, and subtracts a message when a status change takes
  it out of the queue (``Writer._update``).  A partial index on ``(from_, num_segments)``
  did the same with one range read, but cost ~1 us per accepted row (about 10% of
  ``accept()`` throughput); the counter costs a dict update per row.  Schema version 3
  added it (filled from the messages at the upgrade) and ``ids_used``.
- A NULL is never bound as a parameter: binding ``None`` costs ~0.6 us in the sqlite3
  module (it goes through the adapter lookup), more than a whole text value.  Columns that
  are NULL at accept are left out of the INSERT, and optional ones choose among prepared
  variants (:data:`INSERT_ACCEPT`).
"""

from __future__ import annotations

from typing import Final

SCHEMA_VERSION: Final = 3

UPGRADABLE_VERSIONS: Final = frozenset({0, 1, 2, SCHEMA_VERSION})
"""Versions :data:`SCHEMA` brings to :data:`SCHEMA_VERSION` (its statements only add)."""

COLUMNS: Final = (
    "sid, account_sid, direction, from_, to_, body, status, num_segments, num_media, "
    "error_code, error_message, carrier_message_id, link, date_created, date_updated, "
    "date_sent, status_callback, expires_at, attempts, possible_duplicate, id, price, "
    "price_unit"
)
"""The SELECT list, in the order :func:`engine.store.sqlite._record` reads it."""

SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS messages (
        id INTEGER PRIMARY KEY,
        sid TEXT NOT NULL,
        account_sid TEXT NOT NULL,
        direction TEXT NOT NULL,
        from_ TEXT NOT NULL,
        to_ TEXT NOT NULL,
        body TEXT NOT NULL,
        status TEXT NOT NULL,
        num_segments INTEGER NOT NULL,
        num_media INTEGER NOT NULL DEFAULT 0,
        error_code INTEGER,
        error_message TEXT,
        carrier_message_id TEXT,
        link TEXT,
        date_created REAL NOT NULL,
        date_updated REAL NOT NULL,
        date_sent REAL,
        status_callback TEXT,
        expires_at REAL,
        attempts INTEGER NOT NULL DEFAULT 0,
        possible_duplicate INTEGER NOT NULL DEFAULT 0,
        price TEXT,
        price_unit TEXT
    )""",
    "CREATE UNIQUE INDEX IF NOT EXISTS messages_sid ON messages(sid)",
    "CREATE INDEX IF NOT EXISTS messages_account ON messages(account_sid, id)",
    "CREATE INDEX IF NOT EXISTS messages_pending ON messages(id)"
    " WHERE status IN ('queued', 'sending')",
    """CREATE TABLE IF NOT EXISTS history (
        msg_id INTEGER NOT NULL,
        status TEXT NOT NULL,
        at REAL NOT NULL,
        detail TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS history_msg ON history(msg_id)",
    """CREATE TABLE IF NOT EXISTS carrier_ids (
        key TEXT NOT NULL,
        msg_id INTEGER NOT NULL,
        link TEXT,
        canonical INTEGER NOT NULL,
        PRIMARY KEY (key, msg_id)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS carrier_ids_msg ON carrier_ids(msg_id)",
    # outcome: NULL until the part's receipt says delivered, undelivered or failed.
    """CREATE TABLE IF NOT EXISTS parts (
        msg_id INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        part_index INTEGER NOT NULL,
        canon_id TEXT NOT NULL,
        outcome TEXT,
        PRIMARY KEY (msg_id, attempt, part_index)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS sender_queue (
        from_ TEXT PRIMARY KEY,
        segments INTEGER NOT NULL
    ) WITHOUT ROWID""",
    # One row (k = 0): the highest message id ever deleted (see the module docstring).
    """CREATE TABLE IF NOT EXISTS ids_used (
        k INTEGER PRIMARY KEY CHECK (k = 0),
        id INTEGER NOT NULL
    )""",
)

NUMBER_INDEXES: Final = (
    "CREATE INDEX IF NOT EXISTS messages_to ON messages(account_sid, to_, id)",
    "CREATE INDEX IF NOT EXISTS messages_from ON messages(account_sid, from_, id)",
)


def _insert(extra: tuple[str, ...]) -> str:
    cols = (
        "id, sid, account_sid, direction, from_, to_, body, status, num_segments, "
        "num_media, date_created, date_updated"
    )
    n = 12 + len(extra)
    return f"INSERT INTO messages ({', '.join([cols, *extra])}) VALUES ({', '.join('?' * n)})"


INSERT_INBOUND: Final = _insert(("link",))

INSERT_ACCEPT: Final = (
    _insert(()),
    _insert(("status_callback",)),
    _insert(("expires_at",)),
    _insert(("status_callback", "expires_at")),
    INSERT_INBOUND,
)
"""Indexed by shape: bit 0 = status_callback given, bit 1 = expires_at given; shape 4 is
an inbound message (with its link).  Each row's first value is its id."""

CHUNKS: Final = (256, 128, 64, 32, 16, 8, 4, 2, 1)
"""Rows per multi-row INSERT, largest first.  executemany steps once per row, and each step
releases and retakes the GIL: under load the event loop thread takes it in between and the
writer waits up to the interpreter's switch interval (5 ms) to get it back.  One
``VALUES (...), (...), ...`` statement steps once, so a group of n rows costs at most
log2(n) + n/256 steps (n = 500: 8 instead of 500).  256 rows x 14 columns stays far below
SQLite's 32,766 parameters."""


def _insert_rows(stmt: str, rows: int) -> str:
    head, _, one = stmt.partition(" VALUES ")
    # "?1 + ?": parameter 1 is the group's id offset, bound once per statement; an
    # unnumbered "?" takes the number after the largest so far, so each row's own values
    # follow in order and its first one (its ticket) becomes id = offset + ticket.
    one = one.replace("(?, ", "(?1 + ?, ", 1)
    return f"{head} VALUES {', '.join([one] * rows)}"


INSERT_ACCEPT_ROWS: Final = tuple({n: _insert_rows(s, n) for n in CHUNKS} for s in INSERT_ACCEPT)
"""Per shape: rows -> the INSERT of that many rows.  Parameters: the id offset, then each
row's values, the first being the row's ticket (see :class:`engine.store.sqlite.SqliteStore`)."""

SELECT_ID_BASE: Final = (
    "SELECT max(ifnull((SELECT max(id) FROM messages), 0), "
    "ifnull((SELECT id FROM ids_used WHERE k = 0), 0))"
)
"""The highest id ever given (kept or deleted): the next group's ids start above it."""
RAISE_ID_FLOOR: Final = (
    "INSERT INTO ids_used (k, id) VALUES (0, ?) "
    "ON CONFLICT (k) DO UPDATE SET id = max(id, excluded.id)"
)

SELECT_BY_SID: Final = f"SELECT {COLUMNS} FROM messages WHERE sid = ?"
SELECT_BY_ID: Final = f"SELECT {COLUMNS} FROM messages WHERE id = ?"
SELECT_STATE: Final = "SELECT id, status FROM messages WHERE sid = ?"
SELECT_OWNER: Final = "SELECT id, status, account_sid FROM messages WHERE sid = ?"
SELECT_HEAD: Final = "SELECT id, direction, date_created FROM messages WHERE sid = ?"
SELECT_HISTORY: Final = "SELECT status, at, detail FROM history WHERE msg_id = ? ORDER BY rowid"
SELECT_PAGE_ANCHOR: Final = "SELECT id FROM messages WHERE sid = ? AND account_sid = ?"
SELECT_LIST_QUEUED: Final = (
    f"SELECT {COLUMNS} FROM messages INDEXED BY messages_pending "
    "WHERE status IN ('queued', 'sending') AND status = 'queued' AND id > ? ORDER BY id LIMIT ?"
)
"""The dispatcher's poll: a range of the partial index ``messages_pending`` (its WHERE is
repeated word for word so that the index applies).  ``INDEXED BY``: the rowid range
``id > ?`` looks as good to the planner, but it also steps over every newer message that
already left the queue (sent by a dispatcher that learned of it in process, inbound)."""
SELECT_QUEUED_SEGMENTS: Final = "SELECT segments FROM sender_queue WHERE from_ = ?"
SUM_QUEUED_SEGMENTS: Final = (
    "SELECT ifnull(sum(num_segments), 0) FROM messages "
    "WHERE status IN ('queued', 'sending') AND from_ = ?"
)
"""What ``sender_queue`` holds for one sender, counted from the messages (for checks)."""
JOIN_SENDER_QUEUE: Final = (
    "INSERT INTO sender_queue (from_, segments) VALUES (?, ?) "
    "ON CONFLICT (from_) DO UPDATE SET segments = segments + excluded.segments"
)
LEAVE_SENDER_QUEUE: Final = "UPDATE sender_queue SET segments = segments - ? WHERE from_ = ?"
REBUILD_SENDER_QUEUE: Final = (
    "INSERT OR REPLACE INTO sender_queue (from_, segments) "
    "SELECT from_, sum(num_segments) FROM messages "
    "WHERE status IN ('queued', 'sending') GROUP BY from_"
)
SELECT_QUEUED: Final = (
    f"SELECT {COLUMNS} FROM messages WHERE status IN ('queued', 'sending') ORDER BY id"
)

INSERT_HISTORY: Final = "INSERT INTO history (msg_id, status, at, detail) VALUES (?, ?, ?, ?)"
INSERT_HISTORY_ROWS: Final = {
    n: "INSERT INTO history (msg_id, status, at, detail) VALUES " + ", ".join(["(?, ?, ?, ?)"] * n)
    for n in CHUNKS
}
"""Rows -> the INSERT of that many history rows (the batch writes, one step per statement)."""
INSERT_PART_ROWS: Final = {
    n: "INSERT INTO parts (msg_id, attempt, part_index, canon_id) VALUES "
    + ", ".join(["(?, ?, ?, ?)"] * n)
    for n in CHUNKS
}
INSERT_CARRIER_ID_ROWS: Final = {
    n: "INSERT OR IGNORE INTO carrier_ids (key, msg_id, link, canonical) VALUES "
    + ", ".join(["(?, ?, ?, ?)"] * n)
    for n in CHUNKS
}


def select_in(head: str, n: int) -> str:
    """``head`` (a SELECT ending in ``IN``) with ``n`` parameters in its list."""
    return f"{head} ({', '.join('?' * n)})"


SELECT_SEND_STATE_IN: Final = (
    "SELECT sid, id, status, attempts, link, from_, num_segments FROM messages WHERE sid IN"
)
"""The batch writes' read of the messages they change (see :func:`select_in`)."""
SELECT_BY_IDS_IN: Final = f"SELECT {COLUMNS} FROM messages WHERE id IN"
SELECT_PARTS_IN: Final = (
    "SELECT msg_id, attempt, part_index, canon_id, outcome FROM parts WHERE msg_id IN"
)
INSERT_CARRIER_ID: Final = (
    "INSERT OR IGNORE INTO carrier_ids (key, msg_id, link, canonical) VALUES (?, ?, ?, ?)"
)

SELECT_PARTS: Final = (
    "SELECT attempt, part_index, canon_id, outcome FROM parts WHERE msg_id = ? "
    "ORDER BY attempt, part_index"
)
SELECT_ATTEMPT_PARTS: Final = (
    "SELECT part_index, canon_id FROM parts WHERE msg_id = ? AND attempt = ? ORDER BY part_index"
)
INSERT_PART: Final = "INSERT INTO parts (msg_id, attempt, part_index, canon_id) VALUES (?, ?, ?, ?)"
UPDATE_PART: Final = (
    "UPDATE parts SET outcome = ? WHERE msg_id = ? AND attempt = ? AND part_index = ?"
)

UPDATE_SENDING: Final = (
    "UPDATE messages SET status = 'sending', link = ?, attempts = attempts + 1, "
    f"date_updated = ? WHERE id = ? RETURNING {COLUMNS}"
)
UPDATE_SENDING_NR: Final = (
    "UPDATE messages SET status = 'sending', link = ?, attempts = attempts + 1, "
    "date_updated = ? WHERE id = ?"
)
""":data:`UPDATE_SENDING` without reading the row back (the batch writes)."""
UPDATE_SENT_NR: Final = (
    "UPDATE messages SET status = 'sent', carrier_message_id = ?, date_sent = ?, "
    "date_updated = ? WHERE id = ?"
)
UPDATE_RECEIPT_NR: Final = (
    "UPDATE messages SET status = ?, error_code = ?, error_message = ?, date_updated = ?, "
    "date_sent = ifnull(date_sent, ?) WHERE id = ?"
)
UPDATE_SENT: Final = (
    "UPDATE messages SET status = 'sent', carrier_message_id = ?, date_sent = ?, "
    f"date_updated = ? WHERE id = ? RETURNING {COLUMNS}"
)
UPDATE_FAILED: Final = (
    "UPDATE messages SET status = 'failed', error_code = ?, error_message = ?, "
    f"date_updated = ? WHERE id = ? RETURNING {COLUMNS}"
)
UPDATE_QUEUED: Final = (
    f"UPDATE messages SET status = 'queued', date_updated = ? WHERE id = ? RETURNING {COLUMNS}"
)
UPDATE_RECEIPT: Final = (
    "UPDATE messages SET status = ?, error_code = ?, error_message = ?, date_updated = ?, "
    f"date_sent = ifnull(date_sent, ?) WHERE id = ? RETURNING {COLUMNS}"
)
"""A receipt proves the message reached the carrier: one that overtook the submit_sm_resp
(so ``mark_sent`` has not run) still gives it a ``date_sent``."""
UPDATE_CANCELED: Final = (
    f"UPDATE messages SET status = 'canceled', date_updated = ? WHERE id = ? RETURNING {COLUMNS}"
)
UPDATE_REDACT: Final = (
    f"UPDATE messages SET body = '', date_updated = ? WHERE id = ? RETURNING {COLUMNS}"
)
SELECT_SENDING_IDS: Final = (
    "SELECT id, from_, num_segments FROM messages "
    "WHERE status IN ('queued', 'sending') AND status = 'sending'"
)
RECOVER_REQUEUE: Final = (
    "UPDATE messages SET status = 'queued', possible_duplicate = 1, date_updated = ? WHERE id = ?"
)
RECOVER_FAIL: Final = (
    "UPDATE messages SET status = 'failed', error_code = ?, error_message = ?, "
    "date_updated = ? WHERE id = ?"
)
PURGE_SELECT: Final = (
    "SELECT id FROM messages WHERE date_created < ? "
    "AND status NOT IN ('accepted', 'queued', 'sending') ORDER BY id LIMIT ?"
)


def lookup_receipt(n_keys: int, with_link: bool) -> str:
    """The query that finds a message by the spellings of a receipt's carrier id.

    Preference (engine.receipts.message_id_keys): a stored canonical spelling equal to the
    receipt's canonical spelling, then the newest message.
    """
    marks = ", ".join("?" * n_keys)
    link = " AND c.link = ?" if with_link else ""
    return (
        "SELECT c.msg_id FROM carrier_ids c "
        f"WHERE c.key IN ({marks}){link} "
        "ORDER BY (c.key = ? AND c.canonical = 1) DESC, c.msg_id DESC LIMIT 1"
    )
