"""LwM2M 1.0 JSON content format (11543): Read data to bytes, Write payloads to checked values."""
import binascii
import json as _json

from lwm2m.errors import BadRequest, CodecError, NotFound
from lwm2m.model import MULTI, TYPE
from lwm2m.text import check_int, fmt_float


def _jstr(s):
    # by hand: the two interpreters' json.dumps disagree on non-ASCII, we want one byte form
    out = ['"']
    for c in s:
        if c == '"' or c == "\\":
            out.append("\\" + c)
        elif c < " ":
            out.append("\\u%04x" % ord(c))
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def _entry(name, typ, value):
    s = "{" if name == "" else '{"n":' + _jstr(name) + ","
    if typ == "i" or typ == "t":
        return s + '"v":%d}' % int(value)
    if typ == "f":
        v = float(value)
        if v != v or v in (float("inf"), float("-inf")):
            raise CodecError("JSON has no inf/nan")
        return s + '"v":' + fmt_float(v) + "}"
    if typ == "s":
        if not isinstance(value, str):
            value = bytes(value).decode()
        return s + '"sv":' + _jstr(value) + "}"
    if typ == "b":
        return s + ('"bv":true}' if value else '"bv":false}')
    if typ == "l":
        return s + '"ov":"%d:%d"}' % (value[0], value[1])
    if typ == "o":
        b64 = binascii.b2a_base64(bytes(value)).decode().strip()
        return s + '"sv":' + _jstr(b64) + "}"
    raise CodecError("type %s has no JSON value" % typ)


def encode(base_name, entries):
    """JSON payload from bn (e.g. "/3/0/", or None) and [(name relative to bn, type, value)]."""
    parts = [_entry(name, typ, value) for name, typ, value in entries]
    head = "{" if not base_name else '{"bn":' + _jstr(base_name) + ","
    return (head + '"e":[' + ",".join(parts) + "]}").encode()


def encode_read(path, data):
    """lwm2m.content.encode for JSON: a Read's data (shaped as there) as a payload."""
    n = len(path)
    ents = []
    if n < 3:
        for iid, res in data if n == 1 else ((None, data),):
            pre = "" if iid is None else "%d/" % iid
            for rid, typ, v in res:
                if isinstance(v, dict):
                    for riid in sorted(v):
                        ents.append(("%s%d/%d" % (pre, rid, riid), typ, v[riid]))
                else:
                    ents.append(("%s%d" % (pre, rid), typ, v))
    elif isinstance(data[1], dict):
        for riid in sorted(data[1]):
            ents.append(("%d" % riid, data[0], data[1][riid]))
    else:
        ents.append(("", data[0], data[1]))
    bn = "/" + "/".join([str(x) for x in path])
    if n < 3 or (n == 3 and isinstance(data[1], dict)):
        bn += "/"
    return encode(bn, ents)


def _path(s):
    out = []
    for seg in s.split("/"):
        if seg == "":
            continue
        for c in seg:
            if c not in "0123456789":
                raise CodecError("JSON name is not a numeric path")
        v = int(seg)
        if v > 0xFFFF:
            raise CodecError("path id out of range")
        out.append(v)
    return out


_KINDS = ("v", "sv", "bv", "ov")


def decode(data, base_path):
    """JSON payload -> [(path tuple of ints, kind 'v'|'sv'|'bv'|'ov', value)].

    Names are joined to "bn" when the payload has one, else to base_path (the request URI ids)."""
    # objlnk parsing is write-path code: lwm2m.parse, which lwm2m.content.decode has loaded
    from lwm2m.parse import parse_objlnk

    try:
        s = data if isinstance(data, str) else bytes(data).decode("utf-8")
        doc = _json.loads(s)
    except (ValueError, UnicodeError, TypeError):
        raise CodecError("malformed JSON")
    if not isinstance(doc, dict):
        raise CodecError("JSON payload is not an object")
    ents = doc.get("e")
    if not isinstance(ents, list):
        raise CodecError('JSON payload has no "e" array')
    bn = doc.get("bn")
    if bn is None:
        prefix = list(base_path)
    elif isinstance(bn, str):
        prefix = _path(bn)
    else:
        raise CodecError("bn is not a string")
    out = []
    for e in ents:
        if not isinstance(e, dict):
            raise CodecError("JSON entry is not an object")
        name = e.get("n", "")
        if not isinstance(name, str):
            raise CodecError("n is not a string")
        path = tuple(prefix + _path(name))
        if len(path) > 4:
            raise CodecError("path too deep")
        kind = None
        for k in _KINDS:
            if k in e:
                if kind is not None:
                    raise CodecError("entry has two values")
                kind = k
        if kind is None:
            raise CodecError("entry has no value")
        v = e[kind]
        if kind == "v":
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise CodecError("v is not a number")
            if v != v or v - v != 0:  # CPython's json accepts NaN and Infinity
                raise CodecError("v is not finite")
        elif kind == "bv":
            if not isinstance(v, bool):
                raise CodecError("bv is not a boolean")
        elif not isinstance(v, str):
            raise CodecError(kind + " is not a string")
        elif kind == "ov":
            v = parse_objlnk(v)
        out.append((path, kind, v))
    return out


def coerce(typ, kind, value):
    """Value of resource type typ from a decoded (kind, value); CodecError on a mismatch."""
    if typ == "i" or typ == "t":
        if kind == "v":
            if isinstance(value, int):
                return check_int(value)
            if value == int(value):
                return check_int(int(value))
        raise CodecError("expected an integer")
    if typ == "f":
        if kind == "v":
            return float(value)
        raise CodecError("expected a number")
    if typ == "s":
        if kind == "sv":
            return value
        raise CodecError("expected a string")
    if typ == "b":
        if kind == "bv":
            return value
        raise CodecError("expected a boolean")
    if typ == "l":
        if kind == "ov":
            return value
        raise CodecError("expected an objlnk")
    if typ == "o":
        if kind == "sv":
            # both interpreters' decoders skip junk characters: check first
            body = value.rstrip("=")
            if len(value) % 4 or len(value) - len(body) > 2:
                raise CodecError("bad base64")
            for c in body:
                if not ("A" <= c <= "Z" or "a" <= c <= "z" or "0" <= c <= "9" or c in "+/"):
                    raise CodecError("bad base64")
            try:
                return binascii.a2b_base64(value)
            except (ValueError, TypeError):
                raise CodecError("bad base64")
        raise CodecError("expected base64 in sv")
    raise CodecError("type %s has no JSON value" % typ)


def values(obj, path, payload):
    """lwm2m.parse.decode for JSON: a Write/Create payload -> [(iid, [(rid, value or
    {riid: value})])] in arrival order, checked against obj's definitions."""
    ents = decode(payload, path)
    groups = []  # [(iid, {rid: value or {riid: value}})] in arrival order
    n = len(path)
    for p, kind, v in ents:
        if len(p) < 3 or p[:n] != tuple(path) or p[0] != path[0]:
            raise BadRequest("JSON name outside the target")
        r = obj.rdef(p[2])
        if r is None:
            raise NotFound("no resource %d" % p[2])
        val = coerce(r[TYPE], kind, v)
        g = None
        for x in groups:
            if x[0] == p[1]:
                g = x[1]
        if g is None:
            g = {}
            groups.append((p[1], g))
        if r[MULTI]:
            if len(p) != 4:
                raise BadRequest("multiple resource needs instance ids")
            d = g.setdefault(p[2], {})
            if p[3] in d:
                raise BadRequest("duplicate resource instance")
            d[p[3]] = val
        else:
            if len(p) != 3 or p[2] in g:
                raise BadRequest("bad single resource entry")
            g[p[2]] = val
    if n >= 2 and not groups:
        groups.append((path[1], {}))
    return [(iid, list(g.items())) for iid, g in groups]
