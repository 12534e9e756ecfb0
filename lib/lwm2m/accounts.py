"""Server accounts at run time: Account, lookups in object 1, the persisted /0 /1 /2 record.

Start-up's half (load the record, or provision from config.json) is lwm2m.provision; finding
the accounts in objects 0 and 1 (scan) is lwm2m.reconcile, loaded when they may have changed."""

RECORD = "accounts"  # one record for objects 0, 1 and 2, so a power cut never splits them


class Account:
    """One LwM2M server account: a /0 instance and the /1 instance of its SSID (srv None: the
    bootstrap server's, ssid 0)."""

    # no __slots__ (MicroPython ignores it, and its tuple would cost heap) and no __repr__: the
    # default one shows no attributes, so no key material reaches a log or a traceback
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


def save(registry, store):
    """Persist objects 0-2; False (nothing written) when the store already holds this."""
    d = {}  # a loop: a comprehension is one more function on a board
    for oid in (0, 1, 2):
        d[str(oid)] = registry.dump(oid)
    return store.save(RECORD, d)


def server_value(registry, ssid, rid, default=None):
    """Resource rid of the /1 instance of ssid (default when there is none, or no value)."""
    o = registry.obj(1)
    if o is not None:
        for iid in o.iids():
            if o.insts[iid].vals.get(0) == ssid:
                return o.get(iid, rid, default)
    return default
