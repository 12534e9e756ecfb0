"""Values to and from the store's JSON form: lwm2m.store escapes, Registry.dump/load; per call."""
import binascii

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


def _key_order(item):
    return (isinstance(item[0], str), item[0])


def pack(v):
    """v in the store's JSON form (lwm2m.store): bytes and non-string-keyed dicts escaped."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"$b": binascii.hexlify(bytes(v)).decode()}
    if isinstance(v, (list, tuple)):
        return [pack(x) for x in v]
    if isinstance(v, dict):
        plain = True
        for k in v:
            if not isinstance(k, str) or k[:1] == "$":
                plain = False
        if plain:
            return {k: pack(x) for k, x in v.items()}
        items = []
        for k, x in v.items():
            if isinstance(k, bool) or not isinstance(k, (str, int)):
                raise TypeError("store: dict keys must be str or int")
            items.append([k, pack(x)])
        # A fixed order, so an equal dict packs to an equal list whatever its insertion history.
        items.sort(key=_key_order)
        return {"$d": items}
    raise TypeError("store: cannot persist %s" % type(v).__name__)


def unpack(v):
    """The value pack() escaped, from its JSON form (tuples come back as lists)."""
    if isinstance(v, list):
        return [unpack(x) for x in v]
    if isinstance(v, dict):
        if len(v) == 1:
            if "$b" in v:
                return binascii.unhexlify(v["$b"])
            if "$d" in v:
                return {k: unpack(x) for k, x in v["$d"]}
        return {k: unpack(x) for k, x in v.items()}
    return v
