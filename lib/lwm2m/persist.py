"""Object values to and from the store's JSON form (lwm2m.model.Registry.dump/load), per call."""
from lwm2m.model import RID, TYPE, Instance


def dump(o):
    """Stored values of Obj o as JSON-friendly data: string keys, lists for tuples."""
    out = {}
    for iid, inst in o.insts.items():
        d = {}
        for rid, v in inst.vals.items():
            if isinstance(v, dict):
                v = {str(k): x for k, x in v.items()}
            elif isinstance(v, tuple):
                v = list(v)
            d[str(rid)] = v
        out[str(iid)] = d
    return out


def load(o, data):
    """Replace the instances of Obj o with data from dump(); unknown resources are dropped."""
    o.insts = {}
    for siid, d in data.items():
        vals = {}
        for srid, v in d.items():
            r = o.rdef(int(srid))
            if r is None:
                continue
            if isinstance(v, dict):
                v = {int(k): _fix(r, x) for k, x in v.items()}
            else:
                v = _fix(r, v)
            vals[r[RID]] = v
        o.insts[int(siid)] = Instance(int(siid), vals)


def _fix(r, v):
    # JSON has no tuples: an objlnk comes back as a list
    if r[TYPE] == "l" and isinstance(v, list):
        return (v[0], v[1])
    return v
