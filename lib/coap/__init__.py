"""The CoAP package; unload() forgets a module that has done its one job."""
import sys


def unload(name):
    """Drop coap.<name> from sys.modules and from this package, so the GC takes its code back
    once no caller holds a function of it (its interned names stay: qstrs are never freed)."""
    sys.modules.pop("coap." + name, None)
    globals().pop(name, None)
