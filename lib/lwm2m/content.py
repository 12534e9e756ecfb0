"""Content negotiation and conversion between DM/bootstrap payloads and checked resource values."""
from micropython import const

from lwm2m import text, tlv, unload
from lwm2m.errors import NotAcceptable, UnsupportedFormat

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
    raise NotAcceptable  # format


def encode(fmt, oid, path, data):
    """Payload for a read. data by path depth: 1 [(iid, [(rid, typ, v)])], 2 [(rid, typ, v)],
    3 (typ, value or {riid: v}), 4 (typ, v)."""
    n = len(path)
    if fmt == TEXT or fmt == OPAQUE:
        typ, v = data
        return bytes(v) if fmt == OPAQUE else text.encode(typ, v)
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
    try:
        from lwm2m import json
    except ImportError:  # a board may leave JSON out
        raise UnsupportedFormat  # no JSON
    # the local name keeps it for this request only: servers rarely ask for JSON, and its code
    # comes back after every use at the cost of loading it each time
    unload("json")
    return json.encode_read(path, data)


def decode(obj, path, fmt, payload):
    """Write/Create payload -> [(iid or None, [(rid, value or {riid: value})])], fully checked.

    path is the request path as ints (object, instance or resource level). The parsers are
    write-path code (lwm2m.parse), loaded for this request only: dropped after the call, not
    before, so lwm2m.parsejson finds the same module for its objlnk parsing."""
    from lwm2m import parse

    try:
        return parse.decode(obj, path, fmt, payload)
    finally:
        unload("parse")
        unload("number")  # which parse loaded
