"""LwM2M Access Control object (2): one instance per governed object instance (see lwm2m.acl)."""
DEF = (2, "LwM2M Access Control", True, False, (
    (0, "Object ID", "R", False, True, "i"),
    (1, "Object Instance ID", "R", False, True, "i"),
    (2, "ACL", "RW", True, False, "i"),
    (3, "Access Control Owner", "RW", False, True, "i"),
))


def make(registry):
    return registry.add(DEF)


def add(registry, oid, iid, owner, acl=None):
    """ACL instance for /oid/iid (65535: who may Create in oid); acl {ssid: bits}, 0 default."""
    return registry.obj(2).add(None, {0: oid, 1: iid, 2: dict(acl or {}), 3: owner})
