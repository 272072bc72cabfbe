# SMPP 3.4 PDU classes, encoder, decoder and stream framer.  Included by _core.pyx.
#
# Layout of every PDU (SMPP 3.4 §3.2): a 16-octet header (command_length, command_id,
# command_status, sequence_number, all big-endian unsigned 32-bit), then the mandatory
# fields of the command in spec order, then optional TLVs (§3.2.4: tag u16, length u16,
# value).  C-octet strings are NUL-terminated; their size limits in §4 include the NUL.
#
# Performance: Python calls are the cost, not bytes.  Each PDU type decodes its whole body
# in one C-level method, and the framer decodes every whole PDU of a TCP read in one call.
# Encoding writes into one reusable growable buffer; the 4-octet command_length is reserved
# first and patched at the end.

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.unicode cimport (
    PyUnicode_1BYTE_KIND,
    PyUnicode_DATA,
    PyUnicode_DecodeLatin1,
    PyUnicode_GET_LENGTH,
    PyUnicode_KIND,
)
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_Check, PyLong_CheckExact
from cpython.ref cimport Py_INCREF, Py_XDECREF, PyObject
from cpython.object cimport PyTypeObject
from cpython.bytes cimport PyBytes_CheckExact
from libc.string cimport memchr, memcmp, memcpy, memset

from engine.errors import DecodeError, EncodeError

ctypedef unsigned char uchar

DEFAULT_MAX_PDU_LENGTH = 65536

# BEGIN GENERATED: statuses (tools/gen_tables.py; edit tools/smpp_tables.py)
# command_status values (SMPP 3.4 §5.1.3), for the codec's errors.
cdef enum:
    ESME_ROK = 0x00
    ESME_RINVMSGLEN = 0x01
    ESME_RINVCMDLEN = 0x02
    ESME_RINVCMDID = 0x03
    ESME_RINVBNDSTS = 0x04
    ESME_RALYBND = 0x05
    ESME_RINVPRTFLG = 0x06
    ESME_RINVREGDLVFLG = 0x07
    ESME_RSYSERR = 0x08
    ESME_RINVSRCADR = 0x0A
    ESME_RINVDSTADR = 0x0B
    ESME_RINVMSGID = 0x0C
    ESME_RBINDFAIL = 0x0D
    ESME_RINVPASWD = 0x0E
    ESME_RINVSYSID = 0x0F
    ESME_RCANCELFAIL = 0x11
    ESME_RREPLACEFAIL = 0x13
    ESME_RMSGQFUL = 0x14
    ESME_RINVSERTYP = 0x15
    ESME_RINVNUMDESTS = 0x33
    ESME_RINVDLNAME = 0x34
    ESME_RINVDESTFLAG = 0x40
    ESME_RINVSUBREP = 0x42
    ESME_RINVESMCLASS = 0x43
    ESME_RCNTSUBDL = 0x44
    ESME_RSUBMITFAIL = 0x45
    ESME_RINVSRCTON = 0x48
    ESME_RINVSRCNPI = 0x49
    ESME_RINVDSTTON = 0x50
    ESME_RINVDSTNPI = 0x51
    ESME_RINVSYSTYP = 0x53
    ESME_RINVREPFLAG = 0x54
    ESME_RINVNUMMSGS = 0x55
    ESME_RTHROTTLED = 0x58
    ESME_RINVSCHED = 0x61
    ESME_RINVEXPIRY = 0x62
    ESME_RINVDFTMSGID = 0x63
    ESME_RX_T_APPN = 0x64
    ESME_RX_P_APPN = 0x65
    ESME_RX_R_APPN = 0x66
    ESME_RQUERYFAIL = 0x67
    ESME_RINVOPTPARSTREAM = 0xC0
    ESME_ROPTPARNOTALLWD = 0xC1
    ESME_RINVPARLEN = 0xC2
    ESME_RMISSINGOPTPARAM = 0xC3
    ESME_RINVOPTPARAMVAL = 0xC4
    ESME_RDELIVERYFAILURE = 0xFE
    ESME_RUNKNOWNERR = 0xFF
# END GENERATED: statuses

# BEGIN GENERATED: commands (tools/gen_tables.py; edit tools/smpp_tables.py)
# command_id of each PDU (SMPP 3.4 §5.1.2.1), for the classes' command_id and _cid().
cdef uint32_t CMD_GENERIC_NACK = 0x80000000
cdef uint32_t CMD_BIND_RECEIVER = 0x00000001
cdef uint32_t CMD_BIND_RECEIVER_RESP = 0x80000001
cdef uint32_t CMD_BIND_TRANSMITTER = 0x00000002
cdef uint32_t CMD_BIND_TRANSMITTER_RESP = 0x80000002
cdef uint32_t CMD_QUERY_SM = 0x00000003
cdef uint32_t CMD_QUERY_SM_RESP = 0x80000003
cdef uint32_t CMD_SUBMIT_SM = 0x00000004
cdef uint32_t CMD_SUBMIT_SM_RESP = 0x80000004
cdef uint32_t CMD_DELIVER_SM = 0x00000005
cdef uint32_t CMD_DELIVER_SM_RESP = 0x80000005
cdef uint32_t CMD_UNBIND = 0x00000006
cdef uint32_t CMD_UNBIND_RESP = 0x80000006
cdef uint32_t CMD_REPLACE_SM = 0x00000007
cdef uint32_t CMD_REPLACE_SM_RESP = 0x80000007
cdef uint32_t CMD_CANCEL_SM = 0x00000008
cdef uint32_t CMD_CANCEL_SM_RESP = 0x80000008
cdef uint32_t CMD_BIND_TRANSCEIVER = 0x00000009
cdef uint32_t CMD_BIND_TRANSCEIVER_RESP = 0x80000009
cdef uint32_t CMD_OUTBIND = 0x0000000B
cdef uint32_t CMD_ENQUIRE_LINK = 0x00000015
cdef uint32_t CMD_ENQUIRE_LINK_RESP = 0x80000015
cdef uint32_t CMD_SUBMIT_MULTI = 0x00000021
cdef uint32_t CMD_SUBMIT_MULTI_RESP = 0x80000021
cdef uint32_t CMD_ALERT_NOTIFICATION = 0x00000102
cdef uint32_t CMD_DATA_SM = 0x00000103
cdef uint32_t CMD_DATA_SM_RESP = 0x80000103
# END GENERATED: commands

# TLV value kinds.
cdef enum:
    TLV_UNKNOWN = 0
    TLV_U8 = 1
    TLV_U16 = 2
    TLV_U32 = 4
    TLV_CSTR = 5
    TLV_OCTETS = 6
    TLV_FLAG = 7

# BEGIN GENERATED: tlv_table (tools/gen_tables.py; edit tools/smpp_tables.py)
# (tag, spec name, kind, maximum encoded length) for every TLV of SMPP 3.4 §5.3.2.
_TLV_TABLE = (
    (0x0005, "dest_addr_subunit", TLV_U8, 1),
    (0x0006, "dest_network_type", TLV_U8, 1),
    (0x0007, "dest_bearer_type", TLV_U8, 1),
    (0x0008, "dest_telematics_id", TLV_U16, 2),
    (0x000D, "source_addr_subunit", TLV_U8, 1),
    (0x000E, "source_network_type", TLV_U8, 1),
    (0x000F, "source_bearer_type", TLV_U8, 1),
    (0x0010, "source_telematics_id", TLV_U8, 1),
    (0x0017, "qos_time_to_live", TLV_U32, 4),
    (0x0019, "payload_type", TLV_U8, 1),
    (0x001D, "additional_status_info_text", TLV_CSTR, 256),
    (0x001E, "receipted_message_id", TLV_CSTR, 65),
    (0x0030, "ms_msg_wait_facilities", TLV_U8, 1),
    (0x0201, "privacy_indicator", TLV_U8, 1),
    (0x0202, "source_subaddress", TLV_OCTETS, 23),
    (0x0203, "dest_subaddress", TLV_OCTETS, 23),
    (0x0204, "user_message_reference", TLV_U16, 2),
    (0x0205, "user_response_code", TLV_U8, 1),
    (0x020A, "source_port", TLV_U16, 2),
    (0x020B, "destination_port", TLV_U16, 2),
    (0x020C, "sar_msg_ref_num", TLV_U16, 2),
    (0x020D, "language_indicator", TLV_U8, 1),
    (0x020E, "sar_total_segments", TLV_U8, 1),
    (0x020F, "sar_segment_seqnum", TLV_U8, 1),
    (0x0210, "sc_interface_version", TLV_U8, 1),
    (0x0302, "callback_num_pres_ind", TLV_U8, 1),
    (0x0303, "callback_num_atag", TLV_OCTETS, 65),
    (0x0304, "number_of_messages", TLV_U8, 1),
    (0x0381, "callback_num", TLV_OCTETS, 19),
    (0x0420, "dpf_result", TLV_U8, 1),
    (0x0421, "set_dpf", TLV_U8, 1),
    (0x0422, "ms_availability_status", TLV_U8, 1),
    (0x0423, "network_error_code", TLV_OCTETS, 3),
    (0x0424, "message_payload", TLV_OCTETS, 65535),
    (0x0425, "delivery_failure_reason", TLV_U8, 1),
    (0x0426, "more_messages_to_send", TLV_U8, 1),
    (0x0427, "message_state", TLV_U8, 1),
    (0x0501, "ussd_service_op", TLV_U8, 1),
    (0x1201, "display_time", TLV_U8, 1),
    (0x1203, "sms_signal", TLV_U16, 2),
    (0x1204, "ms_validity", TLV_U8, 1),
    (0x130C, "alert_on_message_delivery", TLV_FLAG, 0),
    (0x1380, "its_reply_type", TLV_U8, 1),
    (0x1383, "its_session_info", TLV_OCTETS, 2),
)
# END GENERATED: tlv_table

TLV_NAMES = {tag: name for tag, name, _kind, _size in _TLV_TABLE}
_TLV_TAG_BY_NAME = {name: tag for tag, name, _kind, _size in _TLV_TABLE}

# Kind and maximum length by tag, for C-speed lookup while decoding.
cdef uint8_t _tlv_kind[65536]
cdef uint32_t _tlv_max[65536]
memset(_tlv_kind, 0, sizeof(_tlv_kind))
memset(_tlv_max, 0, sizeof(_tlv_max))
for _t, _n, _k, _s in _TLV_TABLE:
    _tlv_kind[_t] = _k
    _tlv_max[_t] = _s

cdef str _EMPTY = ""

# Python ints 0..255, indexed at C speed: one-octet fields decode without a call into
# PyLong_FromLong (13 of them in every submit_sm).
cdef tuple _U8 = tuple(range(256))
cdef PyObject* _u8_objs[256]     # the same, as a C array: no None check, no tuple indexing
for _i in range(256):
    _u8_objs[_i] = <PyObject*>_U8[_i]


cdef inline object _u8(uchar x):
    return <object>_u8_objs[x]


# Short C-octet strings (addresses, system ids, service types) repeat from PDU to PDU: a
# bind's traffic comes from a handful of senders.  A small direct-mapped cache of recently
# decoded strings lets a decoded PDU share them instead of allocating new ones; a miss costs
# one hash of at most 24 octets.
cdef enum:
    _STR_CACHE_SIZE = 1024
cdef PyObject* _str_cache[_STR_CACHE_SIZE]
memset(_str_cache, 0, sizeof(_str_cache))


cdef inline uint32_t _short_hash(const uchar* p, Py_ssize_t n) noexcept:
    """Cache slot of a string of 1..24 octets: three 64-bit multiplies, not one per octet."""
    cdef uint64_t w[3]
    cdef uint64_t h
    w[0] = 0
    w[1] = 0
    w[2] = 0
    memcpy(w, p, n)
    h = ((w[0] * 0x9E3779B97F4A7C15ULL) ^ (w[1] * 0xC2B2AE3D27D4EB4FULL)
         ^ (w[2] * 0x165667B19E3779F9ULL) ^ <uint64_t>n)
    return <uint32_t>(h >> 40) & (_STR_CACHE_SIZE - 1)


cdef str _latin1_str(const uchar* p, Py_ssize_t n):
    cdef uint32_t h
    cdef PyObject* cur
    if n > 24:
        return PyUnicode_DecodeLatin1(<const char*>p, n, NULL)
    h = _short_hash(p, n)
    cur = _str_cache[h]
    if (cur != NULL and PyUnicode_GET_LENGTH(<object>cur) == n
            and memcmp(PyUnicode_DATA(<object>cur), p, n) == 0):
        return <str>cur
    return _latin1_str_miss(p, n, h)


cdef str _latin1_str_miss(const uchar* p, Py_ssize_t n, uint32_t h):
    """Decode and remember in slot ``h`` of the string cache."""
    cdef str s = PyUnicode_DecodeLatin1(<const char*>p, n, NULL)
    Py_INCREF(s)
    Py_XDECREF(_str_cache[h])
    _str_cache[h] = <PyObject*>s
    return s


# ---------------------------------------------------------------------------------------
# Write buffer
# ---------------------------------------------------------------------------------------

cdef struct WBuf:
    char* data
    Py_ssize_t length
    Py_ssize_t capacity


cdef WBuf _wbuf
_wbuf.data = <char*>malloc(4096)
_wbuf.length = 0
_wbuf.capacity = 4096


cdef int _grow(WBuf* b, Py_ssize_t need) except -1:
    cdef Py_ssize_t cap = b.capacity * 2
    cdef char* data
    while cap < need:
        cap *= 2
    data = <char*>realloc(b.data, cap)
    if data == NULL:
        raise MemoryError()
    b.data = data
    b.capacity = cap
    return 0


cdef inline int _reserve(WBuf* b, Py_ssize_t extra) except -1:
    if b.length + extra <= b.capacity:
        return 0
    return _grow(b, b.length + extra)


cdef inline void _store_u32(char* p, uint32_t v) noexcept:
    p[0] = <char>((v >> 24) & 0xFF)
    p[1] = <char>((v >> 16) & 0xFF)
    p[2] = <char>((v >> 8) & 0xFF)
    p[3] = <char>(v & 0xFF)


cdef inline uint32_t _load_u32(const uchar* p) noexcept:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline uint16_t _load_u16(const uchar* p) noexcept:
    return <uint16_t>((p[0] << 8) | p[1])


cdef int _int_error(object value, int width, str field) except -1:
    if not isinstance(value, int):
        raise EncodeError(f"{field} must be an integer, not {type(value).__name__}", field=field)
    # Python ints: in C, 1 << 32 overflows an int (the message said "0..0" for 4 octets).
    cdef object bits = 8 * width
    top = (1 << bits) - 1
    raise EncodeError(f"{field} = {value} is out of range 0..{top}", field=field)


cdef inline int _put_int(WBuf* b, object value, int width, str field) except -1:
    """Write an unsigned big-endian integer of ``width`` octets (1, 2 or 4)."""
    cdef int overflow = 0
    cdef long long x
    cdef char* p
    if not PyLong_Check(value):
        return _int_error(value, width, field)
    x = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow or x < 0 or x >= (1LL << (8 * width)):
        return _int_error(value, width, field)
    _reserve(b, width)
    p = b.data + b.length
    if width == 1:
        p[0] = <char>x
    elif width == 2:
        p[0] = <char>((x >> 8) & 0xFF)
        p[1] = <char>(x & 0xFF)
    else:
        _store_u32(p, <uint32_t>x)
    b.length += width
    return 0


# CPython keeps the ints -5..256 as one static array of singletons, so a one-octet field's
# value (almost always one of them) is known by its address alone, without a call into
# PyLong_AsLongLongAndOverflow.  Checked at import; when the layout differs (another
# interpreter), _small_shift stays -1 and the generic conversion is used.
cdef const char* _small_base = <const char*><PyObject*>_U8[0]
cdef int _small_shift = -1


cdef int _check_small_ints() except -1:
    global _small_shift
    cdef Py_ssize_t stride = <const char*><PyObject*>_U8[1] - _small_base
    cdef int shift = 0
    cdef int i
    if stride <= 0 or stride & (stride - 1):
        return 0
    while (1 << shift) < stride:
        shift += 1
    for i in range(256):
        if <const char*><PyObject*>_U8[i] != _small_base + (<Py_ssize_t>i << shift):
            return 0
        fresh = int(str(i))
        if <const char*><PyObject*>fresh != _small_base + (<Py_ssize_t>i << shift):
            return 0
    _small_shift = shift
    return 0


_check_small_ints()


cdef inline int _put_u8(WBuf* b, object value, str field) except -1:
    """Write one octet: the common case of _put_int, kept small so the compiler inlines it."""
    cdef long long x
    cdef int overflow = 0
    cdef Py_ssize_t d = <const char*><PyObject*>value - _small_base
    if _small_shift >= 0 and d >= 0 and d < (<Py_ssize_t>256 << _small_shift) and not (
            d & ((<Py_ssize_t>1 << _small_shift) - 1)):
        if b.length >= b.capacity:
            _grow(b, b.length + 1)
        b.data[b.length] = <char>(d >> _small_shift)
        b.length += 1
        return 0
    if not PyLong_CheckExact(value):
        return _put_int(b, value, 1, field)
    x = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow or x < 0 or x > 255:
        return _int_error(value, 1, field)
    if b.length >= b.capacity:
        _grow(b, b.length + 1)
    b.data[b.length] = <char>x
    b.length += 1
    return 0


cdef int _text_view(object value, const char** out, Py_ssize_t* n, str field) except -1:
    """Point at the octets of a C-octet-string value: a str of code points < 256 or bytes."""
    if type(value) is str:
        if PyUnicode_KIND(value) != PyUnicode_1BYTE_KIND:
            raise EncodeError(f"{field} has characters outside Latin-1: {value!r}", field=field)
        out[0] = <const char*>PyUnicode_DATA(value)
        n[0] = PyUnicode_GET_LENGTH(value)
    elif isinstance(value, bytes):
        out[0] = PyBytes_AS_STRING(value)
        n[0] = PyBytes_GET_SIZE(value)
    elif isinstance(value, str):
        return _text_view(str(value), out, n, field)
    else:
        raise EncodeError(f"{field} must be a str, not {type(value).__name__}", field=field)
    return 0


cdef int _put_cstr(WBuf* b, object value, Py_ssize_t size, str field) except -1:
    """Write a C-octet string whose field size (NUL included) is at most ``size``."""
    cdef const char* p
    cdef Py_ssize_t n
    if value is None:
        n = 0
        p = NULL
    else:
        _text_view(value, &p, &n, field)
    if n >= size:
        raise EncodeError(
            f"{field} is {n} characters long; SMPP 3.4 allows at most {size - 1}", field=field
        )
    if n and memchr(p, 0, n) != NULL:
        raise EncodeError(f"{field} contains a NUL character", field=field)
    _reserve(b, n + 1)
    if n:
        memcpy(b.data + b.length, p, n)
    b.data[b.length + n] = 0
    b.length += n + 1
    return 0


# Writers for a body whose largest size was reserved up front: each takes and returns the
# write position, handles the common value inline (a str of Latin-1 code points, a small
# int) and hands anything else to the general writer above, which checks and explains.

cdef char* _w_slow_u8(WBuf* b, char* p, object value, str field) except NULL:
    b.length = p - b.data
    _put_u8(b, value, field)
    return b.data + b.length


cdef inline char* _w_u8(WBuf* b, char* p, object value, str field) except NULL:
    cdef Py_ssize_t d = <const char*><PyObject*>value - _small_base
    if _small_shift >= 0 and d >= 0 and d < (<Py_ssize_t>256 << _small_shift) and not (
            d & ((<Py_ssize_t>1 << _small_shift) - 1)):
        p[0] = <char>(d >> _small_shift)
        return p + 1
    return _w_slow_u8(b, p, value, field)


cdef char* _w_slow_cstr(WBuf* b, char* p, object value, Py_ssize_t size, str field,
                        bint is_time) except NULL:
    b.length = p - b.data
    if is_time:
        _put_time(b, value, field)
    else:
        _put_cstr(b, value, size, field)
    return b.data + b.length


cdef inline char* _w_cstr(WBuf* b, char* p, object value, Py_ssize_t size, str field,
                          bint is_time=False) except NULL:
    cdef Py_ssize_t n
    cdef const char* s
    if type(value) is str and PyUnicode_KIND(value) == PyUnicode_1BYTE_KIND:
        n = PyUnicode_GET_LENGTH(value)
        if n == 0:
            p[0] = 0
            return p + 1
        if n < size and not is_time:
            s = <const char*>PyUnicode_DATA(value)
            if memchr(s, 0, n) == NULL:
                memcpy(p, s, n)
                p[n] = 0
                return p + n + 1
    return _w_slow_cstr(b, p, value, size, field, is_time)


cdef int _put_time(WBuf* b, object value, str field) except -1:
    """schedule_delivery_time / validity_period / final_date: empty or 16 characters (§7.1)."""
    cdef const char* p
    cdef Py_ssize_t n = 0
    if value is not None:
        _text_view(value, &p, &n, field)
    if n != 0 and n != 16:
        raise EncodeError(
            f"{field} must be empty or 16 characters (SMPP 3.4 §7.1), got {n}", field=field
        )
    return _put_cstr(b, value, 17, field)


cdef int _put_octets(WBuf* b, object value, Py_ssize_t maximum, str field) except -1:
    cdef const char* p
    cdef Py_ssize_t n
    if value is None:
        return 0
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise EncodeError(f"{field} must be bytes, not {type(value).__name__}", field=field)
    value = bytes(value) if not isinstance(value, bytes) else value
    p = PyBytes_AS_STRING(value)
    n = PyBytes_GET_SIZE(value)
    if n > maximum:
        raise EncodeError(f"{field} is {n} octets; at most {maximum} allowed", field=field)
    _reserve(b, n)
    memcpy(b.data + b.length, p, n)
    b.length += n
    return 0


cdef Py_ssize_t _octets_len(object value, str field) except -1:
    if value is None:
        return 0
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise EncodeError(f"{field} must be bytes, not {type(value).__name__}", field=field)
    return len(value)


cdef int _put_tlvs(WBuf* b, list tlvs) except -1:
    cdef object tag_obj, value
    cdef long tag
    cdef int kind
    cdef Py_ssize_t start, n
    cdef str name
    if tlvs is None:
        return 0
    for tag_obj, value in tlvs:
        tag = tag_obj
        if tag < 0 or tag > 0xFFFF:
            raise EncodeError(f"TLV tag {tag} is out of range 0..65535", field="tlvs")
        kind = _tlv_kind[tag]
        name = TLV_NAMES.get(tag) or f"tlv 0x{tag:04X}"
        _reserve(b, 4)
        b.data[b.length] = <char>(tag >> 8)
        b.data[b.length + 1] = <char>(tag & 0xFF)
        b.length += 4
        start = b.length
        if kind == TLV_U8:
            _put_u8(b, value, name)
        elif kind == TLV_U16:
            _put_int(b, value, 2, name)
        elif kind == TLV_U32:
            _put_int(b, value, 4, name)
        elif kind == TLV_CSTR:
            _put_cstr(b, value, _tlv_max[tag], name)
        elif kind == TLV_FLAG:
            if not value:
                raise EncodeError(f"{name} is a flag: True when present", field=name)
        else:
            _put_octets(b, value, _tlv_max[tag] if kind == TLV_OCTETS else 65535, name)
        n = b.length - start
        b.data[start - 2] = <char>(n >> 8)
        b.data[start - 1] = <char>(n & 0xFF)
    return 0


# ---------------------------------------------------------------------------------------
# Read cursor
# ---------------------------------------------------------------------------------------

cdef struct RCur:
    const uchar* base     # start of the PDU (header included)
    Py_ssize_t pos        # offset of the next field, from base
    Py_ssize_t end        # command_length
    uint32_t command_id
    uint32_t sequence_number


cdef object _derr(RCur* r, str message, str field, Py_ssize_t offset, int status):
    return DecodeError(
        message,
        command_status=status,
        command_id=r.command_id,
        sequence_number=r.sequence_number,
        field=field,
        offset=offset,
        recoverable=True,
    )


cdef inline int _need(RCur* r, Py_ssize_t n, str field) except -1:
    if r.pos + n > r.end:
        raise _derr(r, f"PDU ends before {field} (offset {r.pos})", field, r.pos, ESME_RINVCMDLEN)
    return 0


@cython.boundscheck(False)
@cython.wraparound(False)
cdef inline object _get_u8(RCur* r, str field):
    # Bounds: pos < end <= length of the caller's buffer, checked here; _U8 has 256 items.
    if r.pos >= r.end:
        raise _derr(r, f"PDU ends before {field} (offset {r.pos})", field, r.pos, ESME_RINVCMDLEN)
    r.pos += 1
    return _u8(r.base[r.pos - 1])


cdef int _field_status(str field) noexcept:
    if field == "source_addr" or field == "esme_addr":
        return ESME_RINVSRCADR
    if field == "destination_addr":
        return ESME_RINVDSTADR
    if field == "message_id":
        return ESME_RINVMSGID
    if field == "system_id":
        return ESME_RINVSYSID
    if field == "password":
        return ESME_RINVPASWD
    if field == "service_type":
        return ESME_RINVSERTYP
    if field == "system_type":
        return ESME_RINVSYSTYP
    if field == "schedule_delivery_time":
        return ESME_RINVSCHED
    if field == "validity_period":
        return ESME_RINVEXPIRY
    if field == "dl_name":
        return ESME_RINVDLNAME
    return ESME_RINVCMDLEN


cdef inline str _get_cstr(RCur* r, Py_ssize_t size, str field):
    """Read a C-octet string of at most ``size`` octets, NUL included."""
    # An empty field (most service_type, schedule_delivery_time and validity_period) is
    # answered here, inlined into the caller.
    if r.pos < r.end and r.base[r.pos] == 0:
        r.pos += 1
        return _EMPTY
    return _get_cstr_full(r, size, field)


cdef str _get_cstr_full(RCur* r, Py_ssize_t size, str field):
    cdef Py_ssize_t avail = r.end - r.pos
    cdef const uchar* p = r.base + r.pos
    cdef Py_ssize_t i, lim = avail if avail < size else size
    cdef const uchar* nul
    cdef uint32_t h
    cdef PyObject* cur
    # The common case inline: an empty field, or a short one (an address, an id) found in
    # the string cache.
    if lim > 0:
        nul = <const uchar*>memchr(p, 0, lim if lim < 25 else 25)
        if nul != NULL:
            i = nul - p
            r.pos += i + 1
            h = _short_hash(p, i)
            cur = _str_cache[h]
            if (cur != NULL and PyUnicode_GET_LENGTH(<object>cur) == i
                    and memcmp(PyUnicode_DATA(<object>cur), p, i) == 0):
                return <str>cur
            return _latin1_str_miss(p, i, h)
    return _get_cstr_long(r, size, field)


cdef str _get_cstr_long(RCur* r, Py_ssize_t size, str field):
    """_get_cstr for fields over 24 characters, and every error."""
    cdef Py_ssize_t avail = r.end - r.pos
    cdef const uchar* p = r.base + r.pos
    cdef const uchar* nul
    cdef Py_ssize_t n
    if avail <= 0:
        raise _derr(r, f"PDU ends before {field} (offset {r.pos})", field, r.pos, ESME_RINVCMDLEN)
    nul = <const uchar*>memchr(p, 0, avail if avail < size else size)
    if nul == NULL:
        if avail < size:
            raise _derr(
                r, f"{field} at offset {r.pos} has no NUL terminator before the PDU ends",
                field, r.pos, ESME_RINVCMDLEN,
            )
        raise _derr(
            r, f"{field} at offset {r.pos} is longer than {size - 1} characters",
            field, r.pos, _field_status(field),
        )
    n = nul - p
    r.pos += n + 1
    if n == 0:
        return _EMPTY
    return _latin1_str(p, n)


cdef bytes _get_octets(RCur* r, Py_ssize_t n, str field):
    if r.pos + n > r.end:
        raise _derr(
            r, f"{field} of {n} octets at offset {r.pos} runs past the end of the PDU",
            field, r.pos, ESME_RINVMSGLEN if field == "short_message" else ESME_RINVCMDLEN,
        )
    r.pos += n
    return PyBytes_FromStringAndSize(<const char*>(r.base + r.pos - n), n)


# The Python int of every tag SMPP 3.4 defines, made once: most tags are above the small
# int cache, and a receipt would otherwise allocate one per TLV.
cdef enum:
    _INLINE_TLVS = 4     # TLVs a decoded PDU keeps without a list (see Pdu._tl)
    _TAG_OBJS = 0x2000   # above every tag SMPP 3.4 defines (the highest is 0x1383)
cdef PyObject* _tag_objs[_TAG_OBJS]
memset(_tag_objs, 0, sizeof(_tag_objs))
_TAG_INTS = [int(_t) for _t, _n, _k, _s in _TLV_TABLE]
for _t in _TAG_INTS:
    _tag_objs[_t] = <PyObject*>_t


cdef inline object _tag_obj(uint16_t tag):
    if tag < _TAG_OBJS and _tag_objs[tag] != NULL:
        return <object>_tag_objs[tag]
    return tag


cdef str _tlv_label(uint16_t tag):
    """The spec name of a TLV tag for error messages (only built when an error is raised)."""
    return TLV_NAMES[tag] if _tlv_kind[tag] else f"tlv 0x{tag:04X}"


cdef int _get_tlvs(RCur* r, Pdu pdu) except -1:
    """Decode the optional part (§3.2.4): TLVs until the end of the PDU, in wire order.

    The first _INLINE_TLVS go into the PDU's C arrays; a PDU with more gets the list.
    """
    cdef list out = None
    cdef Py_ssize_t start, length
    cdef uint16_t tag
    cdef int kind, i
    cdef const uchar* v
    cdef object value
    if r.pos >= r.end:
        return 0
    while r.pos < r.end:
        start = r.pos
        if r.end - r.pos < 4:
            raise _derr(
                r, f"{r.end - r.pos} stray octets at offset {r.pos} where a TLV header should be",
                "tlvs", r.pos, ESME_RINVOPTPARSTREAM,
            )
        tag = _load_u16(r.base + r.pos)
        length = _load_u16(r.base + r.pos + 2)
        kind = _tlv_kind[tag]
        if r.pos + 4 + length > r.end:
            raise _derr(
                r, f"{_tlv_label(tag)} at offset {start} declares {length} octets past the end of the PDU",
                _tlv_label(tag), start, ESME_RINVOPTPARSTREAM,
            )
        v = r.base + r.pos + 4
        r.pos += 4 + length
        if kind == TLV_U8:
            if length != 1:
                raise _derr(r, f"{_tlv_label(tag)} must be 1 octet, got {length}", _tlv_label(tag), start, ESME_RINVPARLEN)
            value = _u8(v[0])
        elif kind == TLV_U16:
            if length != 2:
                raise _derr(r, f"{_tlv_label(tag)} must be 2 octets, got {length}", _tlv_label(tag), start, ESME_RINVPARLEN)
            value = _load_u16(v)
        elif kind == TLV_U32:
            if length != 4:
                raise _derr(r, f"{_tlv_label(tag)} must be 4 octets, got {length}", _tlv_label(tag), start, ESME_RINVPARLEN)
            value = _load_u32(v)
        elif kind == TLV_CSTR:
            if length > <Py_ssize_t>_tlv_max[tag]:
                raise _derr(
                    r, f"{_tlv_label(tag)} is {length} octets; at most {_tlv_max[tag]}", _tlv_label(tag), start,
                    ESME_RINVPARLEN,
                )
            # Carriers often omit the terminating NUL: accept both, stop at the first NUL.
            if length and memchr(v, 0, length) != NULL:
                length = <const uchar*>memchr(v, 0, length) - v
            value = PyUnicode_DecodeLatin1(<const char*>v, length, NULL) if length else _EMPTY
        elif kind == TLV_FLAG:
            if length != 0:
                raise _derr(r, f"{_tlv_label(tag)} must be empty, got {length} octets", _tlv_label(tag), start,
                            ESME_RINVPARLEN)
            value = True
        else:
            value = PyBytes_FromStringAndSize(<const char*>v, length)
        if out is None and pdu._nt < _INLINE_TLVS:
            pdu._add_inline_tlv(tag, value)
            continue
        if out is None:
            out = pdu._tl()
            pdu._tlvs = None
        out.append((_tag_obj(tag), value))
    if out is not None:
        pdu._tlvs = out
    return 0


# ---------------------------------------------------------------------------------------
# PDU classes
# ---------------------------------------------------------------------------------------

@cython.no_gc
cdef class Pdu:
    """Base of every SMPP 3.4 PDU: the header fields and the TLVs.

    Every TLV that SMPP 3.4 defines is a property by its spec name (None when absent).
    TLVs keep their wire order; unknown tags are kept as raw bytes and re-encoded as they
    came.
    """

    cdef public object sequence_number
    cdef public object command_status
    # TLVs in wire order.  The decoder stores up to _INLINE_TLVS of them in _tt (tags)
    # and _tv0.._tv3 (values): no list, no tuples (a receipt carries two).  The first use
    # that needs the list moves them into _tlvs, as (tag, value) tuples.  At most one of
    # the two holds TLVs at any time.  Read them through _tl() (the list) or _get_tlv.
    cdef list _tlvs
    cdef int _nt
    cdef uint16_t _tt[_INLINE_TLVS]
    cdef object _tv0, _tv1, _tv2, _tv3

    cdef inline object _tv(self, int i):
        if i == 0:
            return self._tv0
        if i == 1:
            return self._tv1
        if i == 2:
            return self._tv2
        return self._tv3

    cdef inline void _add_inline_tlv(self, uint16_t tag, object value) noexcept:
        cdef int i = self._nt
        self._tt[i] = tag
        if i == 0:
            self._tv0 = value
        elif i == 1:
            self._tv1 = value
        elif i == 2:
            self._tv2 = value
        else:
            self._tv3 = value
        self._nt = i + 1

    cdef list _tl(self):
        """The TLV list (or None), after moving any inline TLVs into it."""
        cdef int i
        cdef list out
        if self._nt:
            out = []
            for i in range(self._nt):
                out.append((_tag_obj(self._tt[i]), self._tv(i)))
            self._tv0 = self._tv1 = self._tv2 = self._tv3 = None
            self._nt = 0
            self._tlvs = out
        return self._tlvs

    cdef inline bint _has_tlvs(self):
        return self._nt != 0 or self._tlvs is not None

    command_id = 0
    command_name = "pdu"
    _FIELDS = ()

    cdef uint32_t _cid(self) noexcept:
        return 0

    cdef int _encode_body(self, WBuf* b) except -1:
        return 0

    cdef int _decode_body(self, RCur* r) except -1:
        return 0

    cdef int _omit_body(self) except -1:
        return False

    cdef int _set_tlv_kwargs(self, dict tlvs) except -1:
        cdef object tag
        for key, value in tlvs.items():
            tag = _TLV_TAG_BY_NAME.get(key)
            if tag is None:
                raise TypeError(
                    f"{type(self).__name__}() got an unexpected keyword argument {key!r}"
                )
            if value is not None:
                self._put_tlv(tag, value)
        return 0

    cdef object _get_tlv(self, long tag):
        cdef tuple item
        cdef int i
        for i in range(self._nt):
            if self._tt[i] == tag:
                return self._tv(i)
        if self._tlvs is None:
            return None
        for item in self._tlvs:
            if <long>item[0] == tag:
                return item[1]
        return None

    cdef int _put_tlv(self, int tag, object value) except -1:
        cdef Py_ssize_t i
        if self._tl() is None:
            if value is None:
                return 0
            self._tlvs = [(tag, value)]
            return 0
        for i in range(len(self._tlvs)):
            if self._tlvs[i][0] == tag:
                if value is None:
                    del self._tlvs[i]
                else:
                    self._tlvs[i] = (tag, value)
                return 0
        if value is not None:
            self._tlvs.append((tag, value))
        return 0

    def __delattr__(self, name):
        # Deleting a field resets it to None, as Cython's properties did: the fields are
        # served by member descriptors (see _install_fast_paths), and a C field must never
        # be left NULL for the encoder to read.
        PyObject_GenericSetAttr(self, name, None)

    def get_tlv(self, tag):
        """The value of TLV ``tag`` (first occurrence), or None."""
        return self._get_tlv(tag)

    def set_tlv(self, tag, value):
        """Set (or with None, remove) TLV ``tag``; a new tag goes to the end."""
        self._put_tlv(_checked_tag(tag), value)

    property tlvs:
        """TLVs in wire order as (tag, value) pairs (a copy)."""

        def __get__(self):
            return [] if self._tl() is None else list(self._tlvs)

        def __set__(self, value):
            items = [(_checked_tag(t), v) for t, v in value]
            self._tl()
            self._tlvs = items or None

    property unknown_tlvs:
        """TLVs whose tag SMPP 3.4 does not define, in wire order, as (tag, raw bytes)."""

        def __get__(self):
            if self._tl() is None:
                return []
            return [(t, v) for t, v in self._tlvs if not _tlv_kind[t]]

    def to_dict(self):
        """Every field by spec name, the header fields and the present TLVs."""
        d = {
            "command_id": self.command_id,
            "command_status": self.command_status,
            "sequence_number": self.sequence_number,
        }
        for name in self._FIELDS:
            d[name] = getattr(self, name)
        if self._tl() is not None:
            for tag, value in self._tlvs:
                d[TLV_NAMES.get(tag, f"tlv_0x{tag:04x}")] = value
        return d

    def __eq__(self, other):
        if type(self) is not type(other):
            return NotImplemented
        if self.sequence_number != other.sequence_number:
            return False
        if self.command_status != other.command_status:
            return False
        for name in self._FIELDS:
            if getattr(self, name) != getattr(other, name):
                return False
        return self.tlvs == other.tlvs

    def __ne__(self, other):
        result = self.__eq__(other)
        if result is NotImplemented:
            return result
        return not result

    def __repr__(self):
        parts = [f"sequence_number={self.sequence_number!r}"]
        if self.command_status:
            parts.append(f"command_status=0x{self.command_status:08X}")
        for name in self._FIELDS:
            parts.append(f"{name}={getattr(self, name)!r}")
        if self._tl() is not None:
            for tag, value in self._tlvs:
                parts.append(f"{TLV_NAMES.get(tag, f'tlv_0x{tag:04x}')}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __reduce__(self):
        # Fields by keyword, TLVs as one list: keyword order cannot carry the wire order of
        # known and unknown TLVs mixed, so the list is restored as it is.
        d = {"sequence_number": self.sequence_number, "command_status": self.command_status}
        for name in self._FIELDS:
            d[name] = getattr(self, name)
        return (_rebuild, (type(self), d, self.tlvs))

    # BEGIN GENERATED: tlv_properties (tools/gen_tables.py; edit tools/smpp_tables.py)
    # TLV properties (SMPP 3.4 §5.3.2), one per tag of _TLV_TABLE.
    property dest_addr_subunit:
        """TLV dest_addr_subunit (0x0005), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x0005)

        def __set__(self, value):
            self._put_tlv(0x0005, value)

    property dest_network_type:
        """TLV dest_network_type (0x0006), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x0006)

        def __set__(self, value):
            self._put_tlv(0x0006, value)

    property dest_bearer_type:
        """TLV dest_bearer_type (0x0007), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x0007)

        def __set__(self, value):
            self._put_tlv(0x0007, value)

    property dest_telematics_id:
        """TLV dest_telematics_id (0x0008), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x0008)

        def __set__(self, value):
            self._put_tlv(0x0008, value)

    property source_addr_subunit:
        """TLV source_addr_subunit (0x000D), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x000D)

        def __set__(self, value):
            self._put_tlv(0x000D, value)

    property source_network_type:
        """TLV source_network_type (0x000E), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x000E)

        def __set__(self, value):
            self._put_tlv(0x000E, value)

    property source_bearer_type:
        """TLV source_bearer_type (0x000F), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x000F)

        def __set__(self, value):
            self._put_tlv(0x000F, value)

    property source_telematics_id:
        """TLV source_telematics_id (0x0010), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x0010)

        def __set__(self, value):
            self._put_tlv(0x0010, value)

    property qos_time_to_live:
        """TLV qos_time_to_live (0x0017), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x0017)

        def __set__(self, value):
            self._put_tlv(0x0017, value)

    property payload_type:
        """TLV payload_type (0x0019), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x0019)

        def __set__(self, value):
            self._put_tlv(0x0019, value)

    property additional_status_info_text:
        """TLV additional_status_info_text (0x001D), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x001D)

        def __set__(self, value):
            self._put_tlv(0x001D, value)

    property receipted_message_id:
        """TLV receipted_message_id (0x001E), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x001E)

        def __set__(self, value):
            self._put_tlv(0x001E, value)

    property ms_msg_wait_facilities:
        """TLV ms_msg_wait_facilities (0x0030), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x0030)

        def __set__(self, value):
            self._put_tlv(0x0030, value)

    property privacy_indicator:
        """TLV privacy_indicator (0x0201), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x0201)

        def __set__(self, value):
            self._put_tlv(0x0201, value)

    property source_subaddress:
        """TLV source_subaddress (0x0202), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x0202)

        def __set__(self, value):
            self._put_tlv(0x0202, value)

    property dest_subaddress:
        """TLV dest_subaddress (0x0203), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x0203)

        def __set__(self, value):
            self._put_tlv(0x0203, value)

    property user_message_reference:
        """TLV user_message_reference (0x0204), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x0204)

        def __set__(self, value):
            self._put_tlv(0x0204, value)

    property user_response_code:
        """TLV user_response_code (0x0205), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x0205)

        def __set__(self, value):
            self._put_tlv(0x0205, value)

    property source_port:
        """TLV source_port (0x020A), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x020A)

        def __set__(self, value):
            self._put_tlv(0x020A, value)

    property destination_port:
        """TLV destination_port (0x020B), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x020B)

        def __set__(self, value):
            self._put_tlv(0x020B, value)

    property sar_msg_ref_num:
        """TLV sar_msg_ref_num (0x020C), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x020C)

        def __set__(self, value):
            self._put_tlv(0x020C, value)

    property language_indicator:
        """TLV language_indicator (0x020D), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x020D)

        def __set__(self, value):
            self._put_tlv(0x020D, value)

    property sar_total_segments:
        """TLV sar_total_segments (0x020E), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x020E)

        def __set__(self, value):
            self._put_tlv(0x020E, value)

    property sar_segment_seqnum:
        """TLV sar_segment_seqnum (0x020F), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x020F)

        def __set__(self, value):
            self._put_tlv(0x020F, value)

    property sc_interface_version:
        """TLV sc_interface_version (0x0210), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x0210)

        def __set__(self, value):
            self._put_tlv(0x0210, value)

    property callback_num_pres_ind:
        """TLV callback_num_pres_ind (0x0302), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x0302)

        def __set__(self, value):
            self._put_tlv(0x0302, value)

    property callback_num_atag:
        """TLV callback_num_atag (0x0303), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x0303)

        def __set__(self, value):
            self._put_tlv(0x0303, value)

    property number_of_messages:
        """TLV number_of_messages (0x0304), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x0304)

        def __set__(self, value):
            self._put_tlv(0x0304, value)

    property callback_num:
        """TLV callback_num (0x0381), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x0381)

        def __set__(self, value):
            self._put_tlv(0x0381, value)

    property dpf_result:
        """TLV dpf_result (0x0420), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x0420)

        def __set__(self, value):
            self._put_tlv(0x0420, value)

    property set_dpf:
        """TLV set_dpf (0x0421), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x0421)

        def __set__(self, value):
            self._put_tlv(0x0421, value)

    property ms_availability_status:
        """TLV ms_availability_status (0x0422), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x0422)

        def __set__(self, value):
            self._put_tlv(0x0422, value)

    property network_error_code:
        """TLV network_error_code (0x0423), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x0423)

        def __set__(self, value):
            self._put_tlv(0x0423, value)

    property message_payload:
        """TLV message_payload (0x0424), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x0424)

        def __set__(self, value):
            self._put_tlv(0x0424, value)

    property delivery_failure_reason:
        """TLV delivery_failure_reason (0x0425), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x0425)

        def __set__(self, value):
            self._put_tlv(0x0425, value)

    property more_messages_to_send:
        """TLV more_messages_to_send (0x0426), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x0426)

        def __set__(self, value):
            self._put_tlv(0x0426, value)

    property message_state:
        """TLV message_state (0x0427), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x0427)

        def __set__(self, value):
            self._put_tlv(0x0427, value)

    property ussd_service_op:
        """TLV ussd_service_op (0x0501), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x0501)

        def __set__(self, value):
            self._put_tlv(0x0501, value)

    property display_time:
        """TLV display_time (0x1201), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x1201)

        def __set__(self, value):
            self._put_tlv(0x1201, value)

    property sms_signal:
        """TLV sms_signal (0x1203), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x1203)

        def __set__(self, value):
            self._put_tlv(0x1203, value)

    property ms_validity:
        """TLV ms_validity (0x1204), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x1204)

        def __set__(self, value):
            self._put_tlv(0x1204, value)

    property alert_on_message_delivery:
        """TLV alert_on_message_delivery (0x130C), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x130C)

        def __set__(self, value):
            self._put_tlv(0x130C, value)

    property its_reply_type:
        """TLV its_reply_type (0x1380), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x1380)

        def __set__(self, value):
            self._put_tlv(0x1380, value)

    property its_session_info:
        """TLV its_session_info (0x1383), SMPP 3.4 §5.3.2; None when absent."""

        def __get__(self):
            return self._get_tlv(0x1383)

        def __set__(self, value):
            self._put_tlv(0x1383, value)
    # END GENERATED: tlv_properties


def _dest_item(item):
    """One submit_multi destination: a distribution-list name or an SME address tuple."""
    if isinstance(item, str):
        return item
    if isinstance(item, (tuple, list)) and len(item) == 3:
        return tuple(item)
    raise EncodeError(
        "dest_addresses items are (dest_addr_ton, dest_addr_npi, destination_addr) or a"
        f" distribution list name, not {item!r}", field="dest_addresses")


def _checked_tag(tag):
    """A TLV tag as an int in 0..0xFFFF, or EncodeError naming the field."""
    if not isinstance(tag, int):
        raise EncodeError(f"TLV tag must be an int, not {type(tag).__name__}", field="tlvs")
    if not 0 <= tag <= 0xFFFF:
        raise EncodeError(f"TLV tag {tag} is out of range 0..65535", field="tlvs")
    return tag


def _rebuild(cls, fields, tlvs):
    """Unpickle a PDU: fields by keyword, then the TLV list in its wire order."""
    for name in _DERIVED_FIELDS:
        fields.pop(name, None)
    pdu = cls(**fields)
    pdu.tlvs = tlvs
    return pdu


# Read-only fields computed from others at encode time; never passed to a constructor.
_DERIVED_FIELDS = ("sm_length", "number_of_dests", "no_unsuccess")


@cython.no_gc
cdef class RequestPdu(Pdu):
    """A PDU that expects a response (bind, submit_sm, deliver_sm, enquire_link, ...)."""

    response_class = None

    def make_response(self, *, command_status=0, **fields):
        """The matching response, carrying this request's sequence_number."""
        cls = self.response_class
        if cls is None:
            raise TypeError(f"{type(self).__name__} has no response PDU")
        # Keyword calls, not ``cls(**fields)``: a call through a dict takes Cython's slow
        # argument parser (about 3x), and message_id alone is the servers' hot path.
        if not fields:
            return cls(sequence_number=self.sequence_number, command_status=command_status)
        if len(fields) == 1 and "message_id" in fields:
            return cls(sequence_number=self.sequence_number, command_status=command_status,
                       message_id=fields["message_id"])
        return cls(sequence_number=self.sequence_number, command_status=command_status, **fields)


@cython.no_gc
cdef class ResponsePdu(Pdu):
    """A response PDU (command_id with the 0x80000000 bit set)."""


# --- header-only PDUs (§4.2 unbind, §4.3 generic_nack, §4.11 enquire_link, ...) ---------

@cython.no_gc
cdef class _HeaderOnlyRequest(RequestPdu):
    def __init__(self, *, sequence_number=0, command_status=0, **tlvs):
        self.sequence_number = sequence_number
        self.command_status = command_status
        if tlvs:
            self._set_tlv_kwargs(tlvs)


@cython.no_gc
cdef class _HeaderOnlyResponse(ResponsePdu):
    def __init__(self, *, sequence_number=0, command_status=0, **tlvs):
        self.sequence_number = sequence_number
        self.command_status = command_status
        if tlvs:
            self._set_tlv_kwargs(tlvs)


@cython.no_gc
@cython.final
cdef class GenericNack(_HeaderOnlyResponse):
    """generic_nack (§4.3): the answer to a PDU that cannot be decoded or is not allowed."""
    command_id = CMD_GENERIC_NACK
    command_name = "generic_nack"

    cdef uint32_t _cid(self) noexcept:
        return CMD_GENERIC_NACK


@cython.no_gc
@cython.final
cdef class UnbindResp(_HeaderOnlyResponse):
    """unbind_resp (§4.2.2)."""
    command_id = CMD_UNBIND_RESP
    command_name = "unbind_resp"

    cdef uint32_t _cid(self) noexcept:
        return CMD_UNBIND_RESP


@cython.no_gc
@cython.final
cdef class Unbind(_HeaderOnlyRequest):
    """unbind (§4.2.1)."""
    command_id = CMD_UNBIND
    command_name = "unbind"
    response_class = UnbindResp

    cdef uint32_t _cid(self) noexcept:
        return CMD_UNBIND


@cython.no_gc
@cython.final
cdef class EnquireLinkResp(_HeaderOnlyResponse):
    """enquire_link_resp (§4.11.2)."""
    command_id = CMD_ENQUIRE_LINK_RESP
    command_name = "enquire_link_resp"

    cdef uint32_t _cid(self) noexcept:
        return CMD_ENQUIRE_LINK_RESP


@cython.no_gc
@cython.final
cdef class EnquireLink(_HeaderOnlyRequest):
    """enquire_link (§4.11.1)."""
    command_id = CMD_ENQUIRE_LINK
    command_name = "enquire_link"
    response_class = EnquireLinkResp

    cdef uint32_t _cid(self) noexcept:
        return CMD_ENQUIRE_LINK


@cython.no_gc
@cython.final
cdef class CancelSmResp(_HeaderOnlyResponse):
    """cancel_sm_resp (§4.9.2)."""
    command_id = CMD_CANCEL_SM_RESP
    command_name = "cancel_sm_resp"

    cdef uint32_t _cid(self) noexcept:
        return CMD_CANCEL_SM_RESP


@cython.no_gc
@cython.final
cdef class ReplaceSmResp(_HeaderOnlyResponse):
    """replace_sm_resp (§4.10.2)."""
    command_id = CMD_REPLACE_SM_RESP
    command_name = "replace_sm_resp"

    cdef uint32_t _cid(self) noexcept:
        return CMD_REPLACE_SM_RESP


# --- bind (§4.1) ------------------------------------------------------------------------

@cython.no_gc
cdef class _BindResp(ResponsePdu):
    cdef public object system_id
    _FIELDS = ("system_id",)

    def __init__(self, *, sequence_number=0, command_status=0, system_id="", **tlvs):
        self.sequence_number = sequence_number
        self.command_status = command_status
        self.system_id = system_id
        if tlvs:
            self._set_tlv_kwargs(tlvs)

    cdef int _omit_body(self) except -1:
        # §4.1.2: the body is not returned when command_status is non-zero.
        return bool(self.command_status) and not self.system_id and not self._has_tlvs()

    cdef int _encode_body(self, WBuf* b) except -1:
        _put_cstr(b, self.system_id, 16, "system_id")
        return 0

    cdef int _decode_body(self, RCur* r) except -1:
        if r.pos == r.end:
            self.system_id = _EMPTY
            return 0
        self.system_id = _get_cstr(r, 16, "system_id")
        return 0


@cython.no_gc
@cython.final
cdef class BindTransmitterResp(_BindResp):
    """bind_transmitter_resp (§4.1.2)."""
    command_id = CMD_BIND_TRANSMITTER_RESP
    command_name = "bind_transmitter_resp"

    cdef uint32_t _cid(self) noexcept:
        return CMD_BIND_TRANSMITTER_RESP


@cython.no_gc
@cython.final
cdef class BindReceiverResp(_BindResp):
    """bind_receiver_resp (§4.1.4)."""
    command_id = CMD_BIND_RECEIVER_RESP
    command_name = "bind_receiver_resp"

    cdef uint32_t _cid(self) noexcept:
        return CMD_BIND_RECEIVER_RESP


@cython.no_gc
@cython.final
cdef class BindTransceiverResp(_BindResp):
    """bind_transceiver_resp (§4.1.6)."""
    command_id = CMD_BIND_TRANSCEIVER_RESP
    command_name = "bind_transceiver_resp"

    cdef uint32_t _cid(self) noexcept:
        return CMD_BIND_TRANSCEIVER_RESP


@cython.no_gc
cdef class _Bind(RequestPdu):
    cdef public object system_id, password, system_type, interface_version
    cdef public object addr_ton, addr_npi, address_range
    _FIELDS = ("system_id", "password", "system_type", "interface_version", "addr_ton",
               "addr_npi", "address_range")

    def __init__(self, *, sequence_number=0, command_status=0, system_id="", password="",
                 system_type="", interface_version=0x34, addr_ton=0, addr_npi=0,
                 address_range="", **tlvs):
        self.sequence_number = sequence_number
        self.command_status = command_status
        self.system_id = system_id
        self.password = password
        self.system_type = system_type
        self.interface_version = interface_version
        self.addr_ton = addr_ton
        self.addr_npi = addr_npi
        self.address_range = address_range
        if tlvs:
            self._set_tlv_kwargs(tlvs)

    def __repr__(self):
        # Never show the password (it ends up in logs).
        text = Pdu.__repr__(self)
        return text.replace(f"password={self.password!r}", "password='***'", 1)

    cdef int _encode_body(self, WBuf* b) except -1:
        _put_cstr(b, self.system_id, 16, "system_id")
        _put_cstr(b, self.password, 9, "password")
        _put_cstr(b, self.system_type, 13, "system_type")
        _put_u8(b, self.interface_version, "interface_version")
        _put_u8(b, self.addr_ton, "addr_ton")
        _put_u8(b, self.addr_npi, "addr_npi")
        _put_cstr(b, self.address_range, 41, "address_range")
        return 0

    cdef int _decode_body(self, RCur* r) except -1:
        self.system_id = _get_cstr(r, 16, "system_id")
        self.password = _get_cstr(r, 9, "password")
        self.system_type = _get_cstr(r, 13, "system_type")
        self.interface_version = _get_u8(r, "interface_version")
        self.addr_ton = _get_u8(r, "addr_ton")
        self.addr_npi = _get_u8(r, "addr_npi")
        self.address_range = _get_cstr(r, 41, "address_range")
        return 0


@cython.no_gc
@cython.final
cdef class BindTransmitter(_Bind):
    """bind_transmitter (§4.1.1)."""
    command_id = CMD_BIND_TRANSMITTER
    command_name = "bind_transmitter"
    response_class = BindTransmitterResp

    cdef uint32_t _cid(self) noexcept:
        return CMD_BIND_TRANSMITTER


@cython.no_gc
@cython.final
cdef class BindReceiver(_Bind):
    """bind_receiver (§4.1.3)."""
    command_id = CMD_BIND_RECEIVER
    command_name = "bind_receiver"
    response_class = BindReceiverResp

    cdef uint32_t _cid(self) noexcept:
        return CMD_BIND_RECEIVER


@cython.no_gc
@cython.final
cdef class BindTransceiver(_Bind):
    """bind_transceiver (§4.1.5)."""
    command_id = CMD_BIND_TRANSCEIVER
    command_name = "bind_transceiver"
    response_class = BindTransceiverResp

    cdef uint32_t _cid(self) noexcept:
        return CMD_BIND_TRANSCEIVER


@cython.no_gc
@cython.final
cdef class Outbind(RequestPdu):
    """outbind (§4.1.7): an SMSC asks an ESME to bind_receiver.  It has no response."""
    cdef public object system_id, password
    command_id = CMD_OUTBIND
    command_name = "outbind"
    _FIELDS = ("system_id", "password")

    def __init__(self, *, sequence_number=0, command_status=0, system_id="", password="",
                 **tlvs):
        self.sequence_number = sequence_number
        self.command_status = command_status
        self.system_id = system_id
        self.password = password
        if tlvs:
            self._set_tlv_kwargs(tlvs)

    def __repr__(self):
        text = Pdu.__repr__(self)
        return text.replace(f"password={self.password!r}", "password='***'", 1)

    cdef uint32_t _cid(self) noexcept:
        return CMD_OUTBIND

    cdef int _encode_body(self, WBuf* b) except -1:
        _put_cstr(b, self.system_id, 16, "system_id")
        _put_cstr(b, self.password, 9, "password")
        return 0

    cdef int _decode_body(self, RCur* r) except -1:
        self.system_id = _get_cstr(r, 16, "system_id")
        self.password = _get_cstr(r, 9, "password")
        return 0


# --- responses carrying a message_id (§4.4.2, §4.6.2, §4.7.2) --------------------------

@cython.no_gc
cdef class _MessageIdResp(ResponsePdu):
    cdef public object message_id
    _FIELDS = ("message_id",)

    def __init__(self, *, sequence_number=0, command_status=0, message_id="", **tlvs):
        self.sequence_number = sequence_number
        self.command_status = command_status
        self.message_id = message_id
        if tlvs:
            self._set_tlv_kwargs(tlvs)

    cdef int _omit_body(self) except -1:
        # §4.4.2: "The submit_sm_resp PDU Body is not returned if the command_status field
        # contains a non-zero value."  The decoder accepts both forms.
        return bool(self.command_status) and not self.message_id and not self._has_tlvs()

    cdef int _encode_body(self, WBuf* b) except -1:
        _put_cstr(b, self.message_id, 65, "message_id")
        return 0

    cdef int _decode_body(self, RCur* r) except -1:
        if r.pos == r.end:
            self.message_id = _EMPTY
            return 0
        self.message_id = _get_cstr(r, 65, "message_id")
        return 0


@cython.no_gc
@cython.final
cdef class SubmitSmResp(_MessageIdResp):
    """submit_sm_resp (§4.4.2)."""
    command_id = CMD_SUBMIT_SM_RESP
    command_name = "submit_sm_resp"

    cdef uint32_t _cid(self) noexcept:
        return CMD_SUBMIT_SM_RESP


@cython.no_gc
@cython.final
cdef class DeliverSmResp(_MessageIdResp):
    """deliver_sm_resp (§4.6.2); message_id is unused and set to NULL."""
    command_id = CMD_DELIVER_SM_RESP
    command_name = "deliver_sm_resp"

    cdef uint32_t _cid(self) noexcept:
        return CMD_DELIVER_SM_RESP


@cython.no_gc
@cython.final
cdef class DataSmResp(_MessageIdResp):
    """data_sm_resp (§4.7.2)."""
    command_id = CMD_DATA_SM_RESP
    command_name = "data_sm_resp"

    cdef uint32_t _cid(self) noexcept:
        return CMD_DATA_SM_RESP


# --- submit_sm and deliver_sm (§4.4.1, §4.6.1) -----------------------------------------

@cython.no_gc
cdef class _ShortMessage(RequestPdu):
    cdef public object service_type, source_addr_ton, source_addr_npi, source_addr
    cdef public object dest_addr_ton, dest_addr_npi, destination_addr
    cdef public object esm_class, protocol_id, priority_flag
    cdef public object schedule_delivery_time, validity_period
    cdef public object registered_delivery, replace_if_present_flag, data_coding
    cdef public object sm_default_msg_id, short_message
    _FIELDS = ("service_type", "source_addr_ton", "source_addr_npi", "source_addr",
               "dest_addr_ton", "dest_addr_npi", "destination_addr", "esm_class",
               "protocol_id", "priority_flag", "schedule_delivery_time", "validity_period",
               "registered_delivery", "replace_if_present_flag", "data_coding",
               "sm_default_msg_id", "short_message")

    def __init__(self, *, sequence_number=0, command_status=0, service_type="",
                 source_addr_ton=0, source_addr_npi=0, source_addr="", dest_addr_ton=0,
                 dest_addr_npi=0, destination_addr="", esm_class=0, protocol_id=0,
                 priority_flag=0, schedule_delivery_time="", validity_period="",
                 registered_delivery=0, replace_if_present_flag=0, data_coding=0,
                 sm_default_msg_id=0, short_message=b"", **tlvs):
        self.sequence_number = sequence_number
        self.command_status = command_status
        self.service_type = service_type
        self.source_addr_ton = source_addr_ton
        self.source_addr_npi = source_addr_npi
        self.source_addr = source_addr
        self.dest_addr_ton = dest_addr_ton
        self.dest_addr_npi = dest_addr_npi
        self.destination_addr = destination_addr
        self.esm_class = esm_class
        self.protocol_id = protocol_id
        self.priority_flag = priority_flag
        self.schedule_delivery_time = schedule_delivery_time
        self.validity_period = validity_period
        self.registered_delivery = registered_delivery
        self.replace_if_present_flag = replace_if_present_flag
        self.data_coding = data_coding
        self.sm_default_msg_id = sm_default_msg_id
        self.short_message = short_message
        if tlvs:
            self._set_tlv_kwargs(tlvs)

    property sm_length:
        """Length of short_message in octets (derived; not stored)."""

        def __get__(self):
            return 0 if self.short_message is None else len(self.short_message)

    cdef int _encode_body(self, WBuf* b) except -1:
        cdef Py_ssize_t n
        cdef char* p
        # The mandatory part is at most 6+2+21+2+21+3+17+17+5 = 94 octets (§4.4.1): reserve
        # it once and write each field in place.
        _reserve(b, 128)
        p = b.data + b.length
        p = _w_cstr(b, p, self.service_type, 6, "service_type")
        p = _w_u8(b, p, self.source_addr_ton, "source_addr_ton")
        p = _w_u8(b, p, self.source_addr_npi, "source_addr_npi")
        p = _w_cstr(b, p, self.source_addr, 21, "source_addr")
        p = _w_u8(b, p, self.dest_addr_ton, "dest_addr_ton")
        p = _w_u8(b, p, self.dest_addr_npi, "dest_addr_npi")
        p = _w_cstr(b, p, self.destination_addr, 21, "destination_addr")
        p = _w_u8(b, p, self.esm_class, "esm_class")
        p = _w_u8(b, p, self.protocol_id, "protocol_id")
        p = _w_u8(b, p, self.priority_flag, "priority_flag")
        p = _w_cstr(b, p, self.schedule_delivery_time, 17, "schedule_delivery_time", True)
        p = _w_cstr(b, p, self.validity_period, 17, "validity_period", True)
        p = _w_u8(b, p, self.registered_delivery, "registered_delivery")
        p = _w_u8(b, p, self.replace_if_present_flag, "replace_if_present_flag")
        p = _w_u8(b, p, self.data_coding, "data_coding")
        p = _w_u8(b, p, self.sm_default_msg_id, "sm_default_msg_id")
        b.length = p - b.data
        n = _octets_len(self.short_message, "short_message")
        if n > 254:
            raise EncodeError(
                f"short_message is {n} octets; SMPP 3.4 allows at most 254 (use message_payload)",
                field="short_message",
            )
        b.data[b.length] = <char>n
        b.length += 1
        _put_octets(b, self.short_message, 254, "short_message")
        return 0

    @cython.boundscheck(False)
    @cython.wraparound(False)
    cdef int _decode_body(self, RCur* r) except -1:
        # Bounds: _need() checks every fixed run of octets before it is read.
        cdef int n
        self.service_type = _get_cstr(r, 6, "service_type")
        if r.pos + 2 <= r.end:
            self.source_addr_ton = _u8(r.base[r.pos])
            self.source_addr_npi = _u8(r.base[r.pos + 1])
            r.pos += 2
        else:
            self.source_addr_ton = _get_u8(r, "source_addr_ton")
            self.source_addr_npi = _get_u8(r, "source_addr_npi")
        self.source_addr = _get_cstr(r, 21, "source_addr")
        if r.pos + 2 <= r.end:
            self.dest_addr_ton = _u8(r.base[r.pos])
            self.dest_addr_npi = _u8(r.base[r.pos + 1])
            r.pos += 2
        else:
            self.dest_addr_ton = _get_u8(r, "dest_addr_ton")
            self.dest_addr_npi = _get_u8(r, "dest_addr_npi")
        self.destination_addr = _get_cstr(r, 21, "destination_addr")
        _need(r, 3, "esm_class")
        self.esm_class = _u8(r.base[r.pos])
        self.protocol_id = _u8(r.base[r.pos + 1])
        self.priority_flag = _u8(r.base[r.pos + 2])
        r.pos += 3
        self.schedule_delivery_time = _get_cstr(r, 17, "schedule_delivery_time")
        self.validity_period = _get_cstr(r, 17, "validity_period")
        _need(r, 5, "registered_delivery")
        self.registered_delivery = _u8(r.base[r.pos])
        self.replace_if_present_flag = _u8(r.base[r.pos + 1])
        self.data_coding = _u8(r.base[r.pos + 2])
        self.sm_default_msg_id = _u8(r.base[r.pos + 3])
        n = r.base[r.pos + 4]
        r.pos += 5
        self.short_message = _get_octets(r, n, "short_message")
        _get_tlvs(r, self)
        return 0


@cython.no_gc
@cython.final
cdef class SubmitSm(_ShortMessage):
    """submit_sm (§4.4.1): an ESME submits a short message to the SMSC."""
    command_id = CMD_SUBMIT_SM
    command_name = "submit_sm"
    response_class = SubmitSmResp

    cdef uint32_t _cid(self) noexcept:
        return CMD_SUBMIT_SM


@cython.no_gc
@cython.final
cdef class DeliverSm(_ShortMessage):
    """deliver_sm (§4.6.1): the SMSC delivers a message (or a receipt) to an ESME."""
    command_id = CMD_DELIVER_SM
    command_name = "deliver_sm"
    response_class = DeliverSmResp

    cdef uint32_t _cid(self) noexcept:
        return CMD_DELIVER_SM


# --- submit_multi (§4.5) ---------------------------------------------------------------

@cython.no_gc
@cython.final
cdef class SubmitMultiResp(ResponsePdu):
    """submit_multi_resp (§4.5.2).  unsuccess_smes: (ton, npi, address, error_status_code)."""
    cdef public object message_id, unsuccess_smes
    command_id = CMD_SUBMIT_MULTI_RESP
    command_name = "submit_multi_resp"
    _FIELDS = ("message_id", "unsuccess_smes")

    def __init__(self, *, sequence_number=0, command_status=0, message_id="",
                 unsuccess_smes=(), **tlvs):
        self.sequence_number = sequence_number
        self.command_status = command_status
        self.message_id = message_id
        self.unsuccess_smes = [tuple(x) for x in unsuccess_smes]
        if tlvs:
            self._set_tlv_kwargs(tlvs)

    property no_unsuccess:
        def __get__(self):
            return len(self.unsuccess_smes)

    cdef uint32_t _cid(self) noexcept:
        return CMD_SUBMIT_MULTI_RESP

    cdef int _omit_body(self) except -1:
        return (bool(self.command_status) and not self.message_id
                and not self.unsuccess_smes and not self._has_tlvs())

    cdef int _encode_body(self, WBuf* b) except -1:
        _put_cstr(b, self.message_id, 65, "message_id")
        smes = list(self.unsuccess_smes or ())
        _put_u8(b, len(smes), "no_unsuccess")
        for item in smes:
            if len(item) != 4:
                raise EncodeError(
                    "unsuccess_smes items are (dest_addr_ton, dest_addr_npi, destination_addr,"
                    " error_status_code)", field="unsuccess_smes",
                )
            ton, npi, addr, status = item
            _put_u8(b, ton, "unsuccess_smes.dest_addr_ton")
            _put_u8(b, npi, "unsuccess_smes.dest_addr_npi")
            _put_cstr(b, addr, 21, "unsuccess_smes.destination_addr")
            _put_int(b, status, 4, "unsuccess_smes.error_status_code")
        return 0

    cdef int _decode_body(self, RCur* r) except -1:
        cdef int count, i
        if r.pos == r.end:
            self.message_id = _EMPTY
            self.unsuccess_smes = []
            return 0
        self.message_id = _get_cstr(r, 65, "message_id")
        count = _get_u8(r, "no_unsuccess")
        smes = []
        for i in range(count):
            ton = _get_u8(r, "unsuccess_smes.dest_addr_ton")
            npi = _get_u8(r, "unsuccess_smes.dest_addr_npi")
            addr = _get_cstr(r, 21, "destination_addr")
            _need(r, 4, "unsuccess_smes.error_status_code")
            status = _load_u32(r.base + r.pos)
            r.pos += 4
            smes.append((ton, npi, addr, status))
        self.unsuccess_smes = smes
        _get_tlvs(r, self)
        return 0


@cython.no_gc
@cython.final
cdef class SubmitMulti(RequestPdu):
    """submit_multi (§4.5.1).

    dest_addresses: a (dest_addr_ton, dest_addr_npi, destination_addr) tuple is an SME
    address (dest_flag 1); a str is a distribution list name (dest_flag 2).
    """
    cdef public object service_type, source_addr_ton, source_addr_npi, source_addr
    cdef public object dest_addresses
    cdef public object esm_class, protocol_id, priority_flag
    cdef public object schedule_delivery_time, validity_period
    cdef public object registered_delivery, replace_if_present_flag, data_coding
    cdef public object sm_default_msg_id, short_message
    command_id = CMD_SUBMIT_MULTI
    command_name = "submit_multi"
    response_class = SubmitMultiResp
    _FIELDS = ("service_type", "source_addr_ton", "source_addr_npi", "source_addr",
               "dest_addresses", "esm_class", "protocol_id", "priority_flag",
               "schedule_delivery_time", "validity_period", "registered_delivery",
               "replace_if_present_flag", "data_coding", "sm_default_msg_id", "short_message")

    def __init__(self, *, sequence_number=0, command_status=0, service_type="",
                 source_addr_ton=0, source_addr_npi=0, source_addr="", dest_addresses=(),
                 esm_class=0, protocol_id=0, priority_flag=0, schedule_delivery_time="",
                 validity_period="", registered_delivery=0, replace_if_present_flag=0,
                 data_coding=0, sm_default_msg_id=0, short_message=b"", **tlvs):
        self.sequence_number = sequence_number
        self.command_status = command_status
        self.service_type = service_type
        self.source_addr_ton = source_addr_ton
        self.source_addr_npi = source_addr_npi
        self.source_addr = source_addr
        self.dest_addresses = [_dest_item(x) for x in dest_addresses]
        self.esm_class = esm_class
        self.protocol_id = protocol_id
        self.priority_flag = priority_flag
        self.schedule_delivery_time = schedule_delivery_time
        self.validity_period = validity_period
        self.registered_delivery = registered_delivery
        self.replace_if_present_flag = replace_if_present_flag
        self.data_coding = data_coding
        self.sm_default_msg_id = sm_default_msg_id
        self.short_message = short_message
        if tlvs:
            self._set_tlv_kwargs(tlvs)

    property number_of_dests:
        def __get__(self):
            return len(self.dest_addresses)

    property sm_length:
        def __get__(self):
            return 0 if self.short_message is None else len(self.short_message)

    cdef uint32_t _cid(self) noexcept:
        return CMD_SUBMIT_MULTI

    cdef int _encode_body(self, WBuf* b) except -1:
        cdef Py_ssize_t n
        _put_cstr(b, self.service_type, 6, "service_type")
        _put_u8(b, self.source_addr_ton, "source_addr_ton")
        _put_u8(b, self.source_addr_npi, "source_addr_npi")
        _put_cstr(b, self.source_addr, 21, "source_addr")
        dests = list(self.dest_addresses or ())
        # §4.5.1: number_of_dests is at most 254 (one octet, 255 reserved by some SMSCs).
        if len(dests) > 254:
            raise EncodeError(f"number_of_dests is {len(dests)}; at most 254",
                              field="dest_addresses")
        _put_u8(b, len(dests), "number_of_dests")
        for dest in dests:
            _reserve(b, 1)
            if isinstance(dest, str):
                b.data[b.length] = 2
                b.length += 1
                _put_cstr(b, dest, 21, "dest_addresses.dl_name")
            else:
                if len(dest) != 3:
                    raise EncodeError(
                        "dest_addresses items are (dest_addr_ton, dest_addr_npi,"
                        " destination_addr) or a distribution list name", field="dest_addresses",
                    )
                b.data[b.length] = 1
                b.length += 1
                _put_u8(b, dest[0], "dest_addresses.dest_addr_ton")
                _put_u8(b, dest[1], "dest_addresses.dest_addr_npi")
                _put_cstr(b, dest[2], 21, "dest_addresses.destination_addr")
        _put_u8(b, self.esm_class, "esm_class")
        _put_u8(b, self.protocol_id, "protocol_id")
        _put_u8(b, self.priority_flag, "priority_flag")
        _put_time(b, self.schedule_delivery_time, "schedule_delivery_time")
        _put_time(b, self.validity_period, "validity_period")
        _put_u8(b, self.registered_delivery, "registered_delivery")
        _put_u8(b, self.replace_if_present_flag, "replace_if_present_flag")
        _put_u8(b, self.data_coding, "data_coding")
        _put_u8(b, self.sm_default_msg_id, "sm_default_msg_id")
        n = _octets_len(self.short_message, "short_message")
        if n > 254:
            raise EncodeError(f"short_message is {n} octets; at most 254",
                              field="short_message")
        _put_u8(b, n, "sm_length")
        _put_octets(b, self.short_message, 254, "short_message")
        return 0

    cdef int _decode_body(self, RCur* r) except -1:
        cdef int count, i, flag, n
        cdef Py_ssize_t at
        self.service_type = _get_cstr(r, 6, "service_type")
        self.source_addr_ton = _get_u8(r, "source_addr_ton")
        self.source_addr_npi = _get_u8(r, "source_addr_npi")
        self.source_addr = _get_cstr(r, 21, "source_addr")
        count = _get_u8(r, "number_of_dests")
        dests = []
        for i in range(count):
            at = r.pos
            flag = _get_u8(r, "dest_flag")
            if flag == 1:
                ton = _get_u8(r, "dest_addr_ton")
                npi = _get_u8(r, "dest_addr_npi")
                dests.append((ton, npi, _get_cstr(r, 21, "destination_addr")))
            elif flag == 2:
                dests.append(_get_cstr(r, 21, "dl_name"))
            else:
                raise _derr(r, f"dest_flag {flag} at offset {at} is neither 1 (SME) nor 2 (list)",
                            "dest_flag", at, ESME_RINVDESTFLAG)
        self.dest_addresses = dests
        self.esm_class = _get_u8(r, "esm_class")
        self.protocol_id = _get_u8(r, "protocol_id")
        self.priority_flag = _get_u8(r, "priority_flag")
        self.schedule_delivery_time = _get_cstr(r, 17, "schedule_delivery_time")
        self.validity_period = _get_cstr(r, 17, "validity_period")
        self.registered_delivery = _get_u8(r, "registered_delivery")
        self.replace_if_present_flag = _get_u8(r, "replace_if_present_flag")
        self.data_coding = _get_u8(r, "data_coding")
        self.sm_default_msg_id = _get_u8(r, "sm_default_msg_id")
        n = _get_u8(r, "sm_length")
        self.short_message = _get_octets(r, n, "short_message")
        _get_tlvs(r, self)
        return 0


# --- data_sm (§4.7) ---------------------------------------------------------------------

@cython.no_gc
@cython.final
cdef class DataSm(RequestPdu):
    """data_sm (§4.7.1): message transfer in either direction, payload in TLVs."""
    cdef public object service_type, source_addr_ton, source_addr_npi, source_addr
    cdef public object dest_addr_ton, dest_addr_npi, destination_addr
    cdef public object esm_class, registered_delivery, data_coding
    command_id = CMD_DATA_SM
    command_name = "data_sm"
    response_class = DataSmResp
    _FIELDS = ("service_type", "source_addr_ton", "source_addr_npi", "source_addr",
               "dest_addr_ton", "dest_addr_npi", "destination_addr", "esm_class",
               "registered_delivery", "data_coding")

    def __init__(self, *, sequence_number=0, command_status=0, service_type="",
                 source_addr_ton=0, source_addr_npi=0, source_addr="", dest_addr_ton=0,
                 dest_addr_npi=0, destination_addr="", esm_class=0, registered_delivery=0,
                 data_coding=0, **tlvs):
        self.sequence_number = sequence_number
        self.command_status = command_status
        self.service_type = service_type
        self.source_addr_ton = source_addr_ton
        self.source_addr_npi = source_addr_npi
        self.source_addr = source_addr
        self.dest_addr_ton = dest_addr_ton
        self.dest_addr_npi = dest_addr_npi
        self.destination_addr = destination_addr
        self.esm_class = esm_class
        self.registered_delivery = registered_delivery
        self.data_coding = data_coding
        if tlvs:
            self._set_tlv_kwargs(tlvs)

    cdef uint32_t _cid(self) noexcept:
        return CMD_DATA_SM

    cdef int _encode_body(self, WBuf* b) except -1:
        _put_cstr(b, self.service_type, 6, "service_type")
        _put_u8(b, self.source_addr_ton, "source_addr_ton")
        _put_u8(b, self.source_addr_npi, "source_addr_npi")
        _put_cstr(b, self.source_addr, 65, "source_addr")
        _put_u8(b, self.dest_addr_ton, "dest_addr_ton")
        _put_u8(b, self.dest_addr_npi, "dest_addr_npi")
        _put_cstr(b, self.destination_addr, 65, "destination_addr")
        _put_u8(b, self.esm_class, "esm_class")
        _put_u8(b, self.registered_delivery, "registered_delivery")
        _put_u8(b, self.data_coding, "data_coding")
        return 0

    cdef int _decode_body(self, RCur* r) except -1:
        self.service_type = _get_cstr(r, 6, "service_type")
        self.source_addr_ton = _get_u8(r, "source_addr_ton")
        self.source_addr_npi = _get_u8(r, "source_addr_npi")
        self.source_addr = _get_cstr(r, 65, "source_addr")
        self.dest_addr_ton = _get_u8(r, "dest_addr_ton")
        self.dest_addr_npi = _get_u8(r, "dest_addr_npi")
        self.destination_addr = _get_cstr(r, 65, "destination_addr")
        self.esm_class = _get_u8(r, "esm_class")
        self.registered_delivery = _get_u8(r, "registered_delivery")
        self.data_coding = _get_u8(r, "data_coding")
        _get_tlvs(r, self)
        return 0


# --- query_sm (§4.8) ---------------------------------------------------------------------

@cython.no_gc
@cython.final
cdef class QuerySmResp(ResponsePdu):
    """query_sm_resp (§4.8.2).  message_state here is the mandatory field, not the TLV."""
    cdef public object message_id, final_date, error_code
    cdef object _message_state
    command_id = CMD_QUERY_SM_RESP
    command_name = "query_sm_resp"
    _FIELDS = ("message_id", "final_date", "message_state", "error_code")

    def __init__(self, *, sequence_number=0, command_status=0, message_id="", final_date="",
                 message_state=0, error_code=0, **tlvs):
        self.sequence_number = sequence_number
        self.command_status = command_status
        self.message_id = message_id
        self.final_date = final_date
        self._message_state = message_state
        self.error_code = error_code
        if tlvs:
            self._set_tlv_kwargs(tlvs)

    property message_state:
        """The mandatory message_state field of query_sm_resp (§5.2.28)."""

        def __get__(self):
            return self._message_state

        def __set__(self, value):
            self._message_state = value

    cdef uint32_t _cid(self) noexcept:
        return CMD_QUERY_SM_RESP

    cdef int _omit_body(self) except -1:
        return (bool(self.command_status) and not self.message_id and not self.final_date
                and not self._message_state and not self.error_code and not self._has_tlvs())

    cdef int _encode_body(self, WBuf* b) except -1:
        _put_cstr(b, self.message_id, 65, "message_id")
        _put_time(b, self.final_date, "final_date")
        _put_u8(b, self._message_state, "message_state")
        _put_u8(b, self.error_code, "error_code")
        return 0

    cdef int _decode_body(self, RCur* r) except -1:
        if r.pos == r.end:
            self.message_id = _EMPTY
            self.final_date = _EMPTY
            self._message_state = 0
            self.error_code = 0
            return 0
        self.message_id = _get_cstr(r, 65, "message_id")
        self.final_date = _get_cstr(r, 17, "final_date")
        self._message_state = _get_u8(r, "message_state")
        self.error_code = _get_u8(r, "error_code")
        _get_tlvs(r, self)
        return 0


@cython.no_gc
@cython.final
cdef class QuerySm(RequestPdu):
    """query_sm (§4.8.1)."""
    cdef public object message_id, source_addr_ton, source_addr_npi, source_addr
    command_id = CMD_QUERY_SM
    command_name = "query_sm"
    response_class = QuerySmResp
    _FIELDS = ("message_id", "source_addr_ton", "source_addr_npi", "source_addr")

    def __init__(self, *, sequence_number=0, command_status=0, message_id="",
                 source_addr_ton=0, source_addr_npi=0, source_addr="", **tlvs):
        self.sequence_number = sequence_number
        self.command_status = command_status
        self.message_id = message_id
        self.source_addr_ton = source_addr_ton
        self.source_addr_npi = source_addr_npi
        self.source_addr = source_addr
        if tlvs:
            self._set_tlv_kwargs(tlvs)

    cdef uint32_t _cid(self) noexcept:
        return CMD_QUERY_SM

    cdef int _encode_body(self, WBuf* b) except -1:
        _put_cstr(b, self.message_id, 65, "message_id")
        _put_u8(b, self.source_addr_ton, "source_addr_ton")
        _put_u8(b, self.source_addr_npi, "source_addr_npi")
        _put_cstr(b, self.source_addr, 21, "source_addr")
        return 0

    cdef int _decode_body(self, RCur* r) except -1:
        self.message_id = _get_cstr(r, 65, "message_id")
        self.source_addr_ton = _get_u8(r, "source_addr_ton")
        self.source_addr_npi = _get_u8(r, "source_addr_npi")
        self.source_addr = _get_cstr(r, 21, "source_addr")
        _get_tlvs(r, self)
        return 0


# --- cancel_sm (§4.9) and replace_sm (§4.10) --------------------------------------------

@cython.no_gc
@cython.final
cdef class CancelSm(RequestPdu):
    """cancel_sm (§4.9.1)."""
    cdef public object service_type, message_id, source_addr_ton, source_addr_npi, source_addr
    cdef public object dest_addr_ton, dest_addr_npi, destination_addr
    command_id = CMD_CANCEL_SM
    command_name = "cancel_sm"
    response_class = CancelSmResp
    _FIELDS = ("service_type", "message_id", "source_addr_ton", "source_addr_npi",
               "source_addr", "dest_addr_ton", "dest_addr_npi", "destination_addr")

    def __init__(self, *, sequence_number=0, command_status=0, service_type="", message_id="",
                 source_addr_ton=0, source_addr_npi=0, source_addr="", dest_addr_ton=0,
                 dest_addr_npi=0, destination_addr="", **tlvs):
        self.sequence_number = sequence_number
        self.command_status = command_status
        self.service_type = service_type
        self.message_id = message_id
        self.source_addr_ton = source_addr_ton
        self.source_addr_npi = source_addr_npi
        self.source_addr = source_addr
        self.dest_addr_ton = dest_addr_ton
        self.dest_addr_npi = dest_addr_npi
        self.destination_addr = destination_addr
        if tlvs:
            self._set_tlv_kwargs(tlvs)

    cdef uint32_t _cid(self) noexcept:
        return CMD_CANCEL_SM

    cdef int _encode_body(self, WBuf* b) except -1:
        _put_cstr(b, self.service_type, 6, "service_type")
        _put_cstr(b, self.message_id, 65, "message_id")
        _put_u8(b, self.source_addr_ton, "source_addr_ton")
        _put_u8(b, self.source_addr_npi, "source_addr_npi")
        _put_cstr(b, self.source_addr, 21, "source_addr")
        _put_u8(b, self.dest_addr_ton, "dest_addr_ton")
        _put_u8(b, self.dest_addr_npi, "dest_addr_npi")
        _put_cstr(b, self.destination_addr, 21, "destination_addr")
        return 0

    cdef int _decode_body(self, RCur* r) except -1:
        self.service_type = _get_cstr(r, 6, "service_type")
        self.message_id = _get_cstr(r, 65, "message_id")
        self.source_addr_ton = _get_u8(r, "source_addr_ton")
        self.source_addr_npi = _get_u8(r, "source_addr_npi")
        self.source_addr = _get_cstr(r, 21, "source_addr")
        self.dest_addr_ton = _get_u8(r, "dest_addr_ton")
        self.dest_addr_npi = _get_u8(r, "dest_addr_npi")
        self.destination_addr = _get_cstr(r, 21, "destination_addr")
        _get_tlvs(r, self)
        return 0


@cython.no_gc
@cython.final
cdef class ReplaceSm(RequestPdu):
    """replace_sm (§4.10.1)."""
    cdef public object message_id, source_addr_ton, source_addr_npi, source_addr
    cdef public object schedule_delivery_time, validity_period, registered_delivery
    cdef public object sm_default_msg_id, short_message
    command_id = CMD_REPLACE_SM
    command_name = "replace_sm"
    response_class = ReplaceSmResp
    _FIELDS = ("message_id", "source_addr_ton", "source_addr_npi", "source_addr",
               "schedule_delivery_time", "validity_period", "registered_delivery",
               "sm_default_msg_id", "short_message")

    def __init__(self, *, sequence_number=0, command_status=0, message_id="",
                 source_addr_ton=0, source_addr_npi=0, source_addr="",
                 schedule_delivery_time="", validity_period="", registered_delivery=0,
                 sm_default_msg_id=0, short_message=b"", **tlvs):
        self.sequence_number = sequence_number
        self.command_status = command_status
        self.message_id = message_id
        self.source_addr_ton = source_addr_ton
        self.source_addr_npi = source_addr_npi
        self.source_addr = source_addr
        self.schedule_delivery_time = schedule_delivery_time
        self.validity_period = validity_period
        self.registered_delivery = registered_delivery
        self.sm_default_msg_id = sm_default_msg_id
        self.short_message = short_message
        if tlvs:
            self._set_tlv_kwargs(tlvs)

    property sm_length:
        def __get__(self):
            return 0 if self.short_message is None else len(self.short_message)

    cdef uint32_t _cid(self) noexcept:
        return CMD_REPLACE_SM

    cdef int _encode_body(self, WBuf* b) except -1:
        cdef Py_ssize_t n
        _put_cstr(b, self.message_id, 65, "message_id")
        _put_u8(b, self.source_addr_ton, "source_addr_ton")
        _put_u8(b, self.source_addr_npi, "source_addr_npi")
        _put_cstr(b, self.source_addr, 21, "source_addr")
        _put_time(b, self.schedule_delivery_time, "schedule_delivery_time")
        _put_time(b, self.validity_period, "validity_period")
        _put_u8(b, self.registered_delivery, "registered_delivery")
        _put_u8(b, self.sm_default_msg_id, "sm_default_msg_id")
        n = _octets_len(self.short_message, "short_message")
        if n > 254:
            raise EncodeError(f"short_message is {n} octets; at most 254",
                              field="short_message")
        _put_u8(b, n, "sm_length")
        _put_octets(b, self.short_message, 254, "short_message")
        return 0

    cdef int _decode_body(self, RCur* r) except -1:
        cdef int n
        self.message_id = _get_cstr(r, 65, "message_id")
        self.source_addr_ton = _get_u8(r, "source_addr_ton")
        self.source_addr_npi = _get_u8(r, "source_addr_npi")
        self.source_addr = _get_cstr(r, 21, "source_addr")
        self.schedule_delivery_time = _get_cstr(r, 17, "schedule_delivery_time")
        self.validity_period = _get_cstr(r, 17, "validity_period")
        self.registered_delivery = _get_u8(r, "registered_delivery")
        self.sm_default_msg_id = _get_u8(r, "sm_default_msg_id")
        n = _get_u8(r, "sm_length")
        self.short_message = _get_octets(r, n, "short_message")
        _get_tlvs(r, self)
        return 0


# --- alert_notification (§4.12) -----------------------------------------------------------

@cython.no_gc
@cython.final
cdef class AlertNotification(RequestPdu):
    """alert_notification (§4.12.1): a mobile became available.  It has no response."""
    cdef public object source_addr_ton, source_addr_npi, source_addr
    cdef public object esme_addr_ton, esme_addr_npi, esme_addr
    command_id = CMD_ALERT_NOTIFICATION
    command_name = "alert_notification"
    _FIELDS = ("source_addr_ton", "source_addr_npi", "source_addr", "esme_addr_ton",
               "esme_addr_npi", "esme_addr")

    def __init__(self, *, sequence_number=0, command_status=0, source_addr_ton=0,
                 source_addr_npi=0, source_addr="", esme_addr_ton=0, esme_addr_npi=0,
                 esme_addr="", **tlvs):
        self.sequence_number = sequence_number
        self.command_status = command_status
        self.source_addr_ton = source_addr_ton
        self.source_addr_npi = source_addr_npi
        self.source_addr = source_addr
        self.esme_addr_ton = esme_addr_ton
        self.esme_addr_npi = esme_addr_npi
        self.esme_addr = esme_addr
        if tlvs:
            self._set_tlv_kwargs(tlvs)

    cdef uint32_t _cid(self) noexcept:
        return CMD_ALERT_NOTIFICATION

    cdef int _encode_body(self, WBuf* b) except -1:
        _put_u8(b, self.source_addr_ton, "source_addr_ton")
        _put_u8(b, self.source_addr_npi, "source_addr_npi")
        _put_cstr(b, self.source_addr, 65, "source_addr")
        _put_u8(b, self.esme_addr_ton, "esme_addr_ton")
        _put_u8(b, self.esme_addr_npi, "esme_addr_npi")
        _put_cstr(b, self.esme_addr, 65, "esme_addr")
        return 0

    cdef int _decode_body(self, RCur* r) except -1:
        self.source_addr_ton = _get_u8(r, "source_addr_ton")
        self.source_addr_npi = _get_u8(r, "source_addr_npi")
        self.source_addr = _get_cstr(r, 65, "source_addr")
        self.esme_addr_ton = _get_u8(r, "esme_addr_ton")
        self.esme_addr_npi = _get_u8(r, "esme_addr_npi")
        self.esme_addr = _get_cstr(r, 65, "esme_addr")
        _get_tlvs(r, self)
        return 0


# ---------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------

cdef int _encode_into(WBuf* b, Pdu pdu) except -1:
    cdef Py_ssize_t start = b.length
    cdef object seq = pdu.sequence_number
    cdef object status = pdu.command_status
    _reserve(b, 16)
    b.length += 4   # command_length, patched below
    _store_u32(b.data + b.length, pdu._cid())
    b.length += 4
    _put_int(b, 0 if status is None else status, 4, "command_status")
    _put_int(b, 0 if seq is None else seq, 4, "sequence_number")
    if not pdu._omit_body():
        pdu._encode_body(b)
        _put_tlvs(b, pdu._tl())
    _store_u32(b.data + start, <uint32_t>(b.length - start))
    return 0


# A builtin function, not a cyfunction: CPython 3.11 specialises calls to builtins
# (PRECALL_BUILTIN_FAST_WITH_KEYWORDS) and not to Cython's function type.
@cython.binding(False)
def encode(Pdu pdu not None):
    """Encode one PDU to bytes.

    Raises :class:`engine.EncodeError` naming the field when a value is out of range (a
    C-octet string longer than its field allows, short_message over 254 octets, an integer
    outside its width, a negative sequence_number).
    """
    _wbuf.length = 0
    _encode_into(&_wbuf, pdu)
    return PyBytes_FromStringAndSize(_wbuf.data, _wbuf.length)


# A builtin function, not a cyfunction: CPython 3.11 specialises calls to builtins
# (PRECALL_BUILTIN_FAST_WITH_KEYWORDS) and not to Cython's function type.
@cython.binding(False)
def encode_many(pdus):
    """Encode several PDUs back to back into one bytes object (one write per batch)."""
    cdef Pdu pdu
    _wbuf.length = 0
    for pdu in pdus:
        if pdu is None:
            raise TypeError("encode_many() got None instead of a PDU")
        _encode_into(&_wbuf, pdu)
    return PyBytes_FromStringAndSize(_wbuf.data, _wbuf.length)


# ---------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------

# BEGIN GENERATED: factory (tools/gen_tables.py; edit tools/smpp_tables.py)
cdef Pdu _new_pdu(uint32_t command_id):
    # A C switch on the command_id, then tp_new without __init__; None if unknown.
    if command_id == 0x00000004:  # submit_sm
        return SubmitSm.__new__(SubmitSm)
    elif command_id == 0x80000004:  # submit_sm_resp
        return SubmitSmResp.__new__(SubmitSmResp)
    elif command_id == 0x00000005:  # deliver_sm
        return DeliverSm.__new__(DeliverSm)
    elif command_id == 0x80000005:  # deliver_sm_resp
        return DeliverSmResp.__new__(DeliverSmResp)
    elif command_id == 0x00000015:  # enquire_link
        return EnquireLink.__new__(EnquireLink)
    elif command_id == 0x80000000:  # generic_nack
        return GenericNack.__new__(GenericNack)
    elif command_id == 0x00000001:  # bind_receiver
        return BindReceiver.__new__(BindReceiver)
    elif command_id == 0x80000001:  # bind_receiver_resp
        return BindReceiverResp.__new__(BindReceiverResp)
    elif command_id == 0x00000002:  # bind_transmitter
        return BindTransmitter.__new__(BindTransmitter)
    elif command_id == 0x80000002:  # bind_transmitter_resp
        return BindTransmitterResp.__new__(BindTransmitterResp)
    elif command_id == 0x00000003:  # query_sm
        return QuerySm.__new__(QuerySm)
    elif command_id == 0x80000003:  # query_sm_resp
        return QuerySmResp.__new__(QuerySmResp)
    elif command_id == 0x00000006:  # unbind
        return Unbind.__new__(Unbind)
    elif command_id == 0x80000006:  # unbind_resp
        return UnbindResp.__new__(UnbindResp)
    elif command_id == 0x00000007:  # replace_sm
        return ReplaceSm.__new__(ReplaceSm)
    elif command_id == 0x80000007:  # replace_sm_resp
        return ReplaceSmResp.__new__(ReplaceSmResp)
    elif command_id == 0x00000008:  # cancel_sm
        return CancelSm.__new__(CancelSm)
    elif command_id == 0x80000008:  # cancel_sm_resp
        return CancelSmResp.__new__(CancelSmResp)
    elif command_id == 0x00000009:  # bind_transceiver
        return BindTransceiver.__new__(BindTransceiver)
    elif command_id == 0x80000009:  # bind_transceiver_resp
        return BindTransceiverResp.__new__(BindTransceiverResp)
    elif command_id == 0x0000000B:  # outbind
        return Outbind.__new__(Outbind)
    elif command_id == 0x80000015:  # enquire_link_resp
        return EnquireLinkResp.__new__(EnquireLinkResp)
    elif command_id == 0x00000021:  # submit_multi
        return SubmitMulti.__new__(SubmitMulti)
    elif command_id == 0x80000021:  # submit_multi_resp
        return SubmitMultiResp.__new__(SubmitMultiResp)
    elif command_id == 0x00000102:  # alert_notification
        return AlertNotification.__new__(AlertNotification)
    elif command_id == 0x00000103:  # data_sm
        return DataSm.__new__(DataSm)
    elif command_id == 0x80000103:  # data_sm_resp
        return DataSmResp.__new__(DataSmResp)
    return None


PDU_CLASSES = {
    cls.command_id: cls
    for cls in (
        GenericNack,
        BindReceiver,
        BindReceiverResp,
        BindTransmitter,
        BindTransmitterResp,
        QuerySm,
        QuerySmResp,
        SubmitSm,
        SubmitSmResp,
        DeliverSm,
        DeliverSmResp,
        Unbind,
        UnbindResp,
        ReplaceSm,
        ReplaceSmResp,
        CancelSm,
        CancelSmResp,
        BindTransceiver,
        BindTransceiverResp,
        Outbind,
        EnquireLink,
        EnquireLinkResp,
        SubmitMulti,
        SubmitMultiResp,
        AlertNotification,
        DataSm,
        DataSmResp,
    )
}
# END GENERATED: factory


cdef Pdu _decode_at(const uchar* p, Py_ssize_t length):
    """Decode the whole PDU at ``p``; ``length`` == command_length, already validated."""
    cdef RCur r
    cdef Pdu pdu
    cdef uint32_t status
    r.base = p
    r.pos = 16
    r.end = length
    r.command_id = _load_u32(p + 4)
    r.sequence_number = _load_u32(p + 12)
    pdu = _new_pdu(r.command_id)
    if pdu is None:
        raise _derr(&r, f"unknown command_id 0x{r.command_id:08X}", "command_id", 4,
                    ESME_RINVCMDID)
    status = _load_u32(p + 8)
    pdu.command_status = _u8(status) if status < 256 else status
    pdu.sequence_number = r.sequence_number
    pdu._decode_body(&r)
    if r.pos < r.end and not pdu._has_tlvs():
        # Header-only and body-only PDUs: whatever follows the mandatory part is TLVs.
        _get_tlvs(&r, pdu)
    return pdu


cdef object _length_error(Py_ssize_t length, Py_ssize_t maximum):
    return DecodeError(
        f"command_length {length} is outside 16..{maximum}",
        command_status=ESME_RINVCMDLEN,
        field="command_length",
        offset=0,
        recoverable=False,
    )


# A builtin function, not a cyfunction: CPython 3.11 specialises calls to builtins
# (PRECALL_BUILTIN_FAST_WITH_KEYWORDS) and not to Cython's function type.
@cython.binding(False)
def decode(data):
    """Decode exactly one whole PDU from ``data`` (bytes, bytearray or memoryview).

    Any input either decodes or raises :class:`engine.DecodeError`; never another exception.
    """
    cdef Py_buffer view
    cdef Py_ssize_t n, length
    cdef const uchar* p
    if PyBytes_CheckExact(data):
        # bytes, the common case: no buffer to acquire and release.
        n = PyBytes_GET_SIZE(data)
        if n >= 16 and _load_u32(<const uchar*>PyBytes_AS_STRING(data)) == n:
            return _decode_at(<const uchar*>PyBytes_AS_STRING(data), n)
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        p = <const uchar*>view.buf
        n = view.len
        if n < 16:
            raise DecodeError(
                f"{n} octets is shorter than the 16-octet SMPP header",
                command_status=ESME_RINVCMDLEN, field="command_length", offset=0,
                recoverable=False,
            )
        length = _load_u32(p)
        if length != n:
            raise DecodeError(
                f"command_length {length} does not match the {n} octets given",
                command_status=ESME_RINVCMDLEN, command_id=_load_u32(p + 4),
                sequence_number=_load_u32(p + 12), field="command_length", offset=0,
                recoverable=False,
            )
        return _decode_at(p, length)
    finally:
        PyBuffer_Release(&view)


# ---------------------------------------------------------------------------------------
# Stream framer
# ---------------------------------------------------------------------------------------

cdef class PduReader:
    """Turns a TCP byte stream, read in chunks of any size, into whole decoded PDUs.

    ``feed(data)`` returns, in stream order, every PDU completed by ``data``.  A PDU that
    frames correctly but does not decode (unknown command_id, bad field) appears in the
    list as a recoverable :class:`engine.DecodeError` instance, so the caller can answer it
    (generic_nack or an error response) and go on.  A ``command_length`` below 16 or above
    ``max_pdu_length`` raises DecodeError (recoverable=False) as soon as its 4 octets
    arrive: framing is lost and the session must close.  The PDUs decoded earlier in the
    same call are then on the exception's ``pdus`` attribute, so nothing is lost.

    Bytes are copied only for a PDU that straddles two reads; whole PDUs are decoded in
    place from the caller's buffer.
    """

    cdef readonly Py_ssize_t max_pdu_length
    cdef bytearray _tail
    cdef object _broken

    def __init__(self, Py_ssize_t max_pdu_length=DEFAULT_MAX_PDU_LENGTH):
        if max_pdu_length < 16:
            raise ValueError("max_pdu_length must be at least 16")
        self.max_pdu_length = max_pdu_length
        self._tail = bytearray()
        self._broken = None

    property buffered:
        """Octets held that do not yet make a whole PDU."""

        def __get__(self):
            return len(self._tail)

    cdef int _append_one(self, list out, const uchar* p, Py_ssize_t length) except -1:
        try:
            out.append(_decode_at(p, length))
        except DecodeError as exc:
            out.append(exc)
        return 0

    cdef int _fail(self, list out, Py_ssize_t length) except -1:
        err = _length_error(length, self.max_pdu_length)
        err.pdus = out
        self._broken = err
        self._tail = bytearray()
        raise err

    def feed(self, data):
        """Add a chunk of the stream; return every PDU (or DecodeError) it completes."""
        cdef Py_buffer view
        cdef const uchar* p
        cdef Py_ssize_t n, pos = 0, length, have, take
        cdef list out = []
        cdef bytearray tail
        if self._broken is not None:
            raise self._broken
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            p = <const uchar*>view.buf
            n = view.len
            tail = self._tail
            if len(tail):
                # Complete the straddling PDU first: its header, then its body.
                have = len(tail)
                if have < 4:
                    take = 4 - have if n >= 4 - have else n
                    tail += p[:take]
                    pos = take
                    if len(tail) < 4:
                        return out
                length = (<Py_ssize_t>tail[0] << 24) | (tail[1] << 16) | (tail[2] << 8) | tail[3]
                if length < 16 or length > self.max_pdu_length:
                    self._fail(out, length)
                take = length - len(tail)
                if take > n - pos:
                    tail += p[pos:n]
                    return out
                tail += p[pos:pos + take]
                pos += take
                whole = bytes(tail)
                self._tail = bytearray()
                self._append_one(out, <const uchar*>PyBytes_AS_STRING(whole), length)
            while n - pos >= 4:
                length = _load_u32(p + pos)
                if length < 16 or length > self.max_pdu_length:
                    self._fail(out, length)
                if length > n - pos:
                    break
                self._append_one(out, p + pos, length)
                pos += length
            if pos < n:
                self._tail = bytearray(p[pos:n])
            return out
        finally:
            PyBuffer_Release(&view)


# ---------------------------------------------------------------------------------------
# Fast paths installed at import: member descriptors and vectorcall constructors
# ---------------------------------------------------------------------------------------
#
# Cython serves ``cdef public object`` fields through getset descriptors: CPython 3.11
# cannot specialise LOAD_ATTR for those, so every ``pdu.source_addr`` costs a full generic
# lookup (about 20 ns).  A member descriptor (T_OBJECT_EX at the field's offset) reads the
# same C slot and is specialised to LOAD_ATTR_SLOT (a few ns).  The offsets are found once
# by writing a sentinel through the old property and finding it in the object's memory.
#
# Calling a static type goes through type_call: the keywords are packed into a dict and
# re-parsed by __init__.  A ``tp_vectorcall`` on each final PDU class builds the object
# straight from the call's keyword names (interned, compared by pointer first): same
# fields, same defaults (read from an instance built by __init__), same TLV keywords, same
# errors.

cdef extern from "Python.h":
    ctypedef struct _PyMemberDef "PyMemberDef":
        const char* name
        int type
        Py_ssize_t offset
        int flags
        const char* doc
    ctypedef object (*_newfunc "newfunc")(PyTypeObject*, PyObject*, PyObject*)
    ctypedef PyObject* (*_vectorcallfunc "vectorcallfunc")(PyObject*, PyObject* const*, size_t, PyObject*)
    ctypedef struct _TypeObj "PyTypeObject":
        Py_ssize_t tp_basicsize
        PyObject* tp_dict
        _newfunc tp_new
        _vectorcallfunc tp_vectorcall
    object PyDescr_NewMember(PyTypeObject* t, _PyMemberDef* m)
    void PyType_Modified(PyTypeObject* t)
    Py_ssize_t PyVectorcall_NARGS(size_t nargsf)
    int PyObject_GenericSetAttr(object o, object name, object value) except -1

cdef enum:
    _T_OBJECT_EX = 16      # structmember.h: object slot, AttributeError when NULL
    _MAX_CTOR_FIELDS = 24
    _MAX_CTORS = 32

cdef struct _Ctor:
    PyTypeObject* cls
    Py_ssize_t n
    PyObject* names[_MAX_CTOR_FIELDS]       # interned str, owned by _KEEP
    Py_ssize_t offsets[_MAX_CTOR_FIELDS]
    PyObject* defaults[_MAX_CTOR_FIELDS]    # owned by _KEEP

cdef _Ctor _ctors[_MAX_CTORS]
cdef int _n_ctors = 0
cdef list _KEEP = []   # keeps alive every object the C tables point at


cdef Py_ssize_t _field_offset(type cls, str name) except -1:
    """Offset of field ``name`` in instances of ``cls``, found with a sentinel."""
    cdef object obj = cls.__new__(cls)
    cdef object sentinel = object()
    cdef PyObject** words = <PyObject**><PyObject*>obj
    cdef Py_ssize_t i, n = (<_TypeObj*>cls).tp_basicsize // sizeof(PyObject*)
    setattr(obj, name, sentinel)
    for i in range(2, n):   # skip the refcount and the type
        if words[i] == <PyObject*>sentinel:
            setattr(obj, name, None)
            return i * sizeof(PyObject*)
    raise RuntimeError(f"{cls.__name__}.{name}: field offset not found")


cdef int _install_member(type owner, str name, Py_ssize_t offset) except -1:
    cdef _PyMemberDef* m = <_PyMemberDef*>malloc(sizeof(_PyMemberDef))
    cdef bytes cname = name.encode()
    if m == NULL:
        raise MemoryError()
    _KEEP.append(cname)
    m.name = PyBytes_AS_STRING(cname)
    m.type = _T_OBJECT_EX
    m.offset = offset
    m.flags = 0
    m.doc = NULL
    descr = PyDescr_NewMember(<PyTypeObject*>owner, m)
    (<dict><object>(<_TypeObj*>owner).tp_dict)[name] = descr
    PyType_Modified(<PyTypeObject*>owner)
    return 0


cdef object _pdu_vectorcall(object cls, PyObject* const* args, size_t nargsf,
                                 PyObject* kwnames):
    cdef Py_ssize_t nargs = PyVectorcall_NARGS(nargsf)
    cdef Py_ssize_t i, j, k, m, nkw, start
    cdef _Ctor* c = NULL
    cdef PyObject* key
    cdef PyObject** slot
    cdef object value, tag
    cdef Pdu pdu
    for i in range(_n_ctors):
        if _ctors[i].cls == <PyTypeObject*>cls:
            c = &_ctors[i]
            break
    if nargs:
        raise TypeError(f"{(<type>cls).__name__}() takes keyword arguments only")
    pdu = (<_TypeObj*>cls).tp_new(<PyTypeObject*>cls, <PyObject*>_EMPTY_TUPLE, NULL)
    for j in range(c.n):
        slot = <PyObject**>(<char*><PyObject*>pdu + c.offsets[j])
        Py_INCREF(<object>c.defaults[j])
        Py_XDECREF(slot[0])
        slot[0] = c.defaults[j]
    if kwnames == NULL:
        return pdu
    nkw = len(<tuple><object>kwnames)
    start = 0
    for i in range(nkw):
        key = <PyObject*>(<tuple><object>kwnames)[i]
        # Callers mostly pass keywords in declaration order: scan on from the last match.
        j = -1
        for k in range(c.n):
            m = start + k
            if m >= c.n:
                m -= c.n
            if c.names[m] == key:
                j = m
                start = m + 1
                break
        if j < 0:
            for k in range(c.n):
                if <str><object>c.names[k] == <str><object>key:
                    j = k
                    break
        value = <object>args[nargs + i]
        if j >= 0:
            slot = <PyObject**>(<char*><PyObject*>pdu + c.offsets[j])
            Py_INCREF(value)
            Py_XDECREF(slot[0])
            slot[0] = <PyObject*>value
            continue
        tag = _TLV_TAG_BY_NAME.get(<object>key)
        if tag is None:
            raise TypeError(
                f"{(<type>cls).__name__}() got an unexpected keyword argument {<object>key!r}"
            )
        if value is not None:
            pdu._put_tlv(tag, value)
    return pdu


cdef tuple _EMPTY_TUPLE = ()


# A small pool of freed objects per hot PDU class (Cython's @cython.freelist applies only
# to classes without a base), plugged in as the type's tp_alloc / tp_free: a decoded
# submit_sm or deliver_sm reuses the memory of the previous one instead of a malloc/free.
cdef extern from "Python.h":
    ctypedef PyObject* (*_allocfunc "allocfunc")(PyTypeObject*, Py_ssize_t) noexcept
    ctypedef void (*_freefunc "freefunc")(void*) noexcept
    ctypedef struct _TypeSlots "PyTypeObject":
        Py_ssize_t tp_basicsize
        _allocfunc tp_alloc
        _freefunc tp_free
    PyObject* PyType_GenericAlloc(PyTypeObject* t, Py_ssize_t n) noexcept
    PyObject* PyObject_Init(PyObject* o, PyTypeObject* t) noexcept
    void PyObject_Free(void* p) noexcept

cdef enum:
    _POOL_SIZE = 64
    _MAX_POOLS = 8

cdef struct _Pool:
    PyTypeObject* cls
    int n
    void* items[_POOL_SIZE]

cdef _Pool _pools[_MAX_POOLS]
cdef int _n_pools = 0


cdef PyObject* _pool_alloc(PyTypeObject* t, Py_ssize_t nitems) noexcept:
    cdef int i
    cdef _Pool* pool
    cdef void* o
    for i in range(_n_pools):
        pool = &_pools[i]
        if pool.cls == t:
            if pool.n:
                pool.n -= 1
                o = pool.items[pool.n]
                memset(o, 0, (<_TypeSlots*>t).tp_basicsize)
                return PyObject_Init(<PyObject*>o, t)
            break
    return PyType_GenericAlloc(t, nitems)


cdef void _pool_free(void* o) noexcept:
    cdef PyTypeObject* t = (<PyObject*>o).ob_type
    cdef int i
    cdef _Pool* pool
    for i in range(_n_pools):
        pool = &_pools[i]
        if pool.cls == t:
            if pool.n < _POOL_SIZE:
                pool.items[pool.n] = o
                pool.n += 1
                return
            break
    PyObject_Free(o)


cdef int _add_pool(type cls) except -1:
    global _n_pools
    if _n_pools == _MAX_POOLS:
        raise RuntimeError("too many PDU pools")
    if (<_TypeSlots*><PyObject*>cls).tp_free != PyObject_Free:
        raise RuntimeError(f"{cls.__name__} has its own tp_free")
    _pools[_n_pools].cls = <PyTypeObject*>cls
    _pools[_n_pools].n = 0
    _n_pools += 1
    (<_TypeSlots*><PyObject*>cls).tp_alloc = _pool_alloc
    (<_TypeSlots*><PyObject*>cls).tp_free = _pool_free
    return 0


for _cls in (SubmitSm, DeliverSm, SubmitSmResp, DeliverSmResp, EnquireLink, EnquireLinkResp):
    _add_pool(_cls)

# __init__ of these converts its arguments (lists of tuples): they keep the plain call.
_CONVERTING_INIT = (SubmitMulti, SubmitMultiResp)


cdef int _install_fast_paths() except -1:
    global _n_ctors
    cdef dict done = {}
    cdef _Ctor* c
    cdef Py_ssize_t j, off
    cdef PyObject** slot
    getset_type = type(Pdu.__dict__["sequence_number"])
    for cls in PDU_CLASSES.values():
        names = ("sequence_number", "command_status") + tuple(cls._FIELDS)
        offsets = []
        for name in names:
            owner = next(k for k in cls.__mro__ if name in k.__dict__)
            if (owner, name) not in done:
                if type(owner.__dict__[name]) is not getset_type:
                    raise RuntimeError(f"{owner.__name__}.{name} is not a Cython field")
                done[(owner, name)] = _field_offset(owner, name)
                _install_member(owner, name, done[(owner, name)])
            offsets.append(done[(owner, name)])
        if cls in _CONVERTING_INIT:
            continue
        if len(names) > _MAX_CTOR_FIELDS or _n_ctors == _MAX_CTORS:
            raise RuntimeError("constructor table too small")
        proto = cls()   # __init__ gives the defaults
        c = &_ctors[_n_ctors]
        c.cls = <PyTypeObject*>cls
        c.n = len(names)
        for j in range(c.n):
            name = sys.intern(names[j])
            off = offsets[j]
            slot = <PyObject**>(<char*><PyObject*>proto + off)
            default = <object>slot[0]
            _KEEP.append(name)
            _KEEP.append(default)
            c.names[j] = <PyObject*>name
            c.offsets[j] = off
            c.defaults[j] = <PyObject*>default
        _n_ctors += 1
        (<_TypeObj*>cls).tp_vectorcall = <_vectorcallfunc>_pdu_vectorcall
    return 0


import sys
_install_fast_paths()
