"""Write path: Write, Create and bootstrap payloads (TLV, text, opaque, JSON) to checked values.

Loaded for the request (lwm2m.content.decode, lwm2m.dm's Write, lwm2m.create) and dropped again
(lwm2m.unload): servers read far more often than they write, and this is 3.4 KB of heap on a 32-bit
board (.mpy). The encoders stay in lwm2m.tlv and lwm2m.text. Errors carry no text, the reason is
the comment at each raise: the answer is only the error's code, and the texts were 1.7 KB more of
heap at every write."""
import struct

from coap import msg as M
from micropython import const

from lwm2m import content as ct, unload
from lwm2m.acl import W
from lwm2m.dm import check_values
from lwm2m.errors import (BadRequest, CodecError, Incomplete, MethodNotAllowed, NotFound,
                          TooLarge, UnsupportedFormat)
from lwm2m.model import MAND, MULTI, OPS, RESS, RID, TYPE
from lwm2m.number import parse_float, parse_int
from lwm2m.tlv import check_nesting

# TLV node kinds (lwm2m.tlv names them for callers)
_OBJ_INST = const(0)
_RES_INST = const(1)
_MULTI_RES = const(2)
_RES = const(3)
# content formats (lwm2m.content names them for callers)
_TEXT = const(0)
_LINK = const(40)
_OPAQUE = const(42)
_TLV = const(11542)


# ---- TLV (11542)
def _parse(mv, off, end, parent):
    out = []
    while off < end:
        t = mv[off]
        kind = t >> 6
        check_nesting(parent, kind)
        wide = (t >> 5) & 1
        ls = (t >> 3) & 3
        if off + 2 + wide + ls > end:
            raise CodecError  # truncated TLV header
        off += 1
        ident = mv[off]
        off += 1
        if wide:
            ident = ident << 8 | mv[off]
            off += 1
        if ls == 0:
            n = t & 7
        else:
            n = 0
            while ls:
                n = n << 8 | mv[off]
                off += 1
                ls -= 1
        if off + n > end:
            raise CodecError  # TLV length past end
        if kind == _OBJ_INST or kind == _MULTI_RES:
            payload = _parse(mv, off, off + n, kind)
        else:
            payload = mv[off:off + n]
        out.append((kind, ident, payload))
        off += n
    return out


def tlv_decode(buf):
    """A TLV payload to a list of (kind, id, payload) nodes; RES/RES_INST payloads are
    memoryview slices."""
    mv = buf if isinstance(buf, memoryview) else memoryview(buf)
    return _parse(mv, 0, len(mv), None)


_INT_FMT = {1: ">b", 2: ">h", 4: ">i", 8: ">q"}


def tlv_decode_value(typ, mv):
    """Python value of a TLV value field of type typ; CodecError when the bytes don't fit it."""
    n = len(mv)
    if typ == "i" or typ == "t":
        fmt = _INT_FMT.get(n)
        if fmt is None:
            raise CodecError  # bad integer length
        return struct.unpack_from(fmt, mv)[0]
    if typ == "s":
        return _str(mv)
    if typ == "f":
        if n == 4:
            return struct.unpack_from(">f", mv)[0]
        if n == 8:
            return struct.unpack_from(">d", mv)[0]
        raise CodecError  # bad float length
    if typ == "b":
        if n != 1 or mv[0] > 1:
            raise CodecError  # bad boolean
        return mv[0] == 1
    if typ == "o":
        return bytes(mv)
    if typ == "l":
        if n != 4:
            raise CodecError  # bad objlnk length
        return struct.unpack_from(">HH", mv)
    if typ == "e":
        return None
    raise CodecError  # unknown type


# ---- plain text (0); the number parsers are lwm2m.text's
def _str(mv):
    try:
        return bytes(mv).decode("utf-8")
    except (UnicodeError, ValueError):
        raise CodecError  # invalid UTF-8


def parse_objlnk(s):
    """'3:0' -> (3, 0), each 0..65535, or CodecError."""
    a, sep, b = s.strip().partition(":")
    if not sep:
        raise CodecError  # objlnk needs a:b
    o = parse_int(a)
    i = parse_int(b)
    if not (0 <= o <= 0xFFFF and 0 <= i <= 0xFFFF) or a.strip()[:1] in "+-" \
            or b.strip()[:1] in "+-":
        raise CodecError  # objlnk out of range
    return (o, i)


def text_decode(typ, mv):
    """Value of resource type typ from a plain-text payload; CodecError on junk."""
    s = _str(mv)
    if typ == "s":
        return s
    if typ == "i" or typ == "t":
        return parse_int(s)
    if typ == "f":
        return parse_float(s)
    if typ == "b":
        if s == "1":
            return True
        if s == "0":
            return False
        raise CodecError  # boolean must be 0 or 1
    if typ == "l":
        return parse_objlnk(s)
    if typ == "e":
        return None
    raise CodecError  # no text form for type


# ---- payloads to checked values (lwm2m.content.decode)
def _rdef(obj, rid):
    r = obj.rdef(rid)
    if r is None:
        raise NotFound  # no resource
    return r


def decode(obj, path, fmt, payload):
    """lwm2m.content.decode: Write/Create payload -> [(iid or None, [(rid, value or
    {riid: value})])], fully checked."""
    k = ct.canon(fmt)
    if k is None or k == _LINK:
        raise UnsupportedFormat  # format
    n = len(path)
    if k == _TEXT or k == _OPAQUE:
        if n != 3:
            raise UnsupportedFormat  # text/opaque need a resource path
        r = _rdef(obj, path[2])
        if r[MULTI] or (k == _OPAQUE) != (r[TYPE] == "o"):
            raise UnsupportedFormat  # format does not fit the resource
        # opaque: a copy, the receive buffer is reused
        v = bytes(payload) if k == _OPAQUE else text_decode(r[TYPE], payload)
        return [(path[1], [(r[RID], v)])]
    if k == _TLV:
        return _from_tlv(obj, path, tlv_decode(payload))
    try:
        from lwm2m import parsejson
    except ImportError:  # a board may leave JSON out
        raise UnsupportedFormat  # no JSON
    unload("parsejson")  # servers rarely write JSON: its code goes with this request
    return parsejson.values(obj, path, payload)


def _res_nodes(obj, nodes):
    out = []
    seen = []
    for kind, rid, payload in nodes:
        if rid in seen:
            raise BadRequest  # duplicate resource
        seen.append(rid)
        r = _rdef(obj, rid)
        typ = r[TYPE]
        if kind == _RES:
            if r[MULTI]:
                raise BadRequest  # multiple resource sent as single
            out.append((rid, tlv_decode_value(typ, payload)))
        elif kind == _MULTI_RES:
            if not r[MULTI]:
                raise BadRequest  # single resource sent as multiple
            d = {}
            for k2, riid, p2 in payload:
                if riid in d:
                    raise BadRequest  # duplicate resource instance
                d[riid] = tlv_decode_value(typ, p2)
            out.append((rid, d))
        else:
            raise BadRequest  # unexpected TLV node
    return out


def _from_tlv(obj, path, nodes):
    n = len(path)
    if n == 3:
        r = _rdef(obj, path[2])
        if r[MULTI] and nodes and nodes[0][0] == _RES_INST:
            nodes = [(_MULTI_RES, path[2], nodes)]
        if len(nodes) != 1 or nodes[0][1] != path[2]:
            raise BadRequest  # TLV does not match the resource
        return [(path[1], _res_nodes(obj, nodes))]
    insts = [x for x in nodes if x[0] == _OBJ_INST]
    if insts:
        if len(insts) != len(nodes):
            raise BadRequest  # mixed TLV levels
        out = []
        for _, iid, sub in insts:
            if (n == 2 and iid != path[1]) or iid >= 65535:
                raise BadRequest  # instance id mismatch
            for o in out:
                if o[0] == iid:
                    raise BadRequest  # duplicate instance
            out.append((iid, _res_nodes(obj, sub)))
        if n == 2 and len(out) != 1:
            raise BadRequest  # one instance expected
        return out
    return [(path[1] if n == 2 else None, _res_nodes(obj, nodes))]


# ---- DM Write (lwm2m.dm._writing); Create is lwm2m.create
def body(dm, req, ssid, path):
    """Payload of a Write or Create. Block1 blocks (in order: the endpoint checks) are
    collected up to dm.max_body; None until the last block, so the write stays atomic."""
    v = req.uint(M.BLOCK1)
    if v is None:
        return req.payload
    num, more, _ = M.block_parts(v)
    key = (ssid, req.code, tuple(path))
    b1 = dm._b1
    if num == 0:
        b1 = dm._b1 = (key, bytearray())
    elif b1 is None or b1[0] != key:
        raise Incomplete  # block1: a continuation whose start we dropped or never saw
    buf = b1[1]
    if len(buf) + len(req.payload) > dm.max_body:
        dm._b1 = None
        raise TooLarge  # body
    buf.extend(req.payload)
    if more:
        return None
    dm._b1 = None
    return bytes(buf)


def write(dm, path, ssid, req, replace):
    """Write (replace: PUT) or partial update (POST) of an instance or a resource: decoded and
    checked here, applied by lwm2m.assign once this module is dropped (lwm2m.dm._writing)."""
    payload = body(dm, req, ssid, path)
    if payload is None:
        return M.response(M.CHANGED)  # the endpoint answers 2.31 Continue
    fmt = req.uint(M.CONTENT_FORMAT)
    n = len(path)
    if n < 2 or n > 3:
        raise MethodNotAllowed  # write here
    o, inst = dm._target(path, ssid, W)
    if n == 3:
        r = o.rdef(path[2])
        if r is None:
            raise NotFound  # resource
        if "W" not in r[OPS]:
            raise MethodNotAllowed  # not writable
    res = decode(o, path, _TEXT if fmt is None else fmt, payload)[0][1]
    for rid, v in res:
        if "W" not in o.rdef(rid)[OPS]:
            raise MethodNotAllowed  # resource not writable
    check_values(o, res)
    if n == 2 and replace:
        got = [x[0] for x in res]
        for r in o.defn[RESS]:
            if r[MAND] and "W" in r[OPS] and r[RID] not in got:
                raise BadRequest  # mandatory resource missing
        drop = [r[RID] for r in o.defn[RESS]
                if "W" in r[OPS] and r[RID] not in got and r[RID] in inst.vals]
    else:
        drop = ()
    return o, inst, res, drop, replace
