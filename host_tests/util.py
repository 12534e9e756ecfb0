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
        self.now = (self.now + ms) & ((1 << 30) - 1)
        return self.now
