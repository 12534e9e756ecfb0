"""Strict number parsing for the write path: text writes, JSON writes, Write-Attributes.

Loaded with lwm2m.parse (a Write or Create) or by lwm2m.link.parse_attrs, and dropped after the
request like them: 0.7 KB of heap on a 32-bit board (.mpy) for such a request, where in lwm2m.text
they kept 0.45 KB resident for every other."""
from lwm2m.errors import CodecError

_DIGITS = "0123456789"


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
