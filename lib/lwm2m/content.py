"""Content negotiation and conversion between DM/bootstrap payloads and checked resource values."""
from micropython import const

from lwm2m import text, tlv, unload
from lwm2m.errors import BadRequest, NotAcceptable, NotFound, UnsupportedFormat
from lwm2m.model import MULTI, RID, TYPE

TEXT = const(0)
LINK = const(40)
OPAQUE = const(42)
TLV = const(11542)
JSON = const(11543)
_LEGACY = {1541: TEXT, 1542: TLV, 1543: JSON, 1544: OPAQUE}


def canon(fmt):
    """Format number (legacy numbers mapped to the registered ones), or None if unsupported."""
    if fmt in (TEXT, LINK, OPAQUE, TLV, JSON):
        return fmt
    return _LEGACY.get(fmt)


def choose(accept, single, typ):
    """Format for a read answer: single=True for one value of type typ; raises NotAcceptable."""
    if accept is None:
        if single:
            return OPAQUE if typ == "o" else TEXT
        return TLV
    k = canon(accept)
    if k == TLV or k == JSON:
        return k
    if single and ((k == TEXT and typ != "o") or (k == OPAQUE and typ == "o")):
        return k
    raise NotAcceptable("format")


def _json():
    try:
        from lwm2m import json
    except ImportError:  # a board may leave JSON out
        raise UnsupportedFormat("no JSON")
    # the caller's reference keeps it for this request only: servers rarely ask for JSON, and
    # its 3 KB (32-bit, .mpy) come back after every use at the cost of loading it each time
    unload("json")
    return json


def encode(fmt, oid, path, data):
    """Payload for a read. data by path depth: 1 [(iid, [(rid, typ, v)])], 2 [(rid, typ, v)],
    3 (typ, value or {riid: v}), 4 (typ, v)."""
    n = len(path)
    if fmt == TEXT or fmt == OPAQUE:
        typ, v = data
        return text.encode_opaque(v) if fmt == OPAQUE else text.encode(typ, v)
    if fmt == TLV:
        if n == 1:
            nodes = [tlv.instance_node(iid, res) for iid, res in data]
        elif n == 2:
            nodes = [tlv.resource_node(rid, typ, v) for rid, typ, v in data]
        elif n == 3:
            nodes = [tlv.resource_node(path[2], data[0], data[1])]
        else:
            nodes = [(tlv.RES_INST, path[3], tlv.encode_value(data[0], data[1]))]
        return tlv.encode(nodes)
    js = _json()
    ents = []
    if n == 1:
        for iid, res in data:
            _json_res(ents, "%d/" % iid, res)
    elif n == 2:
        _json_res(ents, "", data)
    elif isinstance(data[1], dict):
        for riid in sorted(data[1]):
            ents.append(("%d" % riid, data[0], data[1][riid]))
    else:
        ents.append(("", data[0], data[1]))
    bn = "/" + "/".join([str(x) for x in path])
    if n < 3 or (n == 3 and isinstance(data[1], dict)):
        bn += "/"
    return js.encode(bn, ents)


def _json_res(ents, pre, res):
    for rid, typ, v in res:
        if isinstance(v, dict):
            for riid in sorted(v):
                ents.append(("%s%d/%d" % (pre, rid, riid), typ, v[riid]))
        else:
            ents.append(("%s%d" % (pre, rid), typ, v))


def _rdef(obj, rid):
    r = obj.rdef(rid)
    if r is None:
        raise NotFound("no resource %d" % rid)
    return r


def _res_nodes(obj, nodes, out):
    seen = []
    for kind, rid, payload in nodes:
        if rid in seen:
            raise BadRequest("duplicate resource")
        seen.append(rid)
        r = _rdef(obj, rid)
        typ = r[TYPE]
        if kind == tlv.RES:
            if r[MULTI]:
                raise BadRequest("multiple resource sent as single")
            out.append((rid, tlv.decode_value(typ, payload)))
        elif kind == tlv.MULTI_RES:
            if not r[MULTI]:
                raise BadRequest("single resource sent as multiple")
            d = {}
            for k2, riid, p2 in payload:
                if riid in d:
                    raise BadRequest("duplicate resource instance")
                d[riid] = tlv.decode_value(typ, p2)
            out.append((rid, d))
        else:
            raise BadRequest("unexpected TLV node")
    return out


def decode(obj, path, fmt, payload):
    """Write/Create payload -> [(iid or None, [(rid, value or {riid: value})])], fully checked.

    path is the request path as ints (object, instance or resource level)."""
    k = canon(fmt)
    n = len(path)
    if k is None or k == LINK:
        raise UnsupportedFormat("format")
    if k == TEXT or k == OPAQUE:
        if n != 3:
            raise UnsupportedFormat("text/opaque need a resource path")
        r = _rdef(obj, path[2])
        if r[MULTI] or (k == OPAQUE) != (r[TYPE] == "o"):
            raise UnsupportedFormat("format does not fit the resource")
        v = text.decode_opaque(payload) if k == OPAQUE else text.decode(r[TYPE], payload)
        return [(path[1], [(r[RID], v)])]
    if k == TLV:
        nodes = tlv.decode(payload)
        return _from_tlv(obj, path, nodes)
    return _from_json(obj, path, payload)


def _from_tlv(obj, path, nodes):
    n = len(path)
    if n == 3:
        r = _rdef(obj, path[2])
        if r[MULTI] and nodes and nodes[0][0] == tlv.RES_INST:
            nodes = [(tlv.MULTI_RES, path[2], nodes)]
        if len(nodes) != 1 or nodes[0][1] != path[2]:
            raise BadRequest("TLV does not match the resource")
        return [(path[1], _res_nodes(obj, nodes, []))]
    insts = [x for x in nodes if x[0] == tlv.OBJ_INST]
    if insts:
        if len(insts) != len(nodes):
            raise BadRequest("mixed TLV levels")
        out = []
        for _, iid, sub in insts:
            if (n == 2 and iid != path[1]) or iid >= 65535:
                raise BadRequest("instance id mismatch")
            for o in out:
                if o[0] == iid:
                    raise BadRequest("duplicate instance")
            out.append((iid, _res_nodes(obj, sub, [])))
        if n == 2 and len(out) != 1:
            raise BadRequest("one instance expected")
        return out
    return [(path[1] if n == 2 else None, _res_nodes(obj, nodes, []))]


def _from_json(obj, path, payload):
    js = _json()
    ents = js.decode(payload, path)
    groups = []  # [(iid, {rid: value or {riid: value}})] in arrival order
    n = len(path)
    for p, kind, v in ents:
        if len(p) < 3 or p[:n] != tuple(path) or p[0] != path[0]:
            raise BadRequest("JSON name outside the target")
        r = _rdef(obj, p[2])
        val = js.coerce(r[TYPE], kind, v)
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

