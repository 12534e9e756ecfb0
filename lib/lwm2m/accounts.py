"""Server accounts: factory provisioning from config, the persisted /0 /1 /2 record, lookups."""
from lwm2m.acl import C, E, R, W
from lwm2m.dm import check_values
from lwm2m.errors import LwM2MError
from lwm2m.model import MAX_ID, OMULTI
from lwm2m.objects import access, security, server

RECORD = "accounts"  # one record for objects 0, 1 and 2, so a power cut never splits them
_OIDS = (0, 1, 2)


class Account:
    """One LwM2M server account: a non-bootstrap /0 instance and the /1 instance of its SSID."""

    __slots__ = ("ssid", "uri", "sec", "srv", "mode", "identity", "key")

    def __init__(self, ssid, uri, sec, srv, mode, identity, key):
        self.ssid = ssid
        self.uri = uri
        self.sec = sec  # /0 instance id
        self.srv = srv  # /1 instance id
        self.mode = mode
        self.identity = identity
        self.key = key

    def same_link(self, other):
        """True when other reaches the same server the same way (a registration can stay)."""
        return (other is not None and self.uri == other.uri and self.mode == other.mode
                and self.identity == other.identity and self.key == other.key)

    def __repr__(self):  # no key material in logs or tracebacks
        return "<Account ssid=%d %s>" % (self.ssid, self.uri)


def _mode(acct):
    return security.PSK if acct.get("psk_key") else security.NOSEC


def factory(registry, cfg):
    """Create the Security/Server instances config.json describes (first boot, empty store):
    the bootstrap account first (/0/0), then one /0 + /1 pair per configured server."""
    b = cfg.get("bootstrap")
    if b is not None:
        security.add(registry, b["uri"], bootstrap=True, mode=_mode(b),
                     identity=b.get("psk_identity") or b"", key=b.get("psk_key") or b"",
                     hold_off=b.get("hold_off", 0))
    for s in cfg.get("servers", ()):
        security.add(registry, s["uri"], mode=_mode(s), identity=s.get("psk_identity") or b"",
                     key=s.get("psk_key") or b"", ssid=s["ssid"])
        server.add(registry, s["ssid"], lifetime=s.get("lifetime", 300),
                   binding=s.get("binding", "U"))
    ssids = [s["ssid"] for s in cfg.get("servers", ())]
    if len(ssids) > 1:
        _factory_acls(registry, ssids)


def _factory_acls(registry, ssids):
    """Several servers: without ACL instances none could reach anything (LwM2M 1.0 E.1), so
    each server gets its own /1 instance and every server R/W/E on the other instances and
    Create on multi-instance objects; the first SSID owns what is shared."""
    if registry.obj(2) is None:
        return
    srv = registry.obj(1)
    for iid in srv.iids():
        s = srv.insts[iid].vals.get(0)
        access.add(registry, 1, iid, s, {s: R | W | E})
    for oid in registry.oids():
        if oid in (0, 1, 2):
            continue
        o = registry.obj(oid)
        for iid in o.iids():
            access.add(registry, oid, iid, ssids[0], {0: R | W | E})
        if o.defn[OMULTI]:
            access.add(registry, oid, MAX_ID, ssids[0], {0: C})


def load(registry, store):
    """Replace objects 0-2 with the stored record; returns None on success, else why not
    ("missing" or "corrupt"), leaving the registry untouched."""
    data = store.load(RECORD)
    if data is None:
        return store.last_error or "missing"
    if not isinstance(data, dict):
        return "corrupt"
    for oid in _OIDS:
        if not isinstance(data.get(str(oid), {}), dict):
            return "corrupt"
    saved = {}
    for oid in _OIDS:
        o = registry.obj(oid)
        saved[oid] = o.insts
    try:
        for oid in _OIDS:
            registry.load(oid, data.get(str(oid), {}))
        # a value no write may set (saved by an older build) is never sent: as corrupt
        o = registry.obj(1)
        for inst in o.insts.values():
            check_values(o, inst.vals.items())
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, LwM2MError):
        for oid in _OIDS:
            registry.obj(oid).insts = saved[oid]
        return "corrupt"
    return None


def save(registry, store):
    """Persist objects 0-2; False (nothing written) when the store already holds this."""
    return store.save(RECORD, {str(oid): registry.dump(oid) for oid in _OIDS})


def servers(registry):
    """[Account] for every usable server account, by SSID."""
    sec = registry.obj(0)
    srv = registry.obj(1)
    if sec is None or srv is None:
        return []
    by_ssid = {}
    for iid in srv.iids():
        s = srv.insts[iid].vals.get(0)
        if s is not None and s not in by_ssid:
            by_ssid[s] = iid
    out = []
    seen = []
    for iid in sec.iids():
        v = sec.insts[iid].vals
        ssid = v.get(10)
        if v.get(1) is True or ssid not in by_ssid or ssid in seen:
            continue
        seen.append(ssid)
        out.append(Account(ssid, v.get(0), iid, by_ssid[ssid], v.get(2, security.NOSEC),
                           bytes(v.get(3) or b""), bytes(v.get(5) or b"")))
    out.sort(key=lambda a: a.ssid)
    return out


def bootstrap(registry):
    """Account of the bootstrap server (ssid 0), or None."""
    sec = registry.obj(0)
    if sec is None:
        return None
    for iid in sec.iids():
        v = sec.insts[iid].vals
        if v.get(1) is True and v.get(0):
            return Account(0, v.get(0), iid, None, v.get(2, security.NOSEC),
                           bytes(v.get(3) or b""), bytes(v.get(5) or b""))
    return None


def sec_value(registry, iid, rid, default=None):
    o = registry.obj(0)
    inst = o.inst(iid) if o is not None and iid is not None else None
    return default if inst is None else inst.vals.get(rid, default)


def server_inst(registry, ssid):
    """The /1 instance of ssid, or None."""
    o = registry.obj(1)
    if o is None:
        return None
    for iid in o.iids():
        inst = o.insts[iid]
        if inst.vals.get(0) == ssid:
            return inst
    return None


def server_value(registry, ssid, rid, default=None):
    inst = server_inst(registry, ssid)
    if inst is None:
        return default
    return registry.obj(1).get(inst.iid, rid, default)
