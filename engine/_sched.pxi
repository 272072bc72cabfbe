# Rate scheduler (included into engine/_core.pyx).  Sans-IO: every time is an argument.
#
# Shape of the state (all in C arrays grown by doubling; no Python object per message):
#
# - a *sender* per key: a token bucket (tokens, last, rate, burst) and a FIFO of nodes;
# - a *node* per queued message: the item (one owned reference), its segment count and
#   its expiry time, linked into its sender's FIFO; freed nodes go to a free list;
# - a *level* per account and per carrier link: a token bucket, a pause (links), and a wait
#   list of the senders that it blocks (an intrusive doubly linked list through the senders);
# - the *ready heap*: a 4-ary min-heap of (time, seq) over the non-empty senders that are
#   not parked at a level and over the levels that have waiters (O(log n) per re-key;
#   see "the ready heap" below for why its entries have no back-pointers);
# - the *expiry heap*: one entry per sender with finite expiries, keyed by a lower bound of
#   its earliest expiry (exact once it comes due).
#
# Why wait lists instead of re-keying blocked senders to their level's time: with 10,000
# senders under one 10/s account, re-keying would wake all 10,000 at every token (a
# thundering herd, O(n log n) per message).  Parked senders cost nothing until their level
# releases them, one at a time, in the order they arrived: round-robin, so nobody starves.
#
# Names private to this part start with ``_sq`` so that they cannot clash with the other
# included parts of engine._core.

from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t
from libc.math cimport INFINITY, floor, isnan
from libc.stdlib cimport free, realloc
from cpython.ref cimport Py_DECREF, Py_INCREF, PyObject

from engine.errors import QueueFullError as _SqQueueFullError


# --- default rates by kind of sender ----------------------------------------------------
#
# The table and the classifier live here, not in engine.scheduler, so that RateScheduler's
# default needs nothing from the policy module that wraps it (the core imports no wrapper).
# engine.scheduler presents them with its Tier enum (Tier values are these names).

TIER_RATES = {
    "long_code": 1.0,
    "toll_free": 3.0,
    "short_code": 100.0,
    "alphanumeric": 10.0,
    "international": 10.0,
}
"""Default segments per second of each kind of sender, by tier name: the figures US
carriers and Twilio publish for unregistered traffic."""

# NANP toll-free area codes (the 8XX series in service).
TOLL_FREE_AREA_CODES = frozenset({"800", "833", "844", "855", "866", "877", "888"})

cdef Py_ssize_t _MAX_KEY_LENGTH = 32  # bounds the work of classifying an untrusted key


def sender_tier(key):
    """The tier name of a sender: an E.164 number, a short code or an alphanumeric id.

    - a letter anywhere: ``"alphanumeric"`` (sender id);
    - 5 or 6 digits: ``"short_code"``;
    - ``+1`` and 10 digits (NANP; also ``1`` and 10 digits without the plus):
      ``"toll_free"`` when the area code is 800/833/844/855/866/877/888, else
      ``"long_code"``;
    - any other ``+`` number of 7 to 15 digits (E.164 §6): ``"international"``.

    Raises TypeError for a key that is not a str and ValueError (naming ``key``) for one
    that is none of the above.
    """
    if not isinstance(key, str):
        raise TypeError(f"key must be a str to have a tier, not {type(key).__name__}")
    if not key or len(key) > _MAX_KEY_LENGTH:
        raise ValueError(f"key must be 1..{_MAX_KEY_LENGTH} characters, got {len(key)}")
    if not key.isascii():
        raise ValueError(f"key {key!r} has non-ASCII characters")
    if any(c.isalpha() for c in key):
        return "alphanumeric"
    plus = key.startswith("+")
    digits = key[1:] if plus else key
    if not digits.isdigit():
        raise ValueError(f"key {key!r} is not a phone number, short code or alphanumeric id")
    if not plus and len(digits) in (5, 6):
        return "short_code"
    if digits.startswith("1") and (plus or len(digits) == 11):
        if len(digits) != 11:
            raise ValueError(f"key {key!r}: a +1 (NANP) number has 10 digits after the 1")
        return "toll_free" if digits[1:4] in TOLL_FREE_AREA_CODES else "long_code"
    if plus and 7 <= len(digits) <= 15:
        return "international"
    raise ValueError(f"key {key!r} is not a phone number, short code or alphanumeric id")


def tier_rate(key):
    """The default segments per second of ``key``: its tier's rate (RateScheduler's default)."""
    if not isinstance(key, str):
        raise TypeError(
            f"key {key!r} has no rate: set one with set_rate() (only str keys have a tier)"
        )
    return TIER_RATES[sender_tier(key)]

# Float slack when a bucket is compared with what it needs: a time computed as
# last + (need - tokens) / rate gives back `need` tokens only up to rounding.
cdef double _SQ_EPS = 1e-9
cdef int32_t _SQ_MAX_SEGMENTS = 255  # a concatenated SMS has at most 255 parts (UDH IEI 00)

ctypedef struct _SqNode:
    PyObject *item          # owned reference; NULL when the node is free
    double expires          # +inf: never
    int32_t next            # next node in the sender's FIFO or the free list; -1: none
    int32_t segments

ctypedef struct _SqSender:
    double tokens
    double last             # time of `tokens`; -inf for a fresh (full) bucket
    double rate
    double burst
    double cap              # most segments the queue may hold: floor(rate * validity)
    int64_t segs            # queued segments
    int32_t head
    int32_t tail
    int32_t count           # queued messages
    int32_t account         # level id or -1
    int32_t link            # level id or -1
    uint32_t hseq           # seq of its live ready-heap entry (valid while inheap)
    int32_t xpos            # position in the expiry heap or -1
    int32_t parked          # level whose wait list holds the sender, or -1
    int32_t wprev
    int32_t wnext
    uint8_t inheap          # has a live entry in the ready heap
    uint8_t mono            # expiries are non-decreasing along the FIFO
    uint8_t own_rate        # the rate was set explicitly (not the default)

ctypedef struct _SqLevel:
    double tokens
    double last
    double rate
    double burst
    double pause_until      # -inf: not paused
    int32_t wait_head
    int32_t wait_tail
    uint32_t hseq
    uint8_t inheap
    uint8_t limited         # a rate is set; without one only the pause applies

ctypedef struct _SqEnt:
    double key
    uint32_t seq            # ties: the earlier insertion first (round-robin)
    int32_t ent             # sender id >= 0, or ~level id

ctypedef struct _SqXEnt:
    double key
    int32_t sid


cdef inline double _sq_ready_at(double tokens, double last, double rate, double need) noexcept:
    """Earliest time a bucket holds `need` tokens (`last` if it holds them already)."""
    if tokens >= need - _SQ_EPS:
        return last
    return last + (need - tokens) / rate


cdef inline void _sq_take(double *tokens, double *last, double rate, double burst,
                          double now, double n) noexcept:
    """Refill to `now` (never beyond `burst`), then spend `n` (the bucket may go negative)."""
    if now > last[0]:
        tokens[0] += rate * (now - last[0])
        if tokens[0] > burst:
            tokens[0] = burst
        last[0] = now
    tokens[0] -= n


cdef inline double _sq_level_ready(_SqLevel *lv, int32_t segments) noexcept:
    cdef double t = lv.pause_until
    cdef double r, need
    if lv.limited:
        need = segments if segments < lv.burst else lv.burst
        r = _sq_ready_at(lv.tokens, lv.last, lv.rate, need)
        if r > t:
            t = r
    return t


cdef inline bint _sq_before(_SqEnt *a, _SqEnt *b) noexcept:
    if a.key != b.key:
        return a.key < b.key
    return <int32_t>(a.seq - b.seq) < 0  # serial-number order survives wrap-around


cdef object _SQ_KEEP = object()


def _sq_rate(value, name):
    cdef double v
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}") from None
    if not (v > 0.0) or v == INFINITY:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def _sq_burst(value):
    cdef double v
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"burst must be a number, not {type(value).__name__}") from None
    if not (v >= 1.0) or v == INFINITY:
        raise ValueError(f"burst must be a finite number >= 1, got {value!r}")
    return v


cdef double _sq_time(value, str name, bint finite=False) except? -1.0:
    cdef double v
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}") from None
    if isnan(v):
        raise ValueError(f"{name} must not be NaN")
    if finite and (v == INFINITY or v == -INFINITY):
        raise ValueError(f"{name} must be finite, got {v!r}")
    return v


cdef int32_t _sq_segments(object value) except -1:
    if type(value) is not int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"segments must be an int, not {type(value).__name__}")
    if not 1 <= value <= _SQ_MAX_SEGMENTS:
        raise ValueError(f"segments must be 1..{_SQ_MAX_SEGMENTS}, got {value!r}")
    return <int32_t>value


cdef class RateScheduler:
    """Per-sender FIFO queues paced in segments per second, inside account and link rates.

    Sans-IO and single-threaded: every time is an argument (seconds, any monotonic
    origin), nothing sleeps, nothing locks.  A dispatcher loop calls :meth:`pop_ready` and
    :meth:`pop_expired` with the current time and sleeps until
    ``min(next_ready_at(), next_expiry_at())`` or the next push.

    Pacing (token buckets).  Each sender, account and link has a bucket of ``burst``
    tokens refilled at ``per_second`` (never beyond ``burst``: an idle sender banks no
    more).  A message of ``s`` segments leaves when its sender's bucket and each of its
    levels' buckets hold ``min(s, burst)`` tokens (and its link is not paused); it then
    takes ``s`` tokens from each, which may leave a bucket negative.  Hence, over any
    interval of length T, a bucket lets at most ``burst + per_second * T`` segments
    through when no message is larger than ``burst``; a message larger than the burst
    leaves whole and then blocks for the excess (a 3-segment message at 1/s, burst 1,
    leaves at once and the sender's next message leaves 3 s later), so the bound becomes
    ``max(burst, s) + per_second * T``.  Callers that need strict per-segment spacing push
    each segment as its own one-segment item: a sender's items are never reordered, so the
    parts stay contiguous.

    Order and fairness.  Each sender is a FIFO.  Among ready senders the one ready longest
    goes first (ties: the one queued first), and a sender that sent goes to the back of
    the senders ready at its next time.  A sender blocked by its account or link waits in
    that level's FIFO wait list and is released in arrival order, so a limiting account
    serves its senders round-robin.

    Keys are any hashable (a phone number, a short code, an alphanumeric id).  A key whose
    rate was never set gets ``rate_for(key)`` per second (default: the tier of
    :func:`engine.scheduler.classify_sender`) and ``default_burst``.

    Queue limit: a sender holds at most ``floor(rate * validity)`` queued segments;
    :meth:`push` beyond it raises :class:`engine.QueueFullError` (Twilio 21611).  A message
    whose ``expires_at`` passes while queued is moved out; :meth:`pop_expired` returns
    such items (Twilio 30036, :class:`engine.MessageExpiredError`).

    Cost: O(log n) per push and per message dispatched, n = senders with queued messages
    (amortised; expiries in push order per sender, the default, cost O(log n) each).
    Memory: 24 bytes per queued message plus the item itself; about 100 bytes per sender
    plus the key dict entry.
    """

    cdef _SqSender *_s
    cdef Py_ssize_t _ns, _cap_s
    cdef _SqNode *_n
    cdef Py_ssize_t _nn, _cap_n
    cdef int32_t _free
    cdef _SqLevel *_l
    cdef Py_ssize_t _nl, _cap_l
    cdef _SqEnt *_h
    cdef Py_ssize_t _hn, _cap_h
    cdef _SqXEnt *_x
    cdef Py_ssize_t _xn, _cap_x
    cdef uint32_t _seq
    cdef dict _sids
    cdef dict _accounts
    cdef dict _links
    cdef list _expired
    cdef object _rate_for
    cdef double _validity
    cdef double _default_burst
    cdef double _clock
    cdef Py_ssize_t _count
    cdef int64_t _nsegs

    def __cinit__(self):
        self._free = -1
        self._clock = -INFINITY
        self._sids = {}
        self._accounts = {}
        self._links = {}
        self._expired = []

    def __init__(self, rate_for=None, *, default_burst=1, validity=36000.0):
        """``rate_for(key) -> per_second`` gives a new key's rate (default: its tier's).

        ``validity`` (seconds, default 10 hours) sizes each sender's queue limit.
        """
        if rate_for is None:
            rate_for = tier_rate
        elif not callable(rate_for):
            raise TypeError("rate_for must be callable or None")
        self._rate_for = rate_for
        self._default_burst = _sq_burst(default_burst)
        self._validity = _sq_rate(validity, "validity")

    def __dealloc__(self):
        cdef Py_ssize_t i
        if self._n != NULL:
            for i in range(self._nn):
                if self._n[i].item != NULL:
                    Py_DECREF(<object>self._n[i].item)
                    self._n[i].item = NULL
        free(self._s)
        free(self._n)
        free(self._l)
        free(self._h)
        free(self._x)

    # --- storage ---------------------------------------------------------------------

    cdef int _grow(self, void **arr, Py_ssize_t *cap, Py_ssize_t need, size_t size) except -1:
        cdef Py_ssize_t c = cap[0]
        cdef void *p
        if need <= c:
            return 0
        if need > 0x7FFFFFFF:
            raise MemoryError("RateScheduler: more than 2**31 entries")
        c = c * 2 if c else 64
        while c < need:
            c *= 2
        if c > 0x7FFFFFFF:
            c = 0x7FFFFFFF
        p = realloc(arr[0], <size_t>c * size)
        if p == NULL:
            raise MemoryError()
        arr[0] = p
        cap[0] = c
        return 0

    cdef int32_t _sender(self, object key, double rate=-1.0) except -1:
        """The id of `key`'s sender; a new one gets `rate` or else ``rate_for(key)``."""
        cdef object found = self._sids.get(key)
        cdef int32_t sid
        cdef _SqSender *s
        if found is not None:
            return <int32_t>found
        if rate <= 0.0:
            rate = _sq_rate(self._rate_for(key), "per_second")
        self._grow(<void **>&self._s, &self._cap_s, self._ns + 1, sizeof(_SqSender))
        sid = <int32_t>self._ns
        s = &self._s[sid]
        s.tokens = self._default_burst
        s.last = -INFINITY
        s.rate = rate
        s.burst = self._default_burst
        s.cap = floor(rate * self._validity)
        s.segs = 0
        s.head = s.tail = -1
        s.count = 0
        s.account = s.link = -1
        s.xpos = -1
        s.hseq = 0
        s.inheap = 0
        s.parked = s.wprev = s.wnext = -1
        s.mono = 1
        s.own_rate = 0
        self._sids[key] = sid
        self._ns += 1
        return sid

    cdef int32_t _level(self, dict table, object key) except -1:
        cdef object found = table.get(key)
        cdef int32_t lid
        cdef _SqLevel *lv
        if found is not None:
            return <int32_t>found
        self._grow(<void **>&self._l, &self._cap_l, self._nl + 1, sizeof(_SqLevel))
        lid = <int32_t>self._nl
        lv = &self._l[lid]
        lv.tokens = 1.0
        lv.last = -INFINITY
        lv.rate = INFINITY
        lv.burst = 1.0
        lv.pause_until = -INFINITY
        lv.wait_head = lv.wait_tail = -1
        lv.hseq = 0
        lv.inheap = 0
        lv.limited = 0
        table[key] = lid
        self._nl += 1
        return lid

    cdef int32_t _node(self) except -1:
        cdef int32_t i = self._free
        if i >= 0:
            self._free = self._n[i].next
            return i
        self._grow(<void **>&self._n, &self._cap_n, self._nn + 1, sizeof(_SqNode))
        i = <int32_t>self._nn
        self._nn += 1
        return i

    cdef inline void _release(self, int32_t i) noexcept:
        self._n[i].item = NULL
        self._n[i].next = self._free
        self._free = i

    # --- the ready heap ---------------------------------------------------------------
    # A 4-ary min-heap (half the depth of a binary one; the four children of a node are
    # adjacent).  Entries carry no back-pointer: writing one into the sender at every sift
    # step costs a cache miss per level.  Instead an entity records the seq of its live
    # entry; re-keying the top entry (the hot path: a sender that just sent) sifts it in
    # place, and any other re-key or removal leaves the old entry behind as stale, to be
    # dropped when it reaches the top.

    cdef void _hup(self, Py_ssize_t i) noexcept:
        cdef _SqEnt e = self._h[i]
        cdef Py_ssize_t p
        while i > 0:
            p = (i - 1) >> 2
            if not _sq_before(&e, &self._h[p]):
                break
            self._h[i] = self._h[p]
            i = p
        self._h[i] = e

    cdef void _hdown(self, Py_ssize_t i) noexcept:
        cdef _SqEnt e = self._h[i]
        cdef Py_ssize_t n = self._hn
        cdef Py_ssize_t c, best, end
        while True:
            c = 4 * i + 1
            if c >= n:
                break
            best = c
            end = c + 4 if c + 4 < n else n
            c += 1
            while c < end:
                if _sq_before(&self._h[c], &self._h[best]):
                    best = c
                c += 1
            if not _sq_before(&self._h[best], &e):
                break
            self._h[i] = self._h[best]
            i = best
        self._h[i] = e

    cdef inline bint _hlive(self, _SqEnt *e) noexcept:
        if e.ent >= 0:
            return self._s[e.ent].inheap and self._s[e.ent].hseq == e.seq
        return self._l[~e.ent].inheap and self._l[~e.ent].hseq == e.seq

    cdef inline void _hpoptop(self) noexcept:
        self._hn -= 1
        if self._hn > 0:
            self._h[0] = self._h[self._hn]
            self._hdown(0)

    cdef inline void _hclean(self) noexcept:
        """Drop stale entries from the top."""
        while self._hn > 0 and not self._hlive(&self._h[0]):
            self._hpoptop()

    cdef int _hkey(self, int32_t ent, double key) except -1:
        """Put the entity in the heap at `key`, behind the entries with an equal key."""
        cdef uint32_t *hseq
        cdef uint8_t *inheap
        cdef _SqEnt e
        if ent >= 0:
            hseq = &self._s[ent].hseq
            inheap = &self._s[ent].inheap
        else:
            hseq = &self._l[~ent].hseq
            inheap = &self._l[~ent].inheap
        if inheap[0] and self._hn > 0 and self._h[0].ent == ent and self._h[0].seq == hseq[0]:
            self._h[0].key = key
            self._h[0].seq = self._seq
            hseq[0] = self._seq
            self._seq += 1
            self._hdown(0)
            return 0
        self._grow(<void **>&self._h, &self._cap_h, self._hn + 1, sizeof(_SqEnt))
        e.key = key
        e.seq = self._seq
        e.ent = ent
        hseq[0] = self._seq
        inheap[0] = 1
        self._seq += 1
        self._h[self._hn] = e
        self._hn += 1
        self._hup(self._hn - 1)
        return 0

    cdef void _hdrop(self, int32_t ent) noexcept:
        """Take the entity out of the heap (at once if it is the top, else lazily)."""
        cdef uint32_t hseq
        if ent >= 0:
            if not self._s[ent].inheap:
                return
            self._s[ent].inheap = 0
            hseq = self._s[ent].hseq
        else:
            if not self._l[~ent].inheap:
                return
            self._l[~ent].inheap = 0
            hseq = self._l[~ent].hseq
        if self._hn > 0 and self._h[0].ent == ent and self._h[0].seq == hseq:
            self._hpoptop()

    # --- the expiry heap -------------------------------------------------------------

    cdef inline void _xset(self, Py_ssize_t i, _SqXEnt e) noexcept:
        self._x[i] = e
        self._s[e.sid].xpos = <int32_t>i

    cdef void _xup(self, Py_ssize_t i) noexcept:
        cdef _SqXEnt e = self._x[i]
        cdef Py_ssize_t p
        while i > 0:
            p = (i - 1) >> 1
            if not e.key < self._x[p].key:
                break
            self._xset(i, self._x[p])
            i = p
        self._xset(i, e)

    cdef void _xdown(self, Py_ssize_t i) noexcept:
        cdef _SqXEnt e = self._x[i]
        cdef Py_ssize_t n = self._xn
        cdef Py_ssize_t c
        while True:
            c = 2 * i + 1
            if c >= n:
                break
            if c + 1 < n and self._x[c + 1].key < self._x[c].key:
                c += 1
            if not self._x[c].key < e.key:
                break
            self._xset(i, self._x[c])
            i = c
        self._xset(i, e)

    cdef int _xlower(self, int32_t sid, double key) except -1:
        """Make the sender's expiry key at most `key` (insert when absent)."""
        cdef _SqXEnt e
        cdef int32_t i = self._s[sid].xpos
        if i >= 0:
            if key < self._x[i].key:
                self._x[i].key = key
                self._xup(i)
            return 0
        self._grow(<void **>&self._x, &self._cap_x, self._xn + 1, sizeof(_SqXEnt))
        e.key = key
        e.sid = sid
        self._xn += 1
        self._xset(self._xn - 1, e)
        self._xup(self._xn - 1)
        return 0

    cdef void _xremove(self, Py_ssize_t i) noexcept:
        cdef _SqXEnt last
        self._s[self._x[i].sid].xpos = -1
        self._xn -= 1
        if i == self._xn:
            return
        last = self._x[self._xn]
        self._xset(i, last)
        if i > 0 and last.key < self._x[(i - 1) >> 1].key:
            self._xup(i)
        else:
            self._xdown(i)

    cdef void _xrekey(self, Py_ssize_t i, double key) noexcept:
        cdef double old = self._x[i].key
        self._x[i].key = key
        if key < old:
            self._xup(i)
        else:
            self._xdown(i)

    # --- senders and levels ----------------------------------------------------------

    cdef inline double _own_ready(self, _SqSender *s) noexcept:
        cdef double seg = self._n[s.head].segments
        return _sq_ready_at(s.tokens, s.last, s.rate, seg if seg < s.burst else s.burst)

    cdef int _lsync(self, int32_t lid) except -1:
        """Put the level in the ready heap at its first waiter's time, or take it out."""
        cdef _SqLevel *lv = &self._l[lid]
        cdef double key
        if lv.wait_head < 0:
            self._hdrop(~lid)
            return 0
        self._hkey(~lid, _sq_level_ready(lv, self._n[self._s[lv.wait_head].head].segments))
        return 0

    cdef int _park(self, int32_t sid, int32_t lid) except -1:
        """Move the sender from the ready heap to the tail of the level's wait list."""
        cdef _SqSender *s = &self._s[sid]
        cdef _SqLevel *lv = &self._l[lid]
        self._hdrop(sid)
        s.parked = lid
        s.wnext = -1
        s.wprev = lv.wait_tail
        if lv.wait_tail >= 0:
            self._s[lv.wait_tail].wnext = sid
            lv.wait_tail = sid
        else:
            lv.wait_head = lv.wait_tail = sid
            self._lsync(lid)
        return 0

    cdef int _unpark(self, int32_t sid, bint sync) except -1:
        cdef _SqSender *s = &self._s[sid]
        cdef int32_t lid = s.parked
        cdef _SqLevel *lv = &self._l[lid]
        cdef bint first = lv.wait_head == sid
        if s.wprev >= 0:
            self._s[s.wprev].wnext = s.wnext
        else:
            lv.wait_head = s.wnext
        if s.wnext >= 0:
            self._s[s.wnext].wprev = s.wprev
        else:
            lv.wait_tail = s.wprev
        s.parked = s.wprev = s.wnext = -1
        if sync and first:
            self._lsync(lid)
        return 0

    cdef int _ssync(self, int32_t sid) except -1:
        """Re-place a sender whose head message or rate changed."""
        cdef _SqSender *s = &self._s[sid]
        if s.count == 0:
            self._hdrop(sid)
            if s.parked >= 0:
                self._unpark(sid, True)
            s.mono = 1
        elif s.parked >= 0:
            if self._l[s.parked].wait_head == sid:
                self._lsync(s.parked)
        else:
            self._hkey(sid, self._own_ready(s))
        return 0

    cdef int _assign(self, int32_t sid, int32_t account, int32_t link) except -1:
        cdef _SqSender *s = &self._s[sid]
        if account == s.account and link == s.link:
            return 0
        if s.parked >= 0:
            # Its wait was for the old level: it goes back to the heap to be re-checked.
            self._unpark(sid, True)
        s.account = account
        s.link = link
        if s.count > 0 and not s.inheap:
            self._hkey(sid, self._own_ready(s))
        return 0

    # --- dispatch ----------------------------------------------------------------------

    cdef int _send(self, int32_t sid, double now, int32_t from_level, list out) except -1:
        cdef _SqSender *s = &self._s[sid]
        cdef int32_t i = s.head
        cdef int32_t seg = self._n[i].segments
        cdef int32_t a = s.account
        cdef int32_t k = s.link
        cdef _SqLevel *lv
        cdef object item = <object>self._n[i].item
        _sq_take(&s.tokens, &s.last, s.rate, s.burst, now, seg)
        if a >= 0 and self._l[a].limited:
            lv = &self._l[a]
            _sq_take(&lv.tokens, &lv.last, lv.rate, lv.burst, now, seg)
        if k >= 0 and self._l[k].limited:
            lv = &self._l[k]
            _sq_take(&lv.tokens, &lv.last, lv.rate, lv.burst, now, seg)
        s.head = self._n[i].next
        if s.head < 0:
            s.tail = -1
        s.count -= 1
        s.segs -= seg
        self._count -= 1
        self._nsegs -= seg
        Py_DECREF(item)  # the node's reference; `item` keeps one of its own
        self._release(i)
        out.append(item)
        if s.count > 0:
            self._hkey(sid, self._own_ready(s))
        else:
            self._hdrop(sid)
            s.mono = 1
        # Levels whose tokens were spent and that have waiters move to their new time.
        # The level that released this sender goes last, so that on an exact tie the other
        # level's waiters are served first (no starvation between the two).
        if from_level >= 0 and from_level == a:
            a, k = k, a
        if a >= 0 and (self._l[a].wait_head >= 0 or self._l[a].inheap):
            self._lsync(a)
        if k >= 0 and (self._l[k].wait_head >= 0 or self._l[k].inheap):
            self._lsync(k)
        return 0

    cdef int _step(self, double t, bint commit, list out) except -1:
        """Handle the top of the ready heap at time `t`.

        Returns 1 when it sends (commit) or would send (not commit), else 0 after moving
        the entry: a sender parked at the level that blocks it, a level re-keyed, a waiter
        handed from one level to the other.  Moves never depend on `commit`, so
        :meth:`next_ready_at` settles the heap exactly as :meth:`pop_ready` would.
        """
        cdef int32_t ent = self._h[0].ent
        cdef int32_t sid, lid, other, seg
        cdef _SqSender *s
        cdef _SqLevel *lv
        cdef double r
        if ent >= 0:
            sid = ent
            s = &self._s[sid]
            r = self._own_ready(s)
            if r > t + _SQ_EPS:
                self._hkey(sid, r)
                return 0
            seg = self._n[s.head].segments
            # A sender that finds waiters at a level queues behind them (FIFO fairness).
            if s.account >= 0:
                lv = &self._l[s.account]
                if lv.wait_head >= 0 or _sq_level_ready(lv, seg) > t + _SQ_EPS:
                    self._park(sid, s.account)
                    return 0
            if s.link >= 0:
                lv = &self._l[s.link]
                if lv.wait_head >= 0 or _sq_level_ready(lv, seg) > t + _SQ_EPS:
                    self._park(sid, s.link)
                    return 0
            if commit:
                self._send(sid, t, -1, out)
            return 1
        lid = ~ent
        lv = &self._l[lid]
        sid = lv.wait_head
        s = &self._s[sid]
        seg = self._n[s.head].segments
        r = _sq_level_ready(lv, seg)
        if r > t + _SQ_EPS:
            self._hkey(ent, r)
            return 0
        r = self._own_ready(s)
        if r > t + _SQ_EPS:
            # Its own rate changed while it waited: back to the heap at its own time.
            self._unpark(sid, True)
            self._hkey(sid, r)
            return 0
        other = s.link if lid == s.account else s.account
        # A released sender is checked against the other level's tokens only, not its
        # waiters: queueing it behind them could hand senders back and forth for ever.
        if other >= 0 and _sq_level_ready(&self._l[other], seg) > t + _SQ_EPS:
            self._unpark(sid, True)
            self._park(sid, other)
            return 0
        if commit:
            self._unpark(sid, False)
            self._send(sid, t, lid, out)
        return 1

    cdef int _expire(self, double now) except -1:
        """Move every queued message with ``expires_at <= now`` to the expired list."""
        cdef int32_t sid, i, prev, nxt, old_head
        cdef _SqSender *s
        cdef double key, last_exp
        cdef bint sorted_
        while self._xn > 0 and self._x[0].key <= now:
            sid = self._x[0].sid
            s = &self._s[sid]
            if s.count == 0:
                self._xremove(0)
                continue
            old_head = s.head
            key = INFINITY
            if s.mono:
                while s.head >= 0 and self._n[s.head].expires <= now:
                    i = s.head
                    s.head = self._n[i].next
                    self._drop(s, i)
                if s.head < 0:
                    s.tail = -1
                else:
                    key = self._n[s.head].expires
            else:
                prev = -1
                i = s.head
                sorted_ = True
                last_exp = -INFINITY
                while i >= 0:
                    nxt = self._n[i].next
                    if self._n[i].expires <= now:
                        if prev >= 0:
                            self._n[prev].next = nxt
                        else:
                            s.head = nxt
                        if s.tail == i:
                            s.tail = prev
                        self._drop(s, i)
                    else:
                        if self._n[i].expires < key:
                            key = self._n[i].expires
                        if self._n[i].expires < last_exp:
                            sorted_ = False
                        last_exp = self._n[i].expires
                        prev = i
                    i = nxt
                s.mono = sorted_
            if key == INFINITY:
                self._xremove(s.xpos)
            else:
                self._xrekey(s.xpos, key)
            if s.head != old_head:
                self._ssync(sid)
        return 0

    cdef inline void _drop(self, _SqSender *s, int32_t i) noexcept:
        """Move node `i` (already unlinked) to the expired list."""
        cdef object item = <object>self._n[i].item
        s.count -= 1
        s.segs -= self._n[i].segments
        self._count -= 1
        self._nsegs -= self._n[i].segments
        Py_DECREF(item)
        self._release(i)
        self._expired.append(item)

    # --- public API --------------------------------------------------------------------

    def set_rate(self, key, per_second, burst=1):
        """Give `key` its own rate (segments per second) and burst (tokens, >= 1)."""
        cdef double rate = _sq_rate(per_second, "per_second")
        cdef double b = _sq_burst(burst)
        cdef int32_t sid = self._sender(key, rate)
        cdef _SqSender *s = &self._s[sid]
        s.rate = rate
        s.burst = b
        s.cap = floor(rate * self._validity)
        s.own_rate = 1
        if s.tokens > b or s.last == -INFINITY:
            s.tokens = b  # a fresh bucket is full
        if s.count > 0:
            self._ssync(sid)

    def rate_of(self, key):
        """``(per_second, burst, own)`` of a known key (own: set by :meth:`set_rate`); None."""
        found = self._sids.get(key)
        if found is None:
            return None
        cdef _SqSender *s = &self._s[<int32_t>found]
        return (s.rate, s.burst, bool(s.own_rate))

    def set_account_rate(self, account, per_second, burst=1):
        """Limit every sender assigned to `account` together to this rate."""
        self._set_level_rate(self._level(self._accounts, account), per_second, burst)

    def set_link_rate(self, link, per_second, burst=1):
        """Limit every sender assigned to carrier `link` together to this rate."""
        self._set_level_rate(self._level(self._links, link), per_second, burst)

    cdef _set_level_rate(self, int32_t lid, per_second, burst):
        cdef double rate = _sq_rate(per_second, "per_second")
        cdef double b = _sq_burst(burst)
        cdef _SqLevel *lv = &self._l[lid]
        if not lv.limited:
            lv.tokens = b
            lv.last = -INFINITY
        lv.rate = rate
        lv.burst = b
        lv.limited = 1
        if lv.tokens > b:
            lv.tokens = b
        self._lsync(lid)

    def pause_link(self, link, until):
        """Hold every message of `link` until time `until` (a carrier throttle).

        Senders of other links keep flowing; the link's senders keep their order.
        """
        cdef double t = _sq_time(until, "until")
        cdef int32_t lid = self._level(self._links, link)
        self._l[lid].pause_until = t
        self._lsync(lid)

    def resume_link(self, link):
        """End a pause of `link` now (no-op for an unknown or running link)."""
        found = self._links.get(link)
        if found is None:
            return
        cdef int32_t lid = <int32_t>found
        self._l[lid].pause_until = -INFINITY
        self._lsync(lid)

    def assign(self, key, account=_SQ_KEEP, link=_SQ_KEEP):
        """Put `key`'s sender under `account` and/or `link` (None: no account/link).

        An argument left out keeps the current assignment.
        """
        cdef int32_t sid = self._sender(key)
        cdef int32_t a = self._s[sid].account
        cdef int32_t k = self._s[sid].link
        if account is not _SQ_KEEP:
            a = -1 if account is None else self._level(self._accounts, account)
        if link is not _SQ_KEEP:
            k = -1 if link is None else self._level(self._links, link)
        self._assign(sid, a, k)

    def push(self, key, item, segments=1, expires_at=None, *, account=None, link=None):
        """Queue `item` (a message of `segments` segments) at the tail of `key`'s FIFO.

        ``expires_at``: time after which the message fails instead of leaving (None:
        never).  ``account``/``link``: assign the sender (None: keep its assignment).
        Raises QueueFullError when the sender's queue would exceed its limit.
        """
        cdef int32_t seg = _sq_segments(segments)
        cdef double exp = INFINITY if expires_at is None else _sq_time(expires_at, "expires_at")
        cdef int32_t sid = self._sender(key)
        cdef _SqSender *s
        cdef int32_t i
        if account is not None or link is not None:
            self.assign(key, _SQ_KEEP if account is None else account,
                        _SQ_KEEP if link is None else link)
        s = &self._s[sid]
        if s.segs + seg > s.cap:
            raise _SqQueueFullError(
                f"queue of sender {key!r} is full: {s.segs} + {seg} segments > {s.cap:.0f} "
                f"({self._validity:g} s at {s.rate:g}/s)"
            )
        i = self._node()
        s = &self._s[sid]
        Py_INCREF(item)
        self._n[i].item = <PyObject *>item
        self._n[i].expires = exp
        self._n[i].segments = seg
        self._n[i].next = -1
        if s.count == 0:
            s.head = s.tail = i
            s.mono = 1
        else:
            if exp < self._n[s.tail].expires:
                s.mono = 0
            self._n[s.tail].next = i
            s.tail = i
        s.count += 1
        s.segs += seg
        self._count += 1
        self._nsegs += seg
        if exp != INFINITY:
            self._xlower(sid, exp)
        if s.count == 1:
            self._ssync(sid)

    def requeue(self, key, item, segments=1, expires_at=None):
        """Put `item` back at the head of `key`'s FIFO (e.g. after a carrier throttle).

        No queue limit applies (the message was accepted before) and the tokens it took
        are not given back.  Requeue several items of one sender last one first.
        """
        cdef int32_t seg = _sq_segments(segments)
        cdef double exp = INFINITY if expires_at is None else _sq_time(expires_at, "expires_at")
        cdef int32_t sid = self._sender(key)
        cdef int32_t i = self._node()
        cdef _SqSender *s = &self._s[sid]
        Py_INCREF(item)
        self._n[i].item = <PyObject *>item
        self._n[i].expires = exp
        self._n[i].segments = seg
        self._n[i].next = s.head
        if s.count == 0:
            s.tail = i
            s.mono = 1
        elif exp > self._n[s.head].expires:
            s.mono = 0
        s.head = i
        s.count += 1
        s.segs += seg
        self._count += 1
        self._nsegs += seg
        if exp != INFINITY:
            self._xlower(sid, exp)
        self._ssync(sid)

    def pop_ready(self, now, limit=None):
        """Items whose sender, account and link all allow them at `now`, oldest first.

        At most `limit` items (None: all).  Messages that expired by `now` are moved to
        the expired list first (see :meth:`pop_expired`); none of them is returned here.
        """
        cdef double t = _sq_time(now, "now", True)
        cdef Py_ssize_t lim = -1
        cdef Py_ssize_t sent = 0
        cdef list out = []
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int):
                raise TypeError(f"limit must be an int or None, not {type(limit).__name__}")
            if limit < 0:
                raise ValueError(f"limit must be >= 0, got {limit!r}")
            lim = limit
        if t > self._clock:
            self._clock = t
        self._expire(t)
        while sent != lim:
            self._hclean()
            if self._hn == 0 or self._h[0].key > t:
                break
            sent += self._step(t, True, out)
        return out

    def pop_expired(self, now):
        """Items whose ``expires_at <= now``, taken out of their queues (Twilio 30036)."""
        cdef double t = _sq_time(now, "now", True)
        cdef list out
        if t > self._clock:
            self._clock = t
        self._expire(t)
        out = self._expired
        self._expired = []
        return out

    def next_ready_at(self):
        """The earliest time at which :meth:`pop_ready` returns an item, or None if empty.

        Exact when no queued message expires before it: popping at the returned time
        yields at least one item and popping earlier yields none.  A time at or before the
        latest ``now`` seen means "ready now"; before the first pop that time is ``-inf``
        (fresh buckets are full), so compare it with your clock rather than pass it on.
        """
        cdef double t
        while True:
            self._hclean()
            if self._hn == 0:
                break
            t = self._h[0].key
            if t < self._clock:
                t = self._clock
            if self._step(t, False, None):
                return t
        return None

    def next_expiry_at(self):
        """The earliest ``expires_at`` among queued messages, or None."""
        cdef int32_t sid, i
        cdef _SqSender *s
        cdef double key
        while self._xn > 0:
            sid = self._x[0].sid
            s = &self._s[sid]
            if s.count == 0:
                self._xremove(0)
                continue
            # The heap holds a lower bound (messages sent since do not lower it): refresh.
            if s.mono:
                key = self._n[s.head].expires
            else:
                key = INFINITY
                i = s.head
                while i >= 0:
                    if self._n[i].expires < key:
                        key = self._n[i].expires
                    i = self._n[i].next
            if key == INFINITY:
                self._xremove(0)
            elif key != self._x[0].key:
                self._xrekey(0, key)
            else:
                return key
        return None

    def queued(self, key):
        """Messages queued for `key` (0 for an unknown key)."""
        found = self._sids.get(key)
        return 0 if found is None else self._s[<int32_t>found].count

    def queued_segments(self, key):
        """Segments queued for `key` (0 for an unknown key)."""
        found = self._sids.get(key)
        return 0 if found is None else self._s[<int32_t>found].segs

    @property
    def segments(self):
        """Segments queued over all senders."""
        return self._nsegs

    @property
    def senders(self):
        """Senders known (with or without queued messages)."""
        return self._ns

    @property
    def validity(self):
        """Seconds of sending at its rate that a sender's queue may hold."""
        return self._validity

    def __len__(self):
        return self._count

    def __repr__(self):
        return (
            f"<RateScheduler messages={self._count} segments={self._nsegs} "
            f"senders={self._ns} accounts={len(self._accounts)} links={len(self._links)}>"
        )
