"""CoAP message codec (RFC 7252 framing, option numbers of RFC 7252/7641/7959), over memoryview."""
from micropython import const

# message types; only CON is named for lib/ (NON 1, ACK 2, RST 3: see the codes below)
CON = const(0)
_ACK = const(2)

# method and response codes: class << 5 | detail. Each public name costs heap on a board, so
# those nothing in lib/ uses are only listed: Empty 0, 2.03 Valid 0x43, 2.31 Continue 0x5F,
# 4.02 Bad Option 0x82, 4.08 Request Entity Incomplete 0x88, 4.12 Precondition Failed 0x8C,
# 4.13 Request Entity Too Large 0x8D, 4.15 Unsupported Content-Format 0x8F,
# 5.03 Service Unavailable 0xA3 (host_tests/coapnums.py names them, and
# the message types, for the tests)
GET = const(1)
POST = const(2)
PUT = const(3)
DELETE = const(4)
CREATED = const(0x41)  # 2.01
DELETED = const(0x42)  # 2.02
CHANGED = const(0x44)  # 2.04
CONTENT = const(0x45)  # 2.05
BAD_REQUEST = const(0x80)  # 4.00
UNAUTHORIZED = const(0x81)  # 4.01
NOT_FOUND = const(0x84)  # 4.04
METHOD_NOT_ALLOWED = const(0x85)  # 4.05
NOT_ACCEPTABLE = const(0x86)  # 4.06
INTERNAL_SERVER_ERROR = const(0xA0)  # 5.00
_EMPTY = const(0)

# option numbers; as above, those nothing in lib/ uses by name are only listed: If-Match 1,
# Uri-Host 3, ETag 4, If-None-Match 5, Uri-Port 7, Max-Age 14, Location-Query 20, Block2 23,
# Size2 28, Proxy-Uri 35, Size1 60 (Block2 and Size2 are used here, privately)
OBSERVE = const(6)
LOCATION_PATH = const(8)
URI_PATH = const(11)
CONTENT_FORMAT = const(12)
URI_QUERY = const(15)
ACCEPT = const(17)
BLOCK1 = const(27)
_BLOCK2 = const(23)
_SIZE2 = const(28)

_PAYLOAD_MARKER = const(0xFF)


class DecodeError(ValueError):
    """The only exception decode() raises: the datagram is not a well-formed CoAP message."""


def response(code, payload=b"", content_format=None):
    """A handler's answer; the endpoint fills in type, MID and token when it sends it."""
    r = Message(_ACK, code, payload=payload)
    if content_format is not None:
        r.add(CONTENT_FORMAT, content_format)
    return r


def block_value(num, more, szx):
    return (num << 4) | (8 if more else 0) | szx


def block_parts(v):
    """Block option value -> (num, more, szx); size is 16 << szx."""
    return v >> 4, bool(v & 8), v & 7


def server_slice(resp, num, szx):
    """Cut a success payload to block num of 16 << szx bytes; False when num is past the end."""
    pl = resp.payload
    if isinstance(pl, str):
        pl = resp.payload = pl.encode()
    size = 16 << szx
    n = len(pl)
    if resp.opt(_BLOCK2) is not None or (n <= size and not num):
        return True
    off = num * size
    if off >= n:
        return False
    resp.payload = memoryview(pl)[off:off + size]
    resp.add(_BLOCK2, block_value(num, off + size < n, szx))
    if not num:
        resp.add(_SIZE2, n)
    return True


class Message:
    # no __slots__: MicroPython keeps it as a plain class attribute (heap) and enforces nothing

    def __init__(self, type=CON, code=_EMPTY, mid=0, token=b"", payload=b""):
        self.type = type
        self.code = code
        self.mid = mid
        self.token = token
        self.opts = []  # [number, value] pairs kept in number order (stable for repeats)
        self.payload = payload

    def add(self, num, value):
        """Append an option; value may be int (encoded as uint), str or bytes."""
        if isinstance(value, int):
            n = 0  # an unsigned integer takes the fewest bytes (0 -> empty)
            t = value
            while t:
                n += 1
                t >>= 8
            value = value.to_bytes(n, "big") if n else b""
        elif isinstance(value, str):
            value = value.encode()
        opts = self.opts
        i = len(opts)
        while i and opts[i - 1][0] > num:
            i -= 1
        opts.insert(i, (num, value))
        return self

    def remove(self, num):
        # loops rather than comprehensions here: each comprehension is one more function on a board
        opts = self.opts
        i = len(opts)
        while i:
            i -= 1
            if opts[i][0] == num:
                del opts[i]

    def opt(self, num, default=None):
        for n, v in self.opts:
            if n == num:
                return v
        return default

    def uint(self, num, default=None):
        b = self.opt(num)
        if b is None:
            return default
        v = 0
        for x in b:
            v = (v << 8) | x
        return v

    def all(self, num, text=False):
        """The values of option num in order; as str when text is true."""
        out = []
        for n, v in self.opts:
            if n == num:
                out.append(bytes(v).decode() if text else v)
        return out

    def path(self):
        return self.all(URI_PATH, True)

    def query(self):
        return self.all(URI_QUERY, True)

    def set_path(self, path):
        """Uri-Path options from '/a/b' (empty segments skipped) or a list of segments."""
        s = isinstance(path, str)
        for seg in path.split("/") if s else path:
            if seg or not s:
                self.add(URI_PATH, seg)
        return self

    def encode_into(self, buf, off=0):
        """Write the message into bytearray buf at off; returns the end offset."""
        tkl = len(self.token)
        if tkl > 8:
            raise ValueError("token > 8 bytes")
        buf[off] = 0x40 | (self.type << 4) | tkl
        buf[off + 1] = self.code
        buf[off + 2] = (self.mid >> 8) & 0xFF
        buf[off + 3] = self.mid & 0xFF
        off += 4
        buf[off:off + tkl] = self.token
        off += tkl
        last = 0
        for num, val in self.opts:
            d = num - last
            last = num
            ln = len(val)
            h = off
            off += 1
            if d < 13:
                dn = d
            elif d < 269:
                dn = 13
                buf[off] = d - 13
                off += 1
            else:
                dn = 14
                buf[off] = (d - 269) >> 8
                buf[off + 1] = (d - 269) & 0xFF
                off += 2
            if ln < 13:
                ln_n = ln
            elif ln < 269:
                ln_n = 13
                buf[off] = ln - 13
                off += 1
            else:
                ln_n = 14
                buf[off] = (ln - 269) >> 8
                buf[off + 1] = (ln - 269) & 0xFF
                off += 2
            buf[h] = (dn << 4) | ln_n
            buf[off:off + ln] = val
            off += ln
        if self.payload:
            buf[off] = _PAYLOAD_MARKER
            off += 1
            pl = len(self.payload)
            buf[off:off + pl] = self.payload
            off += pl
        return off

    def encode(self):
        n = 4 + len(self.token)  # the exact length first: one buffer, no slicing
        last = 0
        for num, val in self.opts:
            d = num - last
            ln = len(val)
            n += 1 + ln + (0 if d < 13 else 1 if d < 269 else 2) + (
                0 if ln < 13 else 1 if ln < 269 else 2)
            last = num
        if self.payload:
            n += 1 + len(self.payload)
        buf = bytearray(n)
        self.encode_into(buf)
        return bytes(buf)


def _ext(mv, i, end, nib):
    """Extended delta/length: returns (value, new index)."""
    if nib < 13:
        return nib, i
    if nib == 13 and i < end:
        return mv[i] + 13, i + 1
    if nib == 14 and i + 1 < end:
        return ((mv[i] << 8) | mv[i + 1]) + 269, i + 2
    raise DecodeError("option")  # truncated, or nibble 15


def decode(data):
    """Parse a datagram; option values and the payload are memoryview slices of data.
    DecodeError names the part that is malformed (one text per part: each costs heap)."""
    mv = memoryview(data)
    end = len(mv)
    b0 = mv[0] if end >= 4 else 0  # shorter than a header: version 0, rejected below
    tkl = b0 & 0x0F
    i = 4 + tkl
    if b0 >> 6 != 1 or tkl > 8 or i > end:  # short, version, token length, truncated token
        raise DecodeError("header")
    m = Message(
        (b0 >> 4) & 3, mv[1], (mv[2] << 8) | mv[3], bytes(mv[4:i]), b"")
    code = m.code
    if (code == _EMPTY and end != 4) or (code >> 5) in (1, 6, 7):  # content or reserved class
        raise DecodeError("header")
    opts = m.opts
    num = 0
    while i < end:
        h = mv[i]
        i += 1
        if h == _PAYLOAD_MARKER:
            if i >= end:
                raise DecodeError("payload")  # a marker without payload
            m.payload = mv[i:end]
            break
        d, i = _ext(mv, i, end, h >> 4)
        ln, i = _ext(mv, i, end, h & 0x0F)
        if i + ln > end:
            raise DecodeError("option")
        num += d
        opts.append((num, mv[i:i + ln]))
        i += ln
    return m
