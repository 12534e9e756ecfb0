"""A checked Write applied to its instance: all or nothing, then the change reports.

lwm2m.dm._writing loads this after the write path (lwm2m.parse, 3.4 KB on a 32-bit board) has
decoded and checked the values and been dropped, so what a setter starts (a Package URI's pull,
a lifetime's Update) has that heap; this module goes again when the write is answered."""
from lwm2m.model import WRITTEN


def assign(dm, o, inst, res, drop, replace):
    # all or nothing: a setter that refuses puts the instance back as it was
    saved = dict(inst.vals)
    try:
        for rid in drop:
            del inst.vals[rid]
        for rid, v in res:
            if not replace and isinstance(v, dict) and isinstance(inst.vals.get(rid), dict):
                m = dict(inst.vals[rid])
                m.update(v)
                v = m
            o.store(inst, rid, v)
    except Exception:
        inst.vals = saved
        raise
    reg = dm.reg
    for rid, v in res:
        reg.changed(o.oid, inst.iid, rid)
    for rid in drop:
        reg.changed(o.oid, inst.iid, rid)
    reg.emit(WRITTEN, o.oid, inst.iid)
