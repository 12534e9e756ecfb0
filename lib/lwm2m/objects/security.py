"""LwM2M Security object (0): server URIs and keys; only bootstrap and the client reach it."""
# (rid, name, ops, multiple, mandatory, type); no ops: no DM server ever reaches this object
DEF = (0, None, True, True, (  # LWM2M Security
    (0, None, "", False, True, "s"),  # LWM2M Server URI
    (1, None, "", False, True, "b"),  # Bootstrap-Server
    (2, None, "", False, True, "i"),  # Security Mode
    (3, None, "", False, True, "o"),  # Public Key or Identity
    (4, None, "", False, True, "o"),  # Server Public Key
    (5, None, "", False, True, "o"),  # Secret Key
    (10, None, "", False, False, "i"),  # Short Server ID
    (11, None, "", False, False, "i"),  # Client Hold Off Time
    (12, None, "", False, False, "i"),  # Bootstrap-Server Account Timeout
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
