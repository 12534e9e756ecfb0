"""Start-up only: objects 0-2 from the store, or from config.json when it holds none (first boot).

Client.start loads it, runs start() and unloads it again (lwm2m.unload): a running client never
needs this code.
"""
from lwm2m import accounts
from lwm2m.acl import C, E, R, W
from lwm2m.dm import check_values
from lwm2m.errors import LwM2MError
from lwm2m.model import MAX_ID, OMULTI
from lwm2m.objects import access, security, server


def start(c, now):
    """Client.start's work: the accounts of lwm2m.client.Client c (the stored ones, else a
    factory bootstrap from its config, saved at once), then its registrations or a bootstrap."""
    reg = c.registry
    why = load(reg, c.store)
    if why is None:
        from lwm2m.reconcile import scan  # unloaded again by c.reconcile below

        srv, bs = scan(reg)
        c.log.info("accounts loaded from the store (%d server(s)%s)" % (
            len(srv), ", bootstrap" if bs else ""))
    else:
        c.log.info("store: accounts %s, factory bootstrap from config" % why)
        factory(reg, c.cfg)
        accounts.save(reg, c.store)
    c.fw.on_boot(now)
    reg.watch(c._on_data)
    c.reconcile(now)
    if not c.regs:
        if c.bs is not None:
            c.log.info("no usable server account: bootstrap from %s" % c.bs_acct.uri)
            c.bs.start(now)
        else:
            c.log.error("no server account and no bootstrap server: nothing to do")


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
    data = store.load(accounts.RECORD)
    if data is None:
        return store.last_error or "missing"
    if not isinstance(data, dict):
        return "corrupt"
    for oid in (0, 1, 2):
        if not isinstance(data.get(str(oid), {}), dict):
            return "corrupt"
    saved = {}
    for oid in (0, 1, 2):
        o = registry.obj(oid)
        saved[oid] = o.insts
    try:
        for oid in (0, 1, 2):
            registry.load(oid, data.get(str(oid), {}))
        # a value no write may set (saved by an older build) is never sent: as corrupt
        o = registry.obj(1)
        for inst in o.insts.values():
            check_values(o, inst.vals.items())
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, LwM2MError):
        for oid in (0, 1, 2):
            registry.obj(oid).insts = saved[oid]
        return "corrupt"
    return None
