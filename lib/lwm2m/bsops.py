"""Bootstrap data operations (Write, Delete, Discover) with full access, object 0 included."""
from lwm2m import content as ct
from lwm2m.dm import check_values
from lwm2m.errors import BadRequest, MethodNotAllowed, NotFound
from lwm2m.acl import D, W
from lwm2m.model import CREATED, OMULTI, OPS, WRITTEN


class BsOps:
    """Callables for lwm2m.bootstrap.Bootstrap: write(path, fmt, payload), delete(path),
    discover(path), usable(). Paths are tuples of ints; errors are LwM2MError."""

    def __init__(self, registry, acl=None):
        self.reg = registry
        self.acl = acl  # when given, deleting a server account runs seed 001 D.2.2

    def _obj(self, oid):
        o = self.reg.obj(oid)
        if o is None:
            raise NotFound("object")
        return o

    def write(self, path, fmt, payload):
        """Bootstrap Write on an object, instance or resource; creates instances as needed and
        ignores access types (the Server SSID and Security resources are written this way)."""
        path = list(path)
        n = len(path)
        if n == 0 or n > 3:
            raise MethodNotAllowed("bootstrap write here")
        o = self._obj(path[0])
        if fmt is None:
            fmt = ct.TLV if n < 3 else ct.TEXT
        groups = ct.decode(o, path, fmt, payload)
        for i in range(len(groups)):
            iid, res = groups[i]
            if iid is None:
                if o.defn[OMULTI]:
                    raise BadRequest("instance id needed")
                groups[i] = (0, res)
            for rid, v in res:
                if o.rdef(rid)[OPS] == "E":
                    raise MethodNotAllowed("executable resource")
        for iid, res in groups:
            if iid not in o.insts and not o.defn[OMULTI] and o.insts:
                raise BadRequest("single-instance object")
            check_values(o, res)
        for iid, res in groups:
            self.write_values(o.oid, iid, res)

    def write_values(self, oid, iid, res):
        """Store checked values [(rid, value)] into /oid/iid, creating the instance."""
        o = self._obj(oid)
        inst = o.inst(iid)
        new = inst is None
        if new:
            inst = o.add(iid)
        for rid, v in res:
            o.store(inst, rid, v)
        self.reg.emit(CREATED if new else WRITTEN, oid, iid)
        for rid, v in res:
            self.reg.changed(oid, iid, rid)

    def _keep(self, o, iid):
        if not o.deletable:
            return True
        # the bootstrap account stays: only the client's own purge removes it (seed 002)
        return o.oid == 0 and o.insts[iid].vals.get(1) is True

    def delete(self, path):
        """Bootstrap Delete of /, an object or an instance. Board-backed singletons (Device /3/0,
        Connectivity Monitoring /4/0, Firmware Update /5/0) and the bootstrap account survive a
        wide delete; naming them directly answers 4.00."""
        path = list(path)
        n = len(path)
        if n > 2:
            raise BadRequest("bootstrap delete of a resource")
        if n == 2:
            o = self._obj(path[0])
            if path[1] not in o.insts:
                return
            if not o.deletable:
                raise BadRequest("not deletable")
            self._del(o, path[1])
            return
        oids = self.reg.oids() if n == 0 else [self._obj(path[0]).oid]
        for oid in oids:
            o = self.reg.objs[oid]
            for iid in o.iids():
                if iid in o.insts and not self._keep(o, iid):
                    self._del(o, iid)

    def _del(self, o, iid):
        if self.acl is not None and o.oid in (0, 1):
            ssid = o.insts[iid].vals.get(10 if o.oid == 0 else 0)
            if ssid:
                self.acl.remove_server(ssid)
        if iid in o.insts:
            self.reg.delete(o.oid, iid)
            if self.acl is not None:
                self.acl.deleted(o.oid, iid)

    def discover(self, path):
        """Bootstrap Discover: objects and instances, with ssid on /0 and /1 instances."""
        path = list(path)
        if len(path) > 1:
            raise BadRequest("bootstrap discover below an object")
        out = [("/", [("lwm2m", "1.0")])] if not path else []
        oids = self.reg.oids() if not path else [self._obj(path[0]).oid]
        for oid in oids:
            o = self.reg.objs[oid]
            if not o.insts:
                out.append(("/%d" % oid, []))
            for iid in o.iids():
                v = o.insts[iid].vals
                ssid = v.get(10) if oid == 0 else v.get(0) if oid == 1 else None
                out.append(("/%d/%d" % (oid, iid), [("ssid", ssid)] if ssid else []))
        from lwm2m import link, unload  # Bootstrap-Discover only: loaded for this request

        unload("link")
        return link.encode(out)

    def usable(self):
        """True when a non-bootstrap Security instance has a matching Server instance."""
        sec = self.reg.obj(0)
        if sec is None:
            return False
        ssids = self.reg.servers()
        for inst in sec.insts.values():
            if inst.vals.get(1) is not True and inst.vals.get(10) in ssids:
                return True
        return False


def remove_server(access, ssid):
    """Seed 001 D.2.2: instances only ssid could reach go (with their ACL); elsewhere its
    entries go and ownership passes to the server with most of Write+Delete (ties: lowest
    SSID). Observations, registration and the /0 /1 instances are the caller's part; `access`
    is the lwm2m.acl.Acl."""
    reg = access.reg
    aco = reg.obj(2)
    if aco is None:
        return
    others = [s for s in reg.servers() if s != ssid]
    for k in aco.iids():
        a = aco.insts.get(k)
        if a is None:
            continue
        v = a.vals
        acl = v.get(2) or {}
        oid = v.get(0)
        iid = v.get(1)
        if v.get(3) == ssid and not [s for s in acl if s != ssid]:
            o = reg.obj(oid)
            if o is not None and o.deletable and oid != 0 and iid in o.insts:
                reg.delete(oid, iid)
            reg.delete(2, k)
            continue
        touched = False
        if ssid in acl:
            acl = dict(acl)
            del acl[ssid]
            v[2] = acl
            touched = True
        if v.get(3) == ssid:
            best = None
            score = -1
            cands = others + [s for s in acl if s and s != ssid and s not in others]
            for s in sorted(cands):
                r = acl.get(s, acl.get(0, 0))
                n = (1 if r & W else 0) + (1 if r & D else 0)
                if n > score:
                    best = s
                    score = n
            if best is not None:
                v[3] = best
                touched = True
        if touched:
            reg.emit(WRITTEN, 2, k)
            reg.changed(2, k)
