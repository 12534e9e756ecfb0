"""LwM2M Access Control object (2): one instance per governed object instance (see lwm2m.acl)."""
DEF = (2, None, True, False, (  # LwM2M Access Control
    (0, None, "R", False, True, "i"),  # Object ID
    (1, None, "R", False, True, "i"),  # Object Instance ID
    (2, None, "RW", True, False, "i"),  # ACL
    (3, None, "RW", False, True, "i"),  # Access Control Owner
))


def make(registry):
    return registry.add(DEF)


def add(registry, oid, iid, owner, acl=None):
    """ACL instance for /oid/iid (65535: who may Create in oid); acl {ssid: bits}, 0 default."""
    return registry.obj(2).add(None, {0: oid, 1: iid, 2: dict(acl or {}), 3: owner})
