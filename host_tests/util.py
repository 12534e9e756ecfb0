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


class FakeClock:
    """Millisecond clock the tests advance by hand, with ticks_* wrap-around semantics."""

    def __init__(self, start=0):
        self.now = start

    def advance(self, ms):
        import time

        self.now = time.ticks_add(self.now, ms)  # the port's own wrap (2**30, or more on 64-bit)
        return self.now
