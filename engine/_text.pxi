# Text codecs and segmentation (included into engine/_core.pyx).
#
# GSM 03.38 / 3GPP TS 23.038 default alphabet with its extension table, IA5 (ASCII),
# Latin-1 and UCS-2 (UTF-16BE with surrogate pairs), and the segment planner that counts
# segments the way Twilio does.  The hot paths walk the str with typed Py_UCS4 and C
# lookup tables: no per-character Python dict lookups, no per-character objects.
#
# Names private to this part start with ``_tx`` so that they cannot clash with the other
# included parts of engine._core.

cimport cython
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.string cimport memset

cdef extern from "Python.h":
    int _TX_UCS4_KIND "PyUnicode_4BYTE_KIND"
    object _tx_from_ucs4 "PyUnicode_FromKindAndData"(int kind, const void *buf, Py_ssize_t n)

from engine.errors import DecodeError as _TxDecodeError
from engine.errors import EncodeError as _TxEncodeError

# --- GSM 03.38 tables (3GPP TS 23.038 §6.2.1) -------------------------------------------
# The default alphabet, code 0x00..0x7F.  0x1B is the escape to the extension table and is
# not a character itself (it decodes via the extension table; see _tx_ext_or_base).
_TX_GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table (§6.2.1.1): code after 0x1B -> character.  0x0A is FORM FEED.
_TX_GSM_EXT = {
    0x0A: "\x0c",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

GSM7_BASIC_CHARS = _TX_GSM_BASIC.replace("\x1b", "")
"""The 127 characters of the GSM 03.38 default alphabet (the escape code excluded)."""
GSM7_EXTENSION_CHARS = "".join(_TX_GSM_EXT[k] for k in sorted(_TX_GSM_EXT))
"""The 10 characters of the GSM 03.38 extension table (each costs two septets)."""

DEFAULT_UDH_LENGTH = 6
"""Octets of the 8-bit-reference concatenation UDH (05 00 03 ref total seq)."""

cdef enum:
    _TX_NONE = 0xFFFF
    _TX_EXT = 0x100         # flag: extension-table code (escape + code)
    _TX_ESC = 0x1B
    _TX_SMS_OCTETS = 140    # TP-User-Data of one SMS (3GPP TS 23.040 §9.2.3.24)

# Unicode code point -> GSM code.  Below 0x100 a direct table; the Greek capitals of the
# default alphabet live in U+0393..U+03A9 (a second small table); the euro sign alone.
cdef unsigned short _tx_enc_low[256]
cdef unsigned short _tx_enc_greek[32]   # U+0390 .. U+03AF
cdef Py_UCS4 _tx_dec_basic[128]
cdef Py_UCS4 _tx_dec_ext[128]           # 0 = not in the extension table


cdef void _tx_init_tables():
    cdef int i
    cdef Py_UCS4 ch
    for i in range(256):
        _tx_enc_low[i] = _TX_NONE
    for i in range(32):
        _tx_enc_greek[i] = _TX_NONE
    for i in range(128):
        _tx_dec_ext[i] = 0
    for i in range(128):
        ch = _TX_GSM_BASIC[i]
        _tx_dec_basic[i] = ch
        if i == _TX_ESC:
            continue
        if ch < 256:
            _tx_enc_low[<unsigned int>ch] = i
        else:
            _tx_enc_greek[<unsigned int>ch - 0x390] = i
    for i, s in _TX_GSM_EXT.items():
        ch = s
        _tx_dec_ext[i] = ch
        if ch < 256:
            _tx_enc_low[<unsigned int>ch] = _TX_EXT | i
        # the euro sign (U+20AC) is handled in _tx_gsm_code


_tx_init_tables()


cdef inline int _tx_gsm_code(Py_UCS4 ch) noexcept nogil:
    """GSM code of ch: 0..0x7F basic, _TX_EXT|code for the extension table, -1 if none."""
    cdef unsigned short v
    if ch < 256:
        v = _tx_enc_low[<unsigned int>ch]
    elif 0x390 <= ch < 0x3B0:
        v = _tx_enc_greek[<unsigned int>ch - 0x390]
    elif ch == 0x20AC:
        return _TX_EXT | 0x65
    else:
        return -1
    return -1 if v == _TX_NONE else v


cdef object _tx_char_error(str text, Py_ssize_t index, str alphabet):
    ch = text[index]
    err = _TxEncodeError(
        f"character {ch!r} (U+{ord(ch):04X}) at index {index} is not in the {alphabet} "
        "alphabet",
        field="short_message",
    )
    err.index = index
    err.char = ch
    return err


# --- GSM 03.38 --------------------------------------------------------------------------


def is_gsm7(str text not None) -> bool:
    """True when every character of text is in the GSM 03.38 alphabet (basic or extension)."""
    cdef Py_UCS4 ch
    for ch in text:
        if _tx_gsm_code(ch) < 0:
            return False
    return True


def gsm7_length(str text not None) -> int:
    """Septets text takes in GSM 03.38 (extension characters count two); -1 if not GSM."""
    cdef Py_UCS4 ch
    cdef int c
    cdef Py_ssize_t n = 0
    for ch in text:
        c = _tx_gsm_code(ch)
        if c < 0:
            return -1
        n += 2 if c & _TX_EXT else 1
    return n


cdef object _tx_gsm_encode(str text, bint strict):
    """Unpacked septets of text; for a character outside GSM 03.38 raise (strict) or
    return None (so that the planner needs no separate is_gsm7 pass)."""
    cdef Py_ssize_t n = len(text)
    cdef Py_ssize_t k = 0, i = 0
    cdef int c
    cdef Py_UCS4 ch
    cdef unsigned char *buf = <unsigned char *>PyMem_Malloc(2 * n + 1)
    if buf == NULL:
        raise MemoryError()
    try:
        for ch in text:
            c = _tx_gsm_code(ch)
            if c < 0:
                if strict:
                    raise _tx_char_error(text, i, "GSM 03.38")
                return None
            if c & _TX_EXT:
                buf[k] = _TX_ESC
                buf[k + 1] = c & 0x7F
                k += 2
            else:
                buf[k] = c
                k += 1
            i += 1
        return PyBytes_FromStringAndSize(<char *>buf, k)
    finally:
        PyMem_Free(buf)


def gsm7_encode(str text not None) -> bytes:
    """Encode text as unpacked GSM 03.38 septets, one per octet (SMPP data_coding 0).

    Extension characters become the pair 0x1B, code.  A character outside the alphabet
    raises :class:`engine.EncodeError` (``field="short_message"``, with ``index`` and
    ``char`` attributes naming it).
    """
    return _tx_gsm_encode(text, True)


@cython.boundscheck(False)  # i < n is checked before every read, i + 1 < n before v[i + 1]
@cython.wraparound(False)
cdef str _tx_gsm7_decode(const unsigned char[::1] v, bint strict):
    cdef Py_ssize_t n = v.shape[0]
    cdef Py_ssize_t i = 0, k = 0
    cdef unsigned char b
    cdef Py_UCS4 ch
    cdef Py_UCS4 *buf = <Py_UCS4 *>PyMem_Malloc((n + 1) * sizeof(Py_UCS4))
    if buf == NULL:
        raise MemoryError()
    try:
        while i < n:
            b = v[i]
            if b >= 0x80:
                if strict:
                    raise _TxDecodeError(
                        f"octet 0x{b:02X} at offset {i} is not a GSM 03.38 septet",
                        field="short_message",
                        offset=i,
                    )
                buf[k] = 0xFFFD
            elif b == _TX_ESC:
                if i + 1 < n and v[i + 1] < 0x80:
                    i += 1
                    b = v[i]
                    ch = _tx_dec_ext[b]
                    # §6.2.1.1: a code with no extension character shows as the basic
                    # character; 0x1B 0x1B (a further extension) shows as a space.
                    if ch == 0:
                        ch = 0x20 if b == _TX_ESC else _tx_dec_basic[b]
                    buf[k] = ch
                else:
                    buf[k] = 0x20  # a lone trailing escape: shown as a space
            else:
                buf[k] = _tx_dec_basic[b]
            k += 1
            i += 1
        return _tx_from_ucs4(_TX_UCS4_KIND, buf, k)
    finally:
        PyMem_Free(buf)


def gsm7_decode(data, str errors="strict") -> str:
    """Decode unpacked GSM 03.38 septets (one per octet) to str.

    An octet >= 0x80 raises :class:`engine.DecodeError` (``field="short_message"``), or
    becomes U+FFFD with ``errors="replace"``.  An escape followed by a code the extension
    table lacks decodes as the basic character (3GPP TS 23.038 §6.2.1.1).
    """
    return _tx_gsm7_decode(_tx_view(data), errors != "replace")


cdef inline const unsigned char[::1] _tx_view(data):
    if isinstance(data, str):
        raise TypeError("expected bytes-like data, got str")
    return data


@cython.boundscheck(False)  # v[i] with i < n; buf is sized for every byte + 1 written
@cython.wraparound(False)
def gsm7_pack(septets, int fill_bits=0) -> bytes:
    """Pack septets (one per octet, each < 0x80) into 7-bit packed octets, LSB first.

    ``fill_bits`` (0..6) zero bits come first, as after a UDH so that the first septet
    starts on a septet boundary (3GPP TS 23.040 §9.2.3.24).
    """
    cdef const unsigned char[::1] v = _tx_view(septets)
    cdef Py_ssize_t n = v.shape[0], i, byte
    cdef Py_ssize_t bitpos = fill_bits
    cdef unsigned int s, shift
    if not 0 <= fill_bits <= 6:
        raise ValueError("fill_bits must be 0..6")
    cdef Py_ssize_t out_len = (fill_bits + 7 * n + 7) // 8
    cdef unsigned char *buf = <unsigned char *>PyMem_Malloc(out_len + 1)
    if buf == NULL:
        raise MemoryError()
    try:
        memset(buf, 0, out_len + 1)
        for i in range(n):
            s = v[i]
            if s >= 0x80:
                raise _TxEncodeError(
                    f"septet 0x{s:02X} at index {i} is not 7-bit", field="short_message"
                )
            byte = bitpos >> 3
            shift = bitpos & 7
            buf[byte] |= <unsigned char>((s << shift) & 0xFF)
            if shift > 1:
                buf[byte + 1] |= <unsigned char>(s >> (8 - shift))
            bitpos += 7
        return PyBytes_FromStringAndSize(<char *>buf, out_len)
    finally:
        PyMem_Free(buf)


@cython.boundscheck(False)  # the length check above the loop covers the last septet's octets
@cython.wraparound(False)
def gsm7_unpack(data, Py_ssize_t count=-1, int fill_bits=0) -> bytes:
    """Unpack ``count`` septets from 7-bit packed octets (one septet per output octet).

    ``count=-1`` unpacks as many whole septets as the data holds.  Data too short for
    ``count`` raises :class:`engine.DecodeError` (``field="short_message"``).
    """
    cdef const unsigned char[::1] v = _tx_view(data)
    cdef Py_ssize_t n = v.shape[0], i, byte, bitpos
    cdef unsigned int s, shift
    if not 0 <= fill_bits <= 6:
        raise ValueError("fill_bits must be 0..6")
    if count < 0:
        count = max(0, (n * 8 - fill_bits) // 7)
    if count > 0 and (fill_bits + 7 * count + 7) // 8 > n:
        raise _TxDecodeError(
            f"{n} octets cannot hold {count} septets", field="short_message", offset=n
        )
    cdef unsigned char *buf = <unsigned char *>PyMem_Malloc(count + 1)
    if buf == NULL:
        raise MemoryError()
    try:
        bitpos = fill_bits
        for i in range(count):
            byte = bitpos >> 3
            shift = bitpos & 7
            s = v[byte] >> shift
            if shift > 1:
                s |= v[byte + 1] << (8 - shift)
            buf[i] = s & 0x7F
            bitpos += 7
        return PyBytes_FromStringAndSize(<char *>buf, count)
    finally:
        PyMem_Free(buf)


# --- data_coding dispatch (SMPP 3.4 §5.2.19) --------------------------------------------


cdef int _tx_charset(int data_coding) noexcept:
    """0 GSM, 1 IA5, 3 Latin-1, 8 UCS-2, -1 unsupported.  Also reads the GSM 03.38
    coding-group forms carriers send: 0xF0-0xF7 (message class, bit 2 = 8-bit data),
    0xC0-0xDF (message waiting, default alphabet) and 0xE0-0xEF (message waiting, UCS-2)."""
    if data_coding in (0, 1, 3, 8):
        return data_coding
    if 0xF0 <= data_coding <= 0xFF:
        return -1 if data_coding & 0x04 else 0
    if 0xC0 <= data_coding <= 0xDF:
        return 0
    if 0xE0 <= data_coding <= 0xEF:
        return 8
    return -1


def encode_text(str text not None, int data_coding) -> bytes:
    """Encode text for short_message with the given data_coding.

    0 = GSM 03.38 (unpacked), 1 = IA5/ASCII, 3 = Latin-1, 8 = UCS-2 (UTF-16BE; characters
    beyond the BMP become surrogate pairs).  A character the coding cannot carry raises
    :class:`engine.EncodeError` naming it; another data_coding raises EncodeError with
    ``field="data_coding"``.
    """
    if data_coding == 0:
        return gsm7_encode(text)
    if data_coding == 8:
        codec = "utf-16-be"
        name = "UCS-2"
    elif data_coding == 3:
        codec = "latin-1"
        name = "Latin-1"
    elif data_coding == 1:
        codec = "ascii"
        name = "IA5"
    else:
        raise _TxEncodeError(
            f"data_coding {data_coding} is not a text coding this engine encodes "
            "(0, 1, 3 or 8)",
            field="data_coding",
        )
    try:
        return text.encode(codec)
    except UnicodeEncodeError as exc:
        raise _tx_char_error(text, exc.start, name) from None


def decode_text(data, int data_coding, str errors="strict") -> str:
    """Decode short_message octets of the given data_coding to str.

    Reads 0 (GSM 03.38 unpacked), 1 (IA5), 3 (Latin-1), 8 (UCS-2/UTF-16BE, surrogate
    pairs joined) and the GSM coding-group forms of those.  Undecodable octets raise
    :class:`engine.DecodeError` (``field="short_message"``), or become U+FFFD with
    ``errors="replace"``.  Unsupported data_coding raises DecodeError
    (``field="data_coding"``).
    """
    cdef int cs = _tx_charset(data_coding)
    if cs == 0:
        return gsm7_decode(data, errors)
    if cs == -1:
        raise _TxDecodeError(
            f"data_coding 0x{data_coding:02X} is not a text coding", field="data_coding"
        )
    codec = "utf-16-be" if cs == 8 else ("latin-1" if cs == 3 else "ascii")
    try:
        return bytes(data).decode(codec, "replace" if errors == "replace" else "strict")
    except UnicodeDecodeError as exc:
        raise _TxDecodeError(
            f"short_message is not valid {codec} at offset {exc.start}: {exc.reason}",
            field="short_message",
            offset=exc.start,
        ) from None


# --- segmentation (Twilio's rules; 3GPP TS 23.040 §9.2.3.24.1) --------------------------


cdef class TextPlan:
    """How a text goes out: its encoding and its payload per segment.

    ``data_coding`` 0 (GSM-7), 3 (Latin-1) or 8 (UCS-2); ``encoding`` "GSM-7", "Latin-1"
    or "UCS-2"; ``parts`` the encoded payload of each segment without any UDH (one part
    when the text fits one SMS); ``num_segments == len(parts)``; ``characters`` the text's
    length in code points; ``units`` its length in the coding's units (septets, octets or
    UTF-16 code units).
    """

    cdef readonly int data_coding
    cdef readonly str encoding
    cdef readonly list parts
    cdef readonly Py_ssize_t characters
    cdef readonly Py_ssize_t units

    def __init__(self, int data_coding, str encoding, list parts, Py_ssize_t characters,
                 Py_ssize_t units):
        self.data_coding = data_coding
        self.encoding = encoding
        self.parts = parts
        self.characters = characters
        self.units = units

    @property
    def num_segments(self) -> int:
        return len(self.parts)

    def __repr__(self):
        return (
            f"TextPlan(encoding={self.encoding!r}, data_coding={self.data_coding}, "
            f"num_segments={len(self.parts)}, characters={self.characters}, "
            f"units={self.units})"
        )


cdef inline Py_ssize_t _tx_gsm_part_septets(int udh_length) noexcept:
    # Septets left after the UDH and the fill bits that align the text to a septet:
    # 6 octets -> 153, 7 octets (16-bit reference) -> 152.
    return 160 - (udh_length * 8 + 6) // 7


cdef list _tx_split(bytes enc, Py_ssize_t limit, int unit):
    """Split enc greedily into parts of at most ``limit`` units.

    unit 1: GSM septets; never ends a part on 0x1B (always an escape prefix in our own
    encoding, since no extension code is 0x1B).  unit 2: UTF-16BE; never ends a part on a
    high surrogate.  unit 0: plain octets.
    """
    cdef const unsigned char *p = enc
    cdef Py_ssize_t n = len(enc), pos = 0, end
    cdef Py_ssize_t step = limit * (2 if unit == 2 else 1)
    parts = []
    while pos < n:
        end = pos + step
        if end >= n:
            end = n
        elif unit == 1 and p[end - 1] == _TX_ESC:
            end -= 1
        elif unit == 2 and 0xD8 <= p[end - 2] <= 0xDB:
            end -= 2
        parts.append(enc[pos:end])
        pos = end
    return parts


def plan_segments(str text not None, data_coding=None, int udh_length=DEFAULT_UDH_LENGTH) -> TextPlan:
    """Choose the encoding and split text into SMS segments as Twilio counts them.

    GSM-7 when every character is in GSM 03.38 (``data_coding=None``), else UCS-2; or the
    given data_coding (0, 3 or 8).  One part when the text fits one SMS (160 septets, 140
    octets, 70 UCS-2 units); otherwise parts of 153 septets / 134 octets / 67 UCS-2 units
    (with the default 6-octet UDH; ``udh_length=7`` for 16-bit references gives
    152 / 133 / 66).  An escape pair or a surrogate pair is never split.
    """
    cdef Py_ssize_t units, part_units
    cdef int dc
    if not 0 <= udh_length <= 139:
        raise ValueError("udh_length must be 0..139")
    enc = None
    if data_coding is None:
        enc = _tx_gsm_encode(text, False)
        dc = 8 if enc is None else 0
    else:
        dc = data_coding
    if dc == 0:
        if enc is None:
            enc = _tx_gsm_encode(text, True)
        units = len(enc)
        if units <= 160:
            return TextPlan(0, "GSM-7", [enc], len(text), units)
        parts = _tx_split(enc, _tx_gsm_part_septets(udh_length), 1)
        return TextPlan(0, "GSM-7", parts, len(text), units)
    if dc == 8:
        enc = encode_text(text, 8)
        units = len(enc) // 2
        if units <= _TX_SMS_OCTETS // 2:
            return TextPlan(8, "UCS-2", [enc], len(text), units)
        parts = _tx_split(enc, (_TX_SMS_OCTETS - udh_length) // 2, 2)
        return TextPlan(8, "UCS-2", parts, len(text), units)
    if dc == 3:
        enc = encode_text(text, 3)
        units = len(enc)
        if units <= _TX_SMS_OCTETS:
            return TextPlan(3, "Latin-1", [enc], len(text), units)
        parts = _tx_split(enc, _TX_SMS_OCTETS - udh_length, 0)
        return TextPlan(3, "Latin-1", parts, len(text), units)
    raise _TxEncodeError(
        f"cannot plan segments for data_coding {dc} (use 0, 3, 8 or None)", field="data_coding"
    )


def count_segments(str text not None) -> int:
    """Segments Twilio bills for text: GSM-7 160 / 153 septets (extension characters count
    two), else UCS-2 70 / 67 code units (characters beyond the BMP count two); an escape
    or surrogate pair never straddles two segments.  The empty text is one segment."""
    cdef Py_UCS4 ch
    cdef int c, w
    cdef Py_ssize_t total = 0, cur = 0, segs = 1
    cdef bint gsm = True
    for ch in text:
        c = _tx_gsm_code(ch)
        if c < 0:
            gsm = False
            break
        total += 2 if c & _TX_EXT else 1
    if gsm:
        if total <= 160:
            return 1
        for ch in text:
            w = 2 if _tx_gsm_code(ch) & _TX_EXT else 1
            cur += w
            if cur > 153:
                segs += 1
                cur = w
        return segs
    total = 0
    for ch in text:
        total += 2 if ch > 0xFFFF else 1
    if total <= 70:
        return 1
    for ch in text:
        w = 2 if ch > 0xFFFF else 1
        cur += w
        if cur > 67:
            segs += 1
            cur = w
    return segs
