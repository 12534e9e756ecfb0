"""LwM2M plain text (format 0): value encoding (decoding: lwm2m.parse, numbers: lwm2m.number)."""
from lwm2m.errors import NotAcceptable


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

