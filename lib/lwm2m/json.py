"""LwM2M 1.0 JSON content format (11543), Read answers: data to payload bytes (Write and Create
payloads in JSON are the write path's: lwm2m.parsejson). Errors carry no text (lwm2m.parse)."""
import binascii

from lwm2m.errors import CodecError
from lwm2m.text import fmt_float


def _esc(s):
    # the string's JSON form without its quotes, by hand: the two interpreters' json.dumps
    # disagree on non-ASCII, we want one byte form. replace() hands the string back as it is
    # when there is nothing to escape, the usual case: no copy
    s = s.replace("\\", "\\\\").replace('"', '\\"')
    for c in s:
        if c < " ":
            s = s.replace(c, "\\u%04x" % ord(c))
    return s


def _entry(name, typ, value):
    """One entry as bytes: {"n":"name","v"|"sv"|"bv"|"ov":value}, name "" for the base itself.
    Names are paths (digits and "/"): they go in as they are."""
    # each entry is formatted once (not glued from pieces): fewer short-lived strings
    if typ == "i" or typ == "t":
        kv = '"v":%d}' % int(value)
    elif typ == "f":
        v = float(value)
        if v - v != 0:  # inf or nan
            raise CodecError  # JSON has no inf/nan
        kv = '"v":%s}' % fmt_float(v)
    elif typ == "s":
        kv = '"sv":"%s"}' % _esc(value if isinstance(value, str) else bytes(value).decode())
    elif typ == "b":
        kv = '"bv":true}' if value else '"bv":false}'
    elif typ == "l":
        kv = '"ov":"%d:%d"}' % (value[0], value[1])
    elif typ == "o":  # base64 needs no escaping
        kv = '"sv":"%s"}' % binascii.b2a_base64(bytes(value)).decode().strip()
    else:
        raise CodecError  # type has no JSON value
    return ('{"n":"%s",%s' % (name, kv) if name else "{" + kv).encode()


def _add(out, name, typ, value):
    if out:
        out.append(b",")
    out.append(_entry(name, typ, value))


def _doc(base_name, out):
    # the entries stay small pieces (they fit the heap's gaps); the one join allocates the
    # payload once, at its size, where strings glued together would copy it at every step
    out.insert(0, ('{"bn":"%s","e":[' % base_name).encode() if base_name else b'{"e":[')
    out.append(b"]}")
    return b"".join(out)


def encode(base_name, entries):
    """JSON payload from bn (a path such as "/3/0/", or None) and [(name: a path relative to bn,
    type, value)]."""
    out = []
    for name, typ, value in entries:
        _add(out, name, typ, value)
    return _doc(base_name, out)


def encode_read(path, data):
    """lwm2m.content.encode for JSON: a Read's data (shaped as there) as a payload."""
    n = len(path)
    out = []
    if n < 3:
        for iid, res in data if n == 1 else ((None, data),):
            pre = "" if iid is None else "%d/" % iid
            for rid, typ, v in res:
                if isinstance(v, dict):
                    for riid in sorted(v):
                        _add(out, "%s%d/%d" % (pre, rid, riid), typ, v[riid])
                else:
                    _add(out, "%s%d" % (pre, rid), typ, v)
    elif isinstance(data[1], dict):
        for riid in sorted(data[1]):
            _add(out, "%d" % riid, data[0], data[1][riid])
    else:
        _add(out, "", data[0], data[1])
    bn = "/" + "/".join([str(x) for x in path])
    if n < 3 or (n == 3 and isinstance(data[1], dict)):
        bn += "/"
    return _doc(bn, out)
