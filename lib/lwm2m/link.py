"""CoRE link format (40) encoding, and the Discover and Write-Attributes operations of lwm2m.dm
built on it (loaded by dm for one such request, then dropped again). Errors carry no text, as in
lwm2m.parse; decoding (a server's side) is lwm2m.linkdecode."""
from coap import msg as M
from lwm2m.acl import R
from lwm2m.errors import BadRequest, CodecError, MethodNotAllowed
from lwm2m.model import MULTI, RESS, RID, TYPE
from lwm2m.text import fmt_float

_ATTR_ORDER = ("pmin", "pmax", "gt", "lt", "st")


def _val(v):
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return fmt_float(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        v = bytes(v).decode()
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _piece(out, s):
    # links stay small pieces (they fit the heap's gaps) until one join allocates the payload
    # at its size, where one string grown link by link would copy it at every step
    if out:
        out.append(b",")
    out.append(s.encode())


def encode(links):
    """[(path, [(name, value or None), ...]), ...] -> b'</3/0>;pmin=10,</5>' (strings quoted)."""
    out = []
    for path, attrs in links:
        s = "<" + path + ">"
        for name, v in attrs:
            s += ";" + name if v is None else ";%s=%s" % (name, _val(v))
        _piece(out, s)
    return b"".join(out)


_INT_ATTRS = ("pmin", "pmax")
_NUM_ATTRS = ("gt", "lt", "st")


def parse_attrs(query_list):
    """Write-Attributes Uri-Query strings -> {'pmin': int, 'gt': float, 'cancel': True, ...}."""
    from lwm2m import unload
    from lwm2m.number import parse_float, parse_int

    unload("number")  # for this call only: the names above keep it until the return
    out = {}
    for q in query_list:
        if not isinstance(q, str):
            try:
                q = bytes(q).decode("utf-8")
            except (UnicodeError, ValueError):
                raise CodecError  # invalid UTF-8
        name, eq, val = q.partition("=")
        if name in out:
            raise CodecError  # duplicate attribute
        if name == "cancel":
            if eq:
                raise CodecError  # cancel takes no value
            out[name] = True
        elif name in _INT_ATTRS:
            v = parse_int(val) if eq else None
            if v is None or v < 0 or val.strip()[:1] in ("+", "-"):
                raise CodecError  # pmin/pmax: a non-negative integer
            out[name] = v
        elif name in _NUM_ATTRS:
            if not eq:
                raise CodecError  # gt/lt/st need a value
            v = parse_float(val)
            if name == "st" and v < 0:
                raise CodecError  # st must not be negative
            out[name] = v
        else:
            raise CodecError  # unknown attribute
    if "pmin" in out and "pmax" in out and out["pmin"] > out["pmax"]:
        raise CodecError  # pmin > pmax
    # LwM2M 1.0 5.1.2: with all three present, lt + 2*st must stay below gt
    if "lt" in out and "gt" in out and "st" in out and not out["lt"] + 2 * out["st"] < out["gt"]:
        raise CodecError  # lt + 2*st must be < gt
    return out


# ---- lwm2m.dm's Discover and Write-Attributes (dm: the lwm2m.dm.DM answering the request)
_LINK = ("", "</%d>", "</%d/%d>", "</%d/%d/%d>")


def _link(out, dm, ssid, path, own, dim=None):
    """Append the link of path (a tuple): dim for a multiple resource, then the attributes set
    there (own), or those in force there (not own: inherited from the levels above)."""
    s = _LINK[len(path)] % path
    if dim is not None:
        s += ";dim=%d" % dim
    d = dm.attrs.get(ssid, path) if own else dm.attrs.effective(ssid, path)
    if d:
        for k in _ATTR_ORDER:
            if k in d:
                s += ";%s=%s" % (k, _val(d[k]))
    _piece(out, s)


def _inst_links(out, dm, ssid, o, inst):
    p = (o.oid, inst.iid)
    _link(out, dm, ssid, p, True)
    for r in o.defn[RESS]:
        rid = r[RID]
        if o.present(inst, rid):
            _link(out, dm, ssid, p + (rid,), True,
                  len(o.value(inst, rid)) if r[MULTI] else None)


def discover(dm, path, ssid):
    """Link-format payload of a Discover: attributes set at each level; for a single
    resource, the attributes in force (inherited)."""
    n = len(path)
    out = []
    if n == 0:
        for oid in dm.reg.oids():
            if oid == 0:
                continue
            o = dm.reg.objs[oid]
            iids = [i for i in o.iids() if dm.acl.allowed(ssid, oid, i, R)]
            if not iids:
                _piece(out, "</%d>" % oid)
            for i in iids:
                _piece(out, "</%d/%d>" % (oid, i))
    elif n == 1:
        o = dm._obj(path[0])
        _link(out, dm, ssid, (o.oid,), True)
        for iid in o.iids():
            if dm.acl.allowed(ssid, o.oid, iid, R):
                _inst_links(out, dm, ssid, o, o.insts[iid])
    elif n == 2:
        o, inst = dm._target(path, ssid, R)
        _inst_links(out, dm, ssid, o, inst)
    elif n == 3:
        o, inst = dm._target(path, ssid, R)
        r = dm._rdef(o, inst, path[2])
        _link(out, dm, ssid, tuple(path), False,
              len(o.value(inst, path[2])) if r[MULTI] else None)
    else:
        raise MethodNotAllowed  # discover resource instance
    return b"".join(out)


def write_attrs(dm, path, ssid, query):
    n = len(path)
    if n == 0 or n == 4:
        raise MethodNotAllowed  # attributes here
    o = dm._obj(path[0])
    r = None
    if n > 1:
        o, inst = dm._target(path, ssid, R)
        if n == 3:
            r = dm._rdef(o, inst, path[2])
    # an attribute without a value is removed (1.0.2 Write-Attributes), on any resource
    unset = [q for q in query if q in _ATTR_ORDER]
    a = parse_attrs([q for q in query if q not in _ATTR_ORDER])
    a.pop("cancel", None)
    if not a and not unset:
        raise BadRequest  # no attributes
    if ("gt" in a or "lt" in a or "st" in a) and (
            r is None or r[TYPE] not in "if"):
        raise BadRequest  # gt/lt/st need a numeric resource
    d = dict(dm.attrs.get(ssid, path) or {})
    for k in unset:
        if k in a:
            raise BadRequest  # attribute both set and removed
        d.pop(k, None)
    d.update(a)
    if "pmin" in d and "pmax" in d and d["pmin"] > d["pmax"]:
        raise BadRequest  # pmin > pmax
    dm.attrs.set(ssid, path, d)
    return M.response(M.CHANGED)
