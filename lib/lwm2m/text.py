"""LwM2M plain text (format 0): value encoding, strict number parsing (decoding: lwm2m.parse)."""
from lwm2m.errors import CodecError, NotAcceptable

_DIGITS = "0123456789"


def fmt_float(v):
    """Shortest %g text that parses back to v, so CPython and MicroPython give the same bytes."""
    v = float(v)
    if v != v:
        return "nan"
    # repr() differs between the interpreters (and single-precision ports), %g does not;
    # starting at the integer digit count keeps 100.0 as "100", not "1e+02"
    a = abs(v)
    start = len(str(int(a))) if 1 <= a < 1e16 else 1
    for p in range(start, 18):
        s = "%.*g" % (p, v)
        if float(s) == v:
            return s
    return repr(v)


def check_int(v):
    """v if it fits LwM2M's signed 64-bit Integer, else CodecError."""
    if -0x8000000000000000 <= v <= 0x7FFFFFFFFFFFFFFF:
        return v
    raise CodecError  # integer out of 64-bit range


def parse_int(s):
    """Strict decimal integer (optional sign, ASCII digits only, 64-bit) or CodecError."""
    s = s.strip()
    body = s[1:] if s[:1] in ("+", "-") else s
    if not body:
        raise CodecError  # not an integer
    for c in body:
        if c not in _DIGITS:
            raise CodecError  # not an integer
    return check_int(int(s))


def parse_float(s):
    """Strict decimal number (digits, sign, point, exponent) or CodecError; no inf/nan."""
    s = s.strip()
    digit = False
    for c in s:
        if c in _DIGITS:
            digit = True
        elif c not in "+-.eE":
            raise CodecError  # not a number
    if not digit:
        raise CodecError  # not a number
    try:
        return float(s)
    except ValueError:
        raise CodecError  # not a number


def encode(typ, value):
    """Plain-text bytes of a value of resource type typ."""
    if typ == "s":
        return value.encode() if isinstance(value, str) else bytes(value)
    if typ == "i" or typ == "t":
        return str(int(value)).encode()
    if typ == "f":
        return fmt_float(value).encode()
    if typ == "b":
        return b"1" if value else b"0"
    if typ == "l":
        return ("%d:%d" % (value[0], value[1])).encode()
    if typ == "e":
        return b""
    # 1.0 gives opaque no text form: the caller answers with format 42 or 4.06
    raise NotAcceptable  # no text form for type

