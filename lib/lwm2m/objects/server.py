"""LwM2M Server object (1): per-server registration settings and the Disable / Update executes."""
DEF = (1, "LwM2M Server", True, True, (
    (0, "Short Server ID", "R", False, True, "i"),
    (1, "Lifetime", "RW", False, True, "i"),
    (2, "Default Minimum Period", "RW", False, False, "i"),
    (3, "Default Maximum Period", "RW", False, False, "i"),
    (4, "Disable", "E", False, False, "e"),
    (5, "Disable Timeout", "RW", False, False, "i"),
    (6, "Notification Storing When Disabled or Offline", "RW", False, True, "b"),
    (7, "Binding", "RW", False, True, "s"),
    (8, "Registration Update Trigger", "E", False, True, "e"),
))

DISABLE_TIMEOUT = 86400  # seed 001: default when /1/x/5 is absent


def make(registry, disable=None, update=None):
    """Add the object. disable(iid, args) / update(iid, args) run the executes for every
    instance (the registration layer wires them); until then they answer 2.04 and do nothing."""
    o = registry.add(DEF)
    o.defaults = {6: True, 7: "U"}
    hooks(o, disable, update)
    return o


def hooks(o, disable=None, update=None):
    o.bind(None, 4, exe=disable or _nop)
    o.bind(None, 8, exe=update or _nop)


def _nop(iid, args):
    pass


def add(registry, ssid, lifetime=86400, binding="U", pmin=None, pmax=None, storing=True,
        disable_timeout=None, iid=None):
    v = {0: ssid, 1: lifetime, 6: storing, 7: binding}
    if pmin is not None:
        v[2] = pmin
    if pmax is not None:
        v[3] = pmax
    if disable_timeout is not None:
        v[5] = disable_timeout
    return registry.obj(1).add(iid, v)
