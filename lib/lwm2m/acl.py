"""Access control (object 2): servers' rights on object instances, owners, unbootstrapping."""
from micropython import const

# ACL bits (/2/x/2 values)
R = const(1)
W = const(2)
E = const(4)
D = const(8)
C = const(16)
FULL = const(31)


class Acl:
    def __init__(self, registry):
        self.reg = registry

    def single(self):
        """One server (or none): it may do everything, ACL instances are not consulted."""
        return len(self.reg.servers()) <= 1

    def rights(self, ssid, oid, iid):
        """ACL bits server ssid holds on /oid/iid (LwM2M 1.0 E.2 / seed 003 8.2.3.1)."""
        if self.single():
            return FULL
        aco = self.reg.obj(2)
        if oid == 2:
            a = aco.inst(iid) if aco is not None else None
            if a is None:
                return R  # existence is then told by 4.04, as for any readable instance
            # every server may read an ACL; only its owner may change or delete it
            return R | W | D if a.vals.get(3) == ssid else R
        # the Access Control instance governing /oid/iid
        a = None
        if aco is not None:
            for k in aco.iids():
                v = aco.insts[k].vals
                if v.get(0) == oid and v.get(1) == iid:
                    a = aco.insts[k]
                    break
        if a is None:
            return 0
        acl = a.vals.get(2) or {}
        if ssid in acl:
            return acl[ssid]
        if 0 in acl:
            return acl[0]
        if a.vals.get(3) == ssid:
            return FULL
        return 0

    def allowed(self, ssid, oid, iid, bit):
        return bool(self.rights(ssid, oid, iid) & bit)

    def deleted(self, oid, iid):
        """/oid/iid is gone: drop the ACL instances that governed it."""
        aco = self.reg.obj(2)
        if aco is None or oid == 2:
            return
        for k in aco.iids():
            v = aco.insts[k].vals
            if v.get(0) == oid and v.get(1) == iid:
                self.reg.delete(2, k)

    def remove_server(self, ssid):
        """Seed 001 D.2.2 (lwm2m.bsops.remove_server: account removal is bootstrap's business,
        loaded then)."""
        from lwm2m.bsops import remove_server

        remove_server(self, ssid)
