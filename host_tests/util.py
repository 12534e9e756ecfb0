"""Helpers shared by tests under both interpreters (no pytest imports here)."""


def raises(exc, fn, *args, **kw):
    """Call fn and return the exception it raised; fail if it raised nothing or another type."""
    try:
        fn(*args, **kw)
    except exc as e:
        return e
    raise AssertionError("%r did not raise %s" % (fn, exc.__name__))


def hexb(s):
    """Bytes from a hex string that may contain spaces."""
    return bytes.fromhex(s.replace(" ", "").replace("\n", ""))


def readme_block(marker, fenced=False):
    """A piece of README.md that a test runs verbatim: from `marker` to the next ``` fence, or
    with fenced=True the body of the ```python block that follows `marker`."""
    top = (__file__.rpartition("/")[0] or ".") + "/.."  # no os.path on the unix port
    with open(top + "/README.md") as f:
        text = f.read()
    i = text.index(marker)
    if fenced:
        i = text.index("```python", i) + len("```python")
    return text[i:text.index("```", i)]


def exists(path):
    """True if `path` names a file or directory (the unix port has no os.path)."""
    import os

    try:
        os.stat(path)
        return True
    except OSError:
        return False


class MemStore:
    """lwm2m.store.Store's load/save (and last_error) in RAM: every save takes."""

    def __init__(self):
        self.d = {}
        self.last_error = None

    def load(self, name):
        return self.d.get(name)

    def save(self, name, value):
        self.d[name] = value
        return True


class FakeClock:
    """Millisecond clock the tests advance by hand, with ticks_* wrap-around semantics."""

    def __init__(self, start=0):
        self.now = start

    def advance(self, ms):
        import time

        self.now = time.ticks_add(self.now, ms)  # the port's own wrap (2**30, or more on 64-bit)
        return self.now



def heap_trace(on):
    """Start (before a warm-up) or stop tracing for heap_used: tracemalloc on CPython; nothing
    to do on MicroPython, whose gc.mem_alloc() always counts."""
    import gc

    if hasattr(gc, "mem_alloc"):
        return
    import tracemalloc

    if on:
        tracemalloc.start()
    else:
        tracemalloc.stop()


def rebuild_modules_table(*packages):
    """Call after heap_trace(True), before a heap test's warm-up, when the code under test drops
    and re-imports modules (lwm2m.unload: a DM write's lwm2m.parse, the firmware engine).
    On CPython the re-inserts make sys.modules, the dict of each package named here (an import
    sets the module as an attribute of its package) and the table of interned names (a dropped
    module's names leave it, a reload puts them back) rebuild their tables now and then, at the
    same size; a table in use when tracing began was never traced, and its first rebuild would
    count in full as growth (the interned table is megabytes once hypothesis ran). Rebuild each
    once under tracing, larger, so later rebuilds only shrink it. Does nothing on MicroPython,
    whose gc.mem_alloc() counts its tables all along."""
    import gc
    import sys

    if hasattr(gc, "mem_alloc"):
        return
    for d in [sys.modules] + [sys.modules[p].__dict__ for p in packages]:
        keys = ["_rebuild%d" % i for i in range(3 * len(d))]  # overflows any table it may have
        for k in keys:
            d[k] = None
        for k in keys:
            del d[k]
    _grow_interned()


def _grow_interned():
    # interning new names in batches of 1,000 costs about the same each batch, until the one
    # where the interned table grows: that batch costs several times more. Slots preallocated,
    # so no list growth looks like one.
    import sys
    import tracemalloc

    keep = [None] * 400000
    least = None
    for b in range(400):
        t0 = tracemalloc.get_traced_memory()[0]
        for i in range(1000):
            keep[b * 1000 + i] = sys.intern("_rebuild_interned_%d" % (b * 1000 + i))
        d = tracemalloc.get_traced_memory()[0] - t0
        if least is not None and d > 3 * least:
            return  # rebuilt, larger, under tracing; dropping the names leaves it that size
        least = d if least is None else min(least, d)


def heap_used():
    """Bytes of heap in use after a full collection: gc.mem_alloc() on MicroPython, the memory
    traced since heap_trace(True) on CPython, so a heap assertion measures under both."""
    import gc

    gc.collect()
    gc.collect()
    fn = getattr(gc, "mem_alloc", None)
    if fn is not None:
        return fn()
    import tracemalloc

    if not tracemalloc.is_tracing():
        raise AssertionError("heap_used() on CPython needs heap_trace(True) first")
    return tracemalloc.get_traced_memory()[0]


def rep_count(rep, ssid=None):
    """Observations a lwm2m.report.Reporter holds (of server ssid), from its own count (the
    Reporter has no accessor for it: a method only tests call would cost heap on a board)."""
    c = rep._count
    return sum(c.values()) if ssid is None else c.get(ssid, 0)


def rep_stored(rep, ssid):
    """Notifications a lwm2m.report.Reporter keeps for offline server ssid (see rep_count)."""
    return len(rep._stored.get(ssid, ()))
