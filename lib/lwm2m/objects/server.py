"""LwM2M Server object (1): per-server registration settings and the Disable / Update executes."""
from lwm2m.errors import BadRequest

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
BINDINGS = ("U", "UQ")  # what this client can do: UDP, queue mode; no SMS on these boards

def check(rid, v):
    """Raise BadRequest (4.00) unless v is a value /1/x/rid may hold; every Server object write
    (DM and bootstrap) and the stored record pass here before anything is applied. A 1.0 TLV
    integer is signed: a server that encodes 240 as C1 01 F0 writes -16, and such a stored
    lifetime made every Register fail."""
    if rid == 7:
        ok = v in BINDINGS
    elif rid == 6:
        ok = isinstance(v, bool)
    elif rid in (0, 1, 2, 3, 5):
        # SSID 1..65534, Lifetime 1.., periods and Disable Timeout 0..; all at most 2**31-1
        ok = (isinstance(v, int) and not isinstance(v, bool) and v >= (rid < 2)
              and v <= (65534 if rid == 0 else 0x7FFFFFFF))
    else:
        return
    if not ok:
        raise BadRequest  # a value /1/x/rid may not hold


def make(registry, disable=None, update=None):
    """Add the object. disable(iid, args) / update(iid, args) run the executes for every
    instance (the registration layer wires them); until then they answer 2.04 and do nothing."""
    o = registry.add(DEF)
    o.defaults = {6: True, 7: "U"}
    o.check = check
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
