"""LwM2M Security object (0): server URIs and keys; only bootstrap and the client reach it."""
# (rid, name, ops, multiple, mandatory, type); no ops: no DM server ever reaches this object
DEF = (0, "LWM2M Security", True, True, (
    (0, "LWM2M Server URI", "", False, True, "s"),
    (1, "Bootstrap-Server", "", False, True, "b"),
    (2, "Security Mode", "", False, True, "i"),
    (3, "Public Key or Identity", "", False, True, "o"),
    (4, "Server Public Key", "", False, True, "o"),
    (5, "Secret Key", "", False, True, "o"),
    (10, "Short Server ID", "", False, False, "i"),
    (11, "Client Hold Off Time", "", False, False, "i"),
    (12, "Bootstrap-Server Account Timeout", "", False, False, "i"),
))

PSK = 0
RPK = 1
CERT = 2
NOSEC = 3


def make(registry):
    return registry.add(DEF)


def add(registry, uri, bootstrap=False, mode=NOSEC, identity=b"", key=b"", ssid=None,
        hold_off=None, account_timeout=None, iid=None):
    """Add a Security instance (factory provisioning or config file); returns it."""
    v = {0: uri, 1: bootstrap, 2: mode, 3: identity, 4: b"", 5: key}
    if ssid is not None:
        v[10] = ssid
    if hold_off is not None:
        v[11] = hold_off
    if account_timeout is not None:
        v[12] = account_timeout
    return registry.obj(0).add(iid, v)
