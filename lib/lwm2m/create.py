"""DM Create: a new object instance from a Create payload, owned by the creating server.

Loaded for a Create only (lwm2m.dm), with the write path it uses (lwm2m.parse), and dropped
after it: servers create far less often than they write. Errors carry no text (lwm2m.parse)."""
from coap import msg as M
from micropython import const

from lwm2m.acl import C, D, E, R, W
from lwm2m.dm import check_values
from lwm2m.errors import BadRequest, MethodNotAllowed, Unauthorized
from lwm2m.model import CREATED, MAND, MAX_ID, OMULTI, OPS, RESS, RID
from lwm2m.parse import body, decode

_TLV = const(11542)  # the content format of a Create without one (lwm2m.content.TLV)


def create(dm, path, ssid, req):
    """Create an instance of object path[0]; the answer carries its Location-Path."""
    payload = body(dm, req, ssid, path)
    if payload is None:
        return M.response(M.CHANGED)
    fmt = req.uint(M.CONTENT_FORMAT)
    o = dm._obj(path[0])
    acl = dm.acl
    # with several servers: who may Create in o is the ACL of /o/65535 (2: only bootstrap)
    if not acl.single() and (o.oid == 2 or not acl.rights(ssid, o.oid, MAX_ID) & C):
        raise Unauthorized  # acl
    groups = decode(o, path, _TLV if fmt is None else fmt, payload)
    if len(groups) != 1:
        raise BadRequest  # one instance per Create
    iid, res = groups[0]
    if iid is None:
        iid = 0
        while iid in o.insts:  # the lowest free id
            iid += 1
    if iid in o.insts or (o.insts and not o.defn[OMULTI]):
        raise BadRequest  # instance exists
    for rid, v in res:
        if o.rdef(rid)[OPS] == "E":
            raise MethodNotAllowed  # executable resource in Create
    check_values(o, res)
    got = [x[0] for x in res]
    for r in o.defn[RESS]:
        if r[MAND] and r[OPS] != "E" and r[RID] not in got and not (
                o.defaults and r[RID] in o.defaults) and not (
                o.binds and r[RID] in o.binds):
            raise BadRequest  # mandatory resource missing
    inst = o.add(iid)
    try:
        for rid, v in res:
            o.store(inst, rid, v)
    except Exception:
        del o.insts[iid]
        raise
    reg = dm.reg
    reg.emit(CREATED, o.oid, iid)
    reg.changed(o.oid)
    # the creating server becomes the owner, with an ACL instance for it
    aco = reg.obj(2)
    if aco is not None and o.oid != 2 and ssid:
        a = aco.add(None, {0: o.oid, 1: iid, 2: {ssid: R | W | E | D}, 3: ssid})
        reg.emit(CREATED, 2, a.iid)
        reg.changed(2)
    m = M.response(M.CREATED)
    m.add(M.LOCATION_PATH, str(o.oid))
    m.add(M.LOCATION_PATH, str(iid))
    return m
