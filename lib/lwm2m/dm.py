"""Device management interface: Read/Write/Execute/Create/Delete/Discover/Write-Attributes."""
from coap import msg as M
from lwm2m import content as ct
from lwm2m.acl import D, E, R, W, Acl
from lwm2m.attrs import Attrs
from lwm2m.errors import LwM2MError, MethodNotAllowed, NotFound, Unauthorized, UnsupportedFormat
from lwm2m.model import MAX_ID, MULTI, OPS, RESS, RID, TYPE

# errors raised while answering carry no text: only their code reaches the wire (handle), the
# reason is the comment beside each raise (texts are heap: a string object each in a .mpy)


def _link():
    """lwm2m.link (Discover and Write-Attributes) for one request: loaded then, and unloaded again
    (the caller's reference keeps it for the request), 2.7 KB back on a 32-bit board."""
    from lwm2m import link, unload

    unload("link")
    return link


def parse_path(segs):
    """Uri-Path segments (or '/3/0') -> list of ints; NotFound for anything else."""
    if isinstance(segs, str):
        segs = [s for s in segs.split("/") if s]
    if len(segs) > 4:
        raise NotFound  # bad path
    out = []
    for s in segs:
        if not s or len(s) > 5:
            raise NotFound  # bad path
        for c in s:
            if c not in "0123456789":
                raise NotFound  # bad path
        v = int(s)
        if v >= MAX_ID and len(out) != 3:
            raise NotFound  # bad path
        out.append(v)
    return out


def check_values(o, res):
    """An object's own range checks (o.check(rid, value), e.g. the Server object's) over
    [(rid, value)], all before anything is applied: BadRequest leaves the instance untouched."""
    chk = getattr(o, "check", None)
    if chk is not None:
        for rid, v in res:
            chk(rid, v)


class DM:
    def __init__(self, registry, acl=None):
        self.reg = registry
        self.acl = acl if acl is not None else Acl(registry)
        self.attrs = Attrs()
        self._b1 = None  # (key, bytearray): one Block1 write being collected
        self._tlvw = None  # (header length, value length) of a TLV-wrapped streamed write

    max_body = 4096  # largest write collected from Block1 blocks (streamed resources excepted)

    def handle(self, req, ssid, now=0):
        """Answer one DM request from server ssid; never raises."""
        try:
            return self._dispatch(req, ssid)
        except LwM2MError as e:
            return M.response(e.code)
        except UnicodeError:  # a Uri-Path or Uri-Query that is not UTF-8
            return M.response(M.BAD_REQUEST)
        except Exception:  # a driver fault must not take the client down
            return M.response(M.INTERNAL_SERVER_ERROR)

    def _dispatch(self, req, ssid):
        path = parse_path(req.path())
        if path and path[0] == 0:
            raise NotFound  # security: object 0 does not exist for DM servers
        code = req.code
        n = len(path)
        if code == M.GET:
            acc = req.uint(M.ACCEPT)
            if acc == ct.LINK:
                return M.response(M.CONTENT, self.discover(path, ssid), ct.LINK)
            fmt, pl = self.read(path, ssid, acc)
            return M.response(M.CONTENT, pl, fmt)
        fmt = req.uint(M.CONTENT_FORMAT)
        if code == M.PUT:
            if fmt is None and not req.payload:
                return _link().write_attrs(self, path, ssid, req.query())
            if n == 3:
                o, inst = self._target(path, ssid, W)
                if o.blocks is not None and path[2] in o.blocks:
                    return self._block_write(o, inst, path[2], req, fmt)
            return self._writing("write", path, ssid, req, True)
        if code == M.POST and n < 3:
            if n == 1:
                return self._writing("create", path, ssid, req)
            return self._writing("write", path, ssid, req, False)
        if code == M.POST:
            if n == 3:  # Execute
                o, inst = self._target(path, ssid, E)
                if self._rdef(o, inst, path[2])[OPS] != "E":
                    raise MethodNotAllowed  # not executable
                o.execute(inst, path[2], bytes(req.payload))
                return M.response(M.CHANGED)
        elif code == M.DELETE and n == 2:
            o, inst = self._target(path, ssid, D)
            if not o.deletable:
                raise MethodNotAllowed  # instance may not be deleted
            self.reg.delete(o.oid, inst.iid)
            self.acl.deleted(o.oid, inst.iid)
            self.attrs.drop(path=path)
            return M.response(M.DELETED)
        raise MethodNotAllowed  # operation

    def _writing(self, name, *args):
        """parse.write, or create.create (which uses lwm2m.parse): the write path, loaded for
        this request and dropped with the lwm2m.number it loads before a Write's values are
        applied (lwm2m.assign): the setters then have that heap. Dropped after the call, not
        before, so what it loads on the way finds the same modules."""
        from lwm2m import unload

        try:
            if name == "create":
                from lwm2m.create import create

                return create(self, *args)
            from lwm2m.parse import write

            r = write(self, *args)
            del write  # this frame's reference would keep the module
        finally:
            unload("create")
            unload("parse")
            unload("number")
        if isinstance(r, tuple):  # (object, instance, values, dropped, replace): checked
            from lwm2m.assign import assign

            try:
                assign(self, *r)
            finally:
                unload("assign")
            r = M.response(M.CHANGED)
        return r

    # lookups, in the order that leaks nothing: object, ACL, instance, resource, access type
    def _obj(self, oid):
        o = self.reg.obj(oid)
        if o is None or oid == 0:
            raise NotFound  # object
        return o

    def _target(self, path, ssid, bit):
        o = self._obj(path[0])
        if not self.acl.allowed(ssid, o.oid, path[1], bit):
            raise Unauthorized  # acl
        inst = o.inst(path[1])
        if inst is None:
            raise NotFound  # instance
        return o, inst

    def _rdef(self, o, inst, rid):
        r = o.rdef(rid)
        if r is None or not o.present(inst, rid):
            raise NotFound  # resource
        return r

    def _inst_values(self, o, inst):
        # one pass over the definitions: o.present() + o.value() per resource looked each one
        # up again (quadratic in the resource count), the bulk of a Read /3/0
        out = []
        vals = inst.vals
        bound = o._bound
        iid = inst.iid
        for r in o.defn[RESS]:
            if "R" not in r[OPS]:
                continue
            rid = r[RID]
            fn, wi = bound(inst, rid, 0)
            if fn is not None:
                out.append((rid, r[TYPE], fn(iid) if wi else fn()))
            elif rid in vals:
                out.append((rid, r[TYPE], vals[rid]))
        return out

    def read(self, path, ssid, accept=None):
        """(content format, payload) of a Read; raises LwM2MError. Also used for notifications."""
        if isinstance(path, str):
            path = parse_path(path)
        n = len(path)
        if n == 0:
            raise MethodNotAllowed  # read /
        if n == 1:
            o = self._obj(path[0])
            fmt = ct.choose(accept, False, None)
            data = []
            for iid in o.iids():
                if self.acl.allowed(ssid, o.oid, iid, R):
                    data.append((iid, self._inst_values(o, o.insts[iid])))
        else:
            o, inst = self._target(path, ssid, R)
            if n == 2:
                fmt = ct.choose(accept, False, None)
                data = self._inst_values(o, inst)
            else:
                r = self._rdef(o, inst, path[2])
                if "R" not in r[OPS]:
                    raise MethodNotAllowed  # not readable
                v = o.value(inst, path[2])
                if n == 4:
                    if not r[MULTI] or path[3] not in v:
                        raise NotFound  # resource instance
                    v = v[path[3]]
                fmt = ct.choose(accept, n == 4 or not r[MULTI], r[TYPE])
                data = (r[TYPE], v)
        return (fmt if accept is None else accept), ct.encode(fmt, path[0], path, data)

    def observe_read(self, ssid, path, accept=None):
        """(format, payload, number or None) for lwm2m.report: the number feeds gt/lt/st."""
        fmt, pl = self.read(path, ssid, accept)
        v = self.current(path) if len(path) > 2 else None
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            v = None
        return fmt, pl, v

    def current(self, path):
        """Python value at a resource path (no ACL; for gt/lt/st checks), or None."""
        o = self.reg.obj(path[0])
        inst = o.inst(path[1]) if o is not None else None
        if inst is None or len(path) < 3 or not o.present(inst, path[2]):
            return None
        v = o.value(inst, path[2])
        if len(path) == 4:
            return v.get(path[3]) if isinstance(v, dict) else None
        return v

    def _block_write(self, o, inst, rid, req, fmt):
        if "W" not in o.rdef(rid)[OPS]:
            raise MethodNotAllowed  # not writable
        k = ct.OPAQUE if fmt is None else ct.canon(fmt)
        if k != ct.OPAQUE and k != ct.TLV:
            raise UnsupportedFormat  # package is opaque
        b1 = req.uint(M.BLOCK1)
        if b1 is None:
            off, last = 0, True
        else:
            num, more, szx = M.block_parts(b1)
            off, last = num << (szx + 4), not more
        data = req.payload
        if k == ct.TLV:
            # the unwrapping lives with the firmware package helpers, loaded for such a push
            # only: no resident code for it in the DM layer
            from lwm2m.fwpkg import tlv_unwrap

            off, data = tlv_unwrap(self, rid, off, data, last)
        elif off == 0:
            self._tlvw = None
        o.blocks[rid](inst.iid, off, data, last)
        if last:
            self.reg.changed(o.oid, inst.iid, rid)
        return M.response(M.CHANGED)

    def discover(self, path, ssid):
        """Link-format payload of a Discover: attributes set at each level; for a single
        resource, the attributes in force (inherited). In lwm2m.link, loaded for the request."""
        if isinstance(path, str):
            path = parse_path(path)
        return _link().discover(self, path, ssid)
