"""The LwM2M client package; unload() forgets a module that has done its one job.

Imports go one way at import time (no module imports, at its top, one that imports it back).
Code loaded on use is the one exception a reader meets: the resident module imports it inside
the function that needs it (content -> parse, dm -> create, model -> persist, client ->
bringup, ...), and it imports the resident module's helpers at its top, so both are loaded
while it runs and only the on-use module is dropped afterwards.
"""
import sys


def unload(name):
    """Drop lwm2m.<name> (or a dotted name: that module) from sys.modules and from its package,
    so the GC takes its code back once no caller holds a function of it (its interned names stay:
    qstrs are never freed)."""
    if "." not in name:
        name = "lwm2m." + name
    sys.modules.pop(name, None)
    p, _, n = name.rpartition(".")
    p = sys.modules.get(p)
    if p is not None:
        p.__dict__.pop(n, None)


def unlock_heap():
    """Undo a heap lock an interrupted garbage collection left (first thing on Ctrl-C): the unix
    port raises KeyboardInterrupt straight from its SIGINT handler, even in the middle of a
    collection, and every allocation after it then fails. Boards schedule it: a no-op there."""
    import micropython

    if hasattr(micropython, "heap_unlock"):
        micropython.heap_lock()  # heap_unlock() returns the depth left: unlock back to 0
        while micropython.heap_unlock():
            pass
