"""Write path, LwM2M 1.0 JSON (11543): Write and Create payloads to checked values (lwm2m.parse
loads it for such a request; Read answers in JSON are lwm2m.json's). Errors carry no text, as in
lwm2m.parse."""
import binascii
import json

from lwm2m.errors import BadRequest, CodecError, NotFound
from lwm2m.model import MULTI, TYPE
from lwm2m.parse import parse_objlnk
from lwm2m.number import check_int


def _path(s):
    out = []
    for seg in s.split("/"):
        if seg == "":
            continue
        for c in seg:
            if c not in "0123456789":
                raise CodecError  # JSON name is not a numeric path
        v = int(seg)
        if v > 0xFFFF:
            raise CodecError  # path id out of range
        out.append(v)
    return out


_KINDS = ("v", "sv", "bv", "ov")


def decode(data, base_path):
    """JSON payload -> [(path tuple of ints, kind 'v'|'sv'|'bv'|'ov', value)].

    Names are joined to "bn" when the payload has one, else to base_path (the request URI ids)."""
    try:
        s = data if isinstance(data, str) else bytes(data).decode("utf-8")
        doc = json.loads(s)
    except (ValueError, UnicodeError, TypeError):
        raise CodecError  # malformed JSON
    if not isinstance(doc, dict):
        raise CodecError  # JSON payload is not an object
    ents = doc.get("e")
    if not isinstance(ents, list):
        raise CodecError  # no "e" array
    bn = doc.get("bn")
    if bn is None:
        prefix = list(base_path)
    elif isinstance(bn, str):
        prefix = _path(bn)
    else:
        raise CodecError  # bn is not a string
    out = []
    for e in ents:
        if not isinstance(e, dict):
            raise CodecError  # JSON entry is not an object
        name = e.get("n", "")
        if not isinstance(name, str):
            raise CodecError  # n is not a string
        path = tuple(prefix + _path(name))
        if len(path) > 4:
            raise CodecError  # path too deep
        kind = None
        for k in _KINDS:
            if k in e:
                if kind is not None:
                    raise CodecError  # entry has two values
                kind = k
        if kind is None:
            raise CodecError  # entry has no value
        v = e[kind]
        if kind == "v":
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise CodecError  # v is not a number
            if v != v or v - v != 0:  # CPython's json accepts NaN and Infinity
                raise CodecError  # v is not finite
        elif kind == "bv":
            if not isinstance(v, bool):
                raise CodecError  # bv is not a boolean
        elif not isinstance(v, str):
            raise CodecError  # sv/ov not a string
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
        raise CodecError  # expected an integer
    if typ == "f":
        if kind == "v":
            return float(value)
        raise CodecError  # expected a number
    # string, boolean, objlnk: the value as decoded, when its JSON kind is the type's own
    if (typ, kind) in (("s", "sv"), ("b", "bv"), ("l", "ov")):
        return value
    if typ in "sbl":
        raise CodecError  # expected a string / a boolean / an objlnk
    if typ == "o":
        if kind == "sv":
            # both interpreters' decoders skip junk characters: check first
            body = value.rstrip("=")
            if len(value) % 4 or len(value) - len(body) > 2:
                raise CodecError  # bad base64
            for c in body:
                if not ("A" <= c <= "Z" or "a" <= c <= "z" or "0" <= c <= "9" or c in "+/"):
                    raise CodecError  # bad base64
            try:
                return binascii.a2b_base64(value)
            except (ValueError, TypeError):
                raise CodecError  # bad base64
        raise CodecError  # expected base64 in sv
    raise CodecError  # type has no JSON value


def values(obj, path, payload):
    """lwm2m.parse.decode for JSON: a Write/Create payload -> [(iid, [(rid, value or
    {riid: value})])] in arrival order, checked against obj's definitions."""
    ents = decode(payload, path)
    groups = []  # [(iid, {rid: value or {riid: value}})] in arrival order
    n = len(path)
    for p, kind, v in ents:
        if len(p) < 3 or p[:n] != tuple(path) or p[0] != path[0]:
            raise BadRequest  # JSON name outside the target
        r = obj.rdef(p[2])
        if r is None:
            raise NotFound  # no resource
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
                raise BadRequest  # multiple resource needs instance ids
            d = g.setdefault(p[2], {})
            if p[3] in d:
                raise BadRequest  # duplicate resource instance
            d[p[3]] = val
        else:
            if len(p) != 3 or p[2] in g:
                raise BadRequest  # bad single resource entry
            g[p[2]] = val
    if n >= 2 and not groups:
        groups.append((path[1], {}))
    return [(iid, list(g.items())) for iid, g in groups]
