"""LwM2M object model: constant object/resource definitions, live instances, the registry."""
from micropython import const

from lwm2m.errors import BadRequest, LwM2MError, MethodNotAllowed, NotFound

# resource definition: (rid, name, ops, multiple, mandatory, type); literal tuples freeze to flash.
# Nothing reads the names: objects 0-5 carry None and keep theirs in comments (2.5 KB of heap
# on a 32-bit board when lib/ is .mpy, which stock firmware loads into RAM).
RID = const(0)
RNAME = const(1)
OPS = const(2)
MULTI = const(3)
MAND = const(4)
TYPE = const(5)
# object definition: (oid, name, multiple_instances, mandatory, (resource definitions...))
OID = const(0)
ONAME = const(1)
OMULTI = const(2)
OMAND = const(3)
RESS = const(4)

MAX_ID = const(65535)

# registry hook kinds (what a server or bootstrap server did to the data)
CREATED = "c"
DELETED = "d"
WRITTEN = "w"


def resource(rid, name, ops, typ, multiple=False, mandatory=False):
    """Resource definition tuple for application objects."""
    return (rid, name, ops, multiple, mandatory, typ)


def object_def(oid, name, resources, multiple=True, mandatory=False):
    """Object definition tuple for application objects."""
    return (oid, name, multiple, mandatory, tuple(resources))


class Instance:
    binds = None  # rid -> getter or (get(), set(value), exe(args)): a dict from the first bind

    def __init__(self, iid, vals=None):
        self.iid = iid
        self.vals = {} if vals is None else vals  # rid -> value ({riid: value} when multiple)


class Obj:
    """One object: its definition and its live instances."""

    # defaults as class attributes: an object's own dict holds only what it sets (heap)
    binds = None  # object-wide callables: get(iid), set(iid, value), exe(iid, args)
    reg = None
    defaults = None  # rid -> value copied into instances a server creates
    deletable = True  # False for Device: neither DM nor bootstrap may delete it
    blocks = None  # rid -> fn(iid, offset, data, last): streamed Block1 writes

    def __init__(self, defn):
        self.defn = defn
        self.oid = defn[OID]
        self.insts = {}

    def rdef(self, rid):
        for r in self.defn[RESS]:
            if r[RID] == rid:
                return r
        return None

    def inst(self, iid):
        return self.insts.get(iid)

    def iids(self):
        return sorted(self.insts)

    def add(self, iid=None, vals=None):
        """Create an instance (application or driver side); returns it."""
        if iid is None:
            iid = 0
            while iid in self.insts:  # the lowest free id
                iid += 1
        if iid in self.insts or not 0 <= iid < MAX_ID:
            raise BadRequest("instance id")
        if not self.defn[OMULTI] and self.insts:
            raise BadRequest("single-instance object")
        v = {}
        if self.defaults:
            for k, x in self.defaults.items():
                v[k] = dict(x) if isinstance(x, dict) else x
        if vals:
            v.update(vals)
        inst = Instance(iid, v)
        self.insts[iid] = inst
        return inst

    def bind(self, iid, rid, get=None, set=None, exe=None):
        """Back a resource by callables; iid None binds for every instance (callables take iid
        first). Passing no callable removes the binding."""
        if self.rdef(rid) is None:
            raise NotFound("no resource %d" % rid)
        if iid is None:
            if self.binds is None:
                self.binds = {}
            tgt = self.binds
        else:
            inst = self.insts.get(iid)
            if inst is None:
                raise NotFound("no instance %d" % iid)
            if inst.binds is None:
                inst.binds = {}
            tgt = inst.binds
        if get is None and set is None and exe is None:
            tgt.pop(rid, None)
        else:
            # a getter alone (most driver values) is kept as it is: a (get, set, exe) tuple
            # would be 32 B more of heap for each on a 32-bit board
            tgt[rid] = get if set is None and exe is None else (get, set, exe)

    def _bound(self, inst, rid, k):
        """(callable, takes_iid) for slot k (0 get, 1 set, 2 exe), or (None, False)."""
        # a bare binding (not a tuple) is a getter
        b = inst.binds
        if b is not None:
            t = b.get(rid)
            t = t[k] if isinstance(t, tuple) else None if k else t
            if t is not None:
                return t, False
        b = self.binds
        if b is not None:
            t = b.get(rid)
            t = t[k] if isinstance(t, tuple) else None if k else t
            if t is not None:
                return t, True
        return None, False

    def present(self, inst, rid):
        """True when the resource exists in the instance (a value, a getter or an executor)."""
        if rid in inst.vals:
            return True
        r = self.rdef(rid)
        if r is None:
            return False
        if r[OPS] == "E":
            return self._bound(inst, rid, 2)[0] is not None
        return (self._bound(inst, rid, 0)[0] is not None
                or self._bound(inst, rid, 1)[0] is not None)

    def rids(self, inst):
        return [r[RID] for r in self.defn[RESS] if self.present(inst, r[RID])]

    def value(self, inst, rid):
        """Current value (a dict riid -> value for multiple resources); NotFound when absent."""
        fn, wi = self._bound(inst, rid, 0)
        if fn is not None:
            return fn(inst.iid) if wi else fn()
        if rid in inst.vals:
            return inst.vals[rid]
        raise NotFound  # resource absent

    def store(self, inst, rid, value):
        """Write a checked value: through the setter if bound, else into the instance."""
        fn, wi = self._bound(inst, rid, 1)
        if fn is not None:
            self._later(fn(inst.iid, value) if wi else fn(value))
        elif self._bound(inst, rid, 0)[0] is not None:
            # a getter with no setter: the value lives in the driver, which refuses writes
            raise MethodNotAllowed  # read-only driver value
        else:
            inst.vals[rid] = value

    def execute(self, inst, rid, args):
        fn, wi = self._bound(inst, rid, 2)
        if fn is None:
            raise NotFound  # no executor
        self._later(fn(inst.iid, args) if wi else fn(args))

    def _later(self, r):
        # a coroutine setter/executor: the asyncio driver runs it as a task once the 2.04 is out
        if r is not None and hasattr(r, "send"):
            spawn = self.reg.spawn if self.reg is not None else None
            if spawn is None:
                r.close()  # never run: say so with a 5.00, not a 2.04 for work that won't happen
                raise LwM2MError  # coroutine handler needs the asyncio driver (lwm2m.aio)
            spawn(r)

    # application API
    def get(self, iid, rid, default=None):
        inst = self.insts.get(iid)
        if inst is None:
            return default
        try:
            return self.value(inst, rid)
        except NotFound:
            return default

    def set(self, iid, rid, value):
        """Application-side update of a stored value; tells observers."""
        self.insts[iid].vals[rid] = value
        if self.reg is not None:
            self.reg.changed(self.oid, iid, rid)


class Registry:
    """All objects of the client, plus change notification."""

    def __init__(self):
        self.objs = {}
        self.listener = None  # fn(oid, iid, rid): set by the reporting layer
        self.hooks = []  # fn(kind, oid, iid): registration update, store save, ...
        self.spawn = None  # fn(coroutine): set by the asyncio driver (lwm2m.aio)

    def add(self, obj):
        """Register an Obj (or a bare definition tuple); returns the Obj."""
        if isinstance(obj, tuple):
            obj = Obj(obj)
        obj.reg = self
        self.objs[obj.oid] = obj
        return obj

    def obj(self, oid):
        return self.objs.get(oid)

    def oids(self):
        return sorted(self.objs)

    def changed(self, oid, iid=None, rid=None):
        """'This value changed': cheap when nobody observes."""
        fn = self.listener
        if fn is not None:
            fn(oid, iid, rid)

    def watch(self, fn):
        self.hooks.append(fn)

    def emit(self, kind, oid, iid=None):
        for fn in self.hooks:
            fn(kind, oid, iid)

    def create(self, oid, iid=None, vals=None):
        """Create an instance on behalf of a server: fires CREATED hooks and observers."""
        o = self.objs.get(oid)
        if o is None:
            raise NotFound  # no object
        inst = o.add(iid, vals)
        self.emit(CREATED, oid, inst.iid)
        self.changed(oid)
        return inst

    def delete(self, oid, iid):
        o = self.objs.get(oid)
        if o is None or iid not in o.insts:
            raise NotFound  # no instance
        del o.insts[iid]
        self.emit(DELETED, oid, iid)
        self.changed(oid)

    def servers(self):
        """SSIDs of the LwM2M Server object instances (/1/x/0)."""
        o = self.objs.get(1)
        if o is None:
            return []
        return [i.vals.get(0) for k, i in sorted(o.insts.items()) if i.vals.get(0) is not None]

    def objects_links(self):
        """Registration payload: </1/0>,</3/0>,</5> (the Security object is never listed)."""
        out = []
        for oid in self.oids():
            if oid == 0:
                continue
            o = self.objs[oid]
            if o.insts:
                for iid in o.iids():
                    out.append("</%d/%d>" % (oid, iid))
            else:
                out.append("</%d>" % oid)
        return ",".join(out).encode()

    def dump(self, oid):
        """Stored values of an object as JSON-friendly data for the store (callables skipped).
        The conversions are lwm2m.persist, loaded for the call (boot and account saves only)."""
        from lwm2m import persist, unload

        unload("persist")
        return persist.dump(self.objs[oid])

    def load(self, oid, data):
        """Replace an object's instances with data from dump(); unknown resources are dropped."""
        from lwm2m import persist, unload

        unload("persist")
        persist.load(self.objs[oid], data)
