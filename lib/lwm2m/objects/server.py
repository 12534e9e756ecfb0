"""LwM2M Server object (1): per-server registration settings and the Disable / Update executes."""
DEF = (1, None, True, True, (  # LwM2M Server
    (0, None, "R", False, True, "i"),  # Short Server ID
    (1, None, "RW", False, True, "i"),  # Lifetime
    (2, None, "RW", False, False, "i"),  # Default Minimum Period
    (3, None, "RW", False, False, "i"),  # Default Maximum Period
    (4, None, "E", False, False, "e"),  # Disable
    (5, None, "RW", False, False, "i"),  # Disable Timeout
    (6, None, "RW", False, True, "b"),  # Notification Storing When Disabled or Offline
    (7, None, "RW", False, True, "s"),  # Binding
    (8, None, "E", False, True, "e"),  # Registration Update Trigger
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
